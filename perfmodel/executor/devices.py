"""Which catalog `Device` describes the device the executor runs on."""

from __future__ import annotations

import dataclasses
import re

from perfmodel import hardware
from perfmodel.hardware.catalog import System
from perfmodel.hardware.local import cpu_device, local_cpu_system, read_cpu_info
from perfmodel.errors import PerfModelError
from perfmodel.executor._torch import Backend, require_torch


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def match_cuda_name(name: str, devices: list) -> str | None:
    """The catalog id whose name/aliases share the most tokens with a CUDA device name
    ("NVIDIA H100 80GB HBM3" -> h100-sxm); the model number (h100, a100, ...) must match."""
    toks = _tokens(name)
    best, best_score = None, 0
    for dev in devices:
        if dev.kind != "gpu":
            continue
        cand = _tokens(dev.name) | {t for a in [dev.id, *dev.aliases] for t in _tokens(a)}
        model = [t for t in _tokens(dev.id) if re.fullmatch(r"[a-z]+\d+[a-z]*", t)]
        if model and not set(model) & toks:
            continue
        score = len(toks & cand)
        if "pcie" in toks and "pcie" not in cand:
            score -= 2
        if score > best_score:
            best, best_score = dev.id, score
    return best


def executor_system(backend: Backend, hardware_name: str | None = None, *, cpu_cores: int | None = None) -> System:
    """The `System` (uncalibrated) the cost model should use for what the executor measures;
    `cpu_cores`: describe only that many of the local cores (the executor runs that many threads)."""
    if backend == "cpu":
        if hardware_name:
            return hardware.resolve(hardware_name)
        info = read_cpu_info()
        if cpu_cores is not None:
            if not 1 <= cpu_cores <= info.cores:
                raise PerfModelError(f"--threads must be in 1..{info.cores} (the cores this process may use), got {cpu_cores}")
            info = dataclasses.replace(info, cores=cpu_cores, threads=cpu_cores)
        return local_cpu_system(cpu_device(info))
    if hardware_name:
        return hardware.resolve(hardware_name)
    torch = require_torch()
    name = torch.cuda.get_device_name(0)
    dev_id = match_cuda_name(name, hardware.bundled().devices)
    if dev_id is None:
        raise PerfModelError(f"CUDA device {name!r} matches no catalog GPU; pass --hardware with its catalog id or a YAML file")
    return hardware.resolve(dev_id)
