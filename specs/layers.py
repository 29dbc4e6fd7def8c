"""The parts a decoder layer is made of, beyond plain attention: the per-layer kinds, DeepSeek
Sparse Attention's indexer and the recurrent (linear-attention / state-space) token mixers.

A layer is (token mixer, MLP). Token mixers:
  full     softmax attention over the whole context (MHA / GQA / MQA, or MLA when the model has it)
  sliding  softmax attention over the last `sliding_window` tokens (Mistral, Gemma-2/3, gpt-oss)
  chunked  softmax attention within fixed chunks of `attention_chunk` tokens (Llama-4 "iRoPE")
  linear   a recurrent mixer with a constant-size state per sequence (`Recurrent`)
  parallel full attention and a recurrent mixer side by side on the same input (Falcon-H1)
  projection  one hidden x hidden linear layer in place of attention (DeciLM / Llama-Nemotron NAS
           `replace_with_linear`)
  none     no token mixer (Nemotron-H's MLP-only layers, Llama-Nemotron NAS `attention.no_op`)
MLPs: dense (gated or not; its width may differ per layer, NAS `ffn_mult`), moe, projection (a
hidden x hidden linear layer, NAS `ffn.replace_with_linear`), none (Nemotron-H's mixer-only layers,
NAS `ffn.no_op`).
Parameter counts follow the modules `transformers` instantiates for each kind.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Mixer = Literal["full", "sliding", "chunked", "linear", "parallel", "projection", "none"]
MLPKind = Literal["dense", "moe", "projection", "none"]
RecurrentKind = Literal["gated_deltanet", "mamba2", "mamba1", "lightning"]
WINDOWED: frozenset[str] = frozenset({"sliding", "chunked"})
KV_MIXERS = ("full", "parallel")            # KV for the whole context
STATE_MIXERS = ("linear", "parallel")       # a recurrent state per sequence
ATTENTION_MIXERS = ("full", "sliding", "chunked", "parallel")


class DSA(BaseModel):
    """DeepSeek Sparse Attention (DeepSeek-V3.2, GLM-5): a lightning indexer scores every cached
    token (fp8, `index_n_heads` x `index_head_dim`), the MLA attention then reads the top
    `index_topk` tokens only (DeepSeek-V3.2-Exp tech report, s2.1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    index_n_heads: int = Field(gt=0)
    index_head_dim: int = Field(gt=0)
    index_topk: int = Field(gt=0, description="tokens each query attends to")

    def params(self, *, hidden: int, q_lora_rank: int | None) -> int:
        """wq_b (from the q latent), wk, k LayerNorm (weight + bias), weights_proj."""
        q_in = q_lora_rank or hidden
        return (q_in * self.index_n_heads * self.index_head_dim + hidden * self.index_head_dim
                + 2 * self.index_head_dim + hidden * self.index_n_heads)

    @property
    def key_bytes_per_token(self) -> float:
        """Indexer key cache: fp8 key plus one fp32 scale per token and layer (vLLM's DSA cache)."""
        return self.index_head_dim * 1.0 + 4.0


class Recurrent(BaseModel):
    """A token mixer with a constant-size state per sequence instead of a KV cache.

    gated_deltanet (Qwen3-Next, Qwen3.5, Kimi-Linear): `key_heads` q/k heads of `key_dim`, `heads`
      value heads of `value_dim`; state heads x key_dim x value_dim per sequence; a causal conv
      over q, k, v of width `conv_kernel`.
    mamba2 (Nemotron-H, Falcon-H1, Bamba, Granite-4.0-H): `heads` SSM heads of `value_dim`
      (head_dim), `key_heads` groups of `key_dim` (ssm_state_size).
    mamba1 (Jamba): `heads` = d_inner channels of one value each, `key_dim` = d_state, x_proj /
      dt_proj of rank `dt_rank`; its selective scan is elementwise (chunk_tokens 1).
    lightning (MiniMax-01/M1): linear attention with softmax attention's head layout.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: RecurrentKind
    heads: int = Field(gt=0, description="value / SSM heads")
    key_heads: int = Field(gt=0, description="q/k heads (gated_deltanet), groups (mamba2)")
    key_dim: int = Field(gt=0, description="per-head key / SSM state dimension")
    value_dim: int = Field(gt=0, description="per-head value dimension")
    conv_kernel: int = Field(default=0, ge=0, description="causal conv width, 0: none")
    chunk_tokens: int = Field(default=64, gt=0, description="chunked-scan block length of prefill kernels "
                                                             "(fla chunk_gated_delta_rule / mamba_chunk_scan: 64)")
    dt_rank: int = Field(default=0, ge=0, description="mamba1: rank of the dt projection")

    @property
    def inner(self) -> int:
        """Width of the mixer output before out_proj."""
        return self.heads * self.value_dim

    @property
    def key_width(self) -> int:
        return self.key_heads * self.key_dim

    @property
    def in_width(self) -> int:
        """Output width of the fused input projection(s)."""
        if self.kind == "gated_deltanet":   # in_proj_qkvz + in_proj_ba
            return 2 * self.key_width + 2 * self.inner + 2 * self.heads
        if self.kind == "mamba2":           # in_proj: z, x, B, C, dt
            return 2 * self.inner + 2 * self.key_width + self.heads
        if self.kind == "mamba1":           # in_proj: x, z
            return 2 * self.inner
        return 4 * self.inner               # lightning: qkv + output gate

    @property
    def conv_channels(self) -> int:
        if self.kind == "gated_deltanet":
            return 2 * self.key_width + self.inner
        if self.kind == "mamba2":
            return self.inner + 2 * self.key_width
        if self.kind == "mamba1":
            return self.inner
        return 0

    def params(self, hidden: int) -> int:
        conv = self.conv_channels * self.conv_kernel
        if self.kind == "gated_deltanet":
            small = 2 * self.heads + self.value_dim             # A_log, dt_bias, gated RMSNorm
        elif self.kind == "mamba2":
            small = self.conv_channels + 3 * self.heads + self.inner  # conv bias, A_log, D, dt_bias, norm
        elif self.kind == "mamba1":  # conv bias, x_proj (dt, B, C), dt_proj (+bias), A_log, D
            small = (self.inner + self.inner * (self.dt_rank + 2 * self.key_dim) + self.dt_rank * self.inner
                     + self.inner + self.inner * self.key_dim + self.inner)
        else:
            small = self.inner                                  # output norm
        return hidden * self.in_width + conv + small + self.inner * hidden

    @property
    def state_elements(self) -> int:
        """Recurrent state per sequence and layer: the matrix state plus the conv window."""
        return self.heads * self.key_dim * self.value_dim + self.conv_channels * max(self.conv_kernel - 1, 0)
