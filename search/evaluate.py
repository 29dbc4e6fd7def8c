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
  decode only (t_dec): the mean step t = f t_full + (1 - f) t_dec is TPOT (the step time is convex
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

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Literal

import numpy as np

from perfmodel.iteration import BatchShape
from perfmodel.memory import RUNTIME_RESERVED_GB, memory_breakdown
from perfmodel.offload import _sparse as sparse_kv
from perfmodel.quant import get_quant
from perfmodel.step import HEAD_OPS, scale_batch, step_ops
from search import goodput as G
from search.nanobatch import nano_step_time
from search.space import PlanTable, ResolvedSpace

Objective = Literal["throughput", "goodput", "cost"]
NanoModel = Literal["fluid", "pipeline"]
OBJECTIVES: tuple[str, ...] = ("throughput", "goodput", "cost")
EXPERT_OPS = frozenset({"expert_gate_up", "expert_silu_mul", "expert_down"})
BOUNDS = ("compute", "memory", "network")
LIMITERS = ("", "prefill", "decode")   # which pool limits a disaggregated plan
GB = 1e9


@dataclass(frozen=True)
class SLO:
    """Latency targets in ms (None = no target)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None


@dataclass
class Problem:
    """Everything a searcher needs: the space, the workload, the SLOs and what to maximize."""

    space: ResolvedSpace
    isl: int
    osl: int
    slo: SLO
    objective: str = "throughput"
    expert_imbalance: dict | None = None   # (placement index, ep) -> max/mean expert load
    price_per_device_hour: tuple[float, ...] | None = None  # per hardware entry

    def __post_init__(self):
        # perfmodel StepModels of the nano-batched plans evaluated with nano_model="pipeline", kept
        # so that their chosen pipelines (one search per batch-size class) are reused across calls
        self._step_models: dict[tuple, object] = {}


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
                     table["mode"], table["attn"]], axis=1)
    groups, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    for g, key in enumerate(groups):
        idx = np.nonzero(inverse == g)[0]
        sub = table.take(idx)
        ctx = _Context(problem, int(key[0]), int(key[1]), int(key[2]), int(key[3]),
                       float(sub["woff"][0]), float(sub["kvoff"][0]), attn=int(key[7]), nano_model=nano_model)
        res = _disaggregated(ctx, sub) if key[6] == 1 else _aggregated(ctx, sub)
        for k, v in res.items():
            out[k][idx] = v
    _finish(problem, table, out)
    return out


class _Context:
    """One (hardware, quant, kv dtype, placement, offload) group: shared model/system objects."""

    def __init__(self, problem: Problem, hw: int, q: int, kv: int, place: int, woff: float, kvoff: float,
                 attn: int = 0, nano_model: NanoModel = "fluid"):
        sp = problem.space
        self.problem = problem
        self.model = sp.model
        self.system = sp.systems[hw]
        self.quant_name, self.kv_name = sp.quant[q], sp.kv_dtype[kv]
        self.q = get_quant(self.quant_name).with_kv(self.kv_name)
        self.nano_model = nano_model
        self.attention = sp.kv_attention[attn]           # gpu, cpu, shadowkv or topk
        self.sparse = self.attention in ("shadowkv", "topk")
        self.host = None
        if self.attention == "cpu":
            from perfmodel.offload import host_of

            self.host = host_of(self.system)
        self.key = (hw, q, kv, attn)
        self.place = place
        self.woff, self.kvoff = woff, kvoff
        self.isl, self.osl = float(problem.isl), float(problem.osl)
        self.mem_util = sp.memory_utilization
        link = self.system.device.host_link
        self.host_rate = link.bw_per_direction_gb_s * GB * link.efficiency if link else 0.0
        node = self.system.node
        self.host_gb_per_device = (node.host_memory_gb / node.devices_per_node) if node.host_memory_gb else None

    def par(self, tp, pp, ep, dp):
        moe_tp = np.maximum(1, tp // ep)
        return SimpleNamespace(tp=tp, pp=pp, ep=ep, dp=dp, moe_tp=moe_tp, moe_group=ep * moe_tp,
                               memory_utilization=self.mem_util)

    def expert_scale(self, ep) -> np.ndarray | float:
        imb = self.problem.expert_imbalance
        if not imb or self.model.moe is None:
            return 1.0
        return np.vectorize(lambda e: imb.get((self.place, int(e)), 1.0), otypes=[float])(ep)

    def step(self, par, batch: BatchShape, *, cold: bool, nano, kvb_dev, weights_dev):
        """Iteration time (s) and bound code of `batch` on one replica, nano-batched and offloaded.
        A nano-batched row takes the unsplit step when that is faster, as perfmodel.overlap does
        (`--nano-batches K` means up to K)."""
        k = np.asarray(nano, dtype=float)
        kw = dict(cold=cold, kvb_dev=kvb_dev, weights_dev=weights_dev)
        t, bound = self._step(par, batch, k=k, pipeline=False, **kw)
        if (k > 1).any():
            t1, bound1 = self._step(par, batch, k=np.ones_like(k), pipeline=False, **kw)
            if self.nano_model == "pipeline":
                # the list schedule only for rows where the (optimistic) fluid overlap says the split pays
                t, bound = self._step(par, batch, k=np.where(t < t1, k, 1.0), pipeline=True, **kw)
            bound = np.where(t1 < t, bound1, bound)
            t = np.minimum(t, t1)
        return t, bound

    def _step(self, par, batch: BatchShape, *, cold: bool, k, pipeline: bool, kvb_dev, weights_dev):
        pp = par.pp
        micro = scale_batch(batch, 1.0 / (pp * k))
        gpu = self._gpu_batch(micro)        # what the device attends over (kv_attention)
        ops = step_ops(self.model, self.system, self.q, par, gpu)
        share = np.ceil(self.model.num_layers / pp) / self.model.num_layers
        scale = self.expert_scale(par.ep)
        # sparse decode attention: memory-bound work on the device, in place of dense attention
        sparse_s = self._sparse(par, micro).parts["gpu"] if self.sparse else 0.0
        C, M, N = 0.0, sparse_s, 0.0
        for op in ops:
            t = op.total_s * (1.0 if op.name in HEAD_OPS else share)
            if op.name in EXPERT_OPS:
                t = t * scale
            c, m, nt = op.t_compute, op.t_memory, op.t_comm
            is_net = (nt >= c) & (nt >= m) & (nt > 0)
            is_comp = ~is_net & (c >= m)
            C = C + np.where(is_comp, t, 0.0)
            M = M + np.where(~is_net & ~is_comp, t, 0.0)
            N = N + np.where(is_net, t, 0.0)
        stage = nano_step_time(C, M, N, k, layers=np.ceil(self.model.num_layers / pp))
        if pipeline and (k > 1).any():
            stage = self._pipeline_stage(par, self._gpu_batch(scale_batch(batch, 1.0 / pp)), k, scale, stage,
                                         extra=sparse_s)
        if self.woff or self.kvoff or self.sparse:
            stage = np.maximum(stage, self._host_time(par, micro, k, kvb_dev, weights_dev))
        bound = np.argmax(np.stack([C, M, N] if np.ndim(C) else [np.full_like(stage, C), M, N]), axis=0)
        return stage * ((2 * pp - 1) if cold else pp), bound

    def _gpu_batch(self, micro: BatchShape) -> BatchShape:
        """The batch as the device attends over it: all of its context ("gpu"), the device part
        ("cpu": the CPU attends over the host part), none (sparse KV: `_sparse` times decode
        attention instead)."""
        if self.attention == "cpu":
            return dataclasses.replace(micro, decode_context=micro.decode_context * (1 - self.kvoff))
        if self.sparse:
            return dataclasses.replace(micro, decode_context=0 * micro.decode_context)
        return micro

    def _sparse(self, par, micro: BatchShape):
        """Sparse decode attention of `micro` on one device (perfmodel.offload._sparse)."""
        seqs = np.asarray(micro.decode_seqs, dtype=float)
        context = np.where(seqs > 0, micro.decode_context / np.maximum(seqs, 1e-30), 0.0)
        plan = SimpleNamespace(tp=par.tp, pp=par.pp, sparse_kv=self.attention)
        return sparse_kv.decode_attention(self.model, self.system, self.q, plan, seqs=seqs, context=context)

    def _host_time(self, par, micro: BatchShape, k, kvb_dev, weights_dev):
        """Seconds of host traffic of one stage (`micro` is one nano-batch of k; `kvb_dev`: dense KV
        bytes per token of the stage's layers on one device): streamed weights and KV over the host
        link (FlexGen's perfect overlap with the device), and CPU attention over the host KV
        ("cpu"), the larger of them."""
        new_tokens = micro.prefill_tokens + micro.decode_seqs
        if self.sparse:   # the selected tokens not cached on the device come over the link
            plan = SimpleNamespace(tp=par.tp, pp=par.pp, sparse_kv=self.attention)
            _, host_frac = sparse_kv.kv_fractions(self.model, self.q, plan)
            seqs = np.asarray(micro.decode_seqs, dtype=float)
            context = np.where(seqs > 0, micro.decode_context / np.maximum(seqs, 1e-30), 0.0)
            kv_in = seqs * sparse_kv.fetched_tokens(plan, context) * kvb_dev * host_frac
            kv_out = new_tokens * kvb_dev * host_frac
        else:             # the host part of the context (unless the CPU attends to it) and of new tokens
            read = micro.prefill_kv_read + (0.0 if self.attention == "cpu" else micro.decode_context)
            kv_in = self.kvoff * read * kvb_dev
            kv_out = self.kvoff * new_tokens * kvb_dev
        link = (self.woff * weights_dev + kv_in + kv_out) * k / self.host_rate
        if self.attention != "cpu":
            return link
        from perfmodel.bounds import attn_dims

        host = self.host
        qk, v = attn_dims(self.model)
        layers = np.ceil(self.model.num_layers / par.pp)
        ctx = micro.decode_context * self.kvoff
        flops = 2.0 * ctx * self.model.num_heads / par.tp * (qk + v) * layers
        cpu = np.maximum(ctx * kvb_dev / host.mem_rate, flops / host.flops) \
            + host.cpu.kernel_overhead_us * 1e-6 * layers
        return np.maximum(link, cpu * k)

    def _pipeline_stage(self, par, micro: BatchShape, k, scale, fluid, extra=0.0):
        """`fluid` with the rows of k > 1 replaced by perfmodel.overlap's list-scheduled pipeline of
        their micro-batch (the time `perfmodel estimate/serve --nano-batches k` uses), plus `extra`
        device seconds per nano-batch (sparse decode attention). Rows whose routed experts are
        scaled by a placement's imbalance keep the fluid time: the pipeline model has no placement."""
        from perfmodel.overlap import stage_time
        from perfmodel.plan import Plan
        from perfmodel.step import StepModel

        fields = ("prefill_tokens", "prefill_attn_pairs", "prefill_kv_read", "prefill_seqs", "decode_seqs",
                  "decode_context")
        cols = np.broadcast_arrays(k, par.tp, par.pp, par.ep, np.asarray(scale, dtype=float),
                                   *(np.asarray(getattr(micro, f), dtype=float) for f in fields))
        out = np.array(np.broadcast_to(fluid, cols[0].shape), dtype=float)
        extra = np.broadcast_to(extra, out.shape)
        for i in np.nonzero((cols[0] > 1) & (cols[4] == 1.0))[0]:
            tp, pp, ep, kk = int(cols[1][i]), int(cols[2][i]), int(cols[3][i]), int(cols[0][i])
            key = (*self.key, tp, pp, ep, kk)
            sm = self.problem._step_models.get(key)
            if sm is None:
                plan = Plan(tp=tp, pp=pp, ep=ep, dp=max(1, ep // tp), quant=self.quant_name, kv_dtype=self.kv_name,
                            nano_batches=kk, memory_utilization=self.mem_util)
                sm = self.problem._step_models[key] = StepModel.build(model=self.model, system=self.system, plan=plan)
            out[i] = stage_time(sm, BatchShape(**{f: float(c[i]) for f, c in zip(fields, cols[5:])})) + extra[i] * kk
        return out

    def memory(self, par, *, max_tokens, kv_tokens):
        """(used GB, capacity GB, host GB needed, kv bytes/token/device, weight bytes/device)."""
        mem = memory_breakdown(self.model, self.system, par, self.q, max_tokens=max_tokens)
        kvb = mem.kv_bytes_per_token_device
        weights = mem.weights_gb * (1 - self.woff)
        dev_frac, host_frac = 1 - self.kvoff, self.kvoff
        if self.sparse:  # the method's own split of the KV bytes
            dev_frac, host_frac = sparse_kv.kv_fractions(
                self.model, self.q, SimpleNamespace(tp=par.tp, pp=par.pp, sparse_kv=self.attention))
        used = weights + mem.activations_gb + RUNTIME_RESERVED_GB + kv_tokens * kvb * dev_frac / GB
        host = mem.weights_gb * self.woff + kv_tokens * kvb * host_frac / GB
        return used, mem.capacity_gb, host, kvb, mem.weights_gb * GB

    def fits(self, used, cap, host):
        ok = used <= cap
        if (self.woff or self.kvoff or self.sparse) and self.host_gb_per_device is not None:
            ok = ok & (host <= self.host_gb_per_device)
        return ok


def _unique(cols: list[np.ndarray]):
    keys = np.stack(cols, axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    return [uniq[:, j] for j in range(uniq.shape[1])], inv.ravel()


def _aggregated(ctx: _Context, t: PlanTable) -> dict[str, np.ndarray]:
    (tp, pp, ep, b, budget, nano), inv = _unique([t["tp"], t["pp"], t["ep"], t["batch"], t["budget"], t["nano"]])
    isl, osl = ctx.isl, ctx.osl
    bf = b.astype(float)
    par = ctx.par(tp, pp, ep, np.ones_like(tp))
    static = budget == 0
    tau = np.where(static, 1.0, budget).astype(float)
    # Chunked prefill steady state (module docstring).
    n_pre = np.ceil(isl / tau)
    d = np.minimum(bf * osl / (n_pre + osl), tau * osl / (isl + osl))
    c = d * isl / osl
    s = np.minimum(np.maximum(tau - d, 1.0), isl)               # prefill chunk of one request
    running = np.minimum(bf, d + np.ceil(c / isl) + 1)
    kv_tokens = np.where(static, bf * (isl + osl), running * (isl + osl))
    max_tokens = np.where(static, bf * isl, tau)
    used, cap, host, kvb, wdev = ctx.memory(par, max_tokens=max_tokens, kv_tokens=kv_tokens)

    # Chunked steps come in two kinds (module docstring): full ones, d decodes and a budget's worth
    # of prompt chunks, and decode-only ones; a share f of the steps is full.
    chunk = np.maximum(tau - d, 1.0)
    f = np.clip(c / chunk, 0.0, 1.0)
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
    ttft = np.where(static, t_pre, np.ceil(isl / s) * t_full)
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


def prefill_pools(ctx: _Context, tp, pp, ep, batch) -> dict[str, np.ndarray]:
    """Per prefill replica: cold and steady prefill time of `batch` requests, memory, bound."""
    bf = np.asarray(batch, dtype=float)
    isl = ctx.isl
    par = ctx.par(tp, pp, ep, np.ones_like(tp))
    used, cap, host, kvb, w = ctx.memory(par, max_tokens=bf * isl, kv_tokens=bf * isl)
    pre = BatchShape(prefill_tokens=bf * isl, prefill_attn_pairs=bf * isl * (isl + 1) / 2,
                     prefill_kv_read=0 * bf, prefill_seqs=bf)
    one = np.ones_like(tp)
    t_cold, bound = ctx.step(par, pre, cold=True, nano=one, kvb_dev=kvb, weights_dev=w)
    t_steady, _ = ctx.step(par, pre, cold=False, nano=one, kvb_dev=kvb, weights_dev=w)
    return {"t_cold": t_cold, "t_steady": t_steady, "used": used, "cap": cap + 0 * used,
            "fits": ctx.fits(used, cap, host), "bound": bound}


def decode_pools(ctx: _Context, tp, pp, ep, batch, nano) -> dict[str, np.ndarray]:
    """Per decode replica: decode step time at `batch` sequences, memory, bound."""
    bf = np.asarray(batch, dtype=float)
    isl, osl = ctx.isl, ctx.osl
    par = ctx.par(tp, pp, ep, np.ones_like(tp))
    used, cap, host, kvb, w = ctx.memory(par, max_tokens=bf, kv_tokens=bf * (isl + osl))
    dec = BatchShape(decode_seqs=bf, decode_context=bf * (isl + osl / 2))
    t_dec, bound = ctx.step(par, dec, cold=False, nano=nano, kvb_dev=kvb, weights_dev=w)
    return {"t_dec": t_dec, "used": used, "cap": cap + 0 * used, "fits": ctx.fits(used, cap, host), "bound": bound}


def kv_transfer_s(ctx: _Context, batch, dev_p, dev_d, devices) -> np.ndarray:
    """KV of a prefill batch (batch x isl tokens, whole model) sent from the prefill replica to the
    decode replica: latency + bytes over min(dev_p, dev_d) parallel links of the bottleneck link of
    a group spanning the deployment (`System.link_for_group`)."""
    kv_bytes = np.asarray(batch, dtype=float) * ctx.isl * ctx.model.kv_bytes_per_token(ctx.q.kv_bytes)
    alpha, rate = _link_table(ctx, np.asarray(devices))
    return alpha + kv_bytes / (np.minimum(dev_p, dev_d) * rate)


def _disaggregated(ctx: _Context, t: PlanTable) -> dict[str, np.ndarray]:
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


def _link_table(ctx: _Context, devices: np.ndarray):
    """(latency s, effective bytes/s) of the link a KV transfer between the pools crosses: the
    bottleneck link of a group spanning the whole deployment (NVLink inside a node, else the NIC)."""
    uniq = np.unique(devices)
    table = {}
    for g in uniq:
        link, _ = ctx.system.link_for_group(int(max(g, 2)))
        table[int(g)] = (link.latency_us * 1e-6, link.bw_per_direction_gb_s * GB * link.efficiency)
    alpha = np.vectorize(lambda g: table[int(g)][0], otypes=[float])(devices)
    rate = np.vectorize(lambda g: table[int(g)][1], otypes=[float])(devices)
    return alpha, rate


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
    flops = dev.peak_flops(q.gemm_dtype) * dev.gemm_fraction(q.gemm_dtype)
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
