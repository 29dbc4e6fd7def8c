"""CacheBlend (Yao et al., EuroSys'25): the time to first token of a prompt whose chunks' KV was
precomputed and is loaded from host memory, with a share of the tokens recomputed to restore the
cross-chunk attention, against a full prefill.

What the blend step computes (YaoJiayi/CacheBlend vllm_blend/vllm/model_executor/models/llama.py,
`LlamaModel.forward` with `cache_fuse_metadata` check_layers [1], recomp_ratio 0.16):
- the layers before the check layer run over every token (a full prefill of those layers);
- the check layer projects Q/K/V for every token, compares the new K/V with the loaded ones and
  keeps the `recompute_fraction` of tokens that deviate most; its attention and MLP run on those;
- every later layer runs on the kept tokens only, attending over the whole prompt's KV.
The loaded KV streams in layer by layer while the GPU recomputes (CacheBlend s6: two threads pipeline
the partial prefill of layer i with the fetch of layer i+1, and `synchronize` waits for layer i's
KV before its prefill), from CPU RAM over each GPU's host link or from a storage device the
replica's GPUs share (the paper's NVMe SSD). Every reused token's KV is loaded (the check layer
compares the new K/V of every token with the loaded ones; CacheBlend s5.1 footnote 6 prices the load
of the whole context), for the layers from the check layer on (the earlier ones recompute every
token). Both steps are one engine iteration of a single sequence: each pays the engine's host cost
once (`EngineProfile.host_s`), which at a short blend step is a visible share of its TTFT.

Weight-only quantized models on the vLLM CacheBlend forks (0.4-era) do not run a fused low-bit GEMM at
prefill sizes: AWQ dequantizes the whole weight to FP16 and calls torch.matmul from 256 tokens on
(vllm/model_executor/layers/quantization/awq.py FP16_MATMUL_HEURISTIC_CONDITION), GPTQ reconstructs
the FP16 matrix and calls cuBLAS above 24 rows at 8 bits, 50 at 4 (csrc/quantization/gptq/q_gemm.cu
MAX_Q_GEMM_ROWS_8BIT / MAX_Q_GEMM_ROWS). `dequant_min_tokens` prices that path: each forward of at
least that many tokens pays one memory pass per layer over its quantized weights (read them, write
FP16) and runs its GEMMs in FP16. The pass costs the same in the full prefill and in the blend, so it
weighs far more in the short blend step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from perfmodel import ops as O
from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.ops import OpCost
from perfmodel.quant import get_quant
from perfmodel.serving.engine_profiles import EngineProfile
from perfmodel.step import step_ops
from perfmodel.stepmodel import StepModel

RECOMPUTE_FRACTION = 0.15  # CacheBlend (Yao et al., EuroSys'25): ~15% of the reused tokens recomputed
CHECK_LAYER = 1            # CacheBlend code: check_layers [1] (0-based): layer 0 runs on every token
# Operators of a layer that run before the check layer's token selection (the K/V it compares).
_PROJECTION_OPS = frozenset({"norm", "qkv_proj", "rope"})


@dataclass(frozen=True)
class BlendTTFT:
    """Seconds; `pipeline_s` = the blend's device time with the KV load overlapped layer by layer."""

    full_prefill_s: float      # device time of the full prefill
    recompute_s: float         # device time of the selective recompute alone (no load waits)
    kv_load_s: float           # loading the reused tokens' KV, all layers from the check layer on
    pipeline_s: float          # recompute and load pipelined one layer ahead (CacheBlend s6)
    host_s: float              # the engine's host cost of one iteration (paid by both)
    recomputed_tokens: int
    dequant_s: float = 0.0     # the blend's whole-weight FP16 dequantization (dequant_min_tokens), in pipeline_s

    @property
    def full_ttft_s(self) -> float:
        return self.full_prefill_s + self.host_s

    @property
    def blend_ttft_s(self) -> float:
        return self.pipeline_s + self.host_s

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


def controller_recompute_fraction(*, full_prefill_s: float, kv_load_s: float,
                                  floor: float = RECOMPUTE_FRACTION) -> float:
    """CacheBlend's loading controller (s5.1): the ratio whose recompute delay, r x Prefill (footnote 5),
    equals the KV load delay (footnote 6), raised to the quality floor r* (15%): a slow store buys more
    recompute, and so quality, at no extra delay."""
    if full_prefill_s <= 0 or kv_load_s < 0:
        raise PerfModelError(f"CacheBlend controller needs full_prefill_s > 0 and kv_load_s >= 0, got "
                             f"({full_prefill_s}, {kv_load_s})")
    return min(1.0, max(floor, kv_load_s / full_prefill_s))


def _pipeline_s(layer_s: list[float], load_per_layer_s: float, check_layer: int) -> float:
    """Device seconds of the layer loop when layer i's KV (i >= check_layer) is fetched while layer i-1
    computes and layer i waits for it (CacheBlend s6: fetch_kv of layer i+1 on a second thread during
    prefill_layer of layer i, synchronize before each layer)."""
    comp_start = comp_end = 0.0
    for i, c in enumerate(layer_s):
        ready = 0.0
        if i >= check_layer:  # this layer's fetch began when the previous layer's compute did
            ready = (comp_start if i > 0 else 0.0) + load_per_layer_s
        comp_start = max(comp_end, ready)
        comp_end = comp_start + c
    return comp_end


def _load_bw_b_s(step: StepModel, storage_read_gb_s: float | None) -> float:
    """Bytes per second the replica's KV arrives at: a shared store's read rate, or every GPU's own
    host link from CPU RAM."""
    if storage_read_gb_s is not None:
        if not storage_read_gb_s > 0:
            raise PerfModelError(f"CacheBlend storage_read_gb_s must be > 0, got {storage_read_gb_s}")
        return storage_read_gb_s * 1e9
    link = step.system.device.host_link
    if link is None:
        raise PerfModelError(f"CacheBlend loads KV from host memory: device {step.system.device.id!r} has no "
                             "host_link")
    return link.bw_per_direction_gb_s * 1e9 * link.efficiency * step.devices


def _layer_ops(step: StepModel, batch: BatchShape, dequant_min_tokens: int | None) -> tuple[list[OpCost], float]:
    """(the step's operators, seconds of one layer's whole-weight dequantization) of a forward over
    `batch`: the step's own GEMM path, or at `dequant_min_tokens` and above (a weight-only quantized
    model, one scheme for every weight) FP16 GEMMs after a memory pass that reads each quantized
    weight and writes it in FP16."""
    q = step.quant
    weight_only = q.weight_bits < 16 and q.act_bits >= 16 and not q.parts
    if dequant_min_tokens is None or not weight_only or batch.tokens < dequant_min_tokens:
        return step.ops(batch), 0.0
    fp16 = replace(get_quant("fp16"), kv_bits=q.kv_bits, dequant_ops_per_kv=q.dequant_ops_per_kv)  # same KV
    ops = step_ops(step.model, step.system, fp16, step.plan, batch)
    L = step.model.num_layers
    linears = [o for o in ops if o.kind == "gemm" and not (o.count == 1 and L > 1)]  # per layer (as _split)
    elements = sum(o.weight_bytes * o.count / L for o in linears) / fp16.weight_bytes
    kernels = sum(o.count / L for o in linears)
    # read the quantized weight (scales included), write FP16: one kernel per linear
    dq = O.elementwise("dequant_fp16", elements, step.system.device, reads=q.weight_bytes, writes=fp16.weight_bytes,
                       bytes_per_el=1.0, flops_per_el=2.0, kernels=kernels)
    return ops, dq.time_s


def blend_ttft(step: StepModel, engine: EngineProfile, *, prompt_tokens: int,
               recompute_fraction: float = RECOMPUTE_FRACTION, check_layer: int = CHECK_LAYER,
               storage_read_gb_s: float | None = None, dequant_min_tokens: int | None = None) -> BlendTTFT:
    """TTFT parts of one `prompt_tokens` prompt on one replica: full prefill against CacheBlend with
    every chunk's KV stored, in CPU RAM (None) or on a store the replica's GPUs share that reads
    `storage_read_gb_s` GB/s (CacheBlend s7.1: an NVMe SSD measured at 4.8 GB/s). `dequant_min_tokens`:
    the engine dequantizes weight-only quantized weights to FP16 before each GEMM of a forward with
    at least that many tokens (module docstring); None: the step's fused low-bit GEMMs."""
    L = step.model.num_layers
    _check(L, recompute_fraction, check_layer)
    if prompt_tokens < 1:
        raise PerfModelError(f"prompt_tokens must be >= 1, got {prompt_tokens}")
    if dequant_min_tokens is not None and dequant_min_tokens < 1:
        raise PerfModelError(f"CacheBlend dequant_min_tokens must be >= 1 or None, got {dequant_min_tokens}")
    k = max(1, round(recompute_fraction * prompt_tokens))
    full_ops, full_dq = _layer_ops(step, BatchShape.prefill(1, prompt_tokens), dequant_min_tokens)
    sel_ops, sel_dq = _layer_ops(step, BatchShape.prefill(1, k, cached=prompt_tokens - k), dequant_min_tokens)
    full_layer, full_proj, full_once = _split(full_ops, L)
    sel_layer, sel_proj, sel_once = _split(sel_ops, L)
    full_layer += full_dq
    sel_layer += sel_dq  # the blend's forward has the selected tokens' size: its own GEMM path
    scale = engine.device_time_scale
    full_s = (L * full_layer + full_once) * scale
    layer_s = [scale * (full_layer if i < check_layer                               # every token
                        else full_proj + (sel_layer - sel_proj) if i == check_layer  # Q/K/V of every token
                        else sel_layer) for i in range(L)]
    load_layer_s = prompt_tokens * step.kv_bytes_per_token / L / _load_bw_b_s(step, storage_read_gb_s)
    return BlendTTFT(full_prefill_s=full_s, recompute_s=sum(layer_s) + sel_once * scale,
                     kv_load_s=(L - check_layer) * load_layer_s,
                     pipeline_s=_pipeline_s(layer_s, load_layer_s, check_layer) + sel_once * scale,
                     host_s=engine.host_s(1), recomputed_tokens=k,
                     dequant_s=scale * (check_layer * full_dq + (L - check_layer) * sel_dq))
