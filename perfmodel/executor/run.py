"""Prefill and decode iterations of a synthetic model over a grid of batch sizes and lengths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from perfmodel.executor.synthetic import SyntheticModel
from perfmodel.executor.timing import Case, PassStats, Timing, run_interleaved, time_fn
from perfmodel.iteration import BatchShape

Phase = Literal["prefill", "decode"]


@dataclass(frozen=True)
class GridPoint:
    """prefill: `batch` sequences of `length` new tokens (empty cache);
    decode: `batch` sequences, one token each, attending to `length` KV tokens."""

    phase: Phase
    batch: int
    length: int

    @property
    def shape(self) -> BatchShape:
        if self.phase == "prefill":
            return BatchShape.prefill(self.batch, self.length)
        return BatchShape.decode(self.batch, self.length)

    @property
    def label(self) -> str:
        return f"{self.phase} b={self.batch} {'isl' if self.phase == 'prefill' else 'ctx'}={self.length}"


@dataclass(frozen=True)
class StepMeasurement:
    point: GridPoint
    step: Timing
    ops: dict[str, Timing]


def grid(phase: Phase, batches: tuple[int, ...], lengths: tuple[int, ...]) -> list[GridPoint]:
    return [GridPoint(phase, b, n) for b in batches for n in lengths]


def _step_fn(model: SyntheticModel, point: GridPoint) -> Callable[[], object]:
    if point.phase == "prefill":
        return lambda: model.prefill(point.batch, point.length)
    return lambda: model.decode(point.batch, point.length)


def measure_point(model: SyntheticModel, point: GridPoint, *, warmup: int, repeats: int) -> StepMeasurement:
    """Step time and per-operator times (summed over layers) of one grid point."""
    step, ops = time_fn(_step_fn(model, point), backend=model.backend, warmup=warmup, repeats=repeats,
                        recorder=model.recorder)
    return StepMeasurement(point, step, ops)


def measure_grid(model: SyntheticModel, points: list[GridPoint], *, warmup: int = 1, repeats: int = 3,
                 repeats_for: Callable[[GridPoint], int] | None = None,
                 progress: Callable[[str], None] | None = None,
                 max_wait_s: float = 0.0) -> tuple[list[StepMeasurement], PassStats]:
    """Measure every point in interleaved passes (see `run_interleaved`); `repeats_for(point)` may
    give fewer repeats to long points."""
    cases = [Case(_step_fn(model, p), repeats_for(p) if repeats_for else repeats, warmup, model.recorder)
             for p in points]
    results, stats = run_interleaved(cases, backend=model.backend, progress=progress, max_wait_s=max_wait_s)
    return [StepMeasurement(p, r.step, r.ops) for p, r in zip(points, results)], stats
