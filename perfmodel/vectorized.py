"""The vectorized path: the same step formulas evaluated over numpy arrays of plans at once.

`estimate_grid` takes arrays (one element per plan) for the numeric plan fields and lengths, and
returns arrays of TTFT, TPOT, throughput and memory. It calls the very functions the scalar path
uses (`perfmodel.step.iteration_time`, `perfmodel.memory.memory_breakdown`), so both paths give
the same numbers (tests/perfmodel/test_vectorized.py checks it plan by plan).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from perfmodel.hardware.catalog import System
from perfmodel.iteration import BatchShape
from perfmodel.memory import memory_breakdown
from perfmodel.quant import get_quant
from perfmodel.step import iteration_time
from perfmodel.specs.model import ModelSpec


def _arr(x, n: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.int64)
    return np.broadcast_to(a, (n,)).copy() if a.ndim == 0 else a


def feasibility(model: ModelSpec, *, tp, pp, ep, dp, max_devices: int) -> dict[str, np.ndarray]:
    """Masks of plans that break a rule, by reason (the same rules as `perfmodel.plan.check_plan`)."""
    kv_bad = np.zeros(np.shape(tp), dtype=bool)
    for kvh in model.kv_head_counts:  # NAS models: every layer's KV heads
        kv_bad = kv_bad | ((model.mla is None) & (kvh % tp != 0) & (tp % kvh != 0))
    reasons = {
        "tp_not_dividing_heads": model.num_heads % tp != 0,
        "tp_vs_kv_heads": kv_bad,
        "pp_exceeds_layers": pp > model.num_layers,
        "too_many_devices": tp * pp * dp > max_devices,
    }
    if model.moe is None:
        reasons["ep_on_dense_model"] = ep > 1
    else:
        e = model.moe.num_experts
        moe_tp = np.maximum(1, tp // ep)
        reasons["ep_not_dividing_experts"] = e % ep != 0
        reasons["ep_vs_tp"] = np.where(ep <= tp, tp % ep != 0, (ep % tp != 0) | (ep > tp * dp))
        reasons["expert_tp_not_dividing_width"] = model.moe.expert_intermediate_size % moe_tp != 0
    return reasons


def estimate_grid(*, model: ModelSpec, system: System, quant: str, tp, pp, ep, dp, batch_size, isl, osl,
                  kv_dtype: str | None = None, memory_utilization: float = 0.9) -> dict[str, np.ndarray]:
    """Static-batch estimates for many plans of one (model, system, quant). Infeasible plans are
    evaluated too (with clipped shapes); combine with `feasibility` to mask them."""
    n = max(np.size(x) for x in (tp, pp, ep, dp, batch_size, isl, osl))
    tp, pp, ep, dp = (_arr(x, n) for x in (tp, pp, ep, dp))
    b, i, o = (_arr(x, n).astype(np.float64) for x in (batch_size, isl, osl))
    moe_tp = np.maximum(1, tp // ep)
    par = SimpleNamespace(tp=tp, pp=pp, ep=ep, dp=dp, moe_tp=moe_tp, moe_group=ep * moe_tp,
                          memory_utilization=memory_utilization)
    q = get_quant(quant).with_kv(kv_dtype)
    prefill = BatchShape(prefill_tokens=b * i, prefill_attn_pairs=b * i * (i + 1) / 2, prefill_kv_read=0 * b,
                         prefill_seqs=b)
    decode = BatchShape(decode_seqs=b, decode_context=b * (i + o / 2))
    ttft = iteration_time(model, system, q, par, prefill, cold=True)
    tpot = np.where(o > 1, iteration_time(model, system, q, par, decode), 0.0)
    e2e = ttft + (o - 1) * tpot
    thr = dp * b * o / e2e
    mem = memory_breakdown(model, system, par, q, max_tokens=b * i)
    used = mem.weights_gb + mem.activations_gb + mem.reserved_gb + b * mem.kv_bytes_per_seq(i + o) / 1e9
    devices = tp * pp * dp
    return {
        "ttft_ms": ttft * 1e3, "tpot_ms": tpot * 1e3, "e2e_ms": e2e * 1e3, "throughput_tok_s": thr,
        "throughput_tok_s_per_device": thr / devices, "memory_per_device_gb": used,
        "fits": used <= mem.capacity_gb, "devices": devices,
    }
