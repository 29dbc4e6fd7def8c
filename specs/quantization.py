"""A checkpoint's quantization, read from its `quantization_config` (config.json, also nested in
`text_config`) or a ModelOpt `hf_quant_config.json`, as a perfmodel `--quant` id.

The result names the scheme of each component (attention, mlp, experts, shared_experts) and the KV
dtype, joined into one id (`perfmodel.quant` grammar): `fp8-block+kv=bf16` (DeepSeek-V3),
`bf16+experts=mxfp4+kv=bf16` (gpt-oss), `nvfp4+attention=bf16+kv=fp8` (a ModelOpt NVFP4 export
that keeps attention in BF16). The router, embeddings and LM head are always 16-bit in the model,
so excluding them changes nothing. An exclusion that names single layers (`model.layers.0.*`,
an MTP layer) leaves that component quantized everywhere: one layer's share of the weights.

Formats: `fp8` (HF fine-grained FP8: per-tensor, or `weight_block_size` [128, 128]); `mxfp4`
(gpt-oss: the MoE experts; `modules_to_not_convert`); `awq` / `gptq` (bits, group_size); ModelOpt
(`quant_algo` FP8, NVFP4, W4A16_AWQ, W4A8_AWQ; `kv_cache_quant_algo`; `exclude_modules`);
`compressed-tensors` (`config_groups` weights / input_activations / targets, `ignore`,
`kv_cache_scheme`); `bitsandbytes` (8-bit, 4-bit NF4 blocks of 64). Anything else is a one-line
error naming it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from perfmodel.common.errors import PerfModelError

COMPONENTS = ("attention", "mlp", "experts", "shared_experts")
BASE = "bf16"
# NVFP4 groups 16 elements per FP8 scale, MXFP4 32 per E8M0 scale (format definitions).
NVFP4_GROUP = 16
MXFP4_GROUP = 32
# bitsandbytes NF4 quantizes blocks of 64 weights (bitsandbytes docs, `blocksize=64`).
BNB_NF4_GROUP = 64


@dataclass(frozen=True)
class CheckpointQuant:
    """Scheme per component and KV dtype; `quant_id` joins them into one `--quant` id."""

    method: str
    components: dict[str, str]
    kv_dtype: str

    @property
    def quant_id(self) -> str:
        counts = Counter(self.components[c] for c in COMPONENTS)
        head = max(COMPONENTS, key=lambda c: (counts[self.components[c]], -COMPONENTS.index(c)))
        head_scheme = self.components[head]
        parts = [f"{c}={s}" for c, s in self.components.items() if s != head_scheme]
        return "+".join([head_scheme, *parts, f"kv={self.kv_dtype}"])


def _err(source: str, msg: str) -> PerfModelError:
    return PerfModelError(f"{source}: quantization_config {msg}")


def component_of(module: str) -> str | None:
    """The component a module name or pattern belongs to, None for router/embedding/LM head."""
    m = module.lower().removeprefix("re:").strip("^$")
    if re.search(r"shared_expert", m):
        return "shared_experts"
    if re.search(r"experts", m):
        return "experts"
    if re.search(r"(self_attn|\.attn\b|attention|q_proj|k_proj|v_proj|o_proj|qkv|kv_a|kv_b|q_a|q_b)", m):
        return "attention"
    if re.search(r"(router|\.gate\b|embed|lm_head|norm)", m):
        return None
    if re.search(r"(mlp|gate_proj|up_proj|down_proj|feed_forward|ffn)", m):
        return "mlp"
    return None


def _whole_model(module: str) -> bool:
    """An exclusion that covers every layer (no single layer index in it)."""
    return not re.search(r"layers?\.\d+", module)


def _excluded(modules: Any, source: str, field: str) -> set[str]:
    if modules is None:
        return set()
    if not isinstance(modules, list) or not all(isinstance(x, str) for x in modules):
        raise _err(source, f"{field} must be a list of module names, got {modules!r}")
    return {c for m in modules if _whole_model(m) and (c := component_of(m)) is not None}


def _int(cfg: dict, key: str, source: str, *, default: int | None = None) -> int:
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(source, f"{key} must be an integer, got {v!r}")
    return v


def _result(method: str, scheme: str, excluded: set[str], kv: str | None) -> CheckpointQuant:
    comps = {c: (BASE if c in excluded else scheme) for c in COMPONENTS}
    return CheckpointQuant(method, comps, kv or BASE)


def _kv_from_algo(algo: Any, source: str) -> str | None:
    if algo is None:
        return None
    table = {"FP8": "fp8", "NVFP4": "nvfp4", "INT8": "int8"}
    if not isinstance(algo, str) or algo.upper() not in table:
        raise _err(source, f"kv_cache_quant_algo {algo!r} is not supported (supported: {', '.join(table)})")
    return table[algo.upper()]


def _modelopt(q: dict, source: str) -> CheckpointQuant:
    algo = q.get("quant_algo")
    group = q.get("group_size")
    kv = _kv_from_algo(q.get("kv_cache_quant_algo"), source)
    excluded = _excluded(q.get("exclude_modules", q.get("ignore")), source, "exclude_modules")
    algos = {"FP8": "fp8", "NVFP4": "nvfp4", "FP8_BLOCK_SCALES": "fp8-block", "FP8_PB_WO": "fp8-block"}
    if isinstance(algo, str) and algo.upper() in algos:
        return _result("modelopt", algos[algo.upper()], excluded, kv)
    if isinstance(algo, str) and algo.upper() in ("W4A16_AWQ", "W4A8_AWQ"):
        g = group if isinstance(group, int) and not isinstance(group, bool) else 128
        acts = "16" if algo.upper() == "W4A16_AWQ" else "8"
        return _result("modelopt", f"w4a{acts}-g{g}", excluded, kv)
    raise _err(source, f"quant_algo {algo!r} is not supported (supported: {', '.join(algos)}, W4A16_AWQ, W4A8_AWQ)")


def _ct_scheme(group: dict, source: str, name: str) -> str:
    """One compressed-tensors config group -> a scheme id."""
    w = group.get("weights")
    a = group.get("input_activations")
    if not isinstance(w, dict):
        raise _err(source, f"config_groups.{name}.weights must be an object, got {w!r}")
    bits, kind, strategy = w.get("num_bits"), w.get("type", "int"), w.get("strategy")
    size = w.get("group_size")
    act_bits = a.get("num_bits") if isinstance(a, dict) else None
    if kind == "float" and bits == 4:
        if size == NVFP4_GROUP or strategy == "tensor_group":
            return "nvfp4" if act_bits == 4 else "w4.5a16"
        if size == MXFP4_GROUP:
            return "mxfp4" if act_bits == 4 else "w4.25a16"
    if kind == "float" and bits == 8:
        if strategy == "block":
            return "fp8-block"
        return "fp8" if act_bits == 8 else "w8a16"
    if kind == "int" and bits in (4, 8):
        acts = act_bits if act_bits in (4, 8) else 16
        if acts == 16 and isinstance(size, int) and size > 0:
            return f"w{bits}a16-g{size}"
        return f"w{bits}a{acts}"
    raise _err(source, f"config_groups.{name}: {kind} weights of {bits} bits (strategy {strategy!r}, "
                       f"group_size {size!r}) are not supported")


def _compressed_tensors(q: dict, source: str) -> CheckpointQuant:
    groups = q.get("config_groups")
    if not isinstance(groups, dict) or not groups:
        raise _err(source, f"config_groups must be a non-empty object, got {groups!r}")
    comps = {c: BASE for c in COMPONENTS}
    for name, group in groups.items():
        if not isinstance(group, dict):
            raise _err(source, f"config_groups.{name} must be an object, got {group!r}")
        scheme = _ct_scheme(group, source, name)
        targets = group.get("targets") or ["Linear"]
        for t in targets:
            hit = COMPONENTS if t == "Linear" else ((c,) if (c := component_of(t)) else ())
            for c in hit:
                comps[c] = scheme
    for c in _excluded(q.get("ignore"), source, "ignore"):
        comps[c] = BASE
    kv_scheme = q.get("kv_cache_scheme")
    kv = None
    if isinstance(kv_scheme, dict):
        kv = {8: "fp8", 4: "nvfp4"}.get(kv_scheme.get("num_bits"))
        if kv is None:
            raise _err(source, f"kv_cache_scheme num_bits {kv_scheme.get('num_bits')!r} is not supported (8 or 4)")
    return CheckpointQuant("compressed-tensors", comps, kv or BASE)


def _find(cfg: dict) -> dict | None:
    for holder in (cfg, cfg.get("text_config"), cfg.get("llm_config")):
        if isinstance(holder, dict) and holder.get("quantization_config") is not None:
            return holder["quantization_config"]
    return None


def parse_quantization(cfg: dict, *, source: str = "config.json") -> CheckpointQuant | None:
    """The checkpoint's quantization from a config.json dict (None: not quantized)."""
    q = _find(cfg)
    if q is None:
        return None
    if not isinstance(q, dict):
        raise _err(source, f"must be an object, got {type(q).__name__}")
    method = q.get("quant_method")
    method = method.lower() if isinstance(method, str) else method
    not_convert = q.get("modules_to_not_convert")
    if method == "fp8":
        block = q.get("weight_block_size")
        if block is not None and (not isinstance(block, list) or len(block) != 2):
            raise _err(source, f"weight_block_size must be [rows, cols], got {block!r}")
        scheme = "fp8-block" if block else "fp8"
        return _result("fp8", scheme, _excluded(not_convert, source, "modules_to_not_convert"), None)
    if method == "mxfp4":  # transformers' Mxfp4 quantizer converts the MoE experts only (gpt-oss)
        return CheckpointQuant("mxfp4", {c: ("mxfp4" if c == "experts" else BASE) for c in COMPONENTS}, BASE)
    if method in ("awq", "gptq"):
        bits = _int(q, "bits", source, default=q.get("w_bit", 4))
        group = _int(q, "group_size", source, default=q.get("q_group_size", 128))
        if bits not in (2, 3, 4, 8):
            raise _err(source, f"{method} bits must be 2, 3, 4 or 8, got {bits}")
        scheme = f"w{bits}a16-g{group}" if group > 0 else f"w{bits}a16"  # group_size -1: per channel
        return _result(method, scheme, _excluded(not_convert, source, "modules_to_not_convert"), None)
    if method == "modelopt":
        return _modelopt(q, source)
    if method == "compressed-tensors":
        return _compressed_tensors(q, source)
    if method == "bitsandbytes":
        if q.get("load_in_4bit"):
            scheme = f"w4a16-g{BNB_NF4_GROUP}"
        elif q.get("load_in_8bit"):
            scheme = "w8a16"
        else:
            raise _err(source, "bitsandbytes sets neither load_in_4bit nor load_in_8bit")
        return _result("bitsandbytes", scheme, _excluded(q.get("llm_int8_skip_modules"), source,
                                                         "llm_int8_skip_modules"), None)
    known = "fp8, mxfp4, awq, gptq, modelopt, compressed-tensors, bitsandbytes"
    raise _err(source, f"quant_method {method!r} is not supported (supported: {known})")


def quant_id(cfg: dict, *, source: str = "config.json") -> str | None:
    """The `--quant` id of a config.json's quantization (None: not quantized)."""
    q = parse_quantization(cfg, source=source)
    return None if q is None else q.quant_id


def parse_hf_quant_config(doc: Any, *, source: str = "hf_quant_config.json") -> CheckpointQuant:
    """A ModelOpt `hf_quant_config.json` ({"producer": ..., "quantization": {"quant_algo": ...}})."""
    q = doc.get("quantization") if isinstance(doc, dict) else None
    if not isinstance(q, dict):
        raise PerfModelError(f"{source}: expected an object with a 'quantization' object, got {type(doc).__name__}")
    return _modelopt(q, source)
