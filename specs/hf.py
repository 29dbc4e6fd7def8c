"""Translate a Hugging Face `config.json` (dict) into a `ModelSpec`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from perfmodel.common.errors import PerfModelError, pydantic_message
from perfmodel.specs.model import MLA, ModelSpec, MoE
from perfmodel.specs.quantization import quant_id

# config.json keys that hold sizes or counts
_SIZE_KEYS = frozenset({
    "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim", "num_hidden_layers",
    "intermediate_size", "vocab_size", "max_position_embeddings", "num_local_experts", "num_experts",
    "num_experts_per_tok", "moe_intermediate_size", "shared_expert_intermediate_size", "decoder_sparse_step",
    "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "n_routed_experts",
    "n_shared_experts", "first_k_dense_replace", "moe_layer_freq"})
SUPPORTED = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
             "deepseek_v2", "deepseek_v3")


def _need(cfg: dict[str, Any], key: str, source: str) -> Any:
    if key not in cfg or cfg[key] is None:
        raise PerfModelError(f"{source}: config.json lacks required key {key!r} for model_type {cfg.get('model_type')!r}")
    return cfg[key]


def _given(cfg: dict[str, Any], key: str, default: Any) -> Any:
    """cfg[key] when present and not null, else `default`: an explicit 0 stays 0 (and is refused
    by the schema) instead of silently becoming the default."""
    value = cfg.get(key)
    return default if value is None else value


def from_hf_config(cfg: dict[str, Any], *, name: str, source: str = "config.json") -> ModelSpec:
    """The `ModelSpec` of a config.json; every problem is a one-line `PerfModelError`."""
    if not isinstance(cfg, dict):
        raise PerfModelError(f"{source}: expected a JSON object, got {type(cfg).__name__}")
    for key, value in cfg.items():  # JSON true/false where a size belongs (pydantic would read 1/0)
        if isinstance(value, bool) and key in _SIZE_KEYS:
            raise PerfModelError(f"{source}: {key}={value!r} must be an integer")
    try:
        return _from_hf_config(cfg, name=name, source=source)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source=source)) from None
    except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. a string where a size belongs
        raise PerfModelError(f"{source}: config.json sizes must be positive integers ({exc})") from None


def _from_hf_config(cfg: dict[str, Any], *, name: str, source: str) -> ModelSpec:
    mtype = cfg.get("model_type")
    if mtype not in SUPPORTED:
        raise PerfModelError(f"{source}: model_type={mtype!r} is not supported (supported: {', '.join(SUPPORTED)})")
    h = _need(cfg, "hidden_size", source)
    heads = _need(cfg, "num_attention_heads", source)
    kv_heads = _given(cfg, "num_key_value_heads", heads)
    if (mtype not in ("deepseek_v2", "deepseek_v3") and isinstance(heads, int) and isinstance(kv_heads, int)
            and kv_heads > 0 and heads % kv_heads):
        raise PerfModelError(f"{source}: num_attention_heads={heads} is not divisible by "
                             f"num_key_value_heads={kv_heads} (each KV head must serve a whole group of query heads)")
    head_dim = _given(cfg, "head_dim", h // heads if isinstance(h, int) and isinstance(heads, int) and heads else 0)
    fields: dict[str, Any] = dict(
        name=name,
        family=mtype,
        hidden_size=h,
        num_layers=_need(cfg, "num_hidden_layers", source),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=_need(cfg, "intermediate_size", source),
        vocab_size=_need(cfg, "vocab_size", source),
        tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        max_context=_given(cfg, "max_position_embeddings", 4096),
        dtype=str(cfg.get("torch_dtype") or "bfloat16"),
        quant=quant_id(cfg, source=source),
    )
    if mtype in ("qwen2", "qwen2_moe"):
        fields["qkv_bias"] = True
    elif mtype in ("llama", "mistral"):
        fields["qkv_bias"] = bool(cfg.get("attention_bias", False))
    if mtype in ("qwen3", "qwen3_moe"):
        fields["qk_norm"] = True

    if mtype == "mixtral":
        fields["moe"] = MoE(num_experts=_need(cfg, "num_local_experts", source),
                            experts_per_token=_need(cfg, "num_experts_per_tok", source),
                            expert_intermediate_size=cfg["intermediate_size"])
    elif mtype in ("qwen2_moe", "qwen3_moe"):
        sparse_step = cfg.get("decoder_sparse_step", 1) or 1
        if cfg.get("mlp_only_layers"):
            raise PerfModelError(f"{source}: mlp_only_layers={cfg['mlp_only_layers']} is not supported")
        shared = cfg.get("shared_expert_intermediate_size", 0) or 0
        fields["moe"] = MoE(num_experts=_need(cfg, "num_experts", source),
                            experts_per_token=_need(cfg, "num_experts_per_tok", source),
                            expert_intermediate_size=_need(cfg, "moe_intermediate_size", source),
                            num_shared_experts=1 if shared else 0,
                            shared_intermediate_size=shared,
                            shared_expert_gate=bool(shared),
                            layer_freq=sparse_step)
    elif mtype in ("deepseek_v2", "deepseek_v3"):
        fields["mla"] = MLA(q_lora_rank=cfg.get("q_lora_rank"),
                            kv_lora_rank=_need(cfg, "kv_lora_rank", source),
                            qk_nope_head_dim=_need(cfg, "qk_nope_head_dim", source),
                            qk_rope_head_dim=_need(cfg, "qk_rope_head_dim", source),
                            v_head_dim=_need(cfg, "v_head_dim", source))
        fields["head_dim"] = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]
        fields["num_kv_heads"] = heads
        n_routed = cfg.get("n_routed_experts")
        if n_routed:
            n_shared = cfg.get("n_shared_experts") or 0
            width = _need(cfg, "moe_intermediate_size", source)
            fields["moe"] = MoE(num_experts=n_routed,
                                experts_per_token=_need(cfg, "num_experts_per_tok", source),
                                expert_intermediate_size=width,
                                num_shared_experts=n_shared,
                                shared_intermediate_size=n_shared * width,
                                first_dense_layers=cfg.get("first_k_dense_replace", 0) or 0,
                                layer_freq=cfg.get("moe_layer_freq", 1) or 1)
    return ModelSpec(**fields)
