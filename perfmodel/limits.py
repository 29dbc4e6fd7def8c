"""What the bounds (perfmodel.bounds) and the host-offload model (perfmodel.offload) both start
from: the per-resource `Bound` record, a plan's per-device bytes (weights every pass reads, routed
experts, KV and activations per token, free capacity) and the workload counts built on them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from perfmodel.hardware.catalog import System
from perfmodel.memory import memory_breakdown
from perfmodel.plan import Plan
from perfmodel.quant import Quant
from perfmodel.specs.model import ModelSpec


@dataclass(frozen=True)
class Bound:
    """One resource's limit, total tokens/s per device (None: the resource is not used)."""

    resource: str
    tok_s_per_device: float | None
    detail: dict = field(default_factory=dict)

    def output(self, isl: int, osl: int) -> float | None:
        return None if self.tok_s_per_device is None else self.tok_s_per_device * osl / (isl + osl)


def pme(p: float, g: float) -> float:
    """Parallelism-memory efficiency (MoE-Lens eq. 3): tokens processed per KV-token held per
    pass, (p + g) / sum_{j=0}^{g} (p + j) ~ 2 (p + g) / ((2 p + g) g)."""
    return 2.0 * (p + g) / ((2.0 * p + g) * g)


def expected_active_fraction(routed_tokens: float, num_experts: int) -> float:
    """Expected share of experts that receive at least one of `routed_tokens` uniformly routed
    token-slots (occupancy problem): 1 - (1 - 1/E)^r. Concave in r with value 0 at r = 0."""
    return 1.0 - (1.0 - 1.0 / num_experts) ** routed_tokens


@dataclass(frozen=True)
class Sizes:
    """Per-device bytes of the plan: weights split into the part every pass reads and routed
    experts (read only where tokens land), KV per token, and capacity."""

    weights_fixed: float
    weights_experts: float
    kv_per_token: float        # KV bytes read from device memory per context token
    act_per_token: float
    free_bytes: float          # capacity - device weights - reserved (for KV and activations)
    kv_capacity_per_token: float  # KV bytes one token occupies in device memory
    kv_host_per_token: float = 0.0  # ... in host memory (perfmodel.offload)
    weights_host: float = 0.0       # weight bytes kept in host memory
    # KV per token above is per token of a sequence at the mean context plan_sizes was given
    # (windowed layers and recurrent state amortised over it); for full attention it is exact.

    @property
    def weights(self) -> float:
        return self.weights_fixed + self.weights_experts


def plan_sizes(model: ModelSpec, system: System, plan: Plan, q: Quant, *, context_tokens=None) -> Sizes:
    """`context_tokens`: the mean context a sequence holds (None: `memory.reference_context`);
    windowed layers and recurrent state make the KV bytes per token depend on it."""
    m0 = memory_breakdown(model, system, plan, q, max_tokens=0, context_tokens=context_tokens)
    m1 = memory_breakdown(model, system, plan, q, max_tokens=1, context_tokens=context_tokens)
    kv_tok = float(m0.kv_bytes_per_token_at(m0.kv_reference_tokens))
    weights = m0.weights_gb * 1e9
    experts = 0.0
    if model.moe is not None:
        e = model.moe
        per_layer = e.num_experts / plan.ep * 3 * model.hidden_size * e.expert_intermediate_size / plan.moe_tp
        experts = per_layer * q.part("experts").weight_bytes * math.ceil(model.num_moe_layers / plan.pp)
        # the largest stage holds at most ceil(L_moe / pp) MoE layers
        experts = min(experts, weights)
    return Sizes(weights_fixed=weights - experts, weights_experts=experts,
                  kv_per_token=kv_tok, kv_capacity_per_token=kv_tok,
                  act_per_token=(m1.activations_gb - m0.activations_gb) * 1e9,
                  free_bytes=(m0.capacity_gb - m0.weights_gb - m0.reserved_gb) * 1e9)


def weights_read_per_pass(model: ModelSpec, plan: Plan, s: Sizes, tokens: float) -> float:
    """Weight bytes one device must read in a pass over `tokens` tokens of its replica."""
    if model.moe is None or s.weights_experts == 0:
        return s.weights
    routed = tokens * model.moe.experts_per_token * plan.moe_group / plan.tp
    return s.weights_fixed + s.weights_experts * expected_active_fraction(routed, model.moe.num_experts)


def sequences_that_fit(s: Sizes, *, kv_tokens_per_seq: float, act_tokens_per_seq: float) -> float:
    """The one device-memory fit rule of the static estimate and the bounds: sequences of the
    replica when each holds `kv_tokens_per_seq` tokens of KV (bytes per token at the context the
    Sizes were built for) and `act_tokens_per_seq` tokens of activation workspace, in the device
    memory left after weights and the runtime reserve. Host memory: perfmodel.offload."""
    per_seq = kv_tokens_per_seq * s.kv_capacity_per_token + act_tokens_per_seq * s.act_per_token
    return max(s.free_bytes, 0.0) / per_seq if per_seq > 0 else math.inf


def max_concurrency(s: Sizes, isl: int, osl: int) -> float:
    """Sequences a replica holds at the largest batch that fits: continuous batching keeps each
    sequence's KV at p + g/2 tokens on average (MoE-Lens eq. 7 / NanoFlow s1.8 admission by
    predicted memory), plus the activation workspace of one iteration's B (p + g - 1) / g tokens."""
    return sequences_that_fit(s, kv_tokens_per_seq=isl + osl / 2, act_tokens_per_seq=(isl + osl - 1) / osl)


def attn_dims(model: ModelSpec) -> tuple[float, float]:
    if model.mla is not None:
        return model.mla.qk_nope_head_dim + model.mla.qk_rope_head_dim, model.mla.v_head_dim
    return model.head_dim, model.head_dim
