"""Quantization and KV-dtype names per engine, and host-offload sizes, shared by the exporters."""

from __future__ import annotations

import math

from perfmodel.errors import PerfModelError
from perfmodel.plan import Plan
from perfmodel.quant import get_quant
from perfmodel.search.plan_file import PlanFile


def kv_bits(pool: Plan) -> float:
    return get_quant(pool.quant).with_kv(pool.kv_dtype).kv_bits


def engine_quant(engine: str, pool: Plan, table: dict[str, str | None]) -> str | None:
    """The engine's --quantization value (None: unquantized, run in the model dtype)."""
    q = pool.quant.lower()
    if q not in table:
        raise PerfModelError(f"{engine} has no quantization for --quant {pool.quant} "
                             f"(known here: {', '.join(sorted(table))})")
    return table[q]


def engine_kv(engine: str, pool: Plan, fp8_name: str, auto: str = "auto") -> str:
    bits = kv_bits(pool)
    if bits >= 16:
        return auto
    if bits == 8 and (pool.kv_dtype in (None, "fp8", "kv8") or pool.quant == "fp8"):
        return fp8_name
    raise PerfModelError(f"{engine} has no {bits:g}-bit KV cache dtype for kv_dtype {pool.kv_dtype!r}")


GIB_BYTES = 1024 ** 3  # vLLM and SGLang size --cpu-offload-gb and KV offload buffers in GiB (x 1024**3)
UNQUANTIZED = ("bf16", "fp16")


def offload_gib(plan: PlanFile, pool: Plan) -> float:
    """Weights kept in host memory per device, GiB (weights fraction x weights per device),
    rounded up to 0.1 GiB so the engine offloads at least the plan's share."""
    if not pool.weights_offload:
        return 0.0
    from perfmodel.memory import weight_bytes_per_device
    from perfmodel.resolve import resolve_model

    spec = resolve_model(plan.model)
    w_bytes = weight_bytes_per_device(spec, pool, get_quant(pool.quant))
    return math.ceil(pool.weights_offload * w_bytes / GIB_BYTES * 10) / 10


def checkpoint_note(plan: PlanFile) -> str | None:
    """A quantized plan needs a checkpoint in that scheme: the engines read the scheme from the
    checkpoint's quantization_config (vLLM deprecates online --quantization fp8 of a bf16 one)."""
    schemes = sorted({p.quant for p in plan.pools if p.quant.lower() not in UNQUANTIZED})
    if not schemes:
        return None
    return (f"weights: the plan runs {'/'.join(schemes)} weights, so {plan.model_id} must be a "
            f"{'/'.join(schemes)} checkpoint of {plan.model} (the engine reads the scheme from its "
            "quantization_config); pass `perfmodel export --model-id ORG/NAME` with such a checkpoint")


def kv_host_bytes(plan: PlanFile, pool: Plan) -> int:
    """Host bytes for the offloaded share of the KV cache of `max_batch` sequences per device."""
    if not pool.kv_offload:
        return 0
    from perfmodel.memory import kv_bytes_per_token_device
    from perfmodel.resolve import resolve_model

    spec = resolve_model(plan.model)
    per_tok = kv_bytes_per_token_device(spec, pool, get_quant(pool.quant).with_kv(pool.kv_dtype))
    tokens = (pool.max_batch or 1) * (plan.workload.isl + plan.workload.osl)
    return int(pool.kv_offload * tokens * per_tok)
