"""Lazy access to PyTorch (an optional dependency) and the device it runs on."""

from __future__ import annotations

import os
from typing import Any, Literal

from perfmodel.errors import PerfModelError

Backend = Literal["cpu", "cuda"]

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def require_torch() -> Any:
    """The `torch` module, or a one-line `PerfModelError` saying how to install it."""
    try:
        import torch
    except ModuleNotFoundError:
        raise PerfModelError("the executor needs PyTorch: pip install 'perfmodel[executor]' (or pip install torch)") from None
    return torch


def cuda_available() -> bool:
    try:
        import torch
    except ModuleNotFoundError:
        return False
    return torch.cuda.is_available()


def torch_dtype(quant: str) -> Any:
    torch = require_torch()
    if quant not in _DTYPES:
        raise PerfModelError(f"the executor runs dtypes {sorted(_DTYPES)}, got {quant!r}")
    return getattr(torch, _DTYPES[quant])


def setup_backend(backend: Backend, *, threads: int | None = None) -> Any:
    """Check the backend exists and pin CPU threads to the cores this process may use."""
    torch = require_torch()
    if backend == "cuda" and not torch.cuda.is_available():
        raise PerfModelError("--device cuda: no CUDA device visible to PyTorch (torch.cuda.is_available() is False)")
    if backend == "cpu":
        n = threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        torch.set_num_threads(n)
    return torch


def synchronize(backend: Backend) -> None:
    if backend == "cuda":
        require_torch().cuda.synchronize()


def versions(backend: Backend) -> dict[str, str | None]:
    """Library and driver versions for a calibration profile's provenance."""
    torch = require_torch()
    out: dict[str, str | None] = {"torch": torch.__version__, "cuda": torch.version.cuda, "driver": None,
                                  "cudnn": None, "mkldnn": None}
    if backend == "cuda" and torch.cuda.is_available():
        out["cudnn"] = str(torch.backends.cudnn.version())
        out["driver"] = _nvidia_driver()
    if torch.backends.mkldnn.is_available():
        out["mkldnn"] = "available"
    return out


def _nvidia_driver() -> str | None:
    import subprocess

    try:
        res = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip().splitlines()[0] if res.returncode == 0 and res.stdout.strip() else None
