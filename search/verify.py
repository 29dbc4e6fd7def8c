"""Check the search's finalists with the serving simulator.

The search ranks hundreds of thousands of plans with closed forms; goodput there is DistServe's
M/D/1 approximation (`search.goodput`). `verify` re-runs the best few plans through
`perfmodel.serve` (discrete-event simulation of continuous batching under an engine profile, and
goodput as the largest Poisson rate whose SLO attainment meets the target: DistServe's search) and
reports the simulated figures next to the analytic ones, so a user sees how far the ranking
number is from a simulation before launching anything. Plans the simulator cannot express
(pipeline parallelism, nano-batches or different host offload inside a disaggregated pool) are
listed with the reason. `recommend` picks the finalist the simulation serves best.
"""

from __future__ import annotations

import numpy as np

from perfmodel.errors import PerfModelError

DEFAULT_ENGINE = "vllm"
DEFAULT_REQUESTS = 1000


def finalists(result, n: int) -> list[int]:
    """Row indices of the n best plans: the search's best first, then by the objective's score
    (plans that fit and meet the SLOs), one per distinct prediction: plans the model cannot tell
    apart (e.g. a batch cap that never binds) are simulated once."""
    m = result.metrics
    score = m["score"]
    seen, out = set(), []
    best = result.result.best
    order = ([best] if best >= 0 else []) + [int(i) for i in np.argsort(-score, kind="stable") if i != best]
    for i in order:
        if len(out) == n or not np.isfinite(score[i]):
            break
        key = tuple(float(f"{m[k][i]:.6g}") for k in ("score", "ttft_ms", "tpot_ms", "tok_s_per_device"))
        if key not in seen:
            seen.add(key)
            out.append(int(i))
    return out


def _serve_args(result, i: int) -> dict:
    """perfmodel.serve keyword arguments for plan row i, or PerfModelError saying why it cannot."""
    hw = result.problem.space.hardware[result.table.row(i)["hw"]]
    return {"hardware": hw, **serve_kwargs(result.pools(i))}


def serve_kwargs(pools: list) -> dict:
    """perfmodel.serve keyword arguments for a deployment's pools (one aggregated `Plan`, or the
    prefill and decode `Plan`s), or PerfModelError saying why the simulator cannot run it."""
    first = pools[0]
    placement = {k: getattr(first, k) for k in ("weights_offload", "kv_offload", "activations_offload",
                                                  "attention_on_cpu", "sparse_kv")}
    if any({k: getattr(p, k) for k in placement} != placement for p in pools):
        raise PerfModelError("pools with different host offload are not simulated by perfmodel serve")
    # issue-12 options (MoE routing, EPLB, TBO, speculative decoding): the same on every pool
    moe = {k: getattr(first, k) for k in ("routing_skew", "redundant_experts", "two_batch_overlap", "spec_method",
                                          "spec_tokens", "spec_acceptance", "expert_locality")}
    if any({k: getattr(p, k) for k in moe} != moe for p in pools):
        raise PerfModelError("pools with different MoE or speculative-decoding options are not simulated by "
                             "perfmodel serve")
    common = dict(quant=first.quant, kv_dtype=first.kv_dtype, **placement, **moe)
    if len(pools) == 1:
        p = first
        return {**common, "tp": p.tp, "pp": p.pp, "ep": p.ep, "dp": p.dp, "max_batch": p.max_batch,
                "token_budget": p.token_budget, "nano_batches": p.nano_batches}
    pre, dec = sorted(pools, key=lambda p: p.mode != "prefill")
    if pre.pp > 1 or dec.pp > 1:
        raise PerfModelError("disaggregated pools with PP are not simulated by perfmodel serve")
    if dec.nano_batches > 1:
        raise PerfModelError("nano-batch overlap in a disaggregated decode pool is not simulated by perfmodel serve")
    return {**common, "scheduler": "disagg", "prefill_tp": pre.tp, "prefill_dp": pre.dp, "prefill_ep": pre.ep,
            "prefill_workers": pre.workers, "decode_tp": dec.tp, "decode_dp": dec.dp, "decode_ep": dec.ep,
            "decode_workers": dec.workers, "max_batch": dec.max_batch}


def verify(result, n: int = 3, *, engine: str = DEFAULT_ENGINE, num_requests: int = DEFAULT_REQUESTS,
           seed: int = 0) -> list[dict]:
    """Simulate the n best plans of a TuneResult; one dict per plan with the analytic and simulated
    output tokens/s per device (goodput when SLOs are set, offline throughput otherwise)."""
    from perfmodel.serve_api import serve

    if n < 0:
        raise PerfModelError(f"--verify must be >= 0 plans, got {n}")
    prob = result.problem
    slo = prob.slo
    with_slo = slo.ttft_ms is not None or slo.tpot_ms is not None
    key = "goodput_tok_s_per_device" if with_slo else "output_tok_s_per_device"
    model = result.model_source or result.model
    out = []
    for i in finalists(result, n):
        row = result.row_dict(i)
        entry = {"plan": row["plan"], "row": i, "analytic_" + key: row[key], "engine": engine}
        try:
            args = _serve_args(result, i)
        except PerfModelError as exc:
            out.append({**entry, "simulated": None, "why_not": str(exc)})
            continue
        wl = f"fixed:{prob.isl}:{prob.osl}"
        run = dict(model=model, workload=wl, num_requests=num_requests, engine=engine, seed=seed,
                   calibration=result.calibration, **args)
        at = {}
        if with_slo:
            start = max(row["goodput_tok_s_per_device"] * row["devices"] / prob.osl, 1e-3)
            r = serve(rate=start, ttft_slo_ms=slo.ttft_ms, tpot_slo_ms=slo.tpot_ms, **run)
            sim = None if r.goodput_req_s is None else r.goodput_req_s * prob.osl / r.devices
            if r.goodput_req_s:  # the latencies a user sees when loaded at the simulated goodput
                at_good = serve(rate=r.goodput_req_s, ttft_slo_ms=slo.ttft_ms, tpot_slo_ms=slo.tpot_ms,
                                goodput_search=False, **run)
                at = {"simulated_rate_req_s": r.goodput_req_s,
                      "simulated_slo_attainment": at_good.metrics["slo_attainment"],
                      "simulated_ttft_p90_ms": at_good.metrics["ttft_ms"]["p90"],
                      "simulated_tpot_p90_ms": at_good.metrics["tpot_ms"]["p90"]}
        else:
            r = serve(offline=True, **run)
            sim = r.metrics["output_tok_s_per_device"]
        analytic = row[key]
        entry.update({"simulated_" + key: sim, "simulated": sim is not None,
                      "difference": None if not sim or not analytic else sim / analytic - 1, **at})
        out.append(entry)
    return out


def recommend(verified: list[dict]) -> int | None:
    """Row index of the verified finalist with the highest simulated figure (None if none ran)."""
    ran = [v for v in verified if v.get("simulated")]
    if not ran:
        return None
    key = next(k for k in ran[0] if k.startswith("simulated_") and k.endswith("tok_s_per_device"))
    return max(ran, key=lambda v: v[key])["row"]
