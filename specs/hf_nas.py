"""Per-layer blocks of heterogeneous (NAS) decoders: DeciLM / Llama-Nemotron `block_configs`.

Llama-3.3-Nemotron-Super-49B and Llama-3.1-Nemotron-Ultra-253B (model_type "nemotron-nas", Puzzle
NAS, arXiv:2411.19146) describe each layer by one entry of `block_configs`:

  attention  no_op (no attention, no input norm), replace_with_linear (one hidden x hidden linear
             layer), or GQA with its own `n_heads_in_group` (KV heads = heads / n_heads_in_group)
  ffn        no_op (no MLP, no post-attention norm), replace_with_linear, or a gated MLP whose width
             is `intermediate_size` or, from `ffn_mult`, find_multiple(int(2 ffn_mult h / 3), 256)
             (vLLM nemotron_nas.py `_ffn_mult_to_intermediate_size`, as transformers' DeciLM)

`nas_layout` turns them into the ModelSpec fields layer_types, mlp_types, layer_kv_heads and
layer_mlp_widths, and the model-wide num_kv_heads / intermediate_size (the most common per-layer
value: the top-level config leaves both null). A set field that changes the count and that is not
modeled (a per-layer attention window, sink tokens, sparsity) is a one-line error naming it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from perfmodel.common.errors import PerfModelError

FFN_MULT_ROUND_TO = 256  # DeciLM `_find_multiple(intermediate_size, 256)`
# Block fields whose set value would change the cost and that are not modeled: (field, what it is).
UNMODELED_ATTENTION = {"window_length": "a per-layer sliding window", "num_sink_tokens": "attention sink tokens",
                       "sparsify": "sparsified attention weights"}
UNMODELED_FFN = {"sparsify": "sparsified MLP weights"}


def ffn_mult_to_width(ffn_mult: float, hidden: int) -> int:
    """DeciLM's MLP width for `ffn_mult` (a multiple of 256)."""
    width = int(2 * ffn_mult * hidden / 3)
    return -(-width // FFN_MULT_ROUND_TO) * FFN_MULT_ROUND_TO


def nas_layout(blocks: list[Any], source: str, *, layers: int, heads: int, hidden: int) -> dict[str, Any]:
    """ModelSpec fields of a `block_configs` list (module docstring)."""
    if not isinstance(blocks, list) or len(blocks) != layers:
        got = len(blocks) if isinstance(blocks, list) else type(blocks).__name__
        raise PerfModelError(f"{source}: block_configs must be a list of num_hidden_layers ({layers}) blocks, got {got}")
    mixers, mlps, kv_heads, widths = [], [], [], []
    for i, block in enumerate(blocks):
        attn, ffn = _part(block, "attention", i, source), _part(block, "ffn", i, source)
        _refuse_unmodeled(attn, UNMODELED_ATTENTION, f"block_configs[{i}].attention", source)
        _refuse_unmodeled(ffn, UNMODELED_FFN, f"block_configs[{i}].ffn", source)
        mixer, kv = _block_kind(attn, "full", lambda: _kv_heads(attn, i, source, heads=heads))
        mlp, width = _block_kind(ffn, "dense", lambda: _width(ffn, i, source, hidden=hidden))
        mixers.append(mixer)
        kv_heads.append(kv)
        mlps.append(mlp)
        widths.append(width)
    kv = _most_common(kv_heads) or heads          # no attention layer at all: MHA, never read
    width = _most_common(widths) or ffn_mult_to_width(1.0, hidden)  # no dense MLP: a placeholder, never read
    return {"layer_types": tuple(mixers), "mlp_types": tuple(mlps),
            "layer_kv_heads": tuple(k or kv for k in kv_heads), "layer_mlp_widths": tuple(w or width for w in widths),
            "num_kv_heads": kv, "intermediate_size": width}


def _block_kind(part: dict[str, Any], kept: str, size) -> tuple[str, int | None]:
    """(kind, size) of one half of a block: no_op -> none, replace_with_linear -> projection (neither has
    a size), else `kept` with the size `size()` reads."""
    if part.get("no_op"):
        return "none", None
    if part.get("replace_with_linear"):
        return "projection", None
    return kept, size()


def _part(block: Any, key: str, i: int, source: str) -> dict[str, Any]:
    part = block.get(key) if isinstance(block, dict) else None
    if not isinstance(part, dict):
        raise PerfModelError(f"{source}: block_configs[{i}].{key} must be an object, got {type(part).__name__}")
    return part


def _refuse_unmodeled(part: dict[str, Any], fields: dict[str, str], where: str, source: str) -> None:
    for key, what in fields.items():
        if part.get(key) not in (None, False, 0, [], {}, ""):
            raise PerfModelError(f"{source}: field {where}.{key}={part[key]!r} ({what}) is not supported; "
                                 f"its cost would be wrong")


def _kv_heads(attn: dict[str, Any], i: int, source: str, *, heads: int) -> int:
    kv = attn.get("num_key_value_heads")
    if kv is None:
        group = attn.get("n_heads_in_group")
        if not isinstance(group, int) or isinstance(group, bool) or group <= 0 or heads % group:
            raise PerfModelError(f"{source}: block_configs[{i}].attention.n_heads_in_group={group!r} must be a "
                                 f"positive divisor of num_attention_heads ({heads})")
        kv = heads // group
    if not isinstance(kv, int) or isinstance(kv, bool) or kv <= 0 or heads % kv:
        raise PerfModelError(f"{source}: block_configs[{i}].attention gives {kv!r} KV heads; it must be a positive "
                             f"divisor of num_attention_heads ({heads})")
    return kv


def _width(ffn: dict[str, Any], i: int, source: str, *, hidden: int) -> int:
    width = ffn.get("intermediate_size")
    if width is None:
        mult = ffn.get("ffn_mult")
        if not isinstance(mult, (int, float)) or isinstance(mult, bool) or mult <= 0:
            raise PerfModelError(f"{source}: block_configs[{i}].ffn.ffn_mult={mult!r} must be a positive number "
                                 f"(or give intermediate_size)")
        width = ffn_mult_to_width(mult, hidden)
    if not isinstance(width, int) or isinstance(width, bool) or width <= 0:
        raise PerfModelError(f"{source}: block_configs[{i}].ffn.intermediate_size={width!r} must be a positive integer")
    return width


def _most_common(values: list[int | None]) -> int | None:
    counts = Counter(v for v in values if v is not None)
    return counts.most_common(1)[0][0] if counts else None
