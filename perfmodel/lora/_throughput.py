"""Throughput of many adapters on one GPU: S-LoRA (unified paging, MBGMV), S-LoRA with BGMV padded
to the largest rank, and merged copies packed on the device ("vLLM-packed", S-LoRA s7.2: one merged
model copy per adapter, each copy batching only its own requests).

A static batch of `b` sequences: prefill, then osl - 1 decode steps (as `perfmodel.estimate`). The
batch is the largest whose KV and resident adapters fit the pool (Unified Paging: both share it);
new adapters are copied over the host link before the batch's prefill.
"""

from __future__ import annotations

from typing import Literal

from perfmodel.errors import PerfModelError
from perfmodel.hardware.catalog import System
from perfmodel.iteration import BatchShape
from perfmodel.lora._adapters import LoraSetup, resident_bytes
from perfmodel.lora._kernels import lora_time_s
from perfmodel.plan import Plan
from perfmodel.specs.model import ModelSpec
from perfmodel.stepmodel import StepModel

Mode = Literal["slora", "padded", "packed"]
GB = 1e9
# S-LoRA's engine caps the running batch by memory only; a batch above this cannot help decode
# further on one GPU (the step becomes compute-bound). Assumption, as vLLM's default max_num_seqs.
MAX_BATCH = 256


def _host_bw(system: System) -> float:
    link = system.device.host_link
    if link is None:
        raise PerfModelError(f"{system.device.id} has no host link: adapters cannot be swapped in")
    return link.bw_per_direction_gb_s * 1e9 * link.efficiency


def lora_throughput(*, model: ModelSpec, system: System, plan: Plan, setup: LoraSetup, isl: int, osl: int,
                    mode: Mode = "slora", max_batch: int = MAX_BATCH) -> dict:
    """Output tokens/s and its parts for one replica serving `setup`'s adapters."""
    if plan.tp != 1 or plan.pp != 1:
        raise PerfModelError(f"the LoRA model covers one device (tp=1, pp=1), got tp={plan.tp} pp={plan.pp}")
    sm = StepModel.build(model=model, system=system, plan=plan, max_tokens=max_batch * isl)
    mem = sm.memory
    free = mem.free_for_kv_gb * GB
    per_seq = (isl + osl) * mem.kv_bytes_per_token_device
    copies = setup.adapters if mode == "packed" else 1
    if mode == "packed":
        free -= (copies - 1) * mem.weights_gb * GB    # every adapter merged into its own copy
        batch = int(free / copies // per_seq) if free > 0 else 0
    else:
        batch = 0
        for b in range(max_batch, 0, -1):  # the largest batch whose KV and adapters fit the pool
            if b * per_seq + resident_bytes(model, setup, b) <= free:
                batch = b
                break
    batch = min(batch, max_batch)
    if batch < 1:
        return {"mode": mode, "batch": 0, "fits": False, "output_tok_s": 0.0, "copies": copies}
    kernel = "padded" if mode == "padded" else "mbgmv"
    lora = (lambda tokens: 0.0) if mode == "packed" else (
        lambda tokens: lora_time_s(model=model, device=system.device, tp=1, tokens=tokens, requests=batch,
                                   setup=setup, kernel=kernel))
    swap_s = 0.0 if mode == "packed" else resident_bytes(model, setup, batch) / _host_bw(system)
    prefill_s = sm.cold_time_s(BatchShape.prefill(batch, isl)) + lora(batch * isl) + swap_s
    decode_s = sm.iteration_time_s(BatchShape.decode(batch, isl + osl // 2)) + lora(batch) if osl > 1 else 0.0
    total_s = prefill_s + (osl - 1) * decode_s
    # packed copies take turns on the device: n copies x batch tokens in n x the time of one
    return {"mode": mode, "batch": batch, "fits": True, "copies": copies, "prefill_s": prefill_s,
            "decode_step_s": decode_s, "swap_in_s": swap_s, "lora_decode_s": lora(batch),
            "output_tok_s": batch * osl / total_s}
