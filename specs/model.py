"""A transformer's architecture, read from a Hugging Face `config.json`.

Derived counts (parameters total and active, KV bytes per token, GEMM shapes) are computed here
and nowhere else. Parameter counting follows the modules each architecture instantiates in
`transformers` (biases for Qwen2 QKV, q/k norms for Qwen3, MLA low-rank projections for
DeepSeek-V2/V3, shared experts, leading dense layers).
"""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AttentionKind = Literal["mha", "gqa", "mqa", "mla"]

# Upper limits on a model's sizes (issue 15: `num_hidden_layers: 1e9` hung the tool). Each is
# several times the largest published model: 126 layers (Llama-3.1-405B), hidden 16,384 and
# 128 heads (405B), MLP width 53,248 (405B), head_dim 256 (Gemma), 256 routed experts
# (DeepSeek-V3), vocabulary 256,000 (Gemma), context 10M tokens (Llama-4-Scout).
MAX_LAYERS = 1024
MAX_WIDTH = 1 << 20
MAX_HEADS = 4096
MAX_HEAD_DIM = 4096
MAX_EXPERTS = 65536
MAX_VOCAB = 1 << 24
MAX_CONTEXT = 1 << 27


class MLA(BaseModel):
    """Multi-head latent attention (DeepSeek-V2/V3): low-rank KV with a decoupled RoPE key."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    q_lora_rank: int | None = Field(default=None, gt=0, le=MAX_WIDTH, description="None: full-rank q_proj")
    kv_lora_rank: int = Field(gt=0, le=MAX_WIDTH)
    qk_nope_head_dim: int = Field(gt=0, le=MAX_HEAD_DIM)
    qk_rope_head_dim: int = Field(gt=0, le=MAX_HEAD_DIM)
    v_head_dim: int = Field(gt=0, le=MAX_HEAD_DIM)


class MoE(BaseModel):
    """Routed experts (and shared experts) replacing the MLP in some layers."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    num_experts: int = Field(gt=1, le=MAX_EXPERTS)
    experts_per_token: int = Field(gt=0, le=MAX_EXPERTS)
    expert_intermediate_size: int = Field(gt=0, le=MAX_WIDTH)
    num_shared_experts: int = Field(default=0, ge=0, le=MAX_EXPERTS)
    shared_intermediate_size: int = Field(default=0, ge=0, le=MAX_WIDTH, description="total width of the shared experts")
    shared_expert_gate: bool = False
    first_dense_layers: int = Field(default=0, ge=0, le=MAX_LAYERS, description="leading layers with a dense MLP")
    layer_freq: int = Field(default=1, gt=0, le=MAX_LAYERS, description="every n-th layer (after the dense ones) is MoE")

    @model_validator(mode="after")
    def _k_le_e(self):
        if self.experts_per_token > self.num_experts:
            raise ValueError(
                f"experts_per_token <= num_experts must hold, got ({self.experts_per_token}, {self.num_experts})"
            )
        return self


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    family: str = Field(description="HF model_type, e.g. llama, mixtral, qwen3_moe, deepseek_v3")
    hidden_size: int = Field(gt=0, le=MAX_WIDTH)
    num_layers: int = Field(gt=0, le=MAX_LAYERS)
    num_heads: int = Field(gt=0, le=MAX_HEADS)
    num_kv_heads: int = Field(gt=0, le=MAX_HEADS)
    head_dim: int = Field(gt=0, le=MAX_HEAD_DIM)
    intermediate_size: int = Field(gt=0, le=MAX_WIDTH, description="dense MLP width")
    vocab_size: int = Field(gt=0, le=MAX_VOCAB)
    tie_embeddings: bool = False
    qkv_bias: bool = False
    qk_norm: bool = False
    mla: MLA | None = None
    moe: MoE | None = None
    max_context: int = Field(default=4096, gt=0, le=MAX_CONTEXT)
    dtype: str = "bfloat16"
    quant: str | None = Field(default=None, description="the checkpoint's own --quant id, read from its "
                              "quantization config (perfmodel.specs.quantization); None: unquantized")

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.mla is None and self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads % num_kv_heads == 0 must hold, got ({self.num_heads}, {self.num_kv_heads})"
            )
        return self

    # ---- structure -----------------------------------------------------------------------
    @property
    def attention(self) -> AttentionKind:
        if self.mla is not None:
            return "mla"
        if self.num_kv_heads == self.num_heads:
            return "mha"
        return "mqa" if self.num_kv_heads == 1 else "gqa"

    def is_moe_layer(self, layer: int) -> bool:
        m = self.moe
        return m is not None and layer >= m.first_dense_layers and (layer - m.first_dense_layers) % m.layer_freq == 0

    @functools.cached_property
    def num_moe_layers(self) -> int:
        return sum(self.is_moe_layer(i) for i in range(self.num_layers))

    @property
    def num_dense_layers(self) -> int:
        return self.num_layers - self.num_moe_layers

    # ---- parameter counts (elements) -----------------------------------------------------
    @property
    def q_dim(self) -> int:
        """Width of the attention output before o_proj."""
        if self.mla:
            return self.num_heads * self.mla.v_head_dim
        return self.num_heads * self.head_dim

    def attention_params(self) -> int:
        h = self.hidden_size
        if self.mla:
            m = self.mla
            qk_head = m.qk_nope_head_dim + m.qk_rope_head_dim
            if m.q_lora_rank:
                q = h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * self.num_heads * qk_head
            else:
                q = h * self.num_heads * qk_head
            kv_a = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank
            kv_b = m.kv_lora_rank * self.num_heads * (m.qk_nope_head_dim + m.v_head_dim)
            o = self.num_heads * m.v_head_dim * h
            return q + kv_a + kv_b + o
        d = self.head_dim
        qkv = h * (self.num_heads + 2 * self.num_kv_heads) * d
        bias = (self.num_heads + 2 * self.num_kv_heads) * d if self.qkv_bias else 0
        norms = 2 * d if self.qk_norm else 0
        return qkv + bias + norms + self.num_heads * d * h

    def mlp_params(self, width: int) -> int:
        """Gated MLP (gate, up, down) of the given intermediate width."""
        return 3 * self.hidden_size * width

    def moe_layer_params(self) -> tuple[int, int]:
        """(total, active per token) parameters of one MoE block."""
        m = self.moe
        assert m is not None
        h = self.hidden_size
        router = h * m.num_experts
        expert = self.mlp_params(m.expert_intermediate_size)
        shared = self.mlp_params(m.shared_intermediate_size) + (h if m.shared_expert_gate else 0)
        total = router + m.num_experts * expert + shared
        active = router + m.experts_per_token * expert + shared
        return total, active

    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    def lm_head_params(self) -> int:
        return 0 if self.tie_embeddings else self.vocab_size * self.hidden_size

    def _count(self, *, active: bool) -> int:
        h = self.hidden_size
        total = self.embedding_params() + self.lm_head_params() + h  # final norm
        attn = self.attention_params()
        dense_mlp = self.mlp_params(self.intermediate_size)
        moe = self.moe_layer_params() if self.moe else (0, 0)
        for layer in range(self.num_layers):
            total += attn + 2 * h
            if self.is_moe_layer(layer):
                total += moe[1] if active else moe[0]
            else:
                total += dense_mlp
        return total

    @property
    def params_total(self) -> int:
        return self._count(active=False)

    @property
    def params_active(self) -> int:
        """Parameters touched per token (embeddings included, as model cards count them)."""
        return self._count(active=True)

    @property
    def params_gemm_active(self) -> int:
        """Parameters that take part in a matmul per token: active minus the embedding table
        (a lookup) and the norms."""
        h = self.hidden_size
        lookup = self.embedding_params() if not self.tie_embeddings else 0
        norms = self.num_layers * 2 * h + h
        return self.params_active - lookup - norms

    # ---- KV cache ------------------------------------------------------------------------
    @property
    def kv_elements_per_token_per_layer(self) -> int:
        if self.mla:
            return self.mla.kv_lora_rank + self.mla.qk_rope_head_dim
        return 2 * self.num_kv_heads * self.head_dim

    def kv_bytes_per_token(self, kv_bytes_per_element: float = 2.0) -> float:
        """KV-cache bytes per token for the whole model (all layers, one replica)."""
        return self.num_layers * self.kv_elements_per_token_per_layer * kv_bytes_per_element

    def summary(self) -> dict:
        """One flat record for listings (`perfmodel models list|show`). Keys, always all present:
        name, family, params_total_b, params_active_b (billions, embeddings included), layers,
        hidden_size, attention (mha|gqa|mqa|mla), heads, kv_heads (1 for MLA: one latent per token),
        moe (None, or {experts, active, shared, dense_layers}), kv_bytes_per_token_bf16, max_context."""
        return {
            "name": self.name,
            "family": self.family,
            "params_total_b": round(self.params_total / 1e9, 3),
            "params_active_b": round(self.params_active / 1e9, 3),
            "layers": self.num_layers,
            "hidden_size": self.hidden_size,
            "attention": self.attention,
            "heads": self.num_heads,
            "kv_heads": self.num_kv_heads if self.mla is None else 1,
            "moe": None if self.moe is None else {
                "experts": self.moe.num_experts, "active": self.moe.experts_per_token,
                "shared": self.moe.num_shared_experts, "dense_layers": self.moe.first_dense_layers,
            },
            "kv_bytes_per_token_bf16": self.kv_bytes_per_token(2.0),
            "max_context": self.max_context,
        }
