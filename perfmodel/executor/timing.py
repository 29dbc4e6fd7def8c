"""Timing with warm-up and repeats: perf_counter on CPU, CUDA events on GPU.

`time_fn` times a whole callable; `OpRecorder` times named regions inside one call (per
operator) and sums regions of the same name (e.g. `qkv_proj` over all layers).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from perfmodel.executor._torch import Backend, require_torch, synchronize


@dataclass(frozen=True)
class Timing:
    """Summary of repeated measurements of one thing, seconds."""

    median_s: float
    p10_s: float
    p90_s: float
    min_s: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> "Timing":
        if not samples:
            raise ValueError("Timing.of needs at least one sample")
        s = sorted(samples)
        return cls(median_s=statistics.median(s), p10_s=_quantile(s, 0.1), p90_s=_quantile(s, 0.9),
                   min_s=s[0], n=len(s))

    @property
    def spread(self) -> float:
        """(p90 - p10) / median: the relative width of the middle 80%."""
        return (self.p90_s - self.p10_s) / self.median_s if self.median_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {"median_s": self.median_s, "p10_s": self.p10_s, "p90_s": self.p90_s, "min_s": self.min_s,
                "n": self.n, "spread": self.spread}


def _quantile(sorted_s: list[float], q: float) -> float:
    """Linear-interpolated quantile of an already sorted list."""
    pos = q * (len(sorted_s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_s) - 1)
    return sorted_s[lo] + (sorted_s[hi] - sorted_s[lo]) * (pos - lo)


class OpRecorder:
    """Collects per-operator times during one step; inactive unless `start()` was called.

    CPU: torch CPU operators are synchronous, so perf_counter around each region is its time.
    CUDA: a pair of events per region, read after the step's synchronize (no per-op sync).
    """

    def __init__(self, backend: Backend):
        self.backend = backend
        self.active = False
        self._cpu: dict[str, float] = defaultdict(float)
        self._events: list[tuple[str, object, object]] = []

    def start(self) -> None:
        self.active = True
        self._cpu = defaultdict(float)
        self._events = []

    def stop(self) -> dict[str, float]:
        """Seconds per operator name since `start()` (call after the step synchronised)."""
        self.active = False
        if self.backend == "cuda":
            out: dict[str, float] = defaultdict(float)
            for name, begin, end in self._events:
                out[name] += begin.elapsed_time(end) / 1e3  # type: ignore[attr-defined]  # ms -> s
            return dict(out)
        return dict(self._cpu)

    @contextmanager
    def op(self, name: str) -> Iterator[None]:
        if not self.active:
            yield
            return
        if self.backend == "cuda":
            torch = require_torch()
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            yield
            end.record()
            self._events.append((name, begin, end))
        else:
            t0 = time.perf_counter()
            yield
            self._cpu[name] += time.perf_counter() - t0


def time_fn(fn: Callable[[], object], *, backend: Backend, warmup: int = 2, repeats: int = 5,
            recorder: OpRecorder | None = None) -> tuple[Timing, dict[str, Timing]]:
    """Time `fn` (median of `repeats` after `warmup` calls) and, with a recorder, its operators."""
    for _ in range(warmup):
        fn()
    synchronize(backend)
    samples: list[float] = []
    per_op: dict[str, list[float]] = defaultdict(list)
    torch = require_torch() if backend == "cuda" else None
    for _ in range(repeats):
        if recorder is not None:
            recorder.start()
        if torch is not None:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            fn()
            end.record()
            end.synchronize()
            samples.append(begin.elapsed_time(end) / 1e3)  # ms -> s
        else:
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        if recorder is not None:
            for name, secs in recorder.stop().items():
                per_op[name].append(secs)
    return Timing.of(samples), {name: Timing.of(v) for name, v in per_op.items()}
