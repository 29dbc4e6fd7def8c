"""How far the timings of a validation run can be trusted (issue 15).

Three measurements, each of which a disturbed host moves:
- the repeat spread of every grid point, (p90 - p10) / median (`Timing.spread`), summarised by its
  median over the points;
- a fixed reference kernel (a square fp32/bf16 matmul that depends on nothing the run measures)
  timed before the microbenchmarks and again after the grid, each time after a warm-up that waits
  for two calls in a row to agree, as the median of block minima (min-of-k over a few blocks): on a
  steady host the two levels agree; a host whose load or clock changed during the run moves one
  against the other (drift), and blocks whose minima disagree mean no quiet moment (spread);
- the largest share of the host's CPU other processes used during the kept passes (`HostLoad`).

Drift and spread are judged apart: the first version compared the larger of (drift, the spread of
9 single calls) to the drift limit, so one preempted call of nine on a VM read as "moved 18-20%".

`Noise.refusal()` names every limit a run broke, in one line ("timings disturbed: spread 38%;
rerun on an idle host"); `perfmodel validate` then reports no error figure and saves no profile.
The limits are what a quiet host stays well inside: on an idle 2-core VM the CPU validation's
step spread is 1-6% and the reference drift below 5% (README, "Executor")."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

from perfmodel.executor._torch import Backend, require_torch, torch_dtype
from perfmodel.executor.timing import Timing, time_fn

# Median over grid points of (p90 - p10) / median of its repeats.
SPREAD_LIMIT = 0.20
# |reference median after / before - 1|.
DRIFT_LIMIT = 0.15
# Share of the host's CPU other processes used during the kept passes.
HOST_LOAD_LIMIT = 0.30
# Reference matmul size (n x n x n): tens of ms a call on an idle 2-core CPU in fp32, like a grid
# step (a scheduler tick lost to another process is then a small part of it).
REFERENCE_N = {"cpu": 1536, "cuda": 8192}
# The reference's level is the median of REFERENCE_BLOCKS minima, each over REFERENCE_BLOCK calls
# (min-of-k drops a call another process interrupted; the median of blocks drops a disturbed
# block), so one preempted call on a VM does not read as a drift, and a lasting change does.
REFERENCE_BLOCKS = 5
REFERENCE_BLOCK = 3
# Warm-up: at least REFERENCE_WARMUP_S and until two calls in a row agree within
# REFERENCE_STEADY (thread pools, allocator, CPU clock ramp), at most REFERENCE_WARMUP_MAX_S.
REFERENCE_WARMUP_S = 0.3
REFERENCE_WARMUP_MAX_S = 3.0
REFERENCE_STEADY = 0.05


def reference_kernel(backend: Backend, quant: str) -> Callable[[], Any]:
    """A fixed square matmul on `backend`: the yardstick timed before and after a run."""
    torch = require_torch()
    n = REFERENCE_N[backend]
    dtype = torch_dtype("fp32" if backend == "cpu" else quant)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen, dtype=torch.float32).to(device=backend, dtype=dtype)
    b = torch.randn(n, n, generator=gen, dtype=torch.float32).to(device=backend, dtype=dtype)
    return lambda: a @ b


def time_reference(backend: Backend, quant: str) -> Timing:
    """The reference kernel's level after warm-up (see REFERENCE_WARMUP_S): a Timing of the
    REFERENCE_BLOCKS block minima, so its median is the median of min-of-k and its spread is how
    far the blocks' minima disagree."""
    fn = reference_kernel(backend, quant)
    t0, last, steady = time.perf_counter(), None, False
    while time.perf_counter() - t0 < REFERENCE_WARMUP_MAX_S and not (steady and time.perf_counter() - t0 >= REFERENCE_WARMUP_S):
        (call, _) = time_fn(fn, backend=backend, warmup=0, repeats=1)
        steady = last is not None and abs(call.median_s / last - 1.0) <= REFERENCE_STEADY
        last = call.median_s
    minima = [time_fn(fn, backend=backend, warmup=0, repeats=REFERENCE_BLOCK)[0].min_s for _ in range(REFERENCE_BLOCKS)]
    return Timing.of(minima)


@dataclass(frozen=True)
class Noise:
    """What the run measured about its own timing noise."""

    step_spread: float              # median over grid points of the repeat spread
    reference_before_s: float
    reference_after_s: float
    reference_spread: float         # the larger of the two references' spreads of block minima
    host_load: float | None         # largest foreign CPU share during the kept passes

    @classmethod
    def of(cls, spreads: list[float], before: Timing, after: Timing, host_load: float | None) -> "Noise":
        return cls(step_spread=statistics.median(spreads) if spreads else 0.0,
                   reference_before_s=before.median_s, reference_after_s=after.median_s,
                   reference_spread=max(before.spread, after.spread), host_load=host_load)

    @property
    def drift(self) -> float:
        return abs(self.reference_after_s / self.reference_before_s - 1.0) if self.reference_before_s > 0 else 0.0

    def broken(self) -> list[str]:
        """Each limit this run broke, as 'what value' (empty: the timings can be trusted)."""
        out = []
        if self.step_spread > SPREAD_LIMIT:
            out.append(f"spread {self.step_spread:.0%} (limit {SPREAD_LIMIT:.0%})")
        if self.drift > DRIFT_LIMIT:
            out.append(f"reference kernel moved {self.drift:.0%} between the start and the end (limit {DRIFT_LIMIT:.0%})")
        if self.reference_spread > SPREAD_LIMIT:
            out.append(f"reference kernel spread {self.reference_spread:.0%} (limit {SPREAD_LIMIT:.0%})")
        if self.host_load is not None and self.host_load > HOST_LOAD_LIMIT:
            out.append(f"other processes used {self.host_load:.0%} of the CPU (limit {HOST_LOAD_LIMIT:.0%})")
        return out

    def refusal(self) -> str | None:
        broken = self.broken()
        return f"timings disturbed: {', '.join(broken)}; rerun on an idle host" if broken else None

    def to_dict(self) -> dict:
        return {"step_spread": self.step_spread, "reference_before_ms": self.reference_before_s * 1e3,
                "reference_after_ms": self.reference_after_s * 1e3, "reference_drift": self.drift,
                "reference_spread": self.reference_spread, "host_load": self.host_load,
                "limits": {"step_spread": SPREAD_LIMIT, "reference_drift": DRIFT_LIMIT,
                           "reference_spread": SPREAD_LIMIT, "host_load": HOST_LOAD_LIMIT},
                "refusal": self.refusal()}
