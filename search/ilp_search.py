"""The `ilp` searcher: exact choice of pool configurations and replica counts with integer
programs (`search.ilp.pools.max_rate`) over candidates the cost model evaluates with numpy.

For every shared setting (hardware, quantization, KV dtype, placement, offload) and every device
total N the space allows, it evaluates each pool configuration once per replica (aggregated,
prefill and decode pools), drops those that miss the SLOs or do not fit, keeps the best per
(devices, class) (dominance), and solves max requests/s on exactly N devices; the best
requests/s per device over all N is the optimum. It returns one plan per (setting, N, mode), so
its optimum matches the exhaustive search on the same space (tests/search/test_conformance.py).
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np

from perfmodel.search import goodput as G
from perfmodel.search._base import SearchResult, Searcher, register
from perfmodel.search.evaluate import (_aggregated, decode_capacity, decode_pools, evaluate, kv_transfer_s,
                                       prefill_capacity, prefill_pools)
from perfmodel.search.group import GroupModel
from perfmodel.search.ilp.pools import Candidates, dominant, max_rate
from perfmodel.search.problem import Problem
from perfmodel.search.space import PlanTable


@register
class IlpSearcher(Searcher):
    name = "ilp"

    def run(self, problem: Problem) -> SearchResult:
        t0 = time.perf_counter()
        sp = problem.space
        sp.enumerate()                      # counts the structural pruning for the report
        pruned = dict(sp.pruned)
        rows: list[dict] = []
        evaluated = 0
        groups = [base for base, reason in sp.groups() if reason is None]
        totals = [n for n in range(1, sp.devices + 1) if not sp.device_counts or n in sp.device_counts]
        for gi, base in enumerate(groups):
            hw = base["hw"]
            ctx = GroupModel(problem, hw, base["quant"], base["kv"], base["place"], base["woff"], base["kvoff"],
                           attn=base["attn"], xopt=base["xopt"])
            limit = min(sp.devices, sp.systems[hw].max_devices)
            if "aggregated" in sp.modes:
                units, m = self._aggregated_units(problem, ctx, base, limit)
                evaluated += len(units)
                rows += self._solve_aggregated(problem, units, m, base, [n for n in totals if n <= limit])
            if "disaggregated" in sp.modes:
                r, n_eval = self._disaggregated(problem, ctx, base, [n for n in totals if n <= limit])
                rows += r
                evaluated += n_eval
            if self.progress:
                self.progress(gi + 1, len(groups))
        table = PlanTable.from_rows(rows) if rows else PlanTable.empty()
        metrics = evaluate(problem, table)
        return SearchResult(problem=problem, searcher=self.name, table=table, metrics=metrics, pruned=pruned,
                            seconds=time.perf_counter() - t0, info={"pool_configs_evaluated": evaluated})

    # ---- aggregated ------------------------------------------------------------------------------
    def _aggregated_units(self, problem: Problem, ctx: GroupModel, base: dict, limit: int):
        """One replica of every aggregated configuration (attention-DP groups as one unit)."""
        sp = dataclasses.replace(problem.space, modes=("aggregated",), pruned={})
        budgets = [b or 0 for b in sp.token_budget]
        tp, pp, ep, dp = sp._pool_grid(sp.tp, sp.pp, sp.ep, sp.dp)
        ok = (sp.pool_reasons(tp, pp, ep, dp) < 0) & (tp * pp * dp <= limit)
        ok &= np.where(ep > tp, True, dp == (1 if not sp.dp or 1 in sp.dp else min(sp.dp)))
        tp, pp, ep, dp = tp[ok], pp[ok], ep[ok], dp[ok]
        inner = list(itertools.product(sp.max_batch, budgets, sp.nano_batches))
        rows = [{"mode": 0, "tp": int(a), "pp": int(b), "ep": int(c), "dp": int(d), "batch": bb, "budget": bu,
                 "nano": nn, **base} for a, b, c, d in zip(tp, pp, ep, dp) for bb, bu, nn in inner
                if bu == 0 or bu >= bb]
        units = PlanTable.from_rows(rows) if rows else PlanTable.empty()
        return units, evaluate(problem, units)

    def _solve_aggregated(self, problem: Problem, units: PlanTable, m: dict, base: dict, totals: list[int]):
        if not len(units):
            return []
        ok = m["meets_slo"]
        idx = np.nonzero(ok)[0]
        if not len(idx):
            return []
        dev = m["devices"][idx].astype(np.int64)
        cap = self._unit_capacity(problem, m, idx)
        adp = units["ep"][idx] > units["tp"][idx]
        keep = dominant(dev, cap, np.where(adp, 1, 0))
        idx, dev, cap, adp = idx[keep], dev[keep], cap[keep], adp[keep]
        cands = Candidates(devices=dev, capacity=cap, max_replicas=np.where(adp, 1, 10**6))
        out = []
        for n in totals:
            sol = max_rate(cands, None, n)
            if sol is None:
                continue
            r = units.row(int(idx[sol.prefill]))
            r["dp"] = r["dp"] * sol.prefill_replicas
            if self._allowed(problem, r["dp"], problem.space.dp):
                out.append(r)
        return out

    @staticmethod
    def _allowed(problem: Problem, value: int, fixed) -> bool:
        return not fixed or value in fixed

    def _unit_capacity(self, problem: Problem, m: dict, idx) -> np.ndarray:
        if problem.objective == "goodput":
            tok = m["goodput_tok_s_per_device"][idx] * m["devices"][idx]
        else:
            tok = m["tok_s"][idx]
        return tok / problem.osl

    # ---- disaggregated ---------------------------------------------------------------------------
    def _disaggregated(self, problem: Problem, ctx: GroupModel, base: dict, totals: list[int]):
        sp = problem.space
        slo = problem.slo
        P = self._pool_configs(sp, sp.prefill_tp, sp.prefill_pp, sp.prefill_ep or sp.ep, sp.prefill_replicas,
                               sp.prefill_batch, (1,))
        D = self._pool_configs(sp, sp.decode_tp, sp.decode_pp, sp.decode_ep or sp.ep, sp.decode_replicas,
                               sp.max_batch, sp.nano_batches)
        if P is None or D is None:
            return [], 0
        pm = prefill_pools(ctx, P["tp"], P["pp"], P["ep"], P["batch"])
        dm = decode_pools(ctx, D["tp"], D["pp"], D["ep"], D["batch"], D["nano"])
        tpot = dm["t_dec"] if problem.osl > 1 else 0 * dm["t_dec"]
        d_ok = dm["fits"] & ((tpot * 1e3 <= slo.tpot_ms) if slo.tpot_ms is not None else True)
        d_idx = np.nonzero(d_ok)[0]
        rows = []
        if not len(d_idx):
            return rows, len(P["tp"]) + len(D["tp"])
        d_width = (D["tp"] * D["pp"])[d_idx]
        d_dev = d_width * D["n"][d_idx]
        d_cap = decode_capacity(D["batch"][d_idx], tpot[d_idx], problem.osl) * D["n"][d_idx]
        keep = dominant(d_dev, d_cap, d_width)
        d_idx, d_width, d_dev, d_cap = d_idx[keep], d_width[keep], d_dev[keep], d_cap[keep]
        dec = Candidates(devices=d_dev, capacity=d_cap, max_replicas=np.where(D["adp"][d_idx], 1, 10**6), cls=d_width)
        p_width = P["tp"] * P["pp"]
        for n in totals:
            cand_rows, dev, cap, cls, unit = [], [], [], [], []
            for k in np.unique(d_width):
                t_kv = kv_transfer_s(ctx, P["batch"], p_width, k, np.full(len(p_width), n))
                ttft = pm["t_cold"] + t_kv
                ok = pm["fits"] & ((ttft * 1e3 <= slo.ttft_ms) if slo.ttft_ms is not None else True)
                c = prefill_capacity(P["batch"], pm["t_steady"], t_kv) * P["n"]
                if problem.objective == "goodput":
                    c = c * G.max_utilization(ttft, ttft, slo.ttft_ms)
                for i in np.nonzero(ok)[0]:
                    cand_rows.append(i)
                    dev.append(p_width[i] * P["n"][i])
                    cap.append(c[i])
                    cls.append(k)
                    unit.append(P["adp"][i])
            if not cand_rows:
                continue
            dev, cap, cls = np.array(dev), np.array(cap), np.array(cls)
            keep = dominant(dev, cap, cls)
            pre = Candidates(devices=dev[keep], capacity=cap[keep], cls=cls[keep],
                             max_replicas=np.where(np.array(unit)[keep], 1, 10**6))
            sol = max_rate(pre, dec, n)
            if sol is None:
                continue
            pi, di = int(np.array(cand_rows)[keep][sol.prefill]), int(d_idx[sol.decode])
            r = {"mode": 1, **base, "tp": int(P["tp"][pi]), "pp": int(P["pp"][pi]), "ep": int(P["ep"][pi]),
                 "dp": int(P["n"][pi]) * sol.prefill_replicas, "batch": int(P["batch"][pi]),
                 "dtp": int(D["tp"][di]), "dpp": int(D["pp"][di]), "dep": int(D["ep"][di]),
                 "ddp": int(D["n"][di]) * sol.decode_replicas, "dbatch": int(D["batch"][di]),
                 "nano": int(D["nano"][di]), "budget": 0}
            if self._allowed(problem, r["dp"], sp.prefill_replicas) and self._allowed(problem, r["ddp"], sp.decode_replicas):
                rows.append(r)
        return rows, len(P["tp"]) + len(D["tp"])

    @staticmethod
    def _pool_configs(sp, tps, pps, eps, replicas, batches, nanos):
        """Replica units of one pool: valid (tp, pp, ep) with one replica (attention-DP: the
        replicas its EP group spans) x batches x nano-batches."""
        tp, pp, ep, n = sp._pool_grid(tps, pps, eps, replicas)
        adp = ep > tp
        ok = (sp.pool_reasons(tp, pp, ep, n) < 0) & np.where(adp, True, n == np.min(n) if len(n) else True)
        ok &= np.where(adp, True, n == (1 if not replicas or 1 in replicas else min(replicas)))
        tp, pp, ep, n, adp = tp[ok], pp[ok], ep[ok], n[ok], adp[ok]
        if not len(tp):
            return None
        inner = np.array(list(itertools.product(batches, nanos)), dtype=np.int64)
        k = len(inner)
        return {"tp": np.repeat(tp, k), "pp": np.repeat(pp, k), "ep": np.repeat(ep, k), "n": np.repeat(n, k),
                "adp": np.repeat(adp, k), "batch": np.tile(inner[:, 0], len(tp)), "nano": np.tile(inner[:, 1], len(tp))}


_ = _aggregated  # the aggregated formulas are reached through `evaluate`
