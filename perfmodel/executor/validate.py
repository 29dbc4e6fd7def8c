"""Predicted vs measured: microbenchmarks -> calibration fit -> executor grid -> error report.

The fit uses the microbenchmarks and the per-operator times of the calibration grid points; the
reported error is over step times of the validation grid points, which the fit never saw
(`ValidateConfig.holdout`: every other point of each phase is held out).
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from perfmodel.hardware.catalog import System
from perfmodel.hardware.schema import Device
from perfmodel import calibration as cal
from perfmodel.errors import PerfModelError
from perfmodel.executor import microbench as mb
from perfmodel.executor._torch import Backend, require_torch, setup_backend, torch_dtype, versions
from perfmodel.executor.devices import executor_system
from perfmodel.executor.noise import Noise, time_reference
from perfmodel.executor.predict import StepPredictor, link_overrides, micro_samples
from perfmodel.executor.run import GridPoint, StepMeasurement, grid, measure_grid
from perfmodel.executor.synthetic import Routing, SyntheticModel, reduce_spec
from perfmodel.executor.timing import wait_for_quiet
from perfmodel.plan import Plan
from perfmodel.specs.model import ModelSpec
from perfmodel.specs.registry import load_model

FitOn = Literal["micro", "micro+ops", "micro+steps"]
# Above this share of the host's CPU used by other processes, timings are flagged as disturbed.
HOST_LOAD_WARNING = 0.1


# Upper limits on what a user asks `validate` to build and time (README "Limits"): the model's
# own layer limit (specs/model.py), a divisor that still leaves one head, a vocabulary cap at the
# model limit, repeats and warm-up calls that keep a CPU run within minutes.
VALIDATE_LIMITS = {"layers": (1, 1024), "width_divisor": (1, 4096), "vocab": (1, 2**24), "repeats": (1, 1000),
                   "warmup": (0, 1000), "threads": (1, 4096)}


@dataclass(frozen=True, kw_only=True)
class ValidateConfig:
    backend: Backend
    model: str = "llama-3.1-8b"
    hardware: str | None = None           # catalog id / YAML instead of the detected device
    quant: str = "bf16"
    layers: int | None = None             # reduce the model for small hosts (None: as is)
    width_divisor: int = 1
    vocab: int | None = None
    max_experts: int | None = None
    routing: Routing = Routing()
    prefill_batches: tuple[int, ...] = (1, 4)
    prefill_lengths: tuple[int, ...] = (512, 2048)
    decode_batches: tuple[int, ...] = (1, 16, 64)
    decode_lengths: tuple[int, ...] = (1024, 4096)
    warmup: int = 2
    repeats: int = 5
    micro: bool = True
    fit_on: FitOn = "micro+steps"
    holdout: bool = True
    threads: int | None = None            # CPU: run (and describe) this many cores; None: all allowed
    overlap: bool = True                   # CUDA: nano-batch overlap check with streams
    max_wait_s: float = 30.0               # CPU: total time to wait for other processes to go quiet

    def check(self) -> None:
        """Every size a user sets, within VALIDATE_LIMITS (one-line error naming the option)."""
        for name, (lo, hi) in VALIDATE_LIMITS.items():
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise PerfModelError(f"--{name.replace('_', '-')} must be an integer between {lo} and {hi:,}, got {v!r}")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if self.threads is not None and self.threads > cores:
            raise PerfModelError(f"--threads must be at most the {cores} cores this process may use, got {self.threads}")

    def points(self) -> list[GridPoint]:
        return (grid("prefill", self.prefill_batches, self.prefill_lengths)
                + grid("decode", self.decode_batches, self.decode_lengths))


def default_config(backend: Backend, model: str | None = None, *, quick: bool = False) -> ValidateConfig:
    """CPU: Llama-3.1-8B narrowed 4x to 2 layers in fp32 (about a minute on 2 cores);
    CUDA: the full model in bf16. `quick`: a smaller grid for tests."""
    if backend == "cpu":
        base = dict(backend="cpu", model=model or "llama-3.1-8b", quant="fp32", layers=2, width_divisor=4, vocab=8192,
                    max_experts=8, prefill_batches=(1, 2, 4), prefill_lengths=(64, 128, 256, 512),
                    decode_batches=(1, 4, 16, 64), decode_lengths=(256, 512, 1024, 2048), warmup=1, repeats=5)
        if quick:
            base.update(layers=1, vocab=4096, prefill_batches=(1, 2), prefill_lengths=(32, 128),
                        decode_batches=(1, 8), decode_lengths=(128, 512), repeats=3, max_wait_s=3.0)
        return ValidateConfig(**base)
    if quick:
        return ValidateConfig(backend="cuda", model=model or "llama-3.1-8b", quant="bf16", layers=4,
                              prefill_batches=(1, 4), prefill_lengths=(256, 1024), decode_batches=(1, 16),
                              decode_lengths=(512, 2048), repeats=5)
    return ValidateConfig(backend="cuda", model=model or "llama-3.1-8b", quant="bf16",
                          prefill_batches=(1, 4, 16), prefill_lengths=(512, 1024, 2048),
                          decode_batches=(1, 8, 32, 128), decode_lengths=(512, 1024, 2048), repeats=10)


@dataclass
class PointResult:
    point: GridPoint
    measured: StepMeasurement
    predicted_uncal_s: float
    predicted_cal_s: float
    holdout: bool
    ops_predicted: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        m = self.measured
        return {
            "phase": self.point.phase, "batch": self.point.batch, "length": self.point.length,
            "holdout": self.holdout,
            "measured_ms": m.step.median_s * 1e3, "measured_p10_ms": m.step.p10_s * 1e3,
            "measured_p90_ms": m.step.p90_s * 1e3, "spread": m.step.spread,
            "predicted_ms": self.predicted_cal_s * 1e3, "predicted_uncalibrated_ms": self.predicted_uncal_s * 1e3,
            "ape": cal.ape(self.predicted_cal_s, m.step.median_s),
            "uncalibrated_ape": cal.ape(self.predicted_uncal_s, m.step.median_s),
            "ops": {n: {"measured_ms": t.median_s * 1e3, "predicted_ms": self.ops_predicted.get(n, 0.0) * 1e3}
                    for n, t in m.ops.items()},
        }


@dataclass
class ValidationResult:
    config: ValidateConfig
    spec: ModelSpec
    device: Device
    calibrated: Device
    calibration: cal.Calibration
    points: list[PointResult]
    micros: list[mb.Micro]
    wall_s: float
    overlap: dict | None = None
    host_load: float | None = None
    passes: dict = field(default_factory=dict)
    noise: Noise | None = None

    def refusal(self) -> str | None:
        """Why the timings cannot be trusted (`perfmodel.executor.noise`), or None."""
        return self.noise.refusal() if self.noise is not None else None

    def evaluated(self) -> list[PointResult]:
        held = [p for p in self.points if p.holdout]
        return held or self.points

    def summary(self) -> dict:
        ev = self.evaluated()
        calib = cal.error_stats([(p.predicted_cal_s, p.measured.step.median_s) for p in ev])
        uncal = cal.error_stats([(p.predicted_uncal_s, p.measured.step.median_s) for p in ev])
        every = cal.error_stats([(p.predicted_cal_s, p.measured.step.median_s) for p in self.points])
        disturbed = self.host_load is not None and self.host_load > HOST_LOAD_WARNING
        return {"n": calib["n"], "median_ape": calib["median_ape"], "p90_ape": calib["p90_ape"],
                "uncalibrated_median_ape": uncal["median_ape"], "uncalibrated_p90_ape": uncal["p90_ape"],
                "all_points_median_ape": every["median_ape"], "n_measured": len(self.points),
                "disturbed": disturbed or self.refusal() is not None, "refusal": self.refusal()}

    def to_dict(self) -> dict:
        c = self.config
        return {
            **self.summary(),
            "device": self.device.id, "device_name": self.device.name, "backend": c.backend,
            "model": self.spec.name, "spec": self.spec.model_dump(), "quant": c.quant,
            "evaluated_on": "held-out grid points (not used by the fit)" if c.holdout else "all grid points",
            "fit_on": c.fit_on, "wall_s": self.wall_s, "host_load": self.host_load, "passes": self.passes,
            "noise": self.noise.to_dict() if self.noise is not None else None,
            "calibration": self.calibration.model_dump(),
            "points": [p.to_dict() for p in self.points],
            "microbenchmarks": [m.to_dict() for m in self.micros],
            "overlap": self.overlap,
        }


def _micro_config(cfg: ValidateConfig, device: Device) -> mb.MicroConfig:
    """Microbenchmark shapes: decode-sized to prefill-sized M; attention at the grid's scale."""
    cache = device.onchip_cache_mb or 32.0
    if cfg.backend == "cpu":
        return mb.MicroConfig(backend="cpu", quant=cfg.quant, cache_mb=cache, gemm_m=(1, 8, 32, 128, 512),
                              attn_prefill=((1, 256), (2, 512)), attn_decode=((1, 2048), (8, 1024), (32, 512)))
    return mb.MicroConfig(backend="cuda", quant=cfg.quant, cache_mb=cache, repeats=10,
                          gemm_m=(1, 8, 32, 128, 512, 2048, 8192), attn_prefill=((1, 2048), (8, 1024), (4, 4096)),
                          attn_decode=((1, 4096), (32, 2048), (128, 1024)), copy_mb=1024.0)


def _fit_samples(cfg: ValidateConfig, micros: list[mb.Micro], fit_points: list[StepMeasurement],
                 pred: StepPredictor) -> list[cal.Sample]:
    samples = micro_samples(micros, pred.quant) if cfg.micro else []
    if cfg.fit_on == "micro+ops":
        samples += pred.op_samples(fit_points)
    elif cfg.fit_on == "micro+steps":
        samples += pred.step_samples(fit_points)
    return samples


def _shapes_measured(micros: list[mb.Micro], points: list[GridPoint], spec: ModelSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"model": spec.name, "spec": spec.model_dump()}
    for m in micros:
        out.setdefault(m.kind, []).append({k: v for k, v in m.params.items()} | ({"op": m.label} if m.label else {}))
    out["grid"] = [{"phase": p.phase, "batch": p.batch, "length": p.length} for p in points]
    return out


def run_validation(cfg: ValidateConfig, *, log: Callable[[str], None] = lambda s: None) -> ValidationResult:
    """Microbenchmarks, executor grid, calibration fit, and predicted vs measured."""
    t0 = time.perf_counter()
    cfg.check()
    torch_dtype(cfg.quant)  # the user's inputs first, then the host
    spec = reduce_spec(load_model(cfg.model), layers=cfg.layers, width_divisor=cfg.width_divisor, vocab=cfg.vocab,
                       max_experts=cfg.max_experts)
    setup_backend(cfg.backend, threads=cfg.threads)
    system: System = executor_system(cfg.backend, cfg.hardware, cpu_cores=cfg.threads)
    device = system.device
    plan = Plan(quant=cfg.quant)
    pred = StepPredictor(spec, system, plan)
    points = cfg.points()
    if not points:
        raise PerfModelError("the validation grid is empty")
    log(f"device {device.id} ({device.name}); model {spec.name}: {spec.num_layers} layers, hidden {spec.hidden_size}, "
        f"{cfg.quant}")

    # Waiting for a quiet host (other processes' bursts): a third of the budget before starting, a
    # third while timing the microbenchmarks, a third while timing the grid.
    wait_s = (cfg.max_wait_s if cfg.backend == "cpu" else 0.0) / 3
    wait_for_quiet(limit=HOST_LOAD_WARNING, max_wait_s=wait_s, progress=log)
    reference_before = time_reference(cfg.backend, cfg.quant)
    micros: list[mb.Micro] = []
    if cfg.micro:
        micros = mb.run_all(_micro_config(cfg, device), spec, progress=lambda s: log(f"  microbenchmarks {s}"),
                            max_wait_s=wait_s)
        log(f"microbenchmarks: {len(micros)} in {time.perf_counter() - t0:.1f} s")

    max_batch = max(max(cfg.prefill_batches, default=1), max(cfg.decode_batches, default=1))
    max_ctx = max(max(cfg.prefill_lengths, default=1), max(cfg.decode_lengths, default=1))
    model = SyntheticModel(spec, backend=cfg.backend, quant=cfg.quant, max_batch=max_batch, max_context=max_ctx,
                           routing=cfg.routing)

    def repeats_for(p: GridPoint) -> int:
        # Long CPU prefills dominate the wall time and vary little from step to step.
        tokens = p.batch * p.length if p.phase == "prefill" else 0
        return min(cfg.repeats, 3) if (cfg.backend == "cpu" and tokens >= 1024) else cfg.repeats

    t_grid = time.perf_counter()
    measured, passes = measure_grid(model, points, warmup=cfg.warmup, repeats=cfg.repeats, repeats_for=repeats_for,
                                    progress=log, max_wait_s=wait_s)
    load = passes.max_kept_load
    if load is not None and load > HOST_LOAD_WARNING:
        log(f"warning: other processes used up to {load:.0%} of this host's CPU during the kept passes; "
            "timings are disturbed")
    log(f"executor grid: {len(points)} points in {time.perf_counter() - t_grid:.1f} s")
    noise = Noise.of([m.step.spread for m in measured], reference_before, time_reference(cfg.backend, cfg.quant),
                     load)
    if noise.refusal():
        log(noise.refusal())
    del model
    if cfg.backend == "cuda":
        require_torch().cuda.empty_cache()
    holdout = _holdout_mask(points) if cfg.holdout else [False] * len(points)
    fit_points = [m for m, h in zip(measured, holdout) if not h]
    samples = _fit_samples(cfg, micros, fit_points, pred)
    overrides, stats = cal.fit_overrides(device, samples, dtype=pred.quant.gemm_dtype)
    overrides.update(link_overrides(micros, device))
    stats["fit_points"] = [m.point.label for m in fit_points]
    calibrated = cal.device_with(device, overrides)
    results = [PointResult(m.point, m, pred.step_s(device, m.point), pred.step_s(calibrated, m.point), h,
                           pred.ops_s(calibrated, m.point)) for m, h in zip(measured, holdout)]

    overlap = None
    if cfg.backend == "cuda" and cfg.overlap:
        from perfmodel.executor.overlap import nano_batch_overlap

        b = max(cfg.decode_batches)
        b -= b % 2
        overlap = nano_batch_overlap(spec, quant=cfg.quant, calibrated=calibrated, system=system, batch=max(b, 2),
                                     context=max(cfg.decode_lengths))
        log(f"nano-batch overlap: {overlap['measured_ms']:.2f} ms measured for 2 streams vs "
            f"{overlap['sequential_ms']:.2f} ms sequential")

    v = versions(cfg.backend)
    from perfmodel.hardware.local import read_cpu_info

    profile = cal.Calibration(
        schema_version=cal.SCHEMA_VERSION, device_id=device.id, device_name=device.name,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        torch_version=v["torch"], cuda_version=v["cuda"], driver_version=v["driver"],
        host={**read_cpu_info().as_dict(), "libraries": v},
        shapes_measured=_shapes_measured(micros, points, spec), overrides=overrides, fit=stats,
    )
    result = ValidationResult(cfg, spec, device, calibrated, profile, results, micros,
                              wall_s=time.perf_counter() - t0, overlap=overlap, host_load=load,
                              passes=passes.to_dict(), noise=noise)
    return result


def _holdout_mask(points: list[GridPoint]) -> list[bool]:
    """Hold out every other point of each phase (the first point of a phase is used for fitting)."""
    seen: dict[str, int] = {}
    out = []
    for p in points:
        i = seen.get(p.phase, 0)
        seen[p.phase] = i + 1
        out.append(i % 2 == 1)
    return out
