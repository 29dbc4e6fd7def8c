"""Calibration profiles: per-device overrides of the `Device` fields the cost model reads, fitted
from executor measurements, with provenance (device, library and driver versions, date, shapes).

A profile is JSON (`Calibration`). `apply(system, cal)` returns the system with the overrides
validated into its device; `find_shipped(device_id)` finds a profile bundled in
`perfmodel/calibrations/*.json`. `fit_overrides` fits the overrides with
scipy.optimize.least_squares on log(predicted / measured), the predictions being the cost
model's own (`Sample.predict` calls perfmodel.ops / perfmodel.step with a candidate device).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perfmodel.hardware.catalog import System
from perfmodel.hardware.schema import Device, Id
from perfmodel.common.jsonfile import parse_json
from perfmodel.common.textfile import MAX_CONFIG_BYTES, read_text
from perfmodel.errors import PerfModelError, pydantic_message

SCHEMA_VERSION = 1
# Device fields a profile may override (everything else in a profile's overrides is an error).
OVERRIDABLE = frozenset({
    "gemm_efficiency", "mem_bw_efficiency", "kernel_overhead_us", "attn_prefill_efficiency",
    "attn_decode_efficiency", "peak_dense_tflops", "memory_bw_gb_s", "gemm_tile_m", "gemm_tile_n",
    "host_link", "scaleup_link",
})
_MERGED = frozenset({"gemm_efficiency", "peak_dense_tflops"})  # dicts: override per dtype


class Calibration(BaseModel):
    """One device's fitted overrides and where they came from."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    schema_version: int
    device_id: Id
    device_name: str
    created: str = Field(description="ISO 8601 date-time of the measurement")
    torch_version: str | None = None
    cuda_version: str | None = None
    driver_version: str | None = None
    host: dict[str, Any] = Field(default_factory=dict, description="CPU model, cores, ISA, caches, memory")
    shapes_measured: dict[str, Any] = Field(default_factory=dict, description="what was timed, by kind")
    overrides: dict[str, Any]
    fit: dict[str, Any] = Field(default_factory=dict, description="residual statistics of the fit")
    source: str | None = Field(default=None, exclude=True, description="the file it was read from")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), indent=2, sort_keys=False) + "\n"


def _check(cal: Calibration, where: str) -> Calibration:
    if cal.schema_version != SCHEMA_VERSION:
        raise PerfModelError(f"{where}: calibration schema_version {cal.schema_version} is not supported "
                             f"(this perfmodel reads version {SCHEMA_VERSION})")
    unknown = sorted(set(cal.overrides) - OVERRIDABLE)
    if unknown:
        raise PerfModelError(f"{where}: overrides may only set {', '.join(sorted(OVERRIDABLE))}; got {', '.join(unknown)}")
    return cal


def parse_calibration(text: str, where: str) -> Calibration:
    data = parse_json(where, text)
    if not isinstance(data, dict):
        raise PerfModelError(f"{where}: a calibration profile is a JSON object, got {type(data).__name__}")
    if "schema_version" in data and data["schema_version"] != SCHEMA_VERSION:
        raise PerfModelError(f"{where}: calibration schema_version {data['schema_version']!r} is not supported "
                             f"(this perfmodel reads version {SCHEMA_VERSION})")
    try:
        cal = Calibration.model_validate({**data, "source": where})
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source=where)) from None
    return _check(cal, where)


def load_calibration(path: str | Path) -> Calibration:
    """Read and check a profile file (one-line `PerfModelError` on any problem)."""
    p = Path(path)
    if not p.is_file():
        raise PerfModelError(f"--calibration {path}: no such file")
    return parse_calibration(read_text(p, what="a calibration profile", max_bytes=MAX_CONFIG_BYTES), str(p))


def save_calibration(cal: Calibration, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(cal.to_json())
    return p


def _read_folder(entries, prefix: str) -> dict[str, Calibration]:
    out: dict[str, Calibration] = {}
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name.endswith(".json"):
            cal = parse_calibration(entry.read_text(), f"{prefix}/{entry.name}")
            out[cal.device_id.lower()] = cal
    return out


@functools.lru_cache(maxsize=1)
def _shipped() -> dict[str, Calibration]:
    folder = resources.files("perfmodel") / "calibrations"
    return _read_folder(folder.iterdir(), "perfmodel/calibrations") if folder.is_dir() else {}


def find_shipped(device_id: str, folder: str | Path | None = None) -> Calibration | None:
    """The profile bundled in the package (or found in `folder`) for this device id, if any."""
    if folder is not None:
        p = Path(folder)
        return _read_folder(p.iterdir(), str(p)).get(device_id.lower()) if p.is_dir() else None
    return _shipped().get(device_id.lower())


def apply_to_device(device: Device, cal: Calibration) -> Device:
    """`device` with the profile's overrides (validated by the schema; sources say 'calibration')."""
    if cal.device_id.lower() != device.id.lower():
        where = f" {cal.source}" if cal.source else ""
        raise PerfModelError(f"calibration{where} is for device {cal.device_id!r}, not {device.id!r}")
    data = device.model_dump(exclude_unset=True)  # schema defaults stay defaults (they need no source)
    sources = dict(data.pop("sources", {}))
    note = f"calibration {cal.device_id} {cal.created[:10]}"
    for key, value in cal.overrides.items():
        if key in _MERGED:
            data[key] = {**getattr(device, key), **value}
            for sub in value:
                sources[f"{key}.{sub}"] = note
        else:
            data[key] = value
            sources[key] = note
    try:
        return Device.model_validate({**data, "sources": sources})
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source=cal.source or f"calibration for {cal.device_id}")) from None


def apply(system: System, cal: Calibration) -> System:
    """The system with its device (and a host CPU of the same id) calibrated."""
    dev = apply_to_device(system.device, cal)
    host = system.host_cpu
    if host is not None and host.id == system.device.id:
        host = dev
    return dataclasses.replace(system, device=dev, host_cpu=host)


# ------------------------------------------------------------------------------------------
# Fitting
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One measured time and how the cost model predicts it for a candidate device."""

    label: str
    measured_s: float
    predict: Callable[[Device], float]
    group: str = ""   # samples are weighted so that every group counts as much in the fit


@dataclass(frozen=True)
class FitParam:
    """A knob the fit moves: read from and written to a device as a positive number."""

    name: str
    get: Callable[[Device], float]
    set: Callable[[Device, float], dict[str, Any]]   # value -> Device field overrides
    lower: float
    upper: float


def _rate_params(dtype: str) -> list[FitParam]:
    """The default knobs: achieved GEMM FLOP/s, achieved bandwidth, attention fractions, overhead.

    The two rates are fitted as absolute numbers. Below the device's peak they become the
    efficiency fields; above it (a CPU boosting past its nominal clock, a bandwidth assumption
    that was low) the peak itself is raised and the efficiency set to 1.
    """

    def gemm_rate(d: Device) -> float:
        return d.peak_flops(dtype) * d.gemm_fraction(dtype)

    def set_gemm(d: Device, rate: float) -> dict[str, Any]:
        peak = d.peak_flops(dtype)
        if rate <= peak:
            return {"gemm_efficiency": {dtype: rate / peak}}
        return {"gemm_efficiency": {dtype: 1.0}, "peak_dense_tflops": {dtype: rate / 1e12}}

    def mem_rate(d: Device) -> float:
        return d.memory_bw_gb_s * 1e9 * d.mem_bw_efficiency

    def set_mem(d: Device, rate: float) -> dict[str, Any]:
        peak = d.memory_bw_gb_s * 1e9
        if rate <= peak:
            return {"mem_bw_efficiency": rate / peak}
        return {"mem_bw_efficiency": 1.0, "memory_bw_gb_s": rate / 1e9}

    return [
        FitParam("gemm_flop_rate", gemm_rate, set_gemm, 1e6, 1e18),
        FitParam("mem_byte_rate", mem_rate, set_mem, 1e6, 1e15),
        FitParam("attn_prefill_efficiency", lambda d: d.attn_prefill_efficiency,
                 lambda d, v: {"attn_prefill_efficiency": v}, 1e-3, 1.0),
        FitParam("attn_decode_efficiency", lambda d: d.attn_decode_efficiency,
                 lambda d, v: {"attn_decode_efficiency": v}, 1e-3, 1.0),
        FitParam("kernel_overhead_us", lambda d: max(d.kernel_overhead_us, 1e-3),
                 lambda d, v: {"kernel_overhead_us": v}, 1e-3, 1e4),
    ]


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = {**out.get(k, {}), **v} if k in _MERGED and k in out else v
    return out


def overrides_for(base: Device, params: list[FitParam], values: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p, v in zip(params, values):
        out = _merge(out, p.set(base, v))
    return out


def device_with(base: Device, overrides: dict[str, Any]) -> Device:
    """`base` with overrides, without re-validating sources (fast path inside the fit)."""
    upd = {k: ({**getattr(base, k), **v} if k in _MERGED else v) for k, v in overrides.items()}
    return base.model_copy(update=upd)


def ape(predicted: float, measured: float) -> float:
    """Absolute percentage error, in percent."""
    return abs(predicted - measured) / measured * 100.0


def error_stats(pairs: list[tuple[float, float]]) -> dict[str, float]:
    """Median and p90 absolute percentage error of (predicted, measured) pairs."""
    import numpy as np

    errs = np.array([ape(p, m) for p, m in pairs]) if pairs else np.array([math.nan])
    return {"n": len(pairs), "median_ape": float(np.median(errs)), "p90_ape": float(np.percentile(errs, 90))}


# Fitted rates (GEMM FLOP/s, memory bytes/s) stay within this factor of the device's own value.
RATE_SPAN = 20.0
RATE_PARAMS = frozenset({"gemm_flop_rate", "mem_byte_rate"})


def fit_overrides(base: Device, samples: list[Sample], *, dtype: str,
                  params: list[FitParam] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Least-squares fit of the device knobs to `samples` on log(predicted / measured).

    Knobs the samples do not depend on are left out. Returns (overrides, fit statistics).
    """
    import numpy as np
    from scipy.optimize import least_squares

    if not samples:
        raise PerfModelError("calibration needs at least one measured sample")
    params = params or _rate_params(dtype)
    meas = np.array([s.measured_s for s in samples])
    if np.any(meas <= 0):
        raise PerfModelError("measured times must be > 0 to calibrate")

    groups: dict[str, int] = {}
    for s in samples:
        groups[s.group] = groups.get(s.group, 0) + 1
    # sqrt of the weight len(samples) / (n_groups * n_group): each group has the same total say.
    scale = np.sqrt([len(samples) / (len(groups) * groups[s.group]) for s in samples])

    def residuals(x: np.ndarray, active: list[FitParam]) -> np.ndarray:
        dev = device_with(base, overrides_for(base, active, list(np.exp(x))))
        pred = np.array([s.predict(dev) for s in samples])
        return np.log(np.maximum(pred, 1e-12) / meas) * scale

    x0_all = np.log([min(max(p.get(base), p.lower), p.upper) for p in params])
    # Bounded parameters: a rate moves at most RATE_SPAN x either way from the device's own
    # (catalog or detected) value; a fit that needs more is reported at its bound, not believed.
    spans = [(p.lower, p.upper) if p.name not in RATE_PARAMS else
             (max(p.lower, p.get(base) / RATE_SPAN), min(p.upper, p.get(base) * RATE_SPAN)) for p in params]
    # Drop knobs no sample depends on (e.g. attention fractions without attention samples).
    r0 = residuals(x0_all, params)
    active = []
    for i, p in enumerate(params):
        bumped = x0_all.copy()
        bumped[i] += 0.2
        if np.max(np.abs(residuals(bumped, params) - r0)) > 1e-6:
            active.append(i)
    act = [params[i] for i in active]
    x0 = x0_all[active]
    lo, hi = np.log([spans[i][0] for i in active]), np.log([spans[i][1] for i in active])
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
    res = least_squares(residuals, x0, bounds=(lo, hi), args=(act,), loss="soft_l1", f_scale=0.1, x_scale=1.0)
    values = list(np.exp(res.x))
    overrides = overrides_for(base, act, values)
    fitted = device_with(base, overrides)
    before = error_stats([(s.predict(base), s.measured_s) for s in samples])
    after = error_stats([(s.predict(fitted), s.measured_s) for s in samples])
    stats = {
        "method": "scipy.optimize.least_squares(loss='soft_l1', f_scale=0.1) on log(predicted/measured)",
        "samples": len(samples),
        "groups": groups,
        "parameters": {p.name: v for p, v in zip(act, values)},
        "fixed": [p.name for i, p in enumerate(params) if i not in active],
        "rms_log_residual": float(np.sqrt(np.mean((res.fun / scale) ** 2))),
        "at_bound": [p.name for p, x, a, b in zip(act, res.x, lo, hi) if min(x - a, b - x) < 1e-3],
        "before": before, "after": after, "converged": bool(res.success),
    }
    return _round(overrides), stats


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        return float(f"{obj:.6g}")
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    return obj
