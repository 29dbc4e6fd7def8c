"""Evaluate a PlanTable with numpy: TTFT, TPOT, throughput, memory, goodput and cost per plan.

The step times come from the cost model's own operator list (`perfmodel.step.step_ops`, the
function `perfmodel.vectorized.estimate_grid` uses), so a plan evaluated here with static batches,
one nano-batch, no offload and uniform expert routing gets exactly the numbers of
`perfmodel.estimate` (tests/search/test_evaluate.py checks it against `estimate_grid`).

Per plan kind (isl, osl = prompt and output tokens per request):

* Aggregated, static batches (budget 0): TTFT = prefill of batch x isl on a cold pipeline; TPOT =
  decode step at the mean context isl + osl/2; throughput = dp x batch x osl / (TTFT + (osl-1) TPOT).
* Aggregated, chunked prefill with token budget tau (Sarathi-Serve stall-free batching, steady
  state [R]): each iteration runs d decode tokens, and on average c = d x isl / osl prefill tokens
  (prefill completions keep pace with decode completions), d = min(batch x osl / (n_pre + osl),
  tau x osl / (isl + osl)), n_pre = ceil(isl / tau) iterations of prefill per request. A scheduler
  fills the budget whenever prompt tokens wait, so the prefill comes in full steps (d decodes and
  tau - d prompt tokens, time t_full) on a share f = c / (tau - d) of the iterations, the others
  decode only (t_dec); with attention-DP the r ranks sharing the MoE layers step at the largest
  rank's batch, so a rank runs full steps whenever any of them does, f -> 1 - (1 - f)^r
  (`perfmodel.attention_dp`): the mean step t = f t_full + (1 - f) t_dec is TPOT (the step time is convex
  in the tokens, so spreading c evenly over every step would be optimistic, more so the larger
  tau); TTFT = ceil(isl / (tau - d)) x t_full; throughput = dp x d / t.
* Disaggregated (DistServe): prefill pool of `dp` replicas running prefill batches of `batch`
  requests, decode pool of `ddp` replicas at batch `dbatch`. TTFT = cold prefill + KV transfer over
  the link between pools (`System.link_for_group`, model KV bytes per token); TPOT = decode step;
  the pools are rate-matched: requests/s = min(prefill capacity, decode capacity).

Nano-batches (`nano` = k > 1) overlap a step's compute-, memory- and network-bound work
(`search.nanobatch`, fluid; `nano_model="pipeline"`: perfmodel.overlap's schedule, see
`search.refine`). Offloaded weights/KV (fractions `woff`, `kvoff`) are streamed over the host
link each iteration, overlapped with compute (FlexGen's perfect-overlap cost, methods.md s7.2).
Expert placement scales the routed-expert GEMMs by the placement's load imbalance under the routing
profile (`search.routing`; uniform routing leaves them as the cost model computes them).
"""

from __future__ import annotations


import numpy as np

from perfmodel.attention_dp import group_ranks, padded_share
from perfmodel.iteration import BatchShape
from perfmodel.quant import get_quant
from perfmodel.search import goodput as G
from perfmodel.search.group import GB, GroupModel, NanoModel
from perfmodel.search.problem import Problem
from perfmodel.search.space import PlanTable

BOUNDS = ("compute", "memory", "network")
LIMITERS = ("", "prefill", "decode")   # which pool limits a disaggregated plan


METRICS = ("ttft_ms", "tpot_ms", "e2e_ms", "tok_s", "tok_s_per_device", "tok_s_per_user", "devices",
           "memory_gb", "capacity_gb", "fits", "meets_slo", "goodput_tok_s_per_device", "cost_per_mtok",
           "bound", "limiter", "score")


def evaluate(problem: Problem, table: PlanTable, *, nano_model: NanoModel = "fluid") -> dict[str, np.ndarray]:
    """Metrics for every row of `table` (arrays of len(table)); `score` is the objective to
    maximize, -inf where the plan does not fit or misses an SLO. `nano_model`: how nano-batched
    steps are timed, "fluid" (`search.nanobatch`, vectorized) or "pipeline" (perfmodel.overlap's
    list schedule, a few ms per row; see `refine`)."""
    n = len(table)
    out = {k: np.zeros(n) for k in METRICS}
    out["fits"] = np.zeros(n, dtype=bool)
    out["meets_slo"] = np.zeros(n, dtype=bool)
    out["bound"] = np.zeros(n, dtype=np.int64)
    out["limiter"] = np.zeros(n, dtype=np.int64)
    if n == 0:
        return out
    keys = np.stack([table["hw"], table["quant"], table["kv"], table["place"],
                     (table["woff"] * 1e6).astype(np.int64), (table["kvoff"] * 1e6).astype(np.int64),
                     table["mode"], table["attn"], table["xopt"]], axis=1)
    cols, inverse = _unique(list(keys.T))
    groups = np.stack(cols, axis=1)
    for g, key in enumerate(groups):
        idx = np.nonzero(inverse == g)[0]
        sub = table.take(idx)
        ctx = GroupModel(problem, int(key[0]), int(key[1]), int(key[2]), int(key[3]),
                       float(sub["woff"][0]), float(sub["kvoff"][0]), attn=int(key[7]), nano_model=nano_model,
                       xopt=int(key[8]))
        res = _disaggregated(ctx, sub) if key[6] == 1 else _aggregated(ctx, sub)
        for k, v in res.items():
            out[k][idx] = v
    _finish(problem, table, out)
    return out


def _unique(cols: list[np.ndarray]):
    """Distinct rows of the columns (sorted as np.unique(axis=0) sorts them) and each row's index
    among them. Each column is factorized on its own and the codes combined in mixed radix, so the
    sort runs on one int64 array (np.unique with axis=0 sorts whole rows, ~10x slower); small
    non-negative integer columns are their own codes, so only that one sort runs."""
    code = np.zeros(len(cols[0]), dtype=np.int64)
    span = 1  # product of the radices so far
    for c in cols:
        c = np.asarray(c)
        digit, radix = _digits(c)
        if span * radix >= _CODE_LIMIT:  # compress the code so far to its distinct values' ranks
            _, code = np.unique(code, return_inverse=True)
            code, span = code.ravel().astype(np.int64), int(code.max()) + 1 if len(code) else 1
        code = code * radix + digit
        span *= radix
    _, first, inv = np.unique(code, return_index=True, return_inverse=True)
    return [np.asarray(c)[first] for c in cols], inv.ravel()


_CODE_LIMIT = 1 << 62  # mixed-radix codes stay below int64's range
_DIRECT_RADIX = 1 << 20  # plan columns are small non-negative integers (devices, batches, budgets)


def _digits(c: np.ndarray) -> tuple[np.ndarray, int]:
    """A column as order-preserving integer digits and their radix: small non-negative integers
    are their own digits (no sort), anything else is factorized by np.unique."""
    if len(c) and np.issubdtype(c.dtype, np.integer):
        lo, hi = int(c.min()), int(c.max())
        if lo >= 0 and hi < _DIRECT_RADIX:
            return c.astype(np.int64, copy=False), hi + 1
    _, inv = np.unique(c, return_inverse=True)
    return inv.ravel().astype(np.int64), (int(inv.max()) + 1 if len(inv) else 1)


def _aggregated(ctx: GroupModel, t: PlanTable) -> dict[str, np.ndarray]:
    (tp, pp, ep, b, budget, nano), inv = _unique([t["tp"], t["pp"], t["ep"], t["batch"], t["budget"], t["nano"]])
    isl, osl = ctx.isl, ctx.osl
    bf = b.astype(float)
    par = ctx.par(tp, pp, ep, np.ones_like(tp))
    static = budget == 0
    tau = np.where(static, 1.0, budget).astype(float)
    # Chunked prefill steady state (module docstring). Speculative decoding: a step is a round in
    # which a decoding sequence advances e tokens and puts 1 + k query tokens against the budget, so
    # a request decodes for osl / e rounds and the prompts keep pace at e x isl / osl per decode.
    e, slots = ctx.tokens_per_step, 1.0 + (ctx.option.spec_tokens if ctx.option.spec_method else 0)
    n_pre = np.ceil(isl / tau)
    d = np.minimum(bf * (osl / e) / (n_pre + osl / e), tau / (slots + e * isl / osl))
    c = d * e * isl / osl
    s = np.minimum(np.maximum(tau - d * slots, 1.0), isl)       # prefill chunk of one request
    running = np.minimum(bf, d + np.ceil(c / isl) + 1)
    kv_tokens = np.where(static, bf * (isl + osl), running * (isl + osl))
    max_tokens = np.where(static, bf * isl, tau)
    used, cap, host, kvb, wdev = ctx.memory(par, max_tokens=max_tokens, kv_tokens=kv_tokens)

    # Chunked steps come in two kinds (module docstring): full ones, d decodes and a budget's worth
    # of prompt chunks, and decode-only ones; a share f of the steps is full.
    chunk = np.maximum(tau - d * slots, 1.0)
    f = padded_share(c / chunk, group_ranks(par))  # attention-DP: padded to the largest rank's batch
    pre = BatchShape(prefill_tokens=bf * isl, prefill_attn_pairs=bf * isl * (isl + 1) / 2, prefill_kv_read=0 * bf,
                     prefill_seqs=bf)
    n_dec = np.where(static, bf, d)
    dec = BatchShape(decode_seqs=n_dec, decode_context=n_dec * (isl + osl / 2))
    full = BatchShape(prefill_tokens=chunk, prefill_attn_pairs=chunk * (isl + 1) / 2,
                      prefill_kv_read=(chunk / s) * np.maximum(isl - s, 0) / 2, prefill_seqs=chunk / s,
                      decode_seqs=d, decode_context=d * (isl + osl / 2))
    kw = dict(kvb_dev=kvb, weights_dev=wdev)
    one = np.ones_like(nano)
    # Static batches: prefill is compute-bound and runs unsplit; decode uses the nano-batches.
    # Chunked: both kinds of step do. (The full step of a static row is timed with one nano-batch.)
    t_pre, _ = ctx.step(par, pre, cold=True, nano=one, **kw)
    t_dec, bound_dec = ctx.step(par, dec, cold=False, nano=nano, **kw) if osl > 1 else (0 * t_pre, 0 * nano)
    t_full, bound_full = ctx.step(par, full, cold=False, nano=np.where(static, 1, nano), **kw)
    t_mix = f * t_full + (1 - f) * t_dec                          # mean chunked step
    bound_mix = np.where(f * t_full >= (1 - f) * t_dec, bound_full, bound_dec)
    e2e_static = t_pre + (osl - 1) * t_dec
    ttft = np.where(static, t_pre, np.ceil(isl / s) * t_full * e)  # t_full is per emitted token (group.step)
    tpot = np.where(static, t_dec, t_mix)
    e2e = ttft + (osl - 1) * tpot
    tok_s_rep = np.where(static, bf * osl / e2e_static, d / t_mix)
    # DistServe M/D/1 (search.goodput): what a new request waits behind. Static: the running batch;
    # chunked: one request's prefill (the prefill lane).
    rho = G.max_utilization(ttft, np.where(static, e2e_static, ttft), ctx.problem.slo.ttft_ms)
    res = {"ttft_ms": ttft * 1e3, "tpot_ms": tpot * 1e3, "e2e_ms": e2e * 1e3, "rep_tok_s": tok_s_rep,
           "rep_goodput_tok_s": rho * tok_s_rep, "memory_gb": used, "capacity_gb": cap + 0 * used,
           "fits": ctx.fits(used, cap, host), "bound": np.where(static, bound_dec, bound_mix)}
    res = {k: np.asarray(v)[inv] for k, v in res.items()}
    dp = t["dp"]
    devices = t["tp"] * t["pp"] * dp
    res["tok_s"] = res.pop("rep_tok_s") * dp
    res["goodput_tok_s_per_device"] = res.pop("rep_goodput_tok_s") * dp / devices
    res["devices"] = devices
    return res


def prefill_pools(ctx: GroupModel, tp, pp, ep, batch) -> dict[str, np.ndarray]:
    """Per prefill replica: cold and steady prefill time of `batch` requests, memory, bound."""
    bf = np.asarray(batch, dtype=float)
    isl = ctx.isl
    par = ctx.par(tp, pp, ep, np.ones_like(tp))
    used, cap, host, kvb, w = ctx.memory(par, max_tokens=bf * isl, kv_tokens=bf * isl, context=isl)
    pre = BatchShape(prefill_tokens=bf * isl, prefill_attn_pairs=bf * isl * (isl + 1) / 2,
                     prefill_kv_read=0 * bf, prefill_seqs=bf)
    one = np.ones_like(tp)
    t_cold, bound = ctx.step(par, pre, cold=True, nano=one, kvb_dev=kvb, weights_dev=w)
    t_steady, _ = ctx.step(par, pre, cold=False, nano=one, kvb_dev=kvb, weights_dev=w)
    return {"t_cold": t_cold, "t_steady": t_steady, "used": used, "cap": cap + 0 * used,
            "fits": ctx.fits(used, cap, host), "bound": bound}


def decode_pools(ctx: GroupModel, tp, pp, ep, batch, nano) -> dict[str, np.ndarray]:
    """Per decode replica: decode step time at `batch` sequences, memory, bound."""
    bf = np.asarray(batch, dtype=float)
    isl, osl = ctx.isl, ctx.osl
    par = ctx.par(tp, pp, ep, np.ones_like(tp))
    used, cap, host, kvb, w = ctx.memory(par, max_tokens=bf, kv_tokens=bf * (isl + osl))
    dec = BatchShape(decode_seqs=bf, decode_context=bf * (isl + osl / 2))
    t_dec, bound = ctx.step(par, dec, cold=False, nano=nano, kvb_dev=kvb, weights_dev=w)
    return {"t_dec": t_dec, "used": used, "cap": cap + 0 * used, "fits": ctx.fits(used, cap, host), "bound": bound}


def kv_transfer_s(ctx: GroupModel, batch, dev_p, dev_d, devices) -> np.ndarray:
    """KV of a prefill batch (batch x isl tokens, whole model) sent from the prefill replica to the
    decode replica: latency + bytes over min(dev_p, dev_d) parallel links of the bottleneck link of
    a group spanning the deployment (`System.link_for_group`)."""
    kv_bytes = np.asarray(batch, dtype=float) * ctx.model.kv_bytes_per_seq(ctx.isl, ctx.q.kv_bytes, ctx.q.base_bytes)
    alpha, rate = _link_table(ctx, np.asarray(devices))
    return alpha + kv_bytes / (np.minimum(dev_p, dev_d) * rate)


def _disaggregated(ctx: GroupModel, t: PlanTable) -> dict[str, np.ndarray]:
    isl, osl = ctx.isl, ctx.osl
    (ptp, ppp, pep, pb), pinv = _unique([t["tp"], t["pp"], t["ep"], t["batch"]])
    P = {k: v[pinv] for k, v in prefill_pools(ctx, ptp, ppp, pep, pb).items()}
    (dtp, dpp, dep, db, dn), dinv = _unique([t["dtp"], t["dpp"], t["dep"], t["dbatch"], t["nano"]])
    Dp = {k: v[dinv] for k, v in decode_pools(ctx, dtp, dpp, dep, db, dn).items()}
    n_p, n_d = t["dp"].astype(float), t["ddp"].astype(float)
    dev_p, dev_d = t["tp"] * t["pp"], t["dtp"] * t["dpp"]
    devices = dev_p * t["dp"] + dev_d * t["ddp"]
    t_kv = kv_transfer_s(ctx, t["batch"], dev_p, dev_d, devices)
    ttft = P["t_cold"] + t_kv
    tpot = Dp["t_dec"] if osl > 1 else 0 * ttft
    cap_pre = n_p * prefill_capacity(t["batch"], P["t_steady"], t_kv)
    cap_dec = n_d * decode_capacity(t["dbatch"], tpot, osl)
    req_s = np.minimum(cap_pre, cap_dec)
    rho = G.max_utilization(ttft, ttft, ctx.problem.slo.ttft_ms)
    good_req_s = np.minimum(rho * cap_pre, cap_dec)
    prefill_limits = cap_pre < cap_dec
    return {
        "ttft_ms": ttft * 1e3, "tpot_ms": tpot * 1e3, "e2e_ms": (ttft + (osl - 1) * tpot) * 1e3,
        "tok_s": req_s * osl, "goodput_tok_s_per_device": good_req_s * osl / devices, "devices": devices,
        "memory_gb": np.maximum(P["used"], Dp["used"]), "capacity_gb": np.minimum(P["cap"], Dp["cap"]),
        "fits": P["fits"] & Dp["fits"], "bound": np.where(prefill_limits, P["bound"], Dp["bound"]),
        "limiter": np.where(prefill_limits, 1, 2),
    }


def prefill_capacity(batch, t_steady, t_kv):
    """Requests/s of one prefill replica: a batch per steady-state step, KV sends overlapped."""
    return np.asarray(batch, dtype=float) / np.maximum(t_steady, t_kv)


def decode_capacity(batch, tpot, osl: float):
    """Requests/s of one decode replica: `batch` sequences each needing osl - 1 decode steps."""
    return np.asarray(batch, dtype=float) / (max(osl - 1, 1) * np.maximum(tpot, 1e-12))


def _link_table(ctx: GroupModel, devices: np.ndarray):
    """(latency s, effective bytes/s) of the link a KV transfer between the pools crosses: the
    bottleneck link of a group spanning the whole deployment (NVLink inside a node, else the NIC)."""
    uniq = np.unique(devices)
    table = {}
    for g in uniq:
        link, _ = ctx.system.link_for_group(int(max(g, 2)))
        table[int(g)] = (link.latency_us * 1e-6, link.bw_per_direction_gb_s * GB * link.efficiency)
    pos = np.searchsorted(uniq, devices)
    return (np.array([table[int(g)][0] for g in uniq])[pos], np.array([table[int(g)][1] for g in uniq])[pos])


def _finish(problem: Problem, table: PlanTable, out: dict[str, np.ndarray]) -> None:
    devices = out["devices"]
    out["tok_s_per_device"] = out["tok_s"] / devices
    with np.errstate(divide="ignore"):
        out["tok_s_per_user"] = np.where(out["tpot_ms"] > 0, 1e3 / out["tpot_ms"], np.inf)
    slo = problem.slo
    ok = out["fits"].copy()
    if slo.ttft_ms is not None:
        ok &= out["ttft_ms"] <= slo.ttft_ms
    if slo.tpot_ms is not None:
        ok &= out["tpot_ms"] <= slo.tpot_ms
    out["meets_slo"] = ok
    out["goodput_tok_s_per_device"] = np.where(ok, out["goodput_tok_s_per_device"], 0.0)
    price = np.asarray(problem.price_per_device_hour or (1.0,) * len(problem.space.hardware))[table["hw"]]
    with np.errstate(divide="ignore"):
        out["cost_per_mtok"] = price * devices / (out["tok_s"] * 3600) * 1e6
    value = {"throughput": out["tok_s_per_device"], "goodput": out["goodput_tok_s_per_device"],
             "cost": -out["cost_per_mtok"]}[problem.objective]
    out["score"] = np.where(ok, value, -np.inf)


def nanoflow_bound_tok_s_per_device(problem: Problem, hw: int, quant: int) -> float:
    """NanoFlow eq. 5 optimal throughput (all tokens, prefill + decode) per device:
    achievable GEMM FLOP/s / (2 x active parameters) (methods.md s1.4, s9.1)."""
    sp = problem.space
    dev = sp.systems[hw].device
    q = get_quant(sp.quant[quant])
    flops = max(dev.peak_flops(d) * dev.gemm_fraction(d) for d in {s.gemm_path(dev)[0] for s in q.schemes()})
    return flops / (2 * sp.model.params_active)


def fraction_of_bound(problem: Problem, table: PlanTable, metrics: dict, idx) -> np.ndarray:
    """Output tokens/s/device as a fraction of the NanoFlow bound (counted in all tokens)."""
    idx = np.atleast_1d(idx)
    total = metrics["tok_s_per_device"][idx] * (problem.isl + problem.osl) / problem.osl
    bound = np.array([nanoflow_bound_tok_s_per_device(problem, int(table["hw"][i]), int(table["quant"][i]))
                      for i in idx])
    return total / bound


__all__ = ["BOUNDS", "LIMITERS", "METRICS", "OBJECTIVES", "Objective", "Problem", "SLO", "evaluate",
           "fraction_of_bound", "nanoflow_bound_tok_s_per_device"]
