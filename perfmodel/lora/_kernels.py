"""Batched LoRA computation cost: S-LoRA's MBGMV (heterogeneous ranks, no padding) against BGMV
padded to the largest rank, as grouped GEMMs through `perfmodel.ops.gemm` (shrink x A, then
expand x B, per adapted projection and layer; S-LoRA s5)."""

from __future__ import annotations

from typing import Literal

from perfmodel import ops as O
from perfmodel.hardware.schema import Device
from perfmodel.lora._adapters import LoraSetup, expected_distinct, target_shapes
from perfmodel.quant import get_quant
from perfmodel.specs.model import ModelSpec

Kernel = Literal["mbgmv", "padded"]


def lora_ops(*, model: ModelSpec, device: Device, tp: int, tokens: float, requests: float,
             setup: LoraSetup, kernel: Kernel = "mbgmv") -> list[O.OpCost]:
    """Operators of the LoRA side branch for one iteration of `tokens` tokens from `requests`
    sequences on one device: the shrink and expand grouped GEMMs of every target (one group per
    adapter the batch uses, in expectation), counted over the layers."""
    if tokens <= 0:
        return []
    used = expected_distinct(setup, requests)
    adapters = float(used.sum())
    # MBGMV: one launch over every used adapter, each read at its own rank (mean rank of the used
    # adapters); padded BGMV reads every adapter at the largest rank.
    rank = float(setup.max_rank()) if kernel == "padded" else float((used * setup.adapter_ranks()).sum() / adapters)
    m = tokens / adapters                          # tokens per adapter
    lora_q = get_quant("fp16")                     # adapters and their activations in fp16 (S-LoRA s7.1)
    out = []
    for i, (fin, fout) in enumerate(target_shapes(model, tp)):
        for stage, (n, k) in (("shrink", (rank, fin)), ("expand", (fout, rank))):
            out.append(O.gemm(f"lora_{stage}_{i}", m, n, k, device, lora_q, groups=adapters).scaled(model.num_layers))
    return out


def lora_time_s(**kw) -> float:
    return float(sum(op.total_s for op in lora_ops(**kw)))
