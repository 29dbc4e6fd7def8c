"""The batch limits trtllm-bench sets for itself: `max_batch_size` and `max_num_tokens`.

`trtllm-bench throughput` does not run TensorRT-LLM's defaults (TorchLlmArgs: 2048 sequences,
8192 tokens). When neither is given it sizes both from the model, the GPU memory and the dataset's
ISL/OSL (NVIDIA/TensorRT-LLM tensorrt_llm/bench/tuning/heuristics.py `calc_engine_setting` and
`finetune_setting`, commit 0b42cea; called by tensorrt_llm/bench/tuning/utils.py
`get_benchmark_engine_settings` for the quantizations in TUNED_QUANTS only: NVFP4, FP8,
FP8 block scales and unquantized; any other, e.g. gpt-oss's MXFP4, keeps the defaults).

The limits are per attention-DP rank: with attention DP each rank runs its own scheduler, and the
heuristic sizes it on one GPU's memory less its share (1 / ranks) of the checkpoint. The requests
that fit are counted at ISL + OSL tokens each, with the heuristic's own KV size per token (MLA: one
latent of kv_lora_rank + qk_rope_head_dim; otherwise K and V of max(tp, kv heads) heads on every
attention layer, sliding windows not shortened). Its rounding is kept, since it decides the batch
the engine reaches: at least 64 sequences, then up to the next multiple of 32 / 128 / 256; tokens at
least 2048, capped at 32768, sequences at 4096.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perfmodel.memory import weight_bytes_per_device
from perfmodel.plan import Plan
from perfmodel.quant import Quant
from perfmodel.specs.model import ModelSpec

GIB = 1024**3  # the heuristic works in GiB (torch.cuda.mem_get_info / 1024**3)
# TorchLlmArgs field defaults (tensorrt_llm/llmapi/llm_args.py): the limits of untuned quantizations.
DEFAULT_MAX_BATCH = 2048
DEFAULT_MAX_NUM_TOKENS = 8192
# heuristics.py finetune_setting caps: decoder buffers and activation buffers.
MAX_BATCH_CAP = 4096
MAX_TOKENS_CAP = 32768
# heuristics.py BYTES_PER_ELEM keys: the weight quantizations trtllm-bench tunes for.
TUNED_SCHEMES = frozenset({"nvfp4", "fp8", "fp8-block", "bf16", "fp16"})
# calc_engine_setting's default fraction, and the one the perf-overview runs pass ("In many cases, we also
# use ... --kv_cache_free_gpu_mem_fraction 0.95"; trtllm-bench's own CLI default is 0.90).
DEFAULT_KV_FRACTION = 0.95


@dataclass(frozen=True)
class BenchSettings:
    max_batch: int          # max_batch_size per scheduler (per attention-DP rank)
    max_num_tokens: int     # tokens one iteration may hold (context + generation)
    kv_requests: float      # the heuristic's count of ISL+OSL requests that fit (before rounding); 0 if untuned
    tuned: bool             # False: the quantization is not in TUNED_QUANTS, TorchLlmArgs defaults apply

    def to_dict(self) -> dict:
        return {"max_batch": self.max_batch, "max_num_tokens": self.max_num_tokens,
                "kv_requests": self.kv_requests, "tuned": self.tuned}


def _tuned(q: Quant) -> bool:
    schemes = {q.id.split("+")[0]} | {p.id for _, p in q.parts}
    return schemes <= TUNED_SCHEMES


# finetune_setting's rounding: below each bound, up to a multiple of its step (and at least the floor).
BATCH_STEPS = ((256, 32), (1024, 128), (math.inf, 256))
MIN_BATCH = 64
TOKEN_STEPS = ((4096, 256), (8192, 512), (math.inf, 1024))
MIN_TOKENS = 2048  # "to ensure Ctx/Gen overlap efficiency"


def _round_up(x: float, steps: tuple, floor: int) -> int:
    step = next(s for bound, s in steps if x < bound)
    return max(floor, step * math.ceil(x / step))


def finetune(kv_requests: float, *, isl: int, osl: int, pp: int = 1) -> tuple[int, int]:
    """heuristics.py `finetune_setting` (optimistic tuning): (max_batch, max_num_tokens)."""
    raw_bs = min(kv_requests, MAX_BATCH_CAP) / pp
    raw_tokens = min(raw_bs * (1 + isl / osl), MAX_TOKENS_CAP)
    return _round_up(raw_bs, BATCH_STEPS, MIN_BATCH), _round_up(raw_tokens, TOKEN_STEPS, MIN_TOKENS)


def engine_settings(*, model: ModelSpec, device_memory_gb: float, quant: Quant, ranks: int, pp: int = 1,
                    attention_dp: bool, isl: int, osl: int,
                    kv_fraction: float = DEFAULT_KV_FRACTION) -> BenchSettings:
    """trtllm-bench's (max_batch, max_num_tokens) for `ranks` GPUs per pipeline stage (its --tp,
    which with attention DP is the number of DP ranks)."""
    if not _tuned(quant):
        return BenchSettings(DEFAULT_MAX_BATCH, DEFAULT_MAX_NUM_TOKENS, 0.0, False)
    kv_bytes = 1.0 if quant.kv_bytes <= 1.0 else 2.0  # BYTES_PER_ELEM of the KV quant algo (FP8: 1, else 2)
    layers = model.attention_layers
    if model.mla is not None:
        gib_per_token = layers * (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * kv_bytes / GIB
    else:
        gib_per_token = 2 * layers * max(ranks, model.num_kv_heads) * model.head_dim * kv_bytes / GIB
    checkpoint_gib = weight_bytes_per_device(model, Plan(tp=1), quant) / GIB  # the checkpoint's size
    device_gib = device_memory_gb * 1e9 / GIB
    if attention_dp:  # each rank its own KV cache and batch; weights split over the ranks
        available = device_gib * pp - checkpoint_gib / ranks
    else:
        available = device_gib * ranks * pp - checkpoint_gib
    kv_requests = max(available, 0.0) * kv_fraction / (gib_per_token * (isl + osl))
    max_batch, max_tokens = finetune(kv_requests, isl=isl, osl=osl, pp=pp)
    return BenchSettings(max_batch, max_tokens, kv_requests, True)
