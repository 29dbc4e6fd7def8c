"""Memory per device: weights, KV cache, activations/workspace, and what is left for KV.

Sharding follows the `Plan` semantics: attention/dense weights split by tp (KV heads replicated
when tp exceeds them), routed experts split ep ways and expert-TP ways, embedding and LM head
vocab-parallel, layers split over pp stages (the largest stage counts). MLA's latent KV cache is
not split by TP (every rank holds the whole latent; DeepSeek-V3 tech report s3.4 motivates
attention-DP for this reason).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from perfmodel.hardware.catalog import System
from perfmodel.quant import Quant
from perfmodel.speculative import draft_memory
from perfmodel.specs.model import ModelSpec

GB = 1e9
# Memory an engine cannot give to weights or KV: CUDA context, cuBLAS/NCCL workspaces, CUDA graph
# pools. vLLM's profiling run measures it as "non-torch memory", typically 0.5-2 GiB on H100
# (vLLM docs, "Conserving memory"). Assumption: 1.5 GB; calibrate per engine.
RUNTIME_RESERVED_GB = 1.5
# Live activation tensors per token in flight, in units of hidden_size 16-bit values (residual,
# normed input, attention output, MLP intermediate share). Engines size a workspace for the
# largest iteration; 8 x hidden per token covers residual + QKV + MLP intermediate at TP >= 1.
ACTIVATION_HIDDEN_MULTIPLE = 8


@dataclass(frozen=True)
class MemoryBreakdown:
    weights_gb: float
    kv_gb_per_1k_tokens: float
    activations_gb: float
    reserved_gb: float
    capacity_gb: float          # device memory x memory_utilization
    kv_capacity_tokens: float   # per replica
    kv_bytes_per_token_device: float

    @property
    def free_for_kv_gb(self) -> float:
        return self.capacity_gb - self.weights_gb - self.activations_gb - self.reserved_gb

    def used_gb(self, kv_tokens: float) -> float:
        return (self.weights_gb + self.activations_gb + self.reserved_gb
                + kv_tokens * self.kv_bytes_per_token_device / GB)

    def to_dict(self) -> dict:
        return asdict(self)


def weight_bytes_per_device(model: ModelSpec, plan, q: Quant):
    """Bytes of weights on the most loaded device (the largest pipeline stage)."""
    tp, h = plan.tp, model.hidden_size
    wb = q.part("attention").weight_bytes  # per component: configs quantize some and not others
    if model.mla is None:
        kvh = max(model.num_kv_heads / tp, 1) if isinstance(tp, int) else _vmax(model.num_kv_heads / tp, 1)
        attn = ((model.num_heads / tp + 2 * kvh) * model.head_dim * h + model.num_heads / tp * model.head_dim * h) * wb
    else:
        m = model.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        heads = model.num_heads / tp
        q_part = (h * m.q_lora_rank + m.q_lora_rank * heads * qk) if m.q_lora_rank else h * heads * qk
        attn = (q_part + h * (m.kv_lora_rank + m.qk_rope_head_dim)
                + m.kv_lora_rank * heads * (m.qk_nope_head_dim + m.v_head_dim) + heads * m.v_head_dim * h) * wb
    norms = 2 * h * 2.0
    dense = 3 * h * model.intermediate_size / tp * q.part("mlp").weight_bytes
    per_dense_layer = attn + norms + dense
    if model.moe:
        e = model.moe
        # EPLB's redundant slots hold whole expert copies (perfmodel.moe)
        slots = e.num_experts + getattr(plan, "redundant_experts", 0)
        experts = (slots / plan.ep * 3 * h * e.expert_intermediate_size / plan.moe_tp
                   * q.part("experts").weight_bytes)
        shared = 3 * h * e.shared_intermediate_size / tp * q.part("shared_experts").weight_bytes
        per_moe_layer = attn + norms + h * e.num_experts * 2.0 + experts + shared
    else:
        per_moe_layer = 0.0
    n_moe = model.num_moe_layers
    n_dense = model.num_layers - n_moe
    layers = per_dense_layer * n_dense + per_moe_layer * n_moe
    pp = plan.pp
    stage_share = (math.ceil(model.num_layers / pp) / model.num_layers) if isinstance(pp, int) else \
        _ceil(model.num_layers / pp) / model.num_layers
    vocab = model.vocab_size * h / tp * 2.0  # embeddings and LM head stay 16-bit
    head = vocab * (1 if model.tie_embeddings else 2)
    # With pp > 1 the embedding sits on the first stage and the LM head on the last.
    head_on_stage = head if (isinstance(pp, int) and pp == 1) else vocab
    if not isinstance(pp, int):
        head_on_stage = _where(pp == 1, head, vocab)
    return layers * stage_share + head_on_stage


def kv_bytes_per_token_device(model: ModelSpec, plan, q: Quant):
    """KV bytes one token occupies on one device (its stage's layers, its TP shard)."""
    tp, pp = plan.tp, plan.pp
    if model.mla is None:
        kvh = _vmax(model.num_kv_heads / tp, 1)
        per_layer = 2 * kvh * model.head_dim
    else:
        per_layer = model.kv_elements_per_token_per_layer
    layers = _ceil(model.num_layers / pp)
    return per_layer * layers * q.kv_bytes


def memory_breakdown(model: ModelSpec, system: System, plan, q: Quant, *, max_tokens) -> MemoryBreakdown:
    dev = system.device
    weights = weight_bytes_per_device(model, plan, q)
    kv_tok = kv_bytes_per_token_device(model, plan, q)
    if getattr(plan, "spec_method", None):  # the draft model's layer and its KV (perfmodel.speculative)
        draft_w, draft_layers = draft_memory(model, plan, q)
        weights = weights + draft_w
        kv_tok = kv_tok + kv_tok / _ceil(model.num_layers / plan.pp) * draft_layers
    acts = max_tokens * model.hidden_size * ACTIVATION_HIDDEN_MULTIPLE * 2.0 / plan.tp
    capacity = dev.memory_gb * GB * plan.memory_utilization
    free = capacity - weights - acts - RUNTIME_RESERVED_GB * GB
    kv_cap = _vmax(free, 0) / kv_tok
    return MemoryBreakdown(weights_gb=weights / GB, kv_gb_per_1k_tokens=kv_tok * 1000 / GB, activations_gb=acts / GB,
                           reserved_gb=RUNTIME_RESERVED_GB, capacity_gb=capacity / GB,
                           kv_capacity_tokens=kv_cap, kv_bytes_per_token_device=kv_tok)


def _vmax(a, b):
    import numpy as np

    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return max(a, b)
    return np.maximum(a, b)


def _ceil(x):
    import numpy as np

    return math.ceil(x) if isinstance(x, (int, float)) else np.ceil(x)


def _where(c, a, b):
    import numpy as np

    return np.where(c, a, b)
