"""Which kind each layer of a Hugging Face config is, read from the config's fields.

`layer_layout` returns the ModelSpec fields `layer_types`, `mlp_types`, `sliding_window` and
`attention_chunk` from whichever of these a config carries (first match wins per aspect):

  mixers  hybrid_override_pattern (Nemotron-H: M mamba, * attention, - MLP, E MoE)
          layer_types / layers_block_type (full_attention, sliding_attention, chunked_attention,
            linear_attention, mamba, attention)
          attn_type_list (MiniMax-01/M1: 0 lightning, 1 softmax)
          full_attention_interval (Qwen3-Next: every n-th layer full, the rest Gated DeltaNet)
          attention_chunk_size + no_rope_layers / no_rope_layer_interval (Llama-4: RoPE layers are
            chunked, NoPE layers global)
          sliding_window with sliding_window_pattern (Gemma-3, Cohere2: every n-th layer global),
            gemma2's alternation, Qwen2's use_sliding_window / max_window_layers, or alone
            (Mistral, Phi-3: every layer), ignored when it is null or >= the context
  MLPs    mlp_only_layers + decoder_sparse_step (Qwen), first_k_dense_replace + moe_layer_freq
          (DeepSeek, GLM, Kimi), interleave_moe_layer_step / moe_layers (Llama-4),
          moe_layer_start_index / moe_layer_interval / moe_layer_end_index (ERNIE-4.5),
          moe_layers_enum (Step-3); else every layer MoE when the config has experts.
`check_unknown` rejects fields that change the layer structure in ways this reader does not model.
"""

from __future__ import annotations

from typing import Any

from perfmodel.common.errors import PerfModelError
from perfmodel.specs.layers import Recurrent

MIXER_NAMES = {
    "full_attention": "full", "attention": "full", "global_attention": "full", "full": "full", "global": "full",
    "sliding_attention": "sliding", "sliding_window_attention": "sliding", "local_attention": "sliding",
    "sliding": "sliding", "local": "sliding",
    "chunked_attention": "chunked", "chunked": "chunked",
    "linear_attention": "linear", "linear": "linear", "mamba": "linear", "mamba2": "linear",
    "gated_deltanet": "linear", "lightning_attention": "linear",
}
NEMOTRON_PATTERN = {"M": ("linear", "none"), "*": ("full", "none"), "-": ("none", "dense"), "E": ("none", "moe")}
# Fields that change the layer structure and that this reader does not model: (field, what it is).
UNSUPPORTED = {
    "altup_num_inputs": "Gemma-3n's AltUp and per-layer embeddings",
    "num_kv_shared_layers": "KV cache shared across layers",
    "use_cla": "cross-layer attention: KV shared by cla_share_factor adjacent layers (Hunyuan-Large)",
    "cross_attention_layers": "cross-attention layers to an image encoder (Mllama)",
    "moe_layer_freq_list": "a per-layer MoE frequency list",
    "kv_lora_rank_list": "per-layer MLA ranks",
    "is_encoder_decoder": "an encoder-decoder model (only decoder-only models are modeled)",
}


def check_unknown(cfg: dict[str, Any], source: str) -> None:
    """A set field that would change the count and that is not modeled: one-line error naming it."""
    for key, what in UNSUPPORTED.items():
        value = cfg.get(key)
        if value not in (None, False, 0, [], {}, ""):
            raise PerfModelError(f"{source}: field {key}={_short(value)} ({what}) is not supported; "
                                 f"its parameter and KV counts would be wrong")
    for key, value in cfg.items():  # a nested block of layer-structure fields this reader does not know
        if (isinstance(value, dict) and value and key.endswith("_config") and key not in KNOWN_BLOCKS
                and any(w in key for w in ("attn", "attention", "linear", "moe", "mamba", "ssm", "layer"))):
            raise PerfModelError(f"{source}: field {key} (a nested block of layer-structure fields) is not supported; "
                                 f"its parameter and KV counts would be wrong")
    freq = cfg.get("moe_layer_freq")
    if isinstance(freq, list):
        raise PerfModelError(f"{source}: field moe_layer_freq={_short(freq)} (a per-layer list) is not supported")


KNOWN_BLOCKS = frozenset({"attn_config", "linear_attn_config"})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _mixers(cfg: dict[str, Any], source: str, layers: int) -> tuple[list[str] | None, list[str] | None]:
    """(layer_types, mlp_types from the pattern or None)."""
    pattern = cfg.get("hybrid_override_pattern")
    if pattern:
        if len(pattern) != layers:
            raise PerfModelError(f"{source}: len(hybrid_override_pattern) == num_hidden_layers must hold, "
                                 f"got ({len(pattern)}, {layers})")
        bad = sorted(set(pattern) - set(NEMOTRON_PATTERN))
        if bad:
            raise PerfModelError(f"{source}: hybrid_override_pattern has unknown layer symbol(s) {bad} "
                                 f"(known: M mamba, * attention, - MLP, E MoE)")
        kinds = [NEMOTRON_PATTERN[c] for c in pattern]
        return [m for m, _ in kinds], [p for _, p in kinds]
    names = cfg.get("layer_types") or cfg.get("layers_block_type")
    if names:
        key = "layer_types" if cfg.get("layer_types") else "layers_block_type"
        if len(names) < layers:
            raise PerfModelError(f"{source}: len({key}) >= num_hidden_layers must hold, got ({len(names)}, {layers})")
        out = []
        for n in names[:layers]:
            kind = MIXER_NAMES.get(str(n).lower())
            if kind is None:
                raise PerfModelError(f"{source}: {key} entry {n!r} is not a known layer kind "
                                     f"(known: {', '.join(sorted(MIXER_NAMES))})")
            out.append(kind)
        return out, None
    lin = cfg.get("linear_attn_config")
    if isinstance(lin, dict) and lin.get("full_attn_layers") is not None:  # Kimi-Linear: 1-based layer numbers
        full = set(lin["full_attn_layers"])
        return ["full" if i + 1 in full else "linear" for i in range(layers)], None
    if cfg.get("attn_type_list"):
        types = cfg["attn_type_list"][:layers]
        return ["full" if int(t) == 1 else "linear" for t in types], None
    if cfg.get("attn_layer_period"):                 # Jamba: attention every period-th layer at offset
        period, offset = cfg["attn_layer_period"], cfg.get("attn_layer_offset") or 0
        return ["full" if i % period == offset else "linear" for i in range(layers)], None
    if isinstance(cfg.get("attn_layer_indices"), list) and _has_ssm(cfg):  # Bamba: attention at these layers
        at = set(cfg["attn_layer_indices"])
        return ["full" if i in at else "linear" for i in range(layers)], None
    if cfg.get("mamba_d_ssm") or (str(cfg.get("model_type", "")).startswith("falcon_h1") and _has_ssm(cfg)):
        return ["parallel"] * layers, None           # Falcon-H1: attention and Mamba-2 side by side
    interval = cfg.get("full_attention_interval")
    if interval and (cfg.get("linear_num_value_heads") or cfg.get("linear_num_key_heads")):
        return ["full" if (i + 1) % interval == 0 else "linear" for i in range(layers)], None
    if cfg.get("attention_chunk_size"):
        rope = cfg.get("no_rope_layers")
        if not rope:
            every = cfg.get("no_rope_layer_interval") or 4
            rope = [int((i + 1) % every != 0) for i in range(layers)]
        return ["chunked" if rope[i] else "full" for i in range(layers)], None
    return _sliding(cfg, layers), None


def _has_ssm(cfg: dict[str, Any]) -> bool:
    return bool(cfg.get("mamba_n_heads") or cfg.get("mamba_num_heads") or cfg.get("mamba_d_state"))


def _sliding(cfg: dict[str, Any], layers: int) -> list[str] | None:
    window = cfg.get("sliding_window")
    context = cfg.get("max_position_embeddings") or 0
    if not window or cfg.get("use_sliding_window") is False or (context and window >= context):
        return None
    # newer transformers exports spell Gemma-3's period `_sliding_window_pattern` (read first: the class
    # default fills `sliding_window_pattern` when a config omits it)
    pattern = (cfg.get("_sliding_window_pattern") or cfg.get("sliding_window_pattern")
               or cfg.get("sliding_attention_pattern"))
    if isinstance(pattern, str):  # EXAONE-4: "LLLG", L local (sliding), G global, repeated
        return ["full" if pattern[i % len(pattern)].upper() == "G" else "sliding" for i in range(layers)]
    if pattern:
        return ["full" if (i + 1) % pattern == 0 else "sliding" for i in range(layers)]
    if str(cfg.get("model_type", "")).startswith("gemma2"):
        return ["sliding" if i % 2 == 0 else "full" for i in range(layers)]
    if cfg.get("use_sliding_window"):
        start = cfg.get("max_window_layers") or 0
        return ["sliding" if i >= start else "full" for i in range(layers)]
    return ["sliding"] * layers


def _mlps(cfg: dict[str, Any], layers: int) -> list[str]:
    def kind(is_moe: bool) -> str:
        return "moe" if is_moe else "dense"

    only = set(cfg.get("mlp_only_layers") or ())
    if cfg.get("moe_layers_enum"):
        moe = {int(x) for x in str(cfg["moe_layers_enum"]).split(",") if x.strip()}
        return [kind(i in moe) for i in range(layers)]
    if isinstance(cfg.get("moe_layers"), list):
        moe = set(cfg["moe_layers"])
        return [kind(i in moe) for i in range(layers)]
    if cfg.get("interleave_moe_layer_step"):
        k = cfg["interleave_moe_layer_step"]
        return [kind(i % k == k - 1) for i in range(layers)]
    if cfg.get("expert_layer_period"):      # Jamba: MoE every period-th layer at offset
        period, offset = cfg["expert_layer_period"], cfg.get("expert_layer_offset") or 0
        return [kind(i % period == offset) for i in range(layers)]
    if cfg.get("moe_layer_start_index") is not None or cfg.get("moe_layer_interval"):
        start = cfg.get("moe_layer_start_index") or 0
        start = min(start) if isinstance(start, list) else start
        step = cfg.get("moe_layer_interval") or 1
        end = cfg.get("moe_layer_end_index")
        end = layers - 1 if end is None or end == -1 else (max(end) if isinstance(end, list) else end)
        return [kind(start <= i <= end and (i - start) % step == 0) for i in range(layers)]
    if cfg.get("first_k_dense_replace") is not None or cfg.get("moe_layer_freq"):
        first = cfg.get("first_k_dense_replace") or 0
        freq = cfg.get("moe_layer_freq") or 1
        return [kind(i >= first and i % freq == 0 and i not in only) for i in range(layers)]
    step = cfg.get("decoder_sparse_step") or 1
    return [kind(i not in only and (i + 1) % step == 0) for i in range(layers)]


def layer_layout(cfg: dict[str, Any], source: str, *, layers: int, moe: bool) -> dict[str, Any]:
    mixers, mlps = _mixers(cfg, source, layers)
    if mlps is None and moe:
        mlps = _mlps(cfg, layers)
    if mlps is not None and "moe" in mlps and not moe:
        raise PerfModelError(f"{source}: the layer pattern has MoE layers but the config names no experts "
                             f"(n_routed_experts / num_experts)")
    out: dict[str, Any] = {}
    if mixers is not None and any(m != "full" for m in mixers):
        out["layer_types"] = tuple(mixers)
    if mlps is not None:
        out["mlp_types"] = tuple(mlps)
    if mixers and "sliding" in mixers:
        out["sliding_window"] = cfg.get("sliding_window")
    if mixers and "chunked" in mixers:
        out["attention_chunk"] = cfg.get("attention_chunk_size")
    return out


def linear_mixer(cfg: dict[str, Any], source: str, *, heads: int, head_dim: int) -> Recurrent:
    """The recurrent mixer of the config's linear layers, by its fields."""
    lin = cfg.get("linear_attn_config")
    if isinstance(lin, dict) and lin.get("num_heads"):  # Kimi Delta Attention: a gated delta rule per head
        n, d = lin["num_heads"], lin.get("head_dim") or head_dim
        return Recurrent(kind="gated_deltanet", heads=n, key_heads=n, key_dim=d, value_dim=d,
                         conv_kernel=lin.get("short_conv_kernel_size") or 4)
    if cfg.get("linear_num_value_heads"):        # Gated DeltaNet (Qwen3-Next, Qwen3.5)
        return Recurrent(kind="gated_deltanet", heads=cfg["linear_num_value_heads"],
                         key_heads=cfg.get("linear_num_key_heads") or cfg["linear_num_value_heads"],
                         key_dim=cfg.get("linear_key_head_dim") or head_dim,
                         value_dim=cfg.get("linear_value_head_dim") or head_dim,
                         conv_kernel=cfg.get("linear_conv_kernel_dim") or 4)
    if cfg.get("mamba_num_heads") or cfg.get("mamba_n_heads"):  # Mamba-2 (Nemotron-H, Bamba, Falcon-H1)
        n = cfg.get("mamba_num_heads") or cfg.get("mamba_n_heads")
        return Recurrent(kind="mamba2", heads=n, key_heads=cfg.get("n_groups") or cfg.get("mamba_n_groups") or 1,
                         key_dim=cfg.get("ssm_state_size") or cfg.get("mamba_d_state") or 128,
                         value_dim=cfg.get("mamba_head_dim") or cfg.get("mamba_d_head") or 64,
                         conv_kernel=cfg.get("conv_kernel") or cfg.get("mamba_d_conv") or 4,
                         chunk_tokens=cfg.get("chunk_size") or cfg.get("mamba_chunk_size") or 128)
    if cfg.get("mamba_d_state") and cfg.get("mamba_expand"):   # Mamba-1 (Jamba)
        h = cfg["hidden_size"]
        rank = cfg.get("mamba_dt_rank")
        rank = -(-h // 16) if rank in (None, "auto") else int(rank)
        return Recurrent(kind="mamba1", heads=cfg["mamba_expand"] * h, key_heads=1, key_dim=cfg["mamba_d_state"],
                         value_dim=1, conv_kernel=cfg.get("mamba_d_conv") or 4, chunk_tokens=1, dt_rank=rank)
    if cfg.get("attn_type_list"):                # Lightning attention (MiniMax-01 / M1)
        return Recurrent(kind="lightning", heads=heads, key_heads=heads, key_dim=head_dim, value_dim=head_dim,
                         chunk_tokens=cfg.get("block_size") or 256)
    raise PerfModelError(f"{source}: linear-attention layers but no recurrent shape fields "
                         f"(linear_num_value_heads, mamba_num_heads / mamba_n_heads, mamba_d_state or attn_type_list)")


def vision_params(vcfg: dict[str, Any] | None, source: str) -> int:
    """Parameters of a ViT-style vision tower and its projector, from its config: per layer
    attention (4 h^2 + biases) and MLP (2 or 3 h x inter), patch and position embeddings, and a
    projector to the text width: a patch merger over spatial_merge_size^2 patches (Qwen2.5/3-VL,
    GLM-4.5V: fc1 (h m^2)^2, fc2 h m^2 x out), one more per DeepStack layer (Qwen3-VL
    `deepstack_visual_indexes`). Kimi-K2.5's MoonViT names its sizes vt_*. Within a few % of the
    towers of Gemma-3 (SigLIP-400M), Llama-4, Qwen2.5/3-VL and InternVL; vision is 1-10% of those
    models."""
    if not isinstance(vcfg, dict) or not vcfg:
        return 0
    h = vcfg.get("hidden_size") or vcfg.get("embed_dim") or vcfg.get("width") or vcfg.get("vt_hidden_size") or 0
    layers = (vcfg.get("num_hidden_layers") or vcfg.get("depth") or vcfg.get("num_layers")
              or vcfg.get("vt_num_hidden_layers") or 0)
    if not h or not layers:
        return 0
    inter = vcfg.get("intermediate_size") or vcfg.get("vt_intermediate_size") or int(h * (vcfg.get("mlp_ratio") or 4))
    gated = str(vcfg.get("hidden_act", "")).lower() in ("silu", "swiglu")
    per_layer = 4 * h * h + 4 * h + (3 if gated else 2) * h * inter + inter + h + 4 * h
    patch = vcfg.get("patch_size") or 14
    channels = vcfg.get("num_channels") or vcfg.get("in_channels") or 3
    temporal = vcfg.get("temporal_patch_size") or 1
    image = vcfg.get("image_size") or 0
    positions = vcfg.get("num_position_embeddings") or (image // patch) ** 2
    embed = channels * patch * patch * temporal * h + positions * h
    out = (vcfg.get("out_hidden_size") or vcfg.get("projector_output_dim") or vcfg.get("vision_output_dim")
           or vcfg.get("text_hidden_size") or h)
    merge = vcfg.get("spatial_merge_size") or 1
    merged = h * merge * merge                  # the merger's input: merge x merge patches concatenated
    projector = merged * merged + merged * out if merge > 1 else h * out
    deepstack = len(vcfg.get("deepstack_visual_indexes") or ())
    return int(layers * per_layer + embed + projector * (1 + deepstack))
