"""Memory per device: weights, KV cache, activations/workspace, and what is left for KV.

Sharding follows the `Plan` semantics: attention/dense weights split by tp (KV heads replicated
when tp exceeds them), routed experts split ep ways and expert-TP ways, embedding and LM head
vocab-parallel, layers split over pp stages (the largest stage counts). MLA's latent KV cache is
not split by TP (every rank holds the whole latent; DeepSeek-V3 tech report s3.4 motivates
attention-DP for this reason).

Per layer kind: full-attention layers hold KV for every token of the context, windowed layers
(sliding, chunked) for at most their window, recurrent layers a constant state per sequence (vLLM's
hybrid KV-cache manager frees blocks that left the window, arXiv:2309.06180 paging; Mamba state as
one slot per sequence). `MemoryBreakdown.kv_bytes_per_seq(context)` gives the exact bytes a
sequence holds; token capacities assume `kv_reference_tokens` of context per sequence.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass

import numpy as np

from perfmodel.hardware.catalog import System
from perfmodel.quant import Quant
from perfmodel.speculative import draft_memory
from perfmodel.specs.layers import KV_MIXERS, STATE_MIXERS
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
    kv_capacity_tokens: float   # per replica, at `kv_reference_tokens` of context per sequence
    kv_bytes_per_token_device: float  # layers whose KV grows with the context (full attention)
    # windowed layers: ((window tokens, KV bytes per token on the device), ...); a window caps them
    window_kv: tuple = ()
    state_bytes_per_seq_device: float = 0.0  # recurrent state of one sequence (linear layers)
    kv_reference_tokens: float = 0.0         # context per sequence kv_capacity_tokens assumes

    @property
    def free_for_kv_gb(self) -> float:
        return self.capacity_gb - self.weights_gb - self.activations_gb - self.reserved_gb

    def kv_bytes_per_seq(self, context_tokens):
        """Device bytes one sequence of `context_tokens` holds: full layers grow with it, windowed
        layers stop at their window, recurrent layers hold a constant state."""
        out = context_tokens * self.kv_bytes_per_token_device + self.state_bytes_per_seq_device
        for window, per_token in self.window_kv:
            out = out + np.minimum(context_tokens, window) * per_token
        return out

    def kv_bytes_per_token_at(self, context_tokens):
        """Device bytes per held token when every sequence holds `context_tokens` tokens."""
        return self.kv_bytes_per_seq(context_tokens) / np.maximum(context_tokens, 1)

    def used_gb(self, kv_tokens: float, *, context_tokens=None) -> float:
        """Device memory with `kv_tokens` tokens of KV held by sequences of `context_tokens` tokens
        (None: `kv_reference_tokens`)."""
        ctx = self.kv_reference_tokens if context_tokens is None else context_tokens
        return (self.weights_gb + self.activations_gb + self.reserved_gb
                + kv_tokens * self.kv_bytes_per_token_at(ctx) / GB)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["window_kv"] = [list(map(float, w)) for w in self.window_kv]
        return out


def _mixer_weight_bytes(model: ModelSpec, mixer: str, tp, wb: float):
    """Weights of one layer's token mixer on one device of a TP group."""
    h = model.hidden_size
    if mixer == "none":
        return 0.0
    if mixer == "projection":   # one h x h linear layer, split by TP
        return h * h / tp * wb
    if mixer == "linear":   # heads split by TP
        return model.linear.params(h) / tp * wb
    if mixer == "parallel":
        return _mixer_weight_bytes(model, "full", tp, wb) + _mixer_weight_bytes(model, "linear", tp, wb)
    if model.mla is None:
        kvh = max(model.num_kv_heads / tp, 1) if isinstance(tp, int) else _vmax(model.num_kv_heads / tp, 1)
        q_heads = model.num_heads / tp * (2 if model.attn_output_gate else 1)
        return ((q_heads + 2 * kvh) * model.head_dim * h + model.num_heads / tp * model.head_dim * h) * wb
    m = model.mla
    qk = m.qk_nope_head_dim + m.qk_rope_head_dim
    heads = model.num_heads / tp
    q_part = (h * m.q_lora_rank + m.q_lora_rank * heads * qk) if m.q_lora_rank else h * heads * qk
    attn = (q_part + h * (m.kv_lora_rank + m.qk_rope_head_dim)
            + m.kv_lora_rank * heads * (m.qk_nope_head_dim + m.v_head_dim) + heads * m.v_head_dim * h) * wb
    if model.dsa is not None:  # the indexer is small and replicated on every rank
        attn = attn + model.dsa.params(hidden=h, q_lora_rank=m.q_lora_rank) * wb
    return attn


def _mlp_weight_bytes(model: ModelSpec, mlp: str, plan, q: Quant):
    """Weights of one layer's MLP on one device, each part at its own precision (the router in 16 bits)."""
    h = model.hidden_size
    if mlp == "none":
        return 0.0
    if mlp == "projection":   # one h x h linear layer, split by TP
        return h * h / plan.tp * q.part("mlp").weight_bytes
    if mlp == "dense":
        return model.mlp_params(model.intermediate_size) / plan.tp * q.part("mlp").weight_bytes
    e = model.moe
    # EPLB's redundant slots hold whole expert copies (perfmodel.moe)
    slots = e.num_experts + getattr(plan, "redundant_experts", 0)
    experts = (slots / plan.ep * model.mlp_params(e.expert_intermediate_size) / plan.moe_tp
               * q.part("experts").weight_bytes)
    shared = model.mlp_params(e.shared_intermediate_size) / plan.tp * q.part("shared_experts").weight_bytes
    return h * e.num_experts * 2.0 + experts + shared


def weight_bytes_per_device(model: ModelSpec, plan, q: Quant):
    """Bytes of weights on the most loaded device (the largest pipeline stage)."""
    tp, h = plan.tp, model.hidden_size
    layers = 0.0
    for group in model.layer_groups:  # layers of one shape (NAS models: per-layer KV heads, MLP widths)
        for mixer, mlp, n in group.layer_kinds:
            norms = h * ((mixer != "none") + (mlp != "none")) * 2.0
            # per component: configs quantize some parts and not others (perfmodel.quant)
            layers = layers + n * (_mixer_weight_bytes(group, mixer, tp, q.part("attention").weight_bytes)
                                   + _mlp_weight_bytes(group, mlp, plan, q) + norms)
    pp = plan.pp
    stage_share = (math.ceil(model.num_layers / pp) / model.num_layers) if isinstance(pp, int) else \
        _ceil(model.num_layers / pp) / model.num_layers
    vocab = model.vocab_size * h / tp * 2.0  # embeddings and LM head stay 16-bit
    head = vocab * (1 if model.tie_embeddings else 2)
    # With pp > 1 the embedding sits on the first stage and the LM head on the last.
    head_on_stage = head if (isinstance(pp, int) and pp == 1) else vocab
    if not isinstance(pp, int):
        head_on_stage = _where(pp == 1, head, vocab)
    # The vision tower sits with the embedding, TP-sharded, 16-bit. MTP layers are loaded only to
    # draft with them (vLLM skips their weights otherwise): perfmodel.speculative.draft_memory.
    extra = model.vision_params * 2.0 / tp
    return layers * stage_share + head_on_stage + extra


def _kv_heads_per_device(model: ModelSpec, tp):
    """K+V elements per token of one attention layer on one device (MLA's latent is replicated)."""
    if model.mla is None:
        return 2 * _vmax(model.num_kv_heads / tp, 1) * model.head_dim
    return model.kv_elements_per_token_per_layer


def _layer_kv_bytes(model: ModelSpec, tp, q: Quant):
    extra = model.dsa.key_bytes_per_token if model.dsa else 0.0
    return _kv_heads_per_device(model, tp) * q.kv_bytes + extra


def _stage_layers(n: int, pp):
    """Layers of a kind on the most loaded stage (kinds spread evenly over the stages)."""
    return _ceil(n / pp) if n else 0


def _mean_layer_kv_bytes(model: ModelSpec, tp, q: Quant, *mixers: str):
    """KV bytes per token of one layer of these kinds on one device, averaged over the layer groups
    (NAS models' layers differ in KV heads; the stage's share of them is taken as even)."""
    groups = model.layer_groups
    if len(groups) == 1:
        return _layer_kv_bytes(model, tp, q)
    n = model.count_mixer(*mixers)
    return sum(g.count_mixer(*mixers) * _layer_kv_bytes(g, tp, q) for g in groups) / n if n else 0.0


def kv_bytes_per_token_device(model: ModelSpec, plan, q: Quant):
    """KV bytes one token occupies on one device (its stage's full-attention layers, its TP shard)."""
    n = model.count_mixer(*KV_MIXERS)
    return _mean_layer_kv_bytes(model, plan.tp, q, *KV_MIXERS) * _stage_layers(n, plan.pp)


def window_kv_device(model: ModelSpec, plan, q: Quant) -> tuple:
    """((window, KV bytes per token on one device), ...) of the windowed layer kinds."""
    out = []
    for mixer in ("sliding", "chunked"):
        n = model.count_mixer(mixer)
        if n:
            out.append((model.window_of(mixer), _mean_layer_kv_bytes(model, plan.tp, q, mixer) * _stage_layers(n, plan.pp)))
    return tuple(out)


def state_bytes_per_seq_device(model: ModelSpec, plan, q: Quant):
    """Recurrent state of one sequence on one device (state heads split by TP), model dtype."""
    n = model.count_mixer(*STATE_MIXERS)
    if not n:
        return 0.0
    return model.linear.state_elements / plan.tp * q.base_bytes * _stage_layers(n, plan.pp)


def reference_context(model: ModelSpec) -> int:
    """Context per sequence a token-count KV capacity assumes when the workload does not say: the
    largest window (windowed layers then count per token, as an engine's token pool does before the
    window fills), else the model's context."""
    windows = [w for w in (model.window_of("sliding"), model.window_of("chunked")) if w and model.hybrid]
    return min(max(windows), model.max_context) if windows else model.max_context


def memory_breakdown(model: ModelSpec, system: System, plan, q: Quant, *, max_tokens,
                     context_tokens=None) -> MemoryBreakdown:
    """`context_tokens`: context per sequence the token capacity assumes (None: `reference_context`)."""
    dev = system.device
    weights = weight_bytes_per_device(model, plan, q)
    kv_tok = kv_bytes_per_token_device(model, plan, q)
    if getattr(plan, "spec_method", None):  # the draft model's layer and its KV (perfmodel.speculative)
        draft_w, draft_layers = draft_memory(model, plan, q)
        weights = weights + draft_w
        kv_tok = kv_tok + _layer_kv_bytes(model, plan.tp, q) * draft_layers  # the drafter's full-attention layers
    acts = max_tokens * model.hidden_size * ACTIVATION_HIDDEN_MULTIPLE * 2.0 / plan.tp
    capacity = dev.memory_gb * GB * plan.memory_utilization
    free = capacity - weights - acts - RUNTIME_RESERVED_GB * GB
    ref = reference_context(model) if context_tokens is None else context_tokens
    mem = MemoryBreakdown(weights_gb=weights / GB, kv_gb_per_1k_tokens=kv_tok * 1000 / GB, activations_gb=acts / GB,
                          reserved_gb=RUNTIME_RESERVED_GB, capacity_gb=capacity / GB, kv_capacity_tokens=0.0,
                          kv_bytes_per_token_device=kv_tok, window_kv=window_kv_device(model, plan, q),
                          state_bytes_per_seq_device=state_bytes_per_seq_device(model, plan, q),
                          kv_reference_tokens=ref)
    per_token = _vmax(mem.kv_bytes_per_token_at(ref), 1e-30)
    return dataclasses.replace(mem, kv_capacity_tokens=_vmax(free, 0) / per_token,
                               kv_gb_per_1k_tokens=per_token * 1000 / GB)


def _vmax(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return max(a, b)
    return np.maximum(a, b)


def _ceil(x):
    return math.ceil(x) if isinstance(x, (int, float)) else np.ceil(x)


def _where(c, a, b):
    return np.where(c, a, b)
