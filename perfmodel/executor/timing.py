"""Timing with warm-up and repeats: perf_counter on CPU, CUDA events on GPU.

`time_fn` times a whole callable; `OpRecorder` times named regions inside one call (per
operator) and sums regions of the same name (e.g. `qkv_proj` over all layers).
"""

from __future__ import annotations

import os
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
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


class HostLoad:
    """Share of the host's CPU time that other processes used while the block ran (Linux /proc/stat
    minus this process's own CPU time). Measurements on a shared host are only as good as this
    number is small; None where /proc/stat is unreadable."""

    def __init__(self) -> None:
        self.fraction: float | None = None

    @staticmethod
    def _busy_s() -> float | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> "HostLoad":
        self._t0, self._busy0, self._own0 = time.perf_counter(), self._busy_s(), _own_cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        busy1 = self._busy_s()
        wall = time.perf_counter() - self._t0
        if busy1 is None or self._busy0 is None or wall <= 0:
            return
        foreign = (busy1 - self._busy0) - (_own_cpu_s() - self._own0)
        # /proc/stat ticks and perf_counter disagree by a tick or so: clamp to a share in [0, 1]
        self.fraction = min(1.0, max(0.0, foreign) / (wall * (os.cpu_count() or 1)))


def wait_for_quiet(*, limit: float = 0.1, window_s: float = 1.0, max_wait_s: float = 30.0,
                   progress: Callable[[str], None] | None = None) -> float | None:
    """Wait (at most `max_wait_s`) until other processes use at most `limit` of the host's CPU over
    `window_s`; returns the last measured share (None where /proc/stat is unreadable)."""
    deadline = time.perf_counter() + max_wait_s
    told = False
    while True:
        with HostLoad() as load:
            time.sleep(window_s)
        if load.fraction is None or load.fraction <= limit or time.perf_counter() >= deadline:
            return load.fraction
        if progress and not told:
            progress(f"other processes use {load.fraction:.0%} of this host's CPU; waiting up to "
                     f"{max_wait_s:.0f} s for a quiet moment")
            told = True


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class Case:
    """One thing to time repeatedly inside `run_interleaved`."""

    fn: Callable[[], object]
    repeats: int
    warmup: int = 1
    recorder: OpRecorder | None = None


@dataclass
class CaseResult:
    step: Timing
    ops: dict[str, Timing]


@dataclass
class PassStats:
    passes: int = 0
    discarded: int = 0
    waited_s: float = 0.0
    host_load: list[float | None] = field(default_factory=list)   # per pass, kept or not
    kept_load: list[float | None] = field(default_factory=list)   # per kept pass

    @property
    def max_kept_load(self) -> float | None:
        loads = [x for x in self.kept_load if x is not None]
        return max(loads) if loads else None

    def to_dict(self) -> dict:
        return {"passes": self.passes, "discarded_passes": self.discarded, "waited_s": self.waited_s,
                "max_host_load_kept": self.max_kept_load}


def run_interleaved(cases: list[Case], *, backend: Backend, load_limit: float = 0.1, max_redo: int = 6,
                    max_wait_s: float = 0.0,
                    progress: Callable[[str], None] | None = None) -> tuple[list[CaseResult], PassStats]:
    """Time every case once per pass, `max(repeats)` passes. Interleaving spreads a burst of load
    from other processes over many cases instead of spoiling every repeat of one; a pass during
    which other processes used more than `load_limit` of the host's CPU is discarded and run
    again (at most `max_redo` times in all) after waiting for a quiet moment (at most `max_wait_s`
    in all)."""
    for c in cases:
        for _ in range(c.warmup):
            c.fn()
    synchronize(backend)
    steps: list[list[float]] = [[] for _ in cases]
    ops: list[dict[str, list[float]]] = [defaultdict(list) for _ in cases]
    stats = PassStats()
    total = max((c.repeats for c in cases), default=0)
    i = 0
    while i < total:
        taken = []
        with HostLoad() as load:
            for j, c in enumerate(cases):
                if i < c.repeats:
                    step, per_op = time_fn(c.fn, backend=backend, warmup=0, repeats=1, recorder=c.recorder)
                    taken.append((j, step.median_s, per_op))
        stats.passes += 1
        stats.host_load.append(load.fraction)
        if load.fraction is not None and load.fraction > load_limit and stats.discarded < max_redo:
            stats.discarded += 1
            if progress:
                progress(f"pass {i + 1}/{total}: other processes used {load.fraction:.0%} of the CPU; measuring it again")
            t0 = time.perf_counter()
            wait_for_quiet(limit=load_limit, max_wait_s=max(0.0, max_wait_s - stats.waited_s), progress=progress)
            stats.waited_s += time.perf_counter() - t0
            continue
        stats.kept_load.append(load.fraction)
        for j, secs, per_op in taken:
            steps[j].append(secs)
            for name, t in per_op.items():
                ops[j][name].append(t.median_s)
        i += 1
        if progress:
            progress(f"pass {i}/{total} done")
    return [CaseResult(Timing.of(steps[j]), {n: Timing.of(v) for n, v in ops[j].items()})
            for j in range(len(cases))], stats
