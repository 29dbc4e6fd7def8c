"""Turn user-facing names (model, hardware, calibration file) into specs and systems."""

from __future__ import annotations

from perfmodel.hardware.catalog import System, resolve
from perfmodel.specs.model import ModelSpec
from perfmodel.specs.registry import load_model


def resolve_model(model: str | ModelSpec) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else load_model(model)


def resolve_system(hardware: str | System, *, calibration: str | None = None, auto_calibration: bool = True,
                   entry: str | None = None) -> System:
    """A System, with a calibration profile applied: the file given, else one shipped in the
    package for this device (when the executor module is present). `entry`: the id to take from a
    hardware file (default its first)."""
    system = hardware if isinstance(hardware, System) else resolve(hardware, entry=entry)
    try:
        from perfmodel import calibration as cal
    except ImportError:
        if calibration:
            from perfmodel.errors import PerfModelError

            raise PerfModelError("--calibration needs perfmodel.calibration, which is not installed") from None
        return system
    if calibration:
        return cal.apply(system, cal.load_calibration(calibration))
    if auto_calibration:
        shipped = cal.find_shipped(system.device.id)
        if shipped is not None:
            return cal.apply(system, shipped)
    return system
