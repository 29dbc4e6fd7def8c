"""Static-batch estimate: TTFT, TPOT, throughput, memory and the binding resource.

Semantics (other parts of the tool rely on them):
  TTFT = one prefill iteration of batch_size x isl tokens (a cold pipeline with PP);
  TPOT = mean decode step over the osl - 1 steps with contexts isl+1 .. isl+osl-1. Every operator
         is affine in the context length, so the mean step equals the step at the mean context
         isl + osl / 2, computed once;
  throughput = dp x batch_size x osl / (TTFT + (osl - 1) x TPOT) output tokens/s, whole deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perfmodel.hardware.catalog import System
from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel import offload
from perfmodel.ops import OpCost
from perfmodel.plan import Plan
from perfmodel.quant import device_notes
from perfmodel.resolve import resolve_model, resolve_system
from perfmodel.speculative import draft_ops, verify_batch
from perfmodel.step import scale_batch, stage_time
from perfmodel.stepmodel import StepModel
from perfmodel.specs.model import ModelSpec


@dataclass
class Estimate:
    model: str
    hardware: str
    plan: Plan
    batch_size: int
    isl: int
    osl: int
    ttft_ms: float
    tpot_ms: float
    e2e_ms: float
    throughput_tok_s: float
    throughput_tok_s_per_device: float
    memory_per_device_gb: float
    memory_capacity_gb: float
    fits: bool
    bound: dict[str, str]
    memory: dict = field(default_factory=dict)
    tokens_per_step: float = 1.0  # expected tokens per decode step (speculative decoding)
    prefill_ops: list[OpCost] = field(default_factory=list, repr=False)
    decode_ops: list[OpCost] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)  # modeling assumptions the numbers rest on

    @property
    def breakdown(self) -> dict[str, list[dict]]:
        """Per operator (one micro-batch on one device): time, FLOPs, bytes, bound."""
        return {"prefill": [op.to_dict() for op in self.prefill_ops],
                "decode": [op.to_dict() for op in self.decode_ops]}

    def to_frame(self):
        """One row per operator and phase (the per-device breakdown; column `phase`: prefill or decode); needs pandas."""
        from perfmodel.common.frames import to_frame

        rows = [{"phase": phase, **op} for phase, ops in self.breakdown.items() for op in ops]
        return to_frame(rows, what="Estimate")

    def to_dict(self) -> dict:
        return {
            "model": self.model, "hardware": self.hardware, "plan": self.plan.model_dump(),
            "devices": self.plan.devices, "batch_size": self.batch_size, "isl": self.isl, "osl": self.osl,
            "ttft_ms": self.ttft_ms, "tpot_ms": self.tpot_ms, "e2e_ms": self.e2e_ms,
            "throughput_tok_s": self.throughput_tok_s,
            "throughput_tok_s_per_device": self.throughput_tok_s_per_device,
            "memory_per_device_gb": self.memory_per_device_gb, "memory_capacity_gb": self.memory_capacity_gb,
            "fits": self.fits, "bound": self.bound, "memory": self.memory, "tokens_per_step": self.tokens_per_step,
            "breakdown": self.breakdown, "notes": self.notes,
        }


def binding_resource(ops: list[OpCost]) -> str:
    """The resource that the largest share of step time is bound by."""
    share: dict[str, float] = {}
    for op in ops:
        share[op.bound] = share.get(op.bound, 0.0) + op.total_s
    return max(share, key=share.get) if share else "none"


def _check_lengths(batch_size: int, isl: int, osl: int) -> None:
    for name, v in (("--batch-size", batch_size), ("--isl", isl), ("--osl", osl)):
        if not isinstance(v, int) or v < 1:
            raise PerfModelError(f"{name} must be a positive integer, got {v!r}")


def estimate(*, model: str | ModelSpec, hardware: str | System, batch_size: int, isl: int, osl: int,
             tp: int = 1, pp: int = 1, ep: int = 1, dp: int = 1, quant: str | None = None, kv_dtype: str | None = None,
             nano_batches: int = 1, nano_split: tuple[float, ...] | None = None, memory_utilization: float = 0.9,
             calibration: str | None = None, plan: Plan | None = None, **placement) -> Estimate:
    """Static-batch estimate for one plan (see module docstring for the exact semantics).
    `nano_split` (relative nano-batch sizes, e.g. (768, 1280)) sets `nano_batches` to its length;
    `placement`: the Plan's offload fields (weights_offload, kv_offload, activations_offload,
    attention_on_cpu, sparse_kv) and issue-12 fields (routing_skew, redundant_experts,
    two_batch_overlap, spec_method, spec_tokens, spec_acceptance). `quant` None: the checkpoint's
    own scheme (`ModelSpec.quant`, read from its quantization config), else bf16."""
    _check_lengths(batch_size, isl, osl)
    spec = resolve_model(model)
    system = resolve_system(hardware, calibration=calibration)
    if plan is None:
        try:
            plan = Plan(tp=tp, pp=pp, ep=ep, dp=dp, quant=quant or spec.quant or "bf16", kv_dtype=kv_dtype,
                        nano_batches=len(nano_split) if nano_split else nano_batches, nano_split=nano_split,
                        memory_utilization=memory_utilization, **placement)
        except Exception as exc:  # pydantic bounds (tp >= 1, ...)
            from perfmodel.errors import pydantic_message

            raise PerfModelError(pydantic_message(exc, source="plan")) from None
    if isl + osl > spec.max_context:
        raise PerfModelError(f"--isl + --osl = {isl + osl} exceeds the context length of {spec.name} ({spec.max_context})")
    sm = StepModel.build(model=spec, system=system, plan=plan, max_tokens=batch_size * isl, context_tokens=isl + osl)
    prefill = BatchShape.prefill(batch_size, isl)
    decode = BatchShape.decode(batch_size, isl + osl / 2)  # mean context of the osl - 1 steps
    pp = plan.pp
    # Speculative decoding (perfmodel.speculative): a decode round verifies k drafts and emits
    # tokens_per_step tokens on average; TPOT is the round over them.
    pre_ops, dec_ops = sm.ops(_micro(prefill, pp)), sm.ops(_micro(verify_batch(plan, decode), pp))
    per_step = sm.tokens_per_step
    if plan.spec_method:  # the breakdown shows the drafter's operators after the verify step's
        dec_ops = dec_ops + draft_ops(spec, system, sm.quant, plan, _micro(decode, pp))
    if plan.nano_batches > 1 or plan.offloaded or plan.spec_method or plan.two_batch_overlap:  # these models own their steps
        ttft_s = sm.cold_time_s(prefill)
        tpot_s = sm.iteration_time_s(decode) / per_step if osl > 1 else 0.0
    else:  # the same numbers as sm.cold_time_s / sm.iteration_time_s, reusing the op lists
        ttft_s = stage_time(pre_ops, spec, pp) * (2 * pp - 1)
        tpot_s = stage_time(dec_ops, spec, pp) * pp if osl > 1 else 0.0
    e2e_s = ttft_s + (osl - 1) * tpot_s
    thr = plan.replicas * batch_size * osl / e2e_s
    mem = sm.memory
    kv_tokens = batch_size * (isl + osl)
    used = mem.used_gb(kv_tokens, context_tokens=isl + osl)
    # one fit rule with the bounds (perfmodel.limits.sequences_that_fit): every sequence of the
    # static batch holds isl + osl tokens of KV at the end and isl tokens of prefill workspace
    placed = offload.placed_sizes(spec, system, plan, context_tokens=isl + osl)
    fits = batch_size <= offload.sequences_that_fit(system, plan, placed, kv_tokens_per_seq=isl + osl,
                                                    act_tokens_per_seq=isl)
    memory = {**mem.to_dict(), "kv_gb": batch_size * mem.kv_bytes_per_seq(isl + osl) / 1e9}
    if plan.offloaded:  # device part only; the host holds the rest (perfmodel.offload)
        w, kv_dev, kv_host = mem.weights_gb * 1e9, placed.kv_capacity_per_token, placed.kv_host_per_token
        device = {"weights_gb": (w * (1 - plan.weights_offload) + offload.staging_bytes(spec, plan, w)) / 1e9,
                  "activations_gb": mem.activations_gb * (1 - plan.activations_offload),
                  "kv_gb": kv_tokens * kv_dev / 1e9}
        used = sum(device.values()) + mem.reserved_gb
        host = (w * plan.weights_offload + kv_tokens * kv_host) / 1e9 + mem.activations_gb * plan.activations_offload
        memory.update(device, host_gb=host, kv_capacity_tokens=sm.kv_capacity_tokens,
                      kv_bytes_per_token_device=kv_dev, kv_gb_per_1k_tokens=kv_dev * 1e3 / 1e9)
    return Estimate(
        model=spec.name, hardware=system.id, plan=plan, batch_size=batch_size, isl=isl, osl=osl,
        ttft_ms=ttft_s * 1e3, tpot_ms=tpot_s * 1e3, e2e_ms=e2e_s * 1e3, throughput_tok_s=thr,
        throughput_tok_s_per_device=thr / plan.devices, memory_per_device_gb=used,
        memory_capacity_gb=mem.capacity_gb, fits=fits,
        bound={"prefill": binding_resource(pre_ops), "decode": binding_resource(dec_ops)},
        prefill_ops=pre_ops, decode_ops=dec_ops,
        memory=memory, tokens_per_step=per_step, notes=device_notes(sm.quant, system.device),
    )


def _micro(b: BatchShape, pp: int) -> BatchShape:
    return b if pp == 1 else scale_batch(b, 1.0 / pp)
