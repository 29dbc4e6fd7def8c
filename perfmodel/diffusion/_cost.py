"""Prices of the shape walks on one device, through perfmodel.ops (the same GEMM, attention and
pointwise cost functions as the LLM step model): text encoding, one denoiser step, one
ControlNet step, VAE decoding. Each returns a `Cost` with its operators, not a bare float."""

from __future__ import annotations

from dataclasses import dataclass

from perfmodel import ops
from perfmodel.diffusion._graph import (Layer, controlnet_layers, dit_layers, text_encoder_layers, unet_layers,
                                        vae_decoder_layers)
from perfmodel.diffusion._spec import PipelineSpec, UNetSpec
from perfmodel.errors import PerfModelError
from perfmodel.hardware.schema import Device
from perfmodel.quant import Quant

LATENT_SCALE = 8  # pixels per latent pixel: the VAE's three x2 upsamplings (all four presets)


@dataclass(frozen=True)
class Cost:
    """One network pass on one device: its operators and their totals."""

    name: str
    ops: tuple[ops.OpCost, ...]

    @property
    def time_s(self) -> float:
        return float(sum(o.total_s for o in self.ops))

    @property
    def flops(self) -> float:
        return float(sum(o.flops * o.count for o in self.ops))

    @property
    def weight_bytes(self) -> float:
        return float(sum(o.weight_bytes * o.count for o in self.ops))

    def to_dict(self) -> dict:
        by_kind: dict[str, float] = {}
        for o in self.ops:
            by_kind[o.kind] = by_kind.get(o.kind, 0.0) + o.total_s * 1e3
        return {"name": self.name, "time_ms": self.time_s * 1e3, "tflops": self.flops / 1e12,
                "weight_gb": self.weight_bytes / 1e9, "time_ms_by_kind": by_kind}


def price(layer: Layer, dev: Device, q: Quant) -> ops.OpCost:
    if layer.kind == "linear":
        return ops.gemm(layer.name, layer.m, layer.n, layer.k, dev, q)
    if layer.kind == "attn":  # bidirectional: every query sees every key
        b, hd = layer.batch, layer.head_dim
        return ops.attention_prefill(layer.name, b * layer.q_tokens * layer.kv_tokens, b * layer.q_tokens,
                                     b * layer.kv_tokens, layer.heads, hd, hd, 2 * layer.heads * hd, dev, q)
    return ops.elementwise(layer.name, layer.elements, dev, bytes_per_el=q.base_bytes)


def _cost(name: str, layers: list[Layer], dev: Device, q: Quant) -> Cost:
    """Identical layers (a transformer's repeated blocks) are priced once and counted."""
    counts: dict[Layer, int] = {}
    for x in layers:
        counts[x] = counts.get(x, 0) + 1
    return Cost(name, tuple(price(x, dev, q).scaled(n) for x, n in counts.items()))


def latent_side(resolution_px: int) -> int:
    if resolution_px <= 0 or resolution_px % (2 * LATENT_SCALE):
        raise PerfModelError(f"resolution_px must be a positive multiple of {2 * LATENT_SCALE} "
                             f"(the VAE's x{LATENT_SCALE} and one patch of 2), got {resolution_px}")
    return resolution_px // LATENT_SCALE


def denoiser_layers(p: PipelineSpec, *, batch: int, resolution_px: int) -> list[Layer]:
    lat = latent_side(resolution_px)
    d = p.denoiser
    if isinstance(d, UNetSpec):
        return unet_layers(d, batch=batch, latent_h=lat, latent_w=lat, ctx_tokens=p.text_encoders[0].tokens)
    return dit_layers(d, batch=batch, latent_h=lat, latent_w=lat)


def denoiser_step(p: PipelineSpec, dev: Device, q: Quant, *, batch: int, resolution_px: int) -> Cost:
    """One denoising step over `batch` latents (images x 2 with CFG)."""
    return _cost(f"{p.name} denoiser step", denoiser_layers(p, batch=batch, resolution_px=resolution_px), dev, q)


def denoiser_phases(p: PipelineSpec, dev: Device, q: Quant, *, batch: int, resolution_px: int) -> dict[str, Cost]:
    """One denoising step split by phase: a UNet's down (encoder, which runs while remote
    ControlNets compute) and mid/up; a DiT's one phase."""
    out: dict[str, list[Layer]] = {}
    for x in denoiser_layers(p, batch=batch, resolution_px=resolution_px):
        out.setdefault(x.phase, []).append(x)
    return {phase: _cost(f"{p.name} {phase}", layers, dev, q) for phase, layers in out.items()}


def controlnet_step(p: PipelineSpec, dev: Device, q: Quant, *, batch: int, resolution_px: int) -> Cost:
    """One ControlNet's pass in one denoising step (a UNet pipeline only)."""
    if not isinstance(p.denoiser, UNetSpec):
        raise PerfModelError(f"ControlNet branches here copy a UNet encoder; {p.name!r} has a "
                             f"{p.denoiser.kind} denoiser (use controlnets=0)")
    lat = latent_side(resolution_px)
    layers = controlnet_layers(p.denoiser, batch=batch, latent_h=lat, latent_w=lat,
                               ctx_tokens=p.text_encoders[0].tokens)
    return _cost(f"{p.name} controlnet step", layers, dev, q)


def text_encode(p: PipelineSpec, dev: Device, q: Quant, *, prompts: int) -> Cost:
    """All text encoders over `prompts` prompts (x 2 with CFG: the negative prompt too)."""
    layers = [x for e in p.text_encoders for x in text_encoder_layers(e, batch=prompts)]
    return _cost(f"{p.name} text encoders", layers, dev, q)


def vae_decode(p: PipelineSpec, dev: Device, q: Quant, *, images: int, resolution_px: int) -> Cost:
    lat = latent_side(resolution_px)
    return _cost(f"{p.name} vae decode", vae_decoder_layers(p.vae, batch=images, latent_h=lat, latent_w=lat), dev, q)


def weight_params(layers: list[Layer]) -> int:
    return sum(x.params for x in layers)
