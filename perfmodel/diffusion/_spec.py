"""Diffusion pipelines as validated data: a denoiser (UNet or DiT), its text encoders and its VAE
decoder, with the shapes their Hugging Face `config.json` files give (presets.yaml names each
file). A typo or an impossible shape is a one-line error naming the field and the value."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from perfmodel.errors import PerfModelError, UnknownNameError, pydantic_message

PRESETS = Path(__file__).with_name("presets.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UNetSpec(_Strict):
    """diffusers UNet2DConditionModel. `heads` is diffusers' `attention_head_dim`, which the SD
    configs use as the number of heads (diffusers issue #2011)."""

    kind: Literal["unet"] = "unet"
    in_channels: int = Field(gt=0)
    block_out_channels: tuple[int, ...] = Field(min_length=1)
    layers_per_block: int = Field(gt=0)
    cross_attn_blocks: tuple[bool, ...] = Field(description="down block i has transformers (CrossAttnDownBlock2D)")
    transformer_layers: tuple[int, ...] = Field(description="transformer depth per down block (mid: the last)")
    heads: tuple[int, ...] = Field(description="attention heads per down block")
    cross_attention_dim: int = Field(gt=0)
    time_embed_dim: int = Field(gt=0, description="4 x block_out_channels[0] in diffusers")

    @model_validator(mode="after")
    def _same_length(self):
        n = len(self.block_out_channels)
        for name in ("cross_attn_blocks", "transformer_layers", "heads"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} must have one value per block ({n} block_out_channels), "
                                 f"got {len(getattr(self, name))}")
        for c, h in zip(self.block_out_channels, self.heads):
            if c % h:
                raise ValueError(f"block channels must divide by heads, got {c} channels and {h} heads")
        return self


class DiTSpec(_Strict):
    """MMDiT-style transformer (SD3 SD3Transformer2DModel, FLUX FluxTransformer2DModel): `joint_layers`
    blocks with separate image and text weights over one joint attention, then `single_layers`
    blocks over the concatenated tokens (FLUX only)."""

    kind: Literal["dit"] = "dit"
    latent_channels: int = Field(gt=0)
    patch: int = Field(gt=0, description="latent pixels per token side (SD3 patch_size; FLUX packs 2x2)")
    joint_layers: int = Field(ge=0)
    single_layers: int = Field(ge=0)
    heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    mlp_ratio: float = Field(gt=0)
    context_dim: int = Field(gt=0, description="text features fed to context_embedder (T5 d_model)")
    text_tokens: int = Field(gt=0, description="text tokens in the joint sequence")

    @property
    def hidden(self) -> int:
        return self.heads * self.head_dim


class TextEncoderSpec(_Strict):
    """A transformer text encoder (CLIP text model, T5 encoder) run once per prompt."""

    name: str
    layers: int = Field(gt=0)
    hidden: int = Field(gt=0)
    heads: int = Field(gt=0)
    ffn: int = Field(gt=0)
    gated: bool = Field(default=False, description="gated FFN (T5 v1.1 gated-gelu: two input projections)")
    tokens: int = Field(gt=0)


class VAESpec(_Strict):
    """diffusers AutoencoderKL decoder (latent -> pixels, 8x upsampling)."""

    latent_channels: int = Field(gt=0)
    block_out_channels: tuple[int, ...] = Field(min_length=1)
    layers_per_block: int = Field(gt=0)

    @property
    def scale(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)


class PipelineSpec(_Strict):
    """One text-to-image pipeline and its defaults (the model card's steps, resolution, CFG)."""

    name: str
    denoiser: UNetSpec | DiTSpec = Field(discriminator="kind")
    text_encoders: tuple[TextEncoderSpec, ...]
    vae: VAESpec
    default_steps: int = Field(gt=0)
    default_resolution_px: int = Field(gt=0)
    cfg: bool = Field(description="classifier-free guidance: two latents (cond, uncond) per image")
    sources: dict[str, str] = Field(min_length=1)

    @model_validator(mode="after")
    def _latent_channels_agree(self):
        d = self.denoiser
        den_ch = d.in_channels if isinstance(d, UNetSpec) else d.latent_channels
        if den_ch != self.vae.latent_channels:
            raise ValueError(f"denoiser latent channels ({den_ch}) must equal vae.latent_channels "
                             f"({self.vae.latent_channels})")
        return self


@lru_cache(maxsize=1)
def _presets() -> dict[str, PipelineSpec]:
    raw = yaml.safe_load(PRESETS.read_text())
    out = {}
    for name, body in raw.items():
        try:
            out[name] = PipelineSpec(name=name, **body)
        except ValidationError as exc:
            raise PerfModelError(pydantic_message(exc, source=f"{PRESETS.name}:{name}")) from None
    return out


def pipeline_names() -> list[str]:
    return sorted(_presets())


def load_pipeline(name: str | PipelineSpec) -> PipelineSpec:
    """A preset by name (any case), or the spec itself."""
    if isinstance(name, PipelineSpec):
        return name
    presets = _presets()
    key = name.lower()
    if key not in presets:
        raise UnknownNameError("diffusion model", name, sorted(presets))
    return presets[key]


def pipeline_from_dict(body: dict, *, source: str) -> PipelineSpec:
    """A user's pipeline (YAML/JSON mapping) as a spec; bad fields give one line."""
    try:
        return PipelineSpec(**body)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source=source)) from None
    except TypeError as exc:
        raise PerfModelError(f"{source}: a pipeline must be a mapping of fields, got {type(body).__name__}") from exc
