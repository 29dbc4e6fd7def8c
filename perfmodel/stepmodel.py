"""`StepModel`: one model replica of a plan on a system, what the schedulers, the estimator and
the bounds ask for an iteration's time and the KV capacity. Plain plans take their step time from
`perfmodel.step`; plans with nano-batch overlap or host offload from `perfmodel.offload` (which
uses `perfmodel.overlap`), so this module sits above all three."""

from __future__ import annotations

from dataclasses import dataclass, field

from perfmodel import offload, speculative, tbo
from perfmodel import ops as O
from perfmodel.hardware.catalog import System
from perfmodel.iteration import BatchShape
from perfmodel.memory import MemoryBreakdown, memory_breakdown
from perfmodel.plan import Plan, check_plan
from perfmodel.quant import Quant, get_quant
from perfmodel.specs.model import ModelSpec
from perfmodel.step import iteration_time, step_ops


@dataclass
class StepModel:
    """The cost model for one replica of a plan: implements `perfmodel.iteration.IterationModel`."""

    model: ModelSpec
    system: System
    plan: Plan
    quant: Quant
    memory: MemoryBreakdown
    devices: int = field(init=False)
    kv_capacity_tokens: int = field(init=False)
    kv_bytes_per_token: float = field(init=False)
    # perfmodel.overlap: the nano-batch pipeline chosen per batch-size class, replayed for the rest
    nano_pipelines: dict = field(init=False, default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self.devices = self.plan.devices_per_replica
        self.kv_capacity_tokens = int(self.memory.kv_capacity_tokens)
        # whole replica, per token at the memory's reference context (windowed / recurrent amortised)
        ref = self.memory.kv_reference_tokens
        self.kv_bytes_per_token = float(self.model.kv_bytes_per_seq(ref, self.quant.kv_bytes, self.quant.base_bytes)) / ref
        if self.plan.offloaded:  # host memory holds part of the KV cache (perfmodel.offload)
            self.kv_capacity_tokens = int(min(offload.kv_capacity_tokens(self), 2**62))

    @classmethod
    def build(cls, *, model: ModelSpec, system: System, plan: Plan, max_tokens: int = 8192,
              context_tokens: int | None = None) -> "StepModel":
        """`max_tokens`: the largest number of tokens one iteration processes (sizes workspace);
        `context_tokens`: the context per sequence the token KV capacity assumes (windowed and
        recurrent layers; None: `perfmodel.memory.reference_context`)."""
        check_plan(plan, model, max_devices=system.max_devices)
        q = get_quant(plan.quant).with_kv(plan.kv_dtype)
        mem = memory_breakdown(model, system, plan, q, max_tokens=max_tokens, context_tokens=context_tokens)
        return cls(model=model, system=system, plan=plan, quant=q, memory=mem)

    def ops(self, batch: BatchShape) -> list[O.OpCost]:
        """Operators of one micro-batch's iteration on one device (see `step_ops`)."""
        return step_ops(self.model, self.system, self.quant, self.plan, batch)

    def iteration_time_s(self, batch: BatchShape) -> float:
        """Steady-state time for every sequence in `batch` to advance one iteration. With
        speculative decoding an iteration is a round: drafts plus the verification step, in which
        each decoding sequence advances `tokens_per_step` tokens on average."""
        if self.plan.spec_method and batch.decode_seqs:  # issue 12 hook (perfmodel.speculative)
            draft = speculative.draft_time_s(self.model, self.system, self.quant, self.plan, batch)
            return draft + self._step_s(speculative.verify_batch(self.plan, batch))
        return self._step_s(batch)

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens a decoding sequence advances per iteration (perfmodel.speculative)."""
        return speculative.tokens_per_step(self.plan)

    def _step_s(self, batch: BatchShape) -> float:
        if self.plan.two_batch_overlap:  # issue 12 hook (perfmodel.tbo)
            return tbo.iteration_time(self.model, self.system, self.quant, self.plan, batch)
        if self.plan.nano_batches > 1 or self.plan.offloaded:  # issue 4 hook, see _hooked
            return self._hooked(batch, cold=False)
        return iteration_time(self.model, self.system, self.quant, self.plan, batch)

    def cold_time_s(self, batch: BatchShape) -> float:
        """A batch started on an empty pipeline (static prefill)."""
        if self.plan.two_batch_overlap:  # issue 12 hook (perfmodel.tbo)
            return tbo.iteration_time(self.model, self.system, self.quant, self.plan, batch, cold=True)
        if self.plan.nano_batches > 1 or self.plan.offloaded:  # issue 4 hook, see _hooked
            return self._hooked(batch, cold=True)
        return iteration_time(self.model, self.system, self.quant, self.plan, batch, cold=True)

    def _hooked(self, batch: BatchShape, *, cold: bool) -> float:
        """Issue 4 hook: plans with nano-batch overlap (perfmodel.overlap) or host offload
        (perfmodel.offload) take their step time from there; it reduces to `iteration_time`
        for nano_batches == 1 and zero offload fractions."""
        return offload.iteration_time(self, batch, cold=cold)
