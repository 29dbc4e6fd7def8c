"""Disaggregated prefill and decode pools (DistServe, Splitwise; CloudMatrix-Infer's PD pools).

Each pool is its own plan: TP, PP, EP, attention-DP ranks (`dp`) and workers (engine instances),
so a pool has dp x workers replicas. Prefill replicas run prompts only (their first token is the
TTFT); the KV then travels to a decode replica over the link that joins the two (`placement`), and
decode replicas run continuous decode batches. Prefill does not depend on decode, so the two pools
are simulated one after the other: decode arrivals are prefill completions plus the KV transfer
time. (Back-pressure from a full decode pool onto prefill memory is not modelled: decode admission
waits instead; transfers do not contend for a link, each device sending over its own.)
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from perfmodel.attention_dp import group_ranks
from perfmodel.errors import PerfModelError
from perfmodel.hardware.catalog import System
from perfmodel.serving import analytic
from perfmodel.serving.deployment import Pool, PoolRun, route, simulate_pool
from perfmodel.serving.lockstep import LockstepGroup
from perfmodel.serving.placement import Placement, place
from perfmodel.serving.simulator import Replica

__all__ = ["Placement", "place", "simulate", "simulate_closed", "estimate", "steady_state", "size_for_concurrency"]

# M/D/1 prefill queue sized so a prompt waits at most 2 prefill times on average:
# W = rho / (2 mu (1 - rho)) = 2 / mu at rho = 0.8 (DistServe eq. 1).
PREFILL_UTILIZATION = 0.8


@dataclass
class ClosedRun:
    """A closed-loop run of both pools: per-request issue, first-token and finish times."""

    issued_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    preemptions: int
    iterations: int
    prefill_tokens_computed: int
    cached_tokens: int


def simulate_closed(system: System, prefill: Pool, decode: Pool, *, concurrency: int, input_tokens,
                    output_tokens, router: str = "round_robin", seed: int = 0) -> ClosedRun:
    """Closed loop with `concurrency` clients across both pools: request C + k is issued when the
    k-th request completes (its last token leaves a decode replica), routed round-robin to the
    prefill replicas; its KV reaches the decode replica the router picks (`placement`) after the
    transfer over the link between the two, and its first token reaches the client with it. The
    replicas are co-simulated in time order (a pool's attention-DP ranks that share MoE layers as
    one lockstep group, `perfmodel.serving.lockstep`): the one with the earliest next event takes a turn,
    and a run of decode steps stops at the first step past the next event elsewhere (an arrival
    landing mid-step waits for the step's end, as in an engine)."""
    if concurrency < 1:
        raise PerfModelError(f"--concurrency must be >= 1 client, got {concurrency}")
    isl, osl = np.asarray(input_tokens), np.asarray(output_tokens)
    n = len(isl)
    pl = place(system, prefill, decode)
    where_p = np.arange(n) % prefill.replicas
    where_d = pl.route_decode(where_p, policy=router)
    transfer = pl.transfer_s(where_p, where_d, isl)
    frontend_s = prefill.timer.engine.frontend_ms * 1e-3

    def replicas(pool: Pool, prefilled: bool, offset: int) -> list[Replica]:
        return [Replica(arrival=[], isl=[], osl=[], timer=pool.timer, kv=pool.kv, scheduler=pool.scheduler,
                        max_num_seqs=pool.max_num_seqs, token_budget=pool.token_budget, prefilled=prefilled,
                        prefix=None if prefilled else pool.prefix, seed=seed + offset + k)
                for k in range(pool.replicas)]
    pre, dec = replicas(prefill, False, 0), replicas(decode, True, 1000)
    every = pre + dec
    # Attention-DP ranks that share MoE layers take their turns as one lockstep group (a unit)
    units: list = []
    unit_of = [0] * len(every)
    for pool, offset, members in ((prefill, 0, pre), (decode, len(pre), dec)):
        size = group_ranks(pool.plan)
        for g in range(0, len(members), size):
            idx = list(range(offset + g, offset + min(g + size, len(members))))
            for m in idx:
                unit_of[m] = len(units)
            units.append((idx, every[idx[0]] if len(idx) == 1 else LockstepGroup([every[m] for m in idx])))
    ids: list[list[int]] = [[] for _ in every]   # replica-local id -> request index
    seen = [0] * len(every)                     # finishes already handled per replica
    issued, first, finish = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    ready: list[tuple[float, int]] = []          # KV in flight to the decode pool: (arrival, request)
    nxt = 0

    def issue(t: float) -> None:
        nonlocal nxt
        if nxt < n:
            k = int(where_p[nxt])
            pre[k].add(arrival=t + frontend_s, isl=int(isl[nxt]), osl=1)
            ids[k].append(nxt)
            issued[nxt] = t
            nxt += 1
            if started:                        # before the loop starts every unit is touched once
                touch(unit_of[k])

    # Each unit's (replica's or lockstep group's) next event time, kept in a heap with lazy
    # invalidation: a turn changes only the unit that took it and those it hands a request to, so an
    # event costs O(log R), not O(R) (48 replicas x 400k events took 80 s of bookkeeping). Ties go
    # to the lowest unit index.
    ver = [0] * len(units)
    events: list[tuple[float, int, int]] = []

    def touch(u: int) -> None:
        ver[u] += 1
        heapq.heappush(events, (units[u][1].next_time(), u, ver[u]))

    def top() -> tuple[float, int]:
        while events and events[0][2] != ver[events[0][1]]:
            heapq.heappop(events)
        return (events[0][0], events[0][1]) if events else (math.inf, -1)

    started = False
    for _ in range(min(concurrency, n)):
        issue(0.0)
    for u in range(len(units)):
        touch(u)
    started = True
    while True:
        t_i, i = top()
        t_kv = ready[0][0] if ready else math.inf
        if t_kv <= t_i:
            if t_kv == math.inf:
                break
            t, j = heapq.heappop(ready)
            k = int(where_d[j])
            dec[k].add(arrival=t, isl=int(isl[j]), osl=int(osl[j]))
            ids[len(pre) + k].append(j)
            touch(unit_of[len(pre) + k])
            continue
        heapq.heappop(events)                  # i's entry; touch(i) pushes its next one
        members, unit = units[i]
        unit.horizon = min(t_kv, top()[0])
        unit.turn()
        for m in members:
            r = every[m]
            for rid in r.finished[seen[m]:]:
                j = ids[m][rid]
                t = r.finish[rid]
                if m < len(pre):
                    first[j] = t
                    if osl[j] > 1:
                        first[j] = t + float(transfer[j])
                        heapq.heappush(ready, (first[j], j))
                        continue
                finish[j] = t
                issue(t)
            seen[m] = len(r.finished)
        touch(i)
    return ClosedRun(issued_s=issued, first_token_s=first, finish_s=finish,
                     preemptions=sum(r.preemptions for r in every), iterations=sum(r.iterations for r in every),
                     prefill_tokens_computed=sum(r.prefill_computed for r in pre),
                     cached_tokens=sum(r.cached_total for r in pre))


def simulate(system: System, prefill: Pool, decode: Pool, *, arrival_s, input_tokens, output_tokens,
             prefix_tokens=None, prefix_group=None, conversation=None, reuse_tokens=None, router: str = "round_robin",
             seed: int = 0) -> tuple[PoolRun, PoolRun, np.ndarray, np.ndarray]:
    """Returns the prefill run, the decode run and the per-request first-token and finish times.
    The first token reaches the client with the KV, from the decode worker (SGLang PD, Dynamo)."""
    isl, osl = np.asarray(input_tokens), np.asarray(output_tokens)
    where_p = route(len(isl), prefill.replicas, conversation)
    pre = simulate_pool(prefill, arrival_s=arrival_s, input_tokens=isl, output_tokens=np.ones_like(osl),
                        prefix_tokens=prefix_tokens, prefix_group=prefix_group, conversation=conversation,
                        reuse_tokens=reuse_tokens, where=where_p, seed=seed)
    pl = place(system, prefill, decode)
    more = osl > 1
    where_d = pl.route_decode(where_p[more], policy=router)
    ready = pre.first_token_s[more] + pl.transfer_s(where_p[more], where_d, isl[more])
    first, finish = pre.first_token_s.copy(), pre.first_token_s.copy()
    first[more] = ready
    dec = simulate_pool(decode, arrival_s=ready, input_tokens=isl[more], output_tokens=osl[more],
                        prefilled=True, where=where_d, seed=seed + 1000)
    finish[more] = dec.finish_s
    return pre, dec, first, finish


def _models(prefill: Pool, decode: Pool, mean_input: float, mean_output: float, decode_context: float | None):
    pm = analytic.ReplicaModel(timer=prefill.timer, kv=prefill.kv, scheduler="prefill_first",
                               max_num_seqs=prefill.max_num_seqs, token_budget=prefill.token_budget,
                               mean_input=mean_input, mean_output=1.0)
    dm = analytic.ReplicaModel(timer=decode.timer, kv=decode.kv, scheduler="decode_only",
                               max_num_seqs=decode.max_num_seqs, token_budget=decode.token_budget,
                               mean_input=mean_input, mean_output=mean_output, decode_context=decode_context)
    return pm, dm


def estimate(system: System, prefill: Pool, decode: Pool, *, mean_input: float, mean_output: float,
             decode_context: float | None, rate: float | None, ttft_slo_ms: float | None,
             tpot_slo_ms: float | None, router: str = "round_robin") -> analytic.AnalyticEstimate:
    pm, dm = _models(prefill, decode, mean_input, mean_output, decode_context)
    mu_p, mu_d = pm.saturation_req_s(), dm.saturation_req_s()
    total = min(mu_p * prefill.replicas, mu_d * decode.replicas)
    transfer = place(system, prefill, decode).mean_transfer_s(mean_input, policy=router)

    def latency(r: float) -> tuple[float, float, float, float]:
        ttft, _, _, rho_p = pm.at_rate(r / prefill.replicas, mu_p)
        _, tpot, b, rho_d = dm.at_rate(r / decode.replicas, mu_d)
        return ttft + transfer, tpot, b, max(rho_p, rho_d)

    point = None
    if rate is not None:
        ttft, tpot, b, rho = latency(rate)
        point = analytic.Workpoint(rate, rho, b, ttft * 1e3, tpot * 1e3, (ttft + dm.O1 * tpot) * 1e3)
    best = None
    if ttft_slo_ms is not None or tpot_slo_ms is not None:
        def meets(r):
            ttft, tpot, _, _ = latency(r)
            return (ttft_slo_ms is None or ttft * 1e3 <= ttft_slo_ms) and (tpot_slo_ms is None or tpot * 1e3 <= tpot_slo_ms)
        lo, hi = 0.0, total * 0.999
        if meets(hi):
            best = hi
        else:
            for _ in range(20):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if meets(mid) else (lo, mid)
            best = lo
    limited = "prefill pool" if mu_p * prefill.replicas < mu_d * decode.replicas else f"decode pool ({dm.limited_by})"
    return analytic.AnalyticEstimate(
        concurrency=dm.B, limited_by=limited, saturation_req_s=total, saturation_output_tok_s=total * dm.O,
        saturation_total_tok_s=total * (dm.I + dm.O), at_rate=point, max_rate_meeting_slo=best)


def steady_state(system: System, prefill: Pool, decode: Pool, *, mean_input: float, mean_output: float,
                 decode_context: float | None, router: str = "round_robin") -> analytic.SteadyState:
    """Queue-free TTFT (prefill + KV transfer) and TPOT of the two pools at a request rate."""
    pm, dm = _models(prefill, decode, mean_input, mean_output, decode_context)
    mu_p, mu_d = pm.saturation_req_s(), dm.saturation_req_s()
    transfer = place(system, prefill, decode).mean_transfer_s(mean_input, policy=router)

    def latency(r: float, queue: bool = False) -> tuple[float, float]:
        ttft = pm.at_rate(r / prefill.replicas, mu_p, queue=queue)[0]
        return ttft + transfer, dm.at_rate(r / decode.replicas, mu_d, queue=queue)[1]
    return analytic.SteadyState(saturation_req_s=min(mu_p * prefill.replicas, mu_d * decode.replicas),
                                mean_output=dm.O, latency=latency, open_loop=lambda r: latency(r, True))


def size_for_concurrency(system: System, prefill: Pool, decode: Pool, *, concurrency: int, mean_input: float,
                         mean_output: float, decode_context: float | None,
                         prefill_utilization: float = PREFILL_UTILIZATION) -> dict:
    """Workers per pool for `concurrency` requests in flight, from one worker of each pool's plan:
    decode workers so every decode replica holds its share (<= its KV / max_num_seqs limit), then
    prefill workers for the request rate that concurrency completes, C / (TTFT + (O-1) TPOT)
    (Little's law), at `prefill_utilization` of their saturation rate."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    pm, dm = _models(prefill, decode, mean_input, mean_output, decode_context)
    per_dec_worker = decode.plan.dp * dm.B
    decode_workers = max(1, math.ceil(concurrency / per_dec_worker))
    b = concurrency / (decode_workers * decode.plan.dp)
    tpot = dm.t_decode(b)
    transfer = place(system, prefill, decode).mean_transfer_s(mean_input, policy="round_robin")
    ttft = pm.t_prefill(1) + transfer
    rate = concurrency / (ttft + dm.O1 * tpot)
    per_pre_worker = prefill.plan.dp * pm.saturation_req_s() * prefill_utilization
    prefill_workers = max(1, math.ceil(rate / per_pre_worker))
    return {"concurrency": concurrency, "prefill_workers": prefill_workers, "decode_workers": decode_workers,
            "decode_batch_per_replica": b, "decode_batch_limit": dm.B, "decode_limited_by": dm.limited_by,
            "request_rate_req_s": rate, "prefill_req_s_per_worker": per_pre_worker / prefill_utilization,
            "prefill_utilization": rate / (prefill_workers * per_pre_worker / prefill_utilization),
            "tpot_ms": tpot * 1e3, "ttft_ms": ttft * 1e3}
