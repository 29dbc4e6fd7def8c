"""LoRA add-ons on a diffusion denoiser: adapter size, loading over a storage or host link, and
the two ways to run one: merged (W += B A once per request, undone after) or unmerged (x A B on
every step beside each target projection). Targets: the attention projections, diffusers'
LoRA `target_modules` (to_q, to_k, to_v, to_out.0; train_dreambooth_lora_sdxl.py).

Loading goes through one of two loaders: `peft`, diffusers' `load_lora_weights` with the PEFT
backend (the default since diffusers 0.25), which wraps every target module in a LoRA layer on the
host before the weights can be used; or `direct`, a loader that reads the A and B tensors and
patches them into W without building modules (SwiftDiffusion's BAL patches its own way)."""

from __future__ import annotations

from perfmodel import ops
from perfmodel.diffusion._cost import denoiser_layers
from perfmodel.diffusion._spec import PipelineSpec
from perfmodel.hardware.catalog import System
from perfmodel.quant import Quant

GB = 1e9
# Host time diffusers spends per target module when it loads an adapter through PEFT (module
# replacement and LoRA parameter initialisation in Python; onediff PR #524 names the parameter
# initialisation as the largest part of load_lora_weights). Measured: one SDXL LoRA loaded from a
# local file with load_lora_weights(adapter_name=...) took 1.216 s (huggingface/diffusers issue
# #9297, the first of ten loads) [derived: 1.216 s / 560 modules = 2.17 ms per module, 560 = SDXL's
# 70 transformer blocks x 8 attention projections, the adapter assumed to target the UNet's attention
# only (train_dreambooth_lora_sdxl's default) and the file read from the page cache (a ~0.1 GB file
# at NVMe speed is < 20 ms)]. Held out: onediff PR #656 measured 2.44-5.25 s per SDXL LoRA through
# the PEFT backend (23-55 MB files), so 1.216 s is the low end of what is measured (favours diffusers).
PEFT_HOST_S_PER_MODULE = 1.216 / 560
# diffusers target modules behind each fused projection of the walk (perfmodel.diffusion._graph):
# q, k and v are one GEMM there, three LoRA-wrapped modules in diffusers (to_q, to_k, to_v);
# FLUX's single blocks also wrap proj_mlp beside them.
MODULES_PER_FUSED: dict[str, int] = {"qkv": 3, "kv": 2, "qkv_mlp": 4}


def _targets(p: PipelineSpec, *, batch: int, resolution_px: int) -> dict[tuple[int, int, int], int]:
    """(m, n, k) of each target projection shape -> how many the denoiser has."""
    out: dict[tuple[int, int, int], int] = {}
    for x in denoiser_layers(p, batch=batch, resolution_px=resolution_px):
        if x.lora:
            out[(x.m, x.n, x.k)] = out.get((x.m, x.n, x.k), 0) + 1
    return out


def target_modules(p: PipelineSpec) -> int:
    """LoRA-wrapped modules of the denoiser as diffusers counts them (SDXL: 560)."""
    return sum(MODULES_PER_FUSED.get(x.name.rsplit(".", 1)[-1], 1)
               for x in denoiser_layers(p, batch=1, resolution_px=_any_res(p)) if x.lora)


def peft_inject_s(p: PipelineSpec, *, adapters: int) -> float:
    """Host seconds diffusers' PEFT backend spends wrapping the target modules for `adapters` adapters."""
    return adapters * target_modules(p) * PEFT_HOST_S_PER_MODULE


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
