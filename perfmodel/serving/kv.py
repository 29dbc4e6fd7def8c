"""KV-cache memory as the scheduler sees it: capacity, allocation unit, admission rule, swap cost.

Layouts:
  paged       fixed blocks of `block_tokens` (vLLM PagedAttention, TRT-LLM, SGLang page_size 1);
              decode attention pays the engine's block-table overhead.
  contiguous  a virtually contiguous buffer per layer, K/V and shard, backed on demand by physical
              pages (vAttention, Prabhu et al., ASPLOS'25, CUDA VMM): no block tables in the kernel,
              but memory is committed a page at a time, so the allocation unit is a page worth of
              tokens of one buffer: page_bytes / (KV bytes per token per layer per K or V per device).

Both waste on average half an allocation unit per sequence (internal fragmentation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perfmodel.errors import PerfModelError
from perfmodel.serving.engine_profiles import EngineProfile

# CUDA VMM physical allocation granularity on NVIDIA GPUs (cuMemGetAllocationGranularity: 2 MiB);
# vAttention's default page size (it adds 64-256 KiB pages with a driver patch).
VMM_PAGE_BYTES = 2 * 1024 * 1024
# vLLM keeps 1 % of KV blocks free when admitting new prompts (SchedulerConfig watermark 0.01).
ADMISSION_WATERMARK = 0.01
# Host cost of one cudaMemcpyAsync issue when swapping block by block (assumption: ~5 us). vLLM
# swaps each block of each layer's K and V separately; FastSwitch (Shen et al., arXiv 2411.18424)
# shows this block granularity, not PCIe bandwidth, bounds swap speed for small blocks.
SWAP_COPY_OVERHEAD_S = 5e-6
# SGLang's admission (PrefillAdder, python/sglang/srt/managers/schedule_policy.py; defaults in
# python/sglang/srt/environ.py): a request's future output is estimated as at most
# SGLANG_CLIP_MAX_NEW_TOKENS_ESTIMATION tokens, and a running sequence's remaining output counts
# new_token_ratio of it. The ratio starts at SGLANG_INIT_NEW_TOKEN_RATIO 0.7 x
# schedule_conservativeness 1.0 and decays over SGLANG_NEW_TOKEN_RATIO_DECAY_STEPS 600 decode steps
# to its floor, SGLANG_MIN_NEW_TOKEN_RATIO_FACTOR 0.14 x 0.7 (reset by a retraction).
SGLANG_CLIP_MAX_NEW_TOKENS = 4096
SGLANG_INIT_NEW_TOKEN_RATIO = 0.7
SGLANG_MIN_NEW_TOKEN_RATIO = 0.7 * 0.14  # the sglang-0.5 profile's reserve_output_fraction
SGLANG_NEW_TOKEN_RATIO_DECAY_STEPS = 600
# After a retraction the ratio restarts at (decoded + 20 x running) / (sum of max_new_tokens + 1)
# of the sequences left (SGLANG_RETRACT_DECODE_STEPS 20; ScheduleBatch.retract_decode).
SGLANG_RETRACT_DECODE_STEPS = 20


@dataclass(frozen=True)
class KVConfig:
    capacity_tokens: int        # per replica, after weights, activations and runtime
    unit_tokens: int            # allocation unit
    admission: str              # on_demand | reserve_max | reserve_ratio | new_token_ratio
    reserve_output_fraction: float
    preemption: str             # recompute | swap
    swap_s_per_token: float     # bandwidth part of moving one token's KV to or from the host
    copies_per_unit: float      # memcpy calls per allocation unit (layers x K/V)

    @property
    def frag_tokens(self) -> float:
        """Expected wasted tokens per sequence (half an allocation unit)."""
        return (self.unit_tokens - 1) / 2

    def alloc(self, tokens: int) -> int:
        u = self.unit_tokens
        return -(-tokens // u) * u

    def swap_time_s(self, tokens: float) -> float:
        units = math.ceil(tokens / self.unit_tokens)
        return units * self.copies_per_unit * SWAP_COPY_OVERHEAD_S + tokens * self.swap_s_per_token


def new_token_ratio_fits(*, used_tokens: float, prompt_tokens: float, output_tokens: int,
                         admitted_output_tokens: int, running_remaining_tokens: float, ratio: float,
                         capacity_tokens: int) -> bool:
    """SGLang PrefillAdder.add_one_req: a request enters when its prompt plus its whole output
    (clipped at SGLANG_CLIP_MAX_NEW_TOKENS) is below what the pool has left after the held KV, the
    running sequences' remaining outputs x `ratio`, and the whole outputs of the requests admitted
    but still prefilling (`_update_prefill_budget` charges them in full). `used_tokens` includes
    the admitted prompts. The running term is not clipped here (exact for outputs <= 4096)."""
    offset = ratio * running_remaining_tokens + admitted_output_tokens
    total = prompt_tokens + min(output_tokens, SGLANG_CLIP_MAX_NEW_TOKENS)
    return total < capacity_tokens - used_tokens - offset  # NO_TOKEN when total >= rem_total_tokens


def new_token_ratio(*, start: float, steps: int, floor: float) -> float:
    """SGLang's new_token_ratio `steps` decode steps after it was set to `start`: it falls by
    (init - floor) / 600 per decode step (Scheduler.update_running_batch) down to `floor`."""
    decay = (SGLANG_INIT_NEW_TOKEN_RATIO - floor) / SGLANG_NEW_TOKEN_RATIO_DECAY_STEPS
    return max(floor, start - decay * steps)


def ratio_after_retract(*, decoded_tokens: int, running: int, max_new_tokens: int) -> float:
    """ScheduleBatch.retract_decode: the ratio estimated from the sequences left running."""
    return min(1.0, (decoded_tokens + SGLANG_RETRACT_DECODE_STEPS * running) / (max_new_tokens + 1))


def build_kv(*, engine: EngineProfile, kv_capacity_tokens: int, kv_bytes_per_token: float, devices: int,
             num_layers: int, host_bw_bytes_s: float, layout: str | None = None, block_tokens: int | None = None,
             page_bytes: int = VMM_PAGE_BYTES, memory_note: str = "") -> KVConfig:
    """`kv_capacity_tokens` is what the step model leaves for KV at the engine's memory fraction;
    `kv_bytes_per_token` is the whole replica's (all layers, all devices); `memory_note` says where
    the device's memory went, for the error when no KV fits."""
    layout = layout or engine.kv_layout
    if layout == "paged":
        unit = block_tokens or engine.block_tokens
        copies = num_layers * 2.0
    elif layout == "contiguous":
        per_buffer = kv_bytes_per_token / max(devices, 1) / num_layers / 2  # one layer's K (or V) shard
        unit = max(1, int(page_bytes // per_buffer))
        copies = num_layers * 2.0
    else:
        raise PerfModelError(f"--kv-layout must be paged or contiguous, got {layout!r}")
    if kv_capacity_tokens < unit:
        raise PerfModelError(f"no memory left for the KV cache: {kv_capacity_tokens} tokens fit, "
                             f"less than one allocation unit ({unit}){memory_note}")
    return KVConfig(capacity_tokens=int(kv_capacity_tokens), unit_tokens=unit, admission=engine.admission,
                    reserve_output_fraction=engine.reserve_output_fraction, preemption=engine.preemption,
                    swap_s_per_token=kv_bytes_per_token / max(devices, 1) / host_bw_bytes_s,
                    copies_per_unit=copies)
