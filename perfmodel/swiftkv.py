"""SwiftKV (Qiao et al., arXiv:2410.03960) as a model transform of the prefill and the KV cache.

SingleInputKV: prompt tokens run the first L = (1 - skip_fraction) x layers layers in full; the KV
of every later layer is computed from layer L's output by that layer's K and V projections alone
(no attention, no MLP, no Q/O for prompt tokens). Decode tokens still run every layer (paper s3.1).
AcrossKV: `across` adjacent layers among the skipped ones share one KV cache (paper s3.2), so the KV
kept per token is (L + (layers - L) / across) / layers of the model's.
Pure functions: a spec, a system and a plan in, the parts out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from perfmodel import ops as O
from perfmodel.errors import PerfModelError
from perfmodel.estimator import Estimate
from perfmodel.estimator import estimate as _estimate
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.quant import get_quant
from perfmodel.resolve import resolve_model, resolve_system
from perfmodel.hardware.catalog import System
from perfmodel.specs.model import ModelSpec
from perfmodel.stepmodel import StepModel


@dataclass(frozen=True)
class SwiftKV:
    skip_fraction: float   # share of layers prompt tokens skip (paper: 0.5 for Llama-3.1-8B / 70B)
    across: int = 1        # skipped layers sharing one KV cache (AcrossKV); 1: none

    def __post_init__(self):
        if not 0 <= self.skip_fraction < 1:
            raise PerfModelError(f"SwiftKV skip_fraction must satisfy 0 <= f < 1, got {self.skip_fraction}")
        if self.across < 1:
            raise PerfModelError(f"SwiftKV across must be >= 1 layer, got {self.across}")

    def kept_layers(self, model: ModelSpec) -> int:
        """L: the layers prompt tokens run in full (at least one)."""
        return max(1, math.ceil(model.num_layers * (1 - self.skip_fraction)))


def kv_fraction(model: ModelSpec, swift: SwiftKV) -> float:
    """KV bytes per token kept, relative to the unmodified model (AcrossKV)."""
    kept = swift.kept_layers(model)
    return (kept + math.ceil((model.num_layers - kept) / swift.across)) / model.num_layers


def prefill(*, model: ModelSpec, system: System, plan: Plan, batch: int, isl: int, swift: SwiftKV) -> dict:
    """Cold prefill of `batch` prompts of `isl` tokens, with and without SingleInputKV: times (s)
    and FLOPs per device. The kept layers are the model cut to L layers (embedding and LM head
    included once); each skipped layer adds its K and V projection GEMMs for every prompt token."""
    if model.mla is not None:
        raise PerfModelError(f"SwiftKV needs grouped K/V projections; {model.name} uses MLA")
    shape = BatchShape.prefill(batch, isl)
    full = StepModel.build(model=model, system=system, plan=plan, max_tokens=batch * isl)
    kept = swift.kept_layers(model)
    cut = StepModel.build(model=model.model_copy(update={"num_layers": kept}), system=system, plan=plan,
                          max_tokens=batch * isl)
    q = get_quant(plan.quant).with_kv(plan.kv_dtype)
    kv_width = 2 * model.num_kv_heads * model.head_dim / plan.tp   # K and V columns per device
    kv_proj = O.gemm("swiftkv_kv_proj", batch * isl, kv_width, model.hidden_size, system.device, q)
    skipped = model.num_layers - kept
    full_flops = sum(op.flops * op.count for op in full.ops(shape))
    swift_flops = sum(op.flops * op.count for op in cut.ops(shape)) + skipped * kv_proj.flops
    full_s = full.cold_time_s(shape)
    swift_s = cut.cold_time_s(shape) + skipped * kv_proj.total_s
    return {"full_s": full_s, "swiftkv_s": swift_s, "kept_layers": kept, "skipped_layers": skipped,
            "full_flops": full_flops, "swiftkv_flops": swift_flops, "compute_fraction": swift_flops / full_flops,
            "time_fraction": swift_s / full_s}


def parse(text: str) -> SwiftKV:
    """`SKIP_FRACTION[:ACROSS]`, e.g. `0.5` or `0.5:4` (the CLI's --swiftkv)."""
    head, _, tail = text.partition(":")
    try:
        return SwiftKV(float(head), int(tail) if tail else 1)
    except ValueError:
        raise PerfModelError(f"--swiftkv must be SKIP_FRACTION[:ACROSS] (e.g. 0.5 or 0.5:4), got {text!r}") from None


def estimate(*, swift: SwiftKV, **kwargs) -> Estimate:
    """`perfmodel.estimate` of the SwiftKV-transformed model: TTFT from `prefill` (the prompt skips
    the last layers), KV memory scaled by `kv_fraction` (AcrossKV); decode runs every layer as
    before. One pipeline stage, no nano-batches or offload (their models do not know the skip)."""
    base = _estimate(**kwargs)
    plan = base.plan
    if plan.pp != 1 or plan.nano_batches > 1 or plan.offloaded:
        raise PerfModelError("--swiftkv needs pp=1, one nano-batch and no offload, got " + plan.describe())
    spec = resolve_model(kwargs["model"])
    system = resolve_system(kwargs["hardware"], calibration=kwargs.get("calibration"))
    pre = prefill(model=spec, system=system, plan=plan, batch=base.batch_size, isl=base.isl, swift=swift)
    ttft_s = pre["swiftkv_s"]
    e2e_s = ttft_s + (base.osl - 1) * base.tpot_ms / 1e3
    thr = plan.dp * base.batch_size * base.osl / e2e_s
    frac = kv_fraction(spec, swift)
    kv_gb = base.memory["kv_gb"] * frac
    used = base.memory_per_device_gb - base.memory["kv_gb"] + kv_gb
    memory = {**base.memory, "kv_gb": kv_gb, "swiftkv": {**pre, "kv_fraction": frac}}
    return replace(base, ttft_ms=ttft_s * 1e3, e2e_ms=e2e_s * 1e3, throughput_tok_s=thr,
                   throughput_tok_s_per_device=thr / plan.devices, memory_per_device_gb=used,
                   fits=used <= base.memory_capacity_gb, memory=memory)


class SwiftKVStep:
    """A StepModel of the SwiftKV-transformed model for the serving simulator (as the paper's vLLM
    integration runs it, s3.5): in every iteration all tokens run the first L layers; after layer L
    the prompt tokens' KV of the later layers comes from their K and V projections, and only the
    decode tokens run those layers. Everything else (plan, memory, KV sizes) reads through to the
    base step, with the KV per token and the capacity scaled by AcrossKV."""

    def __init__(self, step: StepModel, swift: SwiftKV):
        model, plan = step.model, step.plan
        if model.mla is not None:
            raise PerfModelError(f"SwiftKV needs grouped K/V projections; {model.name} uses MLA")
        if plan.pp != 1 or plan.nano_batches > 1 or plan.offloaded:
            raise PerfModelError("--swiftkv needs pp=1, one nano-batch and no offload, got " + plan.describe())
        self.base, self.swift = step, swift
        self.kept_layers = swift.kept_layers(model)
        self.skipped_layers = model.num_layers - self.kept_layers
        self.cut = StepModel(model=model.model_copy(update={"num_layers": self.kept_layers}), system=step.system,
                             plan=plan, quant=step.quant, memory=step.memory)
        self._kv_width = 2 * model.num_kv_heads * model.head_dim / plan.tp   # K and V columns per device
        frac = kv_fraction(model, swift)
        self.kv_bytes_per_token = step.kv_bytes_per_token * frac
        self.kv_capacity_tokens = int(step.kv_capacity_tokens / frac)

    def __getattr__(self, name):  # plan, model, system, memory, devices, ...
        return getattr(self.base, name)

    def _time(self, shape: BatchShape, timed) -> float:
        """The cut model over every token, the skipped layers over the decode tokens (the full
        model's decode time less the cut model's), and the skipped layers' K/V projections of the
        prompt tokens. `timed(step, shape)` times one step model."""
        t = timed(self.cut, shape)
        if shape.decode_seqs:
            decode = BatchShape(decode_seqs=shape.decode_seqs, decode_context=shape.decode_context,
                                decode_queries=shape.decode_queries)
            t += timed(self.base, decode) - timed(self.cut, decode)
        if shape.prefill_tokens and self.skipped_layers:
            kv = O.gemm("swiftkv_kv_proj", int(shape.prefill_tokens), self._kv_width, self.base.model.hidden_size,
                        self.base.system.device, self.base.quant)
            t += self.skipped_layers * kv.total_s
        return t

    def iteration_time_s(self, shape: BatchShape) -> float:
        return self._time(shape, lambda s, b: s.iteration_time_s(b))

    def cold_time_s(self, shape: BatchShape) -> float:
        return self._time(shape, lambda s, b: s.cold_time_s(b))
