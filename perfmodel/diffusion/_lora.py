"""LoRA add-ons on a diffusion denoiser: adapter size, loading over a storage or host link, and
the two ways to run one: merged (W += B A once per request, undone after) or unmerged (x A B on
every step beside each target projection). Targets: the attention projections, diffusers'
LoRA `target_modules` (to_q, to_k, to_v, to_out.0; train_dreambooth_lora_sdxl.py)."""

from __future__ import annotations

from perfmodel import ops
from perfmodel.diffusion._cost import denoiser_layers
from perfmodel.diffusion._spec import PipelineSpec
from perfmodel.hardware.catalog import System
from perfmodel.quant import Quant

GB = 1e9


def _targets(p: PipelineSpec, *, batch: int, resolution_px: int) -> dict[tuple[int, int, int], int]:
    """(m, n, k) of each target projection shape -> how many the denoiser has."""
    out: dict[tuple[int, int, int], int] = {}
    for x in denoiser_layers(p, batch=batch, resolution_px=resolution_px):
        if x.lora:
            out[(x.m, x.n, x.k)] = out.get((x.m, x.n, x.k), 0) + 1
    return out


def lora_bytes(p: PipelineSpec, q: Quant, *, rank: int) -> float:
    """Bytes of one adapter: A (rank x in) and B (out x rank) per target, in the weight dtype."""
    shapes = _targets(p, batch=1, resolution_px=_any_res(p))
    return sum(count * rank * (n + k) for (_, n, k), count in shapes.items()) * q.base_bytes


def _any_res(p: PipelineSpec) -> int:
    return p.default_resolution_px  # target shapes (n, k) do not depend on the resolution


def load_s(nbytes: float, system: System, *, source: str, disk_read_gb_s: float) -> float:
    """Seconds to bring `nbytes` of adapter weights to the GPU: from host memory over the device's
    host link (achievable fraction), or from disk at `disk_read_gb_s` and then over the host link."""
    link = system.device.host_link
    h2d = nbytes / (link.bw_per_direction_gb_s * GB * link.efficiency) if link else 0.0
    if source == "host":
        return h2d
    return nbytes / (disk_read_gb_s * GB) + h2d


def merge_s(p: PipelineSpec, system: System, q: Quant, *, rank: int) -> float:
    """One merge (or un-merge) of one adapter: per target a B @ A product (out x rank x in) and an
    add into W (read and write W): memory-bound on the weight matrix."""
    dev = system.device
    total = 0.0
    for (_, n, k), count in _targets(p, batch=1, resolution_px=_any_res(p)).items():
        product = ops.gemm("lora.BA", n, k, rank, dev, q, weight_quantized=False).time_s
        add = ops.elementwise("lora.add", n * k, dev, reads=2.0, writes=1.0, bytes_per_el=q.base_bytes).time_s
        total += count * (product + add)
    return total


def unmerged_step_s(p: PipelineSpec, system: System, q: Quant, *, rank: int, batch: int, resolution_px: int) -> float:
    """Extra time per denoising step of one unmerged adapter: x A (m x rank) then (x A) B added to
    the projection's output, for every target (as S-LoRA/punica run adapters beside the base)."""
    dev = system.device
    total = 0.0
    for (m, n, k), count in _targets(p, batch=batch, resolution_px=resolution_px).items():
        down = ops.gemm("lora.A", m, rank, k, dev, q, weight_quantized=False).time_s
        up = ops.gemm("lora.B", m, n, rank, dev, q, weight_quantized=False).time_s
        total += count * (down + up)
    return total
