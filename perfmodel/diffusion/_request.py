"""One batch of same-signature requests on one worker: where its time goes.

A worker is one GPU, or two with latent parallelism (SwiftDiffusion s5: the CFG pair's two
latents on two GPUs, exchanging noise predictions each step). ControlNets run serially on the
worker's GPU (diffusers' MultiControlNet) or in parallel on a pool of other GPUs
(SwiftDiffusion's ControlNet-as-a-Service), where they overlap the UNet's down blocks and send
their residuals back over the scale-up link. LoRAs load synchronously before denoising
(diffusers) or asynchronously, bounded to the first k steps (SwiftDiffusion's BAL); diffusers'
PEFT loader adds its host time per wrapped module to every load (perfmodel.diffusion._lora)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perfmodel.diffusion import _cost, _lora
from perfmodel.diffusion._graph import residual_elements
from perfmodel.diffusion._spec import PipelineSpec, UNetSpec
from perfmodel.errors import PerfModelError, pydantic_message
from perfmodel.hardware.catalog import System
from perfmodel.quant import Quant

GB = 1e9
US = 1e-6
# A datacenter NVMe Gen4 drive's sequential read: Samsung PM9A3 data sheet, 6.9 GB/s (U.2 3.84 TB).
NVME_GEN4_READ_GB_S = 6.9


# Bounds on user input: far above practice (1000-step DDPM sampling, 8K images), so a typo fails fast.
MAX_STEPS = 10_000
MAX_IMAGES = 1024
MAX_RESOLUTION_PX = 16_384


class Deployment(BaseModel):
    """How add-ons run. Defaults are diffusers' single-GPU workflow (SwiftDiffusion's baseline)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    controlnet_placement: Literal["serial", "parallel"] = "serial"
    controlnet_gpus: int = Field(default=0, ge=0, le=4096, description="GPUs of the ControlNet pool (parallel)")
    cfg_parallel: bool = Field(default=False, description="latent parallelism: CFG pair on two GPUs")
    lora_mode: Literal["merge", "unmerged"] = "merge"
    lora_loading: Literal["sync", "async"] = "sync"
    async_bound_steps: int = Field(default=10, ge=0, le=MAX_STEPS, description="BAL: steps that may run before the LoRA")
    lora_source: Literal["disk", "host"] = "disk"
    lora_loader: Literal["peft", "direct"] = Field(
        default="peft", description="peft: diffusers' load_lora_weights (host time per wrapped module); "
                                    "direct: A and B tensors read and patched, no modules built")
    disk_read_gb_s: float = Field(default=NVME_GEN4_READ_GB_S, gt=0, le=10_000)
    lora_rank: int = Field(default=64, gt=0, le=4096)
    lora_cache: int = Field(default=0, ge=0, le=1_000_000, description="adapters kept on each worker's GPU")

    @property
    def gpus_per_worker(self) -> int:
        return 2 if self.cfg_parallel else 1


def deployment(**fields) -> Deployment:
    try:
        dep = Deployment(**fields)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source="diffusion deployment")) from None
    if dep.controlnet_placement == "parallel" and dep.controlnet_gpus < 1:
        raise PerfModelError("controlnet_placement=parallel needs controlnet_gpus >= 1, got 0")
    return dep


def _link_s(system: System, nbytes: float, group: int) -> float:
    link, _ = system.link_for_group(group)
    return link.latency_us * US + nbytes / (link.bw_per_direction_gb_s * GB * link.efficiency)


def service(p: PipelineSpec, system: System, q: Quant, dep: Deployment, *, images: int, steps: int,
            resolution_px: int, controlnets: int, loras: int, lora_misses: int) -> dict:
    """Seconds of each part of serving `images` same-signature requests as one batch on a worker:
    text encoding, LoRA stall and patching, denoising (UNet/DiT + ControlNets per step), VAE."""
    for name, value, low, high in (("steps", steps, 1, MAX_STEPS), ("images", images, 1, MAX_IMAGES),
                                   ("resolution_px", resolution_px, 16, MAX_RESOLUTION_PX),
                                   ("controlnets", controlnets, 0, 8), ("loras", loras, 0, 8),
                                   ("lora_misses", lora_misses, 0, loras)):
        if not low <= value <= high:
            raise PerfModelError(f"{name} must be in [{low}, {high}], got {value}")
    if dep.cfg_parallel and not p.cfg:
        raise PerfModelError(f"cfg_parallel splits the CFG pair over two GPUs, but {p.name!r} runs without CFG "
                             "(one latent per step); leave it off")
    if controlnets and not isinstance(p.denoiser, UNetSpec):
        raise PerfModelError(f"controlnets must be 0 for {p.name!r} (a {p.denoiser.kind} denoiser); got {controlnets}")
    dev = system.device
    cfg = 2 if p.cfg else 1
    split = 2 if dep.cfg_parallel else 1
    b = images * cfg // split  # latents per GPU per step
    phases = _cost.denoiser_phases(p, dev, q, batch=b, resolution_px=resolution_px)
    base_step = sum(c.time_s for c in phases.values())
    down = phases["down"].time_s if "down" in phases else 0.0
    cn_s = _cost.controlnet_step(p, dev, q, batch=b, resolution_px=resolution_px).time_s if controlnets else 0.0
    if controlnets and dep.controlnet_placement == "parallel":
        rounds = math.ceil(controlnets / dep.controlnet_gpus)
        lat = _cost.latent_side(resolution_px)
        resid = residual_elements(p.denoiser, batch=b, latent_h=lat, latent_w=lat) * q.base_bytes
        send = _link_s(system, b * p.denoiser.in_channels * lat * lat * q.base_bytes, 2)
        recv = _link_s(system, resid, 2)
        step = max(down, send + rounds * cn_s + recv) + (base_step - down)
        cn_gpu_s = controlnets * cn_s * steps
    else:
        step = base_step + controlnets * cn_s
        cn_gpu_s = 0.0
    if split == 2:  # latent parallelism: swap the two noise predictions each step
        lat = _cost.latent_side(resolution_px)
        step += _link_s(system, images * p.vae.latent_channels * lat * lat * q.base_bytes, 2)
    if loras and dep.lora_mode == "unmerged":
        step += loras * _lora.unmerged_step_s(p, system, q, rank=dep.lora_rank, batch=b, resolution_px=resolution_px)
    load = inject = 0.0
    if lora_misses:
        load = _lora.load_s(lora_misses * _lora.lora_bytes(p, q, rank=dep.lora_rank), system, source=dep.lora_source,
                            disk_read_gb_s=dep.disk_read_gb_s)
        if dep.lora_loader == "peft":
            inject = _lora.peft_inject_s(p, adapters=lora_misses)
            load += inject
    stall = load if dep.lora_loading == "sync" else max(0.0, load - min(dep.async_bound_steps, steps) * step)
    patch = 2 * loras * _lora.merge_s(p, system, q, rank=dep.lora_rank) if loras and dep.lora_mode == "merge" else 0.0
    text = _cost.text_encode(p, dev, q, prompts=images * cfg).time_s
    vae = _cost.vae_decode(p, dev, q, images=images, resolution_px=resolution_px).time_s
    total = text + stall + patch + steps * step + vae
    return {"total_s": total, "text_s": text, "lora_load_stall_s": stall, "lora_load_s": load, "lora_inject_s": inject,
            "lora_patch_s": patch,
            "denoise_s": steps * step, "step_s": step, "base_step_s": base_step, "controlnet_step_s": cn_s,
            "vae_s": vae, "worker_gpu_s": total * dep.gpus_per_worker, "controlnet_gpu_s": cn_gpu_s}
