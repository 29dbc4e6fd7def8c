"""Translate a Hugging Face `config.json` (dict) into a `ModelSpec`, by its fields.

No list of supported model types: the reader looks for the fields that decide the cost
(attention shape, MLA, MoE placement, per-layer mixer kinds, windows, recurrent mixers, MTP,
vision tower) under the spellings the 2024-2026 configs use, reading nested `text_config` /
`llm_config` / `language_config` for the decoder and `vision_config` for the tower
(`perfmodel.specs.hf_layout` decides the per-layer kinds). A field that would change the count
and that this reader does not understand is a one-line error naming it (`check_unknown`).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from perfmodel.common.errors import PerfModelError, pydantic_message
from perfmodel.specs.hf_layout import check_unknown, layer_layout, linear_mixer, vision_params
from perfmodel.specs.hf_nas import nas_layout
from perfmodel.specs.model import MLA, ModelSpec, MoE
from perfmodel.specs.layers import DSA
from perfmodel.specs.quantization import quant_id

# config.json keys that hold sizes or counts: JSON true/false there is an error (pydantic would read 1/0)
_SIZE_KEYS = frozenset({
    "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim", "num_hidden_layers",
    "intermediate_size", "vocab_size", "max_position_embeddings", "num_local_experts", "num_experts",
    "num_experts_per_tok", "moe_intermediate_size", "shared_expert_intermediate_size", "decoder_sparse_step",
    "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "n_routed_experts",
    "n_shared_experts", "first_k_dense_replace", "moe_layer_freq"})

TEXT_KEYS = ("text_config", "llm_config", "language_config", "thinker_config")
# Class families (model_type prefixes) whose qkv projections carry a bias without a config field
# saying so (transformers: Qwen2, Qwen2-MoE, Qwen2-VL, Qwen2.5-VL, Qwen2-Audio).
QKV_BIAS_PREFIXES = ("qwen2",)
# ... whose `tie_word_embeddings` defaults to True when the config omits it (Gemma 1-4).
TIED_PREFIXES = ("gemma",)
# ... with q/k RMSNorm over head_dim and no field for it (Qwen3 family, Gemma-3+, OLMo-2/3).
QK_NORM_PREFIXES = ("qwen3", "gemma3", "gemma4", "olmo2", "olmo3")
# Classes whose attention q_proj also emits the output gate without a field (Qwen3-Next; Qwen3.5, whose decoder
# is Qwen3-Next's: vLLM's Qwen3_5MoeConfig subclasses Qwen3NextConfig, slime's qwen3.5 recipe --attention-output-gate).
OUTPUT_GATE_TYPES = ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text")
# transformers class defaults of fields that published configs of these classes omit.
CLASS_DEFAULTS: dict[str, dict[str, Any]] = {
    # Gemma3TextConfig: vocab 262208, 128K context, 5 local (1024-token window) : 1 global
    "gemma3_text": {"vocab_size": 262208, "max_position_embeddings": 131072, "sliding_window": 4096,
                    "sliding_window_pattern": 6},
    # OPTConfig: lm_head tied to embed_tokens (tie_word_embeddings True), max 2,048 positions; the published
    # facebook/opt-* config.json files omit the first
    "opt": {"tie_word_embeddings": True, "max_position_embeddings": 2048},
}


def _first(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        v = cfg.get(k)
        if v is not None:
            return v
    return default


def _need(cfg: dict[str, Any], source: str, *keys: str) -> Any:
    v = _first(cfg, *keys)
    if v is None:
        raise PerfModelError(f"{source}: config.json lacks required key {keys[0]!r} "
                             f"(model_type {cfg.get('model_type')!r})")
    return v


def text_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The decoder's config: a nested text/llm/language config merged over the top level (nested
    again for Qwen-Omni's thinker_config.text_config), DBRX-style attn_config / ffn_config flattened."""
    merged = _nested_text(cfg)
    while merged is not cfg:
        cfg, merged = merged, _nested_text(merged)
    return _flatten_blocks(cfg)


def _flatten_blocks(cfg: dict[str, Any]) -> dict[str, Any]:
    attn, ffn = cfg.get("attn_config"), cfg.get("ffn_config")
    if not isinstance(attn, dict) and not isinstance(ffn, dict):
        return cfg
    out = dict(cfg)
    if isinstance(attn, dict):
        out.setdefault("num_key_value_heads", attn.get("kv_n_heads"))
    if isinstance(ffn, dict):
        out.setdefault("intermediate_size", ffn.get("ffn_hidden_size"))
        out.setdefault("num_local_experts", ffn.get("moe_num_experts"))
        out.setdefault("num_experts_per_tok", ffn.get("moe_top_k"))
    return out


def _nested_text(cfg: dict[str, Any]) -> dict[str, Any]:
    for key in TEXT_KEYS:
        sub = cfg.get(key)
        if isinstance(sub, dict) and sub:
            merged = {k: v for k, v in cfg.items() if k not in TEXT_KEYS and k != "vision_config"}
            merged.update(sub)
            merged.setdefault("model_type", cfg.get("model_type"))
            if "tie_word_embeddings" in cfg and "tie_word_embeddings" not in sub:
                merged["tie_word_embeddings"] = cfg["tie_word_embeddings"]
            return merged
    return cfg


def _moe(cfg: dict[str, Any], source: str, *, dense_width: int) -> MoE | None:
    experts = _first(cfg, "n_routed_experts", "num_local_experts", "num_experts", "moe_num_experts")
    if isinstance(experts, list):
        experts = max(experts)
    if experts is None or (isinstance(experts, (int, float)) and experts <= 1):
        return None       # a string or other junk goes on to MoE's schema, which names it
    top_k = _need(cfg, source, "num_experts_per_tok", "experts_per_token", "num_experts_per_token", "moe_k",
                  "moe_top_k", "moe_topk", "top_k")
    if isinstance(top_k, list):
        top_k = max(top_k)
    width = _first(cfg, "moe_intermediate_size", "expert_intermediate_size", "moe_ffn_hidden_size")
    if isinstance(width, list):
        width = max(width)
    width = width or dense_width
    n_shared = _first(cfg, "n_shared_experts", "num_shared_experts", "moe_num_shared_experts",
                      "num_shared_expert", "share_expert_num", default=0) or 0
    if isinstance(n_shared, list):
        n_shared = max(n_shared)
    shared_width = _first(cfg, "shared_expert_intermediate_size", "moe_shared_expert_intermediate_size",
                          "share_expert_dim", "shared_intermediate_size")
    gate = False
    if shared_width:                         # Qwen2/3-MoE style: one shared expert of its own width
        gate = cfg.get("model_type", "").startswith(("qwen2_moe", "qwen3_next", "qwen3_5"))
        n_shared = max(n_shared, 1)
    elif n_shared:
        shared_width = n_shared * width
    elif cfg.get("model_type", "").startswith("llama4"):  # one shared expert of the expert width
        n_shared, shared_width = 1, width
    return MoE(num_experts=experts, experts_per_token=top_k, expert_intermediate_size=width,
               num_shared_experts=n_shared, shared_intermediate_size=shared_width or 0, shared_expert_gate=gate)


def from_hf_config(cfg: dict[str, Any], *, name: str, source: str = "config.json") -> ModelSpec:
    if not isinstance(cfg, dict):
        raise PerfModelError(f"{source}: expected a JSON object, got {type(cfg).__name__}")
    for key, value in text_config(cfg).items():
        if isinstance(value, bool) and key in _SIZE_KEYS:
            raise PerfModelError(f"{source}: {key}={value!r} must be an integer")
    try:
        return _from_fields(cfg, name=name, source=source)
    except ValidationError as exc:  # a sub-block (MoE, MLA, DSA, recurrent) with a bad field: name it
        raise PerfModelError(pydantic_message(exc, source=source)) from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as exc:
        # a field of an unexpected type or shape: one line naming it, no traceback
        raise PerfModelError(f"{source}: could not read the config ({type(exc).__name__}: {exc})") from None


def _from_fields(cfg: dict[str, Any], *, name: str, source: str) -> ModelSpec:
    top = cfg
    cfg = text_config(cfg)
    mtype = str(cfg.get("model_type") or top.get("model_type") or "unknown")
    cfg = {**CLASS_DEFAULTS.get(mtype, {}), **{k: v for k, v in cfg.items() if v is not None}}
    check_unknown(cfg, source)
    h = _need(cfg, source, "hidden_size", "d_model", "n_embd", "model_dim")
    layers = _need(cfg, source, "num_hidden_layers", "num_layers", "n_layer", "n_layers")
    heads = _need(cfg, source, "num_attention_heads", "n_head", "num_heads", "n_heads")
    kv_heads = _first(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv", "n_kv_heads",
                      "num_attention_groups")
    # DeciLM / Llama-Nemotron NAS: per-layer blocks give KV heads and MLP widths (perfmodel.specs.hf_nas)
    nas = nas_layout(cfg["block_configs"], source, layers=layers, heads=heads, hidden=h) \
        if cfg.get("block_configs") is not None else None
    if nas is not None:
        kv_heads = nas.pop("num_kv_heads")
    if kv_heads is None:  # absent: MHA; an explicit 0 is refused by the schema
        kv_heads = heads
    if cfg.get("multi_query_attention") and cfg.get("multi_query_group_num"):  # ChatGLM / GLM-4
        kv_heads = cfg["multi_query_group_num"]
    if isinstance(kv_heads, list):
        kv_heads = max(kv_heads)
    is_mla = bool(cfg.get("kv_lora_rank"))
    if (not is_mla and isinstance(heads, int) and isinstance(kv_heads, int) and kv_heads > 0 and heads % kv_heads):
        raise PerfModelError(f"{source}: num_attention_heads={heads} is not divisible by "
                             f"num_key_value_heads={kv_heads} (each KV head must serve a whole group of query heads)")
    head_dim = _first(cfg, "head_dim", "kv_channels", "attention_head_dim")
    if head_dim is None:  # an explicit 0 stays 0 and is refused by the schema, never silently defaulted
        head_dim = h // heads if isinstance(h, int) and isinstance(heads, int) and heads else 0
    dense_width = _first(cfg, "intermediate_size_mlp", "intermediate_size", "ffn_hidden_size", "n_inner",
                         "ffn_dim", "dense_intermediate_size")
    if isinstance(dense_width, list):
        dense_width = max(dense_width)
    if nas is not None:
        dense_width = nas.pop("intermediate_size")
    expert_only_width = cfg.get("intermediate_size")
    moe = _moe(cfg, source, dense_width=expert_only_width or dense_width or 0)
    if dense_width is None:
        dense_width = moe.expert_intermediate_size if moe else _need(cfg, source, "intermediate_size")
    vocab = _need(cfg, source, "vocab_size", "padded_vocab_size")
    tie = cfg.get("tie_word_embeddings")
    if tie is None:
        tie = mtype.startswith(TIED_PREFIXES)
    fields: dict[str, Any] = dict(
        name=name, family=mtype, hidden_size=h, num_layers=layers, num_heads=heads, num_kv_heads=kv_heads,
        head_dim=head_dim, intermediate_size=dense_width, vocab_size=vocab, tie_embeddings=bool(tie),
        max_context=_first(cfg, "max_position_embeddings", "seq_length", "max_sequence_length", "n_positions",
                           "model_max_length", default=4096),
        dtype=str(_first(cfg, "torch_dtype", "dtype", default="bfloat16")),
        moe=moe,
    )
    bias = cfg.get("attention_bias")
    fields["qkv_bias"] = bool(bias) or bool(cfg.get("qkv_bias")) or bool(cfg.get("add_qkv_bias")) or \
        mtype.startswith(QKV_BIAS_PREFIXES)
    # GLM's attention_bias is q/k/v only; Seed-OSS says so with attention_out_bias
    fields["o_bias"] = bool(cfg.get("attention_out_bias", bool(bias) and not mtype.startswith("glm")))
    fields["qk_norm"] = mtype.startswith(QK_NORM_PREFIXES) or bool(cfg.get("qk_layernorm")) \
        or bool(cfg.get("use_qk_norm") and not mtype.startswith("llama4"))  # Llama-4's is a weightless L2 norm
    fields["attn_output_gate"] = bool(cfg.get("attn_output_gate", mtype in OUTPUT_GATE_TYPES))
    fields["attention_sinks"] = mtype.startswith("gpt_oss")
    # relu^2 MLPs (Nemotron-H, Nemotron-4) are up/down only; the rest of the 2024-2026 decoders gate. Configs that
    # name their activation `activation_function` (OPT, GPT-2, GPT-J: fc1 -> act -> fc2) have no gate either
    # (transformers OPTDecoderLayer / GPT2MLP).
    fields["mlp_gated"] = (str(cfg.get("mlp_hidden_act") or cfg.get("hidden_act") or "silu") != "relu2"
                           and "activation_function" not in cfg)
    if is_mla:
        fields["mla"] = MLA(q_lora_rank=cfg.get("q_lora_rank"),
                            kv_lora_rank=_need(cfg, source, "kv_lora_rank"),
                            qk_nope_head_dim=_need(cfg, source, "qk_nope_head_dim"),
                            qk_rope_head_dim=_need(cfg, source, "qk_rope_head_dim"),
                            v_head_dim=_need(cfg, source, "v_head_dim"))
        fields["head_dim"] = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]
        fields["num_kv_heads"] = heads
        if cfg.get("index_topk"):
            fields["dsa"] = DSA(index_n_heads=_need(cfg, source, "index_n_heads"),
                                index_head_dim=_need(cfg, source, "index_head_dim"),
                                index_topk=cfg["index_topk"])
    layout = nas if nas is not None else layer_layout(cfg, source, layers=layers, moe=moe is not None)
    fields.update(layout)
    if {"linear", "parallel"} & set(layout.get("layer_types") or ()):
        fields["linear"] = linear_mixer(cfg, source, heads=heads, head_dim=head_dim)
    fields["mtp_layers"] = int(_first(cfg, "num_nextn_predict_layers", "mtp_num_layers", "num_mtp_layers",
                                      default=0) or 0)
    fields["vision_params"] = vision_params(top.get("vision_config"), source)
    fields["quant"] = quant_id(top, source=source)  # the checkpoint's own scheme (nested configs too)
    try:
        return ModelSpec(**fields)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source=source)) from None
