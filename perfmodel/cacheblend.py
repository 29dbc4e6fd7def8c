"""CacheBlend (Yao et al., EuroSys'25): the time to first token of a prompt whose chunks' KV was
precomputed and is loaded from host memory, with a share of the tokens recomputed to restore the
cross-chunk attention, against a full prefill.

What the blend step computes (YaoJiayi/CacheBlend vllm_blend/vllm/model_executor/models/llama.py,
`LlamaModel.forward` with `cache_fuse_metadata` check_layers [1], recomp_ratio 0.16):
- the layers before the check layer run over every token (a full prefill of those layers);
- the check layer projects Q/K/V for every token, compares the new K/V with the loaded ones and
  keeps the `recompute_fraction` of tokens that deviate most; its attention and MLP run on those;
- every later layer runs on the kept tokens only, attending over the whole prompt's KV.
The loaded KV streams in over the host link layer by layer while the GPU recomputes (CacheBlend's
pipelining), so the device part is the larger of the two. Both steps are one engine iteration of a
single sequence: each pays the engine's host cost once (`EngineProfile.host_s`), which at a short
blend step is a visible share of its TTFT.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.ops import OpCost
from perfmodel.serving.engine_profiles import EngineProfile
from perfmodel.stepmodel import StepModel

RECOMPUTE_FRACTION = 0.15  # CacheBlend (Yao et al., EuroSys'25): ~15% of the reused tokens recomputed
CHECK_LAYER = 1            # CacheBlend code: check_layers [1] (0-based): layer 0 runs on every token
# Operators of a layer that run before the check layer's token selection (the K/V it compares).
_PROJECTION_OPS = frozenset({"norm", "qkv_proj", "rope"})


@dataclass(frozen=True)
class BlendTTFT:
    """Seconds; `device_s` = max(recompute, KV load) for the blend."""

    full_prefill_s: float      # device time of the full prefill
    recompute_s: float         # device time of the selective recompute
    kv_load_s: float           # loading the reused tokens' KV over the host link
    host_s: float              # the engine's host cost of one iteration (paid by both)
    recomputed_tokens: int

    @property
    def full_ttft_s(self) -> float:
        return self.full_prefill_s + self.host_s

    @property
    def blend_ttft_s(self) -> float:
        return max(self.recompute_s, self.kv_load_s) + self.host_s

    @property
    def speedup(self) -> float:
        return self.full_ttft_s / self.blend_ttft_s


def effective_recompute_fraction(num_layers: int, *, recompute_fraction: float = RECOMPUTE_FRACTION,
                                 check_layer: int = CHECK_LAYER) -> float:
    """The share of the reused tokens' layer work CacheBlend computes, counting the layers before
    the check layer, which run on every token: (c + (L - c) r) / L. The serving simulator prices a
    CacheBlend hit as this share of the reused tokens recomputed."""
    _check(num_layers, recompute_fraction, check_layer)
    return (check_layer + (num_layers - check_layer) * recompute_fraction) / num_layers


def _check(num_layers: int, recompute_fraction: float, check_layer: int) -> None:
    if not 0 < recompute_fraction <= 1:
        raise PerfModelError(f"CacheBlend recompute_fraction must be in (0, 1], got {recompute_fraction}")
    if not 0 <= check_layer < num_layers:
        raise PerfModelError(f"CacheBlend check_layer must be in [0, num_layers), got ({check_layer}, {num_layers})")


def _split(ops: list[OpCost], num_layers: int) -> tuple[float, float, float]:
    """(per-layer time, per-layer time of the projection ops, time of the once-per-step ops) of one
    step's operators (every layer alike: CacheBlend's models are dense)."""
    layer = proj = once = 0.0
    for o in ops:
        if o.count == 1 and num_layers > 1:
            once += o.time_s
            continue
        per = o.time_s * o.count / num_layers
        layer += per
        if o.name in _PROJECTION_OPS:
            proj += per
    return layer, proj, once


def blend_ttft(step: StepModel, engine: EngineProfile, *, prompt_tokens: int,
               recompute_fraction: float = RECOMPUTE_FRACTION, check_layer: int = CHECK_LAYER) -> BlendTTFT:
    """TTFT parts of one `prompt_tokens` prompt on one replica: full prefill against CacheBlend with
    every chunk's KV in host memory."""
    L = step.model.num_layers
    _check(L, recompute_fraction, check_layer)
    if prompt_tokens < 1:
        raise PerfModelError(f"prompt_tokens must be >= 1, got {prompt_tokens}")
    k = max(1, round(recompute_fraction * prompt_tokens))
    full_layer, full_proj, full_once = _split(step.ops(BatchShape.prefill(1, prompt_tokens)), L)
    sel_layer, sel_proj, sel_once = _split(step.ops(BatchShape.prefill(1, k, cached=prompt_tokens - k)), L)
    scale = engine.device_time_scale
    full_s = (L * full_layer + full_once) * scale
    recompute_s = (check_layer * full_layer                       # layers before the check: every token
                   + full_proj + (sel_layer - sel_proj)           # the check layer: Q/K/V of every token
                   + (L - check_layer - 1) * sel_layer + sel_once) * scale
    link = step.system.device.host_link
    if link is None:
        raise PerfModelError(f"CacheBlend loads KV from host memory: device {step.system.device.id!r} has no "
                             "host_link")
    load_s = (prompt_tokens - k) * step.kv_bytes_per_token / (link.bw_per_direction_gb_s * 1e9 * link.efficiency)
    return BlendTTFT(full_prefill_s=full_s, recompute_s=recompute_s, kv_load_s=load_s, host_s=engine.host_s(1),
                     recomputed_tokens=k)
