"""A decoder's architecture, read from a Hugging Face `config.json`.

Layers are described by kind (token mixer x MLP, see `perfmodel.specs.layers`): `layer_types`
gives each layer's mixer (None: all full attention), `mlp_types` each layer's MLP (None: the MoE
rule of `moe`). The attention fields (heads, KV heads, head_dim, `mla`, `dsa`) describe every
softmax-attention layer; `linear` the recurrent layers. Heterogeneous (NAS) models (Llama-Nemotron
Super / Ultra) give each layer its own KV heads (`layer_kv_heads`) and dense-MLP width
(`layer_mlp_widths`); `layer_groups` splits such a model into homogeneous views that every cost path
iterates, so one formula per layer kind serves both. Derived counts (parameters total and
active, KV and state bytes, GEMM shapes) are computed here and nowhere else. Parameter counting
follows the modules each architecture instantiates in `transformers` (biases for Qwen2 QKV, q/k
norms for Qwen3, MLA low-rank projections for DeepSeek-V2/V3, shared experts, leading dense
layers, MTP layers, vision towers as a count read from their config).
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from perfmodel.specs.layers import (ATTENTION_MIXERS, DSA, KV_MIXERS, STATE_MIXERS, WINDOWED, MLPKind, Mixer,
                                    Recurrent)

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


_CACHED = ("layer_kinds", "num_moe_layers", "layer_groups")
HeadCount = Annotated[int, Field(gt=0, le=MAX_HEADS)]
Width = Annotated[int, Field(gt=0, le=MAX_WIDTH)]


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
    # ---- per-layer kinds -------------------------------------------------------------------
    layer_types: tuple[Mixer, ...] | None = Field(default=None, description="token mixer of each layer; "
                                                  "None: every layer full attention")
    mlp_types: tuple[MLPKind, ...] | None = Field(default=None, description="MLP of each layer; None: "
                                                  "dense, or MoE where `moe` says")
    layer_kv_heads: tuple[HeadCount, ...] | None = Field(default=None, description="KV heads of each layer (NAS "
                                                         "`n_heads_in_group`); None: num_kv_heads everywhere; "
                                                         "entries of layers without attention are not read")
    layer_mlp_widths: tuple[Width, ...] | None = Field(default=None, description="dense-MLP width of each layer (NAS "
                                                       "`ffn_mult`); None: intermediate_size everywhere; entries of "
                                                       "layers without a dense MLP are not read")
    sliding_window: int | None = Field(default=None, gt=0, description="tokens a 'sliding' layer attends to")
    attention_chunk: int | None = Field(default=None, gt=0, description="chunk of a 'chunked' layer (tokens)")
    attention_sinks: bool = Field(default=False, description="a learned sink logit per head (gpt-oss)")
    attn_output_gate: bool = Field(default=False, description="q_proj also emits a sigmoid output gate "
                                   "(Qwen3-Next gated attention)")
    o_bias: bool = False
    mlp_gated: bool = Field(default=True, description="False: up/down MLP (relu^2, gelu) without a gate")
    dsa: DSA | None = None
    linear: Recurrent | None = None
    mtp_layers: int = Field(default=0, ge=0, description="num_nextn_predict_layers: multi-token-prediction "
                            "layers, in params_stored; memory and time count them when a plan drafts with MTP")
    vision_params: int = Field(default=0, ge=0, description="vision tower + projector parameters")

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.mla is None and self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads % num_kv_heads == 0 must hold, got ({self.num_heads}, {self.num_kv_heads})"
            )
        for name in ("layer_types", "mlp_types", "layer_kv_heads", "layer_mlp_widths"):
            kinds = getattr(self, name)
            if kinds is not None and len(kinds) != self.num_layers:
                raise ValueError(f"len({name}) == num_layers must hold, got ({len(kinds)}, {self.num_layers})")
        kinds = set(self.layer_types or ())
        bad = sorted({k for k in self.layer_kv_heads or () if self.num_heads % k})
        if bad:
            raise ValueError(f"num_heads % layer_kv_heads == 0 must hold for every layer, got ({self.num_heads}, {bad})")
        if self.layer_kv_heads is not None and self.mla is not None:
            raise ValueError("layer_kv_heads (per-layer GQA) needs per-head KV, got mla")
        if "sliding" in kinds and self.sliding_window is None:
            raise ValueError("sliding layers need sliding_window, got None")
        if "chunked" in kinds and self.attention_chunk is None:
            raise ValueError("chunked layers need attention_chunk, got None")
        if kinds & set(STATE_MIXERS) and self.linear is None:
            raise ValueError("linear layers need `linear` (the recurrent mixer's shape), got None")
        if "moe" in (self.mlp_types or ()) and self.moe is None:
            raise ValueError("moe layers in mlp_types need `moe`, got None")
        if self.dsa is not None and self.mla is None:
            raise ValueError("dsa (sparse attention indexer) needs mla, got mla=None")
        return self

    def model_copy(self, *, update: dict | None = None, deep: bool = False) -> "ModelSpec":
        """A copy without the cached structure (`layer_kinds`, `num_moe_layers`), which `update`
        may change (pydantic copies the instance dict, cached properties included)."""
        copy = super().model_copy(update=update, deep=deep)
        for key in _CACHED:
            copy.__dict__.pop(key, None)
        return copy

    # ---- structure -----------------------------------------------------------------------
    @property
    def attention(self) -> AttentionKind:
        if self.mla is not None:
            return "mla"
        if self.num_kv_heads == self.num_heads:
            return "mha"
        return "mqa" if self.num_kv_heads == 1 else "gqa"

    def mixer_of(self, layer: int) -> Mixer:
        return "full" if self.layer_types is None else self.layer_types[layer]

    def mlp_of(self, layer: int) -> MLPKind:
        if self.mlp_types is not None:
            return self.mlp_types[layer]
        return "moe" if self.is_moe_layer(layer) else "dense"

    def is_moe_layer(self, layer: int) -> bool:
        if self.mlp_types is not None:
            return self.mlp_types[layer] == "moe"
        m = self.moe
        return m is not None and layer >= m.first_dense_layers and (layer - m.first_dense_layers) % m.layer_freq == 0

    def kv_heads_of(self, layer: int) -> int:
        return self.num_kv_heads if self.layer_kv_heads is None else self.layer_kv_heads[layer]

    def mlp_width_of(self, layer: int) -> int:
        return self.intermediate_size if self.layer_mlp_widths is None else self.layer_mlp_widths[layer]

    @property
    def heterogeneous(self) -> bool:
        """Layers differ in KV heads or dense-MLP width (NAS models), not only in kind."""
        return len(self.layer_groups) > 1

    @functools.cached_property
    def layer_groups(self) -> tuple["ModelSpec", ...]:
        """Homogeneous views of the model, one per distinct (KV heads, dense-MLP width) of its
        layers in first-seen order, each with `num_layers`, `layer_types` and `mlp_types` of its
        own layers (a layer without attention, or without a dense MLP, joins the group of the
        model-wide value). Every per-layer cost sums `sum(f(g) for g in layer_groups)`; a model
        without per-layer shapes is its own only group. The views keep the model's name, vocabulary
        and head: only their layer sums are meaningful."""
        if self.layer_kv_heads is None and self.layer_mlp_widths is None:
            return (self,)
        members: dict[tuple[int, int], list[int]] = {}
        for i in range(self.num_layers):
            kv = self.kv_heads_of(i) if self.mixer_of(i) in ATTENTION_MIXERS else self.num_kv_heads
            width = self.mlp_width_of(i) if self.mlp_of(i) == "dense" else self.intermediate_size
            members.setdefault((kv, width), []).append(i)
        return tuple(self.model_copy(update={
            "num_kv_heads": kv, "intermediate_size": width, "num_layers": len(idx),
            "layer_types": tuple(self.mixer_of(i) for i in idx), "mlp_types": tuple(self.mlp_of(i) for i in idx),
            "layer_kv_heads": None, "layer_mlp_widths": None}) for (kv, width), idx in members.items())

    @property
    def kv_head_counts(self) -> tuple[int, ...]:
        """Distinct KV-head counts of the softmax-attention layers (the model-wide one without them)."""
        counts = sorted({g.num_kv_heads for g in self.layer_groups if g.attention_layers})
        return tuple(counts) or (self.num_kv_heads,)

    @functools.cached_property
    def layer_kinds(self) -> tuple[tuple[Mixer, MLPKind, int], ...]:
        """Distinct (mixer, mlp) kinds with their layer counts, in first-seen order."""
        counts: dict[tuple[str, str], int] = {}
        for i in range(self.num_layers):
            key = (self.mixer_of(i), self.mlp_of(i))
            counts[key] = counts.get(key, 0) + 1
        return tuple((m, p, n) for (m, p), n in counts.items())

    def count_mixer(self, *kinds: str) -> int:
        return sum(n for m, _, n in self.layer_kinds if m in kinds)

    def count_mlp(self, kind: str) -> int:
        return sum(n for _, p, n in self.layer_kinds if p == kind)

    @property
    def attention_layers(self) -> int:
        """Layers with softmax attention (full, sliding or chunked)."""
        return self.count_mixer(*ATTENTION_MIXERS)

    def window_of(self, mixer: str) -> int | None:
        """Tokens a mixer attends to at most (None: the whole context)."""
        if mixer == "sliding":
            return self.sliding_window
        if mixer == "chunked":
            return self.attention_chunk
        if mixer == "full" and self.dsa is not None:
            return self.dsa.index_topk
        return None

    @property
    def hybrid(self) -> bool:
        """Some layer is not full attention (windowed, recurrent, mixer-less)."""
        return any(m != "full" for m, _, _ in self.layer_kinds)

    @functools.cached_property
    def num_moe_layers(self) -> int:
        return self.count_mlp("moe")

    @property
    def num_dense_layers(self) -> int:
        return self.count_mlp("dense")

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
            index = self.dsa.params(hidden=h, q_lora_rank=m.q_lora_rank) if self.dsa else 0
            return q + kv_a + kv_b + o + index
        d = self.head_dim
        q_width = self.num_heads * d * (2 if self.attn_output_gate else 1)
        qkv = h * (q_width + 2 * self.num_kv_heads * d)
        bias = (self.num_heads + 2 * self.num_kv_heads) * d if self.qkv_bias else 0
        bias += h if self.o_bias else 0
        norms = 2 * d if self.qk_norm else 0
        sinks = self.num_heads if self.attention_sinks else 0
        return qkv + bias + norms + sinks + self.num_heads * d * h

    def mixer_params(self, mixer: str) -> int:
        if mixer == "none":
            return 0
        if mixer == "projection":       # DeciLM replace_with_linear: nn.Linear(h, h, bias=False)
            return self.hidden_size * self.hidden_size
        if mixer == "linear":
            assert self.linear is not None
            return self.linear.params(self.hidden_size)
        if mixer == "parallel":
            return self.attention_params() + self.linear.params(self.hidden_size)
        return self.attention_params()

    def mlp_params(self, width: int) -> int:
        """MLP of the given intermediate width: gate, up, down (or up, down when not gated)."""
        return (3 if self.mlp_gated else 2) * self.hidden_size * width

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

    def layer_params(self, mixer: str, mlp: str, *, active: bool = False) -> int:
        """One layer of a kind, with its norms (one per present block)."""
        h = self.hidden_size
        if mlp == "moe":
            total, act = self.moe_layer_params()
            ffn = act if active else total
        elif mlp == "projection":       # DeciLM ffn replace_with_linear: nn.Linear(h, h, bias=False)
            ffn = h * h
        else:
            ffn = self.mlp_params(self.intermediate_size) if mlp == "dense" else 0
        norms = h * ((mixer != "none") + (mlp != "none"))
        return self.mixer_params(mixer) + ffn + norms

    @property
    def mtp_params(self) -> int:
        """DeepSeek-V3 MTP module (tech report s2.2): enorm, hnorm, eh_proj (2h -> h), one decoder
        layer (the model's last kind) and a shared-head norm; embedding and head are shared."""
        if not self.mtp_layers:
            return 0
        h = self.hidden_size
        mixer, mlp, _ = self.layer_kinds[-1]
        return self.mtp_layers * (3 * h + 2 * h * h + self.layer_params("full" if mixer in STATE_MIXERS else mixer, mlp))

    def _count(self, *, active: bool) -> int:
        h = self.hidden_size
        total = self.embedding_params() + self.lm_head_params() + h  # final norm
        for group in self.layer_groups:
            for mixer, mlp, n in group.layer_kinds:
                total += n * group.layer_params(mixer, mlp, active=active)
        return total

    @property
    def params_total(self) -> int:
        """Decoder parameters (embeddings included), without MTP layers and vision tower."""
        return self._count(active=False)

    @property
    def params_stored(self) -> int:
        """Everything the checkpoint holds: decoder, MTP layers, vision tower (memory counts this)."""
        return self.params_total + self.mtp_params + self.vision_params

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
        norms = sum(n * h * ((m != "none") + (p != "none")) for m, p, n in self.layer_kinds) + h
        return self.params_active - lookup - norms

    # ---- KV cache and recurrent state ----------------------------------------------------
    @property
    def kv_elements_per_token_per_layer(self) -> int:
        if self.mla:
            return self.mla.kv_lora_rank + self.mla.qk_rope_head_dim
        return 2 * self.num_kv_heads * self.head_dim

    def kv_layer_bytes(self, kv_bytes_per_element: float = 2.0) -> float:
        """KV bytes per token of one softmax-attention layer (plus DSA's fp8 indexer keys)."""
        extra = self.dsa.key_bytes_per_token if self.dsa else 0.0
        return self.kv_elements_per_token_per_layer * kv_bytes_per_element + extra

    def kv_bytes_per_token(self, kv_bytes_per_element: float = 2.0) -> float:
        """KV-cache bytes per token for the whole model (one replica) of the layers whose KV grows
        with the context: full attention (windowed layers: `kv_bytes_per_seq`)."""
        return sum(g.count_mixer(*KV_MIXERS) * g.kv_layer_bytes(kv_bytes_per_element) for g in self.layer_groups)

    def state_bytes_per_seq(self, state_bytes_per_element: float = 2.0) -> float:
        """Recurrent state of one sequence over all linear layers (engines keep it in the model
        dtype by default: vLLM `mamba_ssm_cache_dtype=auto`)."""
        if self.linear is None:
            return 0.0
        return self.count_mixer(*STATE_MIXERS) * self.linear.state_elements * state_bytes_per_element

    def kv_bytes_per_seq(self, context_tokens, kv_bytes_per_element: float = 2.0, state_bytes_per_element: float = 2.0):
        """Bytes one sequence of `context_tokens` holds (whole replica): full layers grow with it,
        windowed layers stop at their window, recurrent layers hold a constant state."""
        out = context_tokens * self.kv_bytes_per_token(kv_bytes_per_element)
        for group in self.layer_groups:
            per_layer = group.kv_layer_bytes(kv_bytes_per_element)
            for mixer in WINDOWED:
                n = group.count_mixer(mixer)
                if n:
                    out = out + n * per_layer * np.minimum(context_tokens, self.window_of(mixer))
        return out + self.state_bytes_per_seq(state_bytes_per_element)

    def summary(self) -> dict:
        """One flat record for listings (`perfmodel models list|show`). Keys, always all present:
        name, family, params_total_b, params_active_b (billions, embeddings included), layers,
        hidden_size, attention (mha|gqa|mqa|mla), heads, kv_heads (1 for MLA: one latent per token),
        moe (None, or {experts, active, shared, dense_layers}), kv_bytes_per_token_bf16 (the layers whose KV
        grows with the context), max_context, layers_by_kind ({"mixer/mlp": layers}), sliding_window,
        attention_chunk, recurrent (None or the linear mixer's kind), state_bytes_per_seq_bf16, mtp_layers,
        vision_params_b."""
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
            "layers_by_kind": {f"{m}/{p}": n for m, p, n in self.layer_kinds},
            "sliding_window": self.sliding_window, "attention_chunk": self.attention_chunk,
            "recurrent": None if self.linear is None else self.linear.kind,
            "state_bytes_per_seq_bf16": self.state_bytes_per_seq(2.0),
            "mtp_layers": self.mtp_layers, "vision_params_b": round(self.vision_params / 1e9, 3),
        }
