"""NanoFlow's nano-batch pipeline for one transformer layer (Zhu et al., OSDI'25, s4.1.2-4.1.3;
methods.md s1.7): stage I picks the nano-batch split and the order of nano-operations on each
resource (compute, memory, network), stage II the resource share of every nano-operation.

An instance is a chain of operations of one layer (consecutive operations bound by the same
resource merged, as NanoFlow fuses them), each with its resource class and its duration as a
function of the tokens it processes (`Instance.from_plan` takes them from the cost model).
A nano-op (o, i) is operation o on nano-batch i; it depends on (o - 1, i) (same batch range).

Stage I (structure):
  variables   z_j in {0, 1}: split j is used (split = token counts of the k nano-batches)
              s_a, e_a >= 0: start and end of nano-op a;  q_ab in {0, 1} for nano-ops on one resource
              C >= 0: makespan
  objective   min C
  constraints sum_j z_j = 1
              e_a = s_a + sum_j z_j D_o(a)(size_j(i(a)))          (duration at full speed)
              s_(o,i) >= e_(o-1,i)                                 (dependency)
              s_a >= e_b - M q_ab,  s_b >= e_a - M (1 - q_ab)      (one resource runs one nano-op at a
                                                                    time: only different resources overlap)
              C >= e_a
Stage II (resource shares; the split and each resource's order fixed by stage I):
  variables   w_ar in {0, 1}: nano-op a runs at share R_r;  s_a, e_a >= 0;  C >= 0
              for nano-ops a, b on different resources: o_ab, p_ab, p_ba in {0, 1}, o + p_ab + p_ba = 1
              (may overlap / a before b / b before a)
  objective   min C
  constraints sum_r w_ar = 1;  e_a = s_a + sum_r w_ar D_a / P_class(a)(R_r)   (NanoFlow: D = D_best / P(R))
              dependencies and each resource's stage-I order:  s_b >= e_a
              e_a <= s_b + M (1 - p_ab)                              (ordered pairs do not overlap)
              R_a + R_b <= 1 + (1 - o_ab)                            (overlapping pairs share the device)
              R_a + R_b + R_c <= 1 + 2 (3 - o_ab - o_bc - o_ac)      (three pairwise-overlapping intervals
                                                                     share a point, Helly)
              C >= e_a,  with R_a = sum_r w_ar R_r
  P(R) is NanoFlow Table 3 (`search.nanobatch`): P = R for GEMMs, above R for memory and network.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np
import pulp

from perfmodel.errors import PerfModelError
from perfmodel.search.ilp._solver import Solve, solve, var
from perfmodel.search.nanobatch import perf

CLASSES = ("compute", "memory", "network")
_PERF_KIND = {"compute": "gemm", "memory": "gemv", "network": "net"}
DEFAULT_SHARES = (0.2, 0.4, 0.6, 0.8, 1.0)
US = 1e6  # the programs work in microseconds: second-scale coefficients (1e-5) sit near solver tolerances


@dataclass
class Instance:
    """Operations of one layer in dependency order: names, classes, and duration per token count
    (seconds), given as a callable or a table over the candidate sizes."""

    names: list[str]
    classes: list[str]
    durations: dict[int, list[float]]        # tokens -> per-op duration
    batch: int                               # tokens of the whole (dense) batch

    def duration(self, op: int, tokens: int) -> float:
        return self.durations[tokens][op]

    @staticmethod
    def from_plan(*, model, system, plan, batch, decode_fraction: float = 1.0, context: int = 2048,
                  granularity: int = 128, min_share: float = 0.01) -> "Instance":
        """Durations from the cost model for a batch of `batch` tokens (decode tokens with
        `context` tokens of KV each, and prefill tokens for the rest), at every multiple of
        `granularity`; operations under `min_share` of the layer are dropped, consecutive
        operations of one class merged."""
        from perfmodel.iteration import BatchShape
        from perfmodel.quant import get_quant
        from perfmodel.step import HEAD_OPS, step_ops

        q = get_quant(plan.quant).with_kv(plan.kv_dtype)
        sizes = sorted(set(list(range(granularity, batch, granularity)) + [batch]))
        table: dict[int, list[tuple[str, str, float]]] = {}
        for t in sizes:
            dec = int(round(t * decode_fraction))
            pre = t - dec
            shape = BatchShape(prefill_tokens=pre, prefill_attn_pairs=pre * (pre + 1) / 2, prefill_seqs=1 if pre else 0,
                               decode_seqs=dec, decode_context=dec * context)
            ops = [op for op in step_ops(model, system, q, plan, shape) if op.name not in HEAD_OPS]
            per_layer = []
            for op in ops:
                layers = op.count if op.count else 1
                per_layer.append((op.name, str(op.bound), float(op.total_s) / layers * (layers / model.num_layers)))
            table[t] = per_layer
        full = table[batch]
        total = sum(d for _, _, d in full)
        keep = [i for i, (_, _, d) in enumerate(full) if d >= min_share * total]
        # merge consecutive kept ops of the same class (by the full batch's classes)
        groups: list[list[int]] = []
        for i in keep:
            if groups and full[groups[-1][-1]][1] == full[i][1]:
                groups[-1].append(i)
            else:
                groups.append([i])
        names = ["+".join(full[i][0] for i in g) for g in groups]
        classes = [full[g[0]][1] if full[g[0]][1] in CLASSES else "memory" for g in groups]
        durations = {t: [sum(table[t][i][2] for i in g) for g in groups] for t in sizes}
        return Instance(names=names, classes=classes, durations=durations, batch=batch)


def splits(batch: int, k: int, granularity: int = 128) -> list[tuple[int, ...]]:
    """Candidate nano-batch sizes: for k = 2 every multiple of `granularity`, else equal parts."""
    if k < 2:
        raise PerfModelError(f"nano-batching needs at least 2 nano-batches, got {k}")
    if k == 2:
        return [(b, batch - b) for b in range(granularity, batch, granularity)] or [(batch // 2, batch - batch // 2)]
    base = batch // k
    return [tuple([base] * (k - 1) + [batch - base * (k - 1)])]


@dataclass
class StageOne:
    split: tuple[int, ...]
    start: dict[tuple[int, int], float]
    end: dict[tuple[int, int], float]
    makespan: float
    order: dict[str, list[tuple[int, int]]]       # resource -> nano-ops in start order
    solve: Solve

    @property
    def optimal(self) -> bool:
        return self.solve.optimal


@dataclass
class StageTwo:
    shares: dict[tuple[int, int], float]
    start: dict[tuple[int, int], float]
    end: dict[tuple[int, int], float]
    makespan: float
    solve: Solve


@dataclass
class NanoSchedule:
    stage1: StageOne
    stage2: StageTwo
    serial_s: float                    # the layer without nano-batching (one batch, back to back)
    seconds: float
    info: dict = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        return self.serial_s / self.stage2.makespan

    @property
    def optimal(self) -> bool:
        return self.stage1.solve.optimal and self.stage2.solve.optimal


def _big_m(inst: Instance, cand: list[tuple[int, ...]], k: int) -> float:
    worst = max(sum(inst.duration(o, t) for o in range(len(inst.names)) for t in sp) for sp in cand)
    return 2.0 * worst / min(perf("gemv", 0.2), 0.2) + 1e-6


def stage_one(inst: Instance, k: int = 2, *, granularity: int = 128, solver: str = "auto",
              time_limit: float | None = None) -> StageOne:
    cand = [sp for sp in splits(inst.batch, k, granularity) if all(t in inst.durations for t in sp)]
    if not cand:
        raise PerfModelError("no candidate split has durations in the instance")
    n_op = len(inst.names)
    nodes = [(o, i) for o in range(n_op) for i in range(k)]
    M = US * _big_m(inst, cand, k)
    prob = pulp.LpProblem("nanoflow_stage1", pulp.LpMinimize)
    z = [var(prob, f"z_{j}", cat="Binary") for j in range(len(cand))]
    s = {a: var(prob, f"s_{a[0]}_{a[1]}", low=0) for a in nodes}
    cmax = var(prob, "C", low=0)
    prob += cmax
    prob += pulp.lpSum(z) == 1
    dur = {a: pulp.lpSum(US * inst.duration(a[0], cand[j][a[1]]) * z[j] for j in range(len(cand))) for a in nodes}
    for (o, i) in nodes:
        if o > 0:
            prob += s[o, i] >= s[o - 1, i] + dur[o - 1, i]
        prob += cmax >= s[o, i] + dur[o, i]
    for a, b in itertools.combinations(nodes, 2):
        if inst.classes[a[0]] == inst.classes[b[0]]:
            q = var(prob, f"q_{a[0]}_{a[1]}_{b[0]}_{b[1]}", cat="Binary")
            prob += s[a] >= s[b] + dur[b] - M * q
            prob += s[b] >= s[a] + dur[a] - M * (1 - q)
    # symmetry: nano-batches with equal sizes are interchangeable; keep batch 0 first on op 0
    prob += s[0, 0] <= s[0, 1] if k >= 2 else s[0, 0] >= 0
    res = solve(prob, solver=solver, time_limit=time_limit)
    if res.objective is None:
        raise PerfModelError(f"NanoFlow stage I: {res.status}")
    j = int(np.argmax([v.value() for v in z]))
    start = {a: float(s[a].value()) / US for a in nodes}
    end = {a: start[a] + inst.duration(a[0], cand[j][a[1]]) for a in nodes}
    order = {c: sorted([a for a in nodes if inst.classes[a[0]] == c], key=lambda a: (start[a], a)) for c in CLASSES}
    return StageOne(split=cand[j], start=start, end=end, makespan=float(res.objective) / US, order=order, solve=res)


def stage_two(inst: Instance, one: StageOne, *, shares=DEFAULT_SHARES, solver: str = "auto",
              time_limit: float | None = None) -> StageTwo:
    k = len(one.split)
    n_op = len(inst.names)
    nodes = [(o, i) for o in range(n_op) for i in range(k)]
    base = {a: inst.duration(a[0], one.split[a[1]]) for a in nodes}
    slow = {a: [US * base[a] / float(perf(_PERF_KIND[inst.classes[a[0]]], r)) for r in shares] for a in nodes}
    M = sum(max(v) for v in slow.values()) + 1e-6
    prob = pulp.LpProblem("nanoflow_stage2", pulp.LpMinimize)
    w = {(a, r): var(prob, f"w_{a[0]}_{a[1]}_{r}", cat="Binary") for a in nodes for r in range(len(shares))}
    s = {a: var(prob, f"s_{a[0]}_{a[1]}", low=0) for a in nodes}
    cmax = var(prob, "C", low=0)
    prob += cmax
    share = {a: pulp.lpSum(shares[r] * w[a, r] for r in range(len(shares))) for a in nodes}
    dur = {a: pulp.lpSum(slow[a][r] * w[a, r] for r in range(len(shares))) for a in nodes}
    for a in nodes:
        prob += pulp.lpSum(w[a, r] for r in range(len(shares))) == 1
        prob += cmax >= s[a] + dur[a]
        if a[0] > 0:
            prob += s[a] >= s[a[0] - 1, a[1]] + dur[a[0] - 1, a[1]]
    for c in CLASSES:
        seq = one.order[c]
        for a, b in zip(seq, seq[1:]):
            prob += s[b] >= s[a] + dur[a]
    o = {}
    for a, b in itertools.combinations(nodes, 2):
        if inst.classes[a[0]] == inst.classes[b[0]]:
            continue
        tag = f"{a[0]}_{a[1]}_{b[0]}_{b[1]}"
        ov = var(prob, f"o_{tag}", cat="Binary")
        pab = var(prob, f"pab_{tag}", cat="Binary")
        pba = var(prob, f"pba_{tag}", cat="Binary")
        prob += ov + pab + pba == 1
        prob += s[a] + dur[a] <= s[b] + M * (1 - pab)
        prob += s[b] + dur[b] <= s[a] + M * (1 - pba)
        prob += share[a] + share[b] <= 1 + (1 - ov)
        o[a, b] = o[b, a] = ov
    for a, b, c in itertools.combinations(nodes, 3):
        if len({inst.classes[a[0]], inst.classes[b[0]], inst.classes[c[0]]}) == 3:
            prob += share[a] + share[b] + share[c] <= 1 + 2 * (3 - o[a, b] - o[b, c] - o[a, c])
    res = solve(prob, solver=solver, time_limit=time_limit)
    if res.objective is None:
        raise PerfModelError(f"NanoFlow stage II: {res.status}")
    chosen = {a: shares[int(np.argmax([w[a, r].value() for r in range(len(shares))]))] for a in nodes}
    start = {a: float(s[a].value()) / US for a in nodes}
    end = {a: start[a] + base[a] / float(perf(_PERF_KIND[inst.classes[a[0]]], chosen[a])) for a in nodes}
    return StageTwo(shares=chosen, start=start, end=end, makespan=float(res.objective) / US, solve=res)


def nano_schedule(inst: Instance, k: int = 2, *, granularity: int = 128, shares=DEFAULT_SHARES,
                  solver: str = "auto", time_limit: float | None = None) -> NanoSchedule:
    t0 = time.perf_counter()
    one = stage_one(inst, k, granularity=granularity, solver=solver, time_limit=time_limit)
    two = stage_two(inst, one, shares=shares, solver=solver, time_limit=time_limit)
    serial = sum(inst.duration(o, inst.batch) for o in range(len(inst.names)))
    return NanoSchedule(stage1=one, stage2=two, serial_s=serial, seconds=time.perf_counter() - t0)


# ---- exhaustive checks (tests) ------------------------------------------------------------------
def _longest_path(nodes, dur, edges) -> float | None:
    """Earliest-start makespan of a DAG (None if the precedence graph has a cycle)."""
    preds = {a: [] for a in nodes}
    for a, b in edges:
        preds[b].append(a)
    done: dict = {}

    def finish(a, stack=()):
        if a in done:
            return done[a]
        if a in stack:
            raise ValueError("cycle")
        start = max((finish(p, stack + (a,)) for p in preds[a]), default=0.0)
        done[a] = start + dur[a]
        return done[a]

    try:
        return max(finish(a) for a in nodes)
    except ValueError:
        return None


def brute_stage_one(inst: Instance, k: int = 2, granularity: int = 128) -> float:
    """Min makespan over every split and every order on each resource (small instances)."""
    n_op = len(inst.names)
    nodes = [(o, i) for o in range(n_op) for i in range(k)]
    best = float("inf")
    for sp in splits(inst.batch, k, granularity):
        if not all(t in inst.durations for t in sp):
            continue
        dur = {a: inst.duration(a[0], sp[a[1]]) for a in nodes}
        chain = [((o - 1, i), (o, i)) for (o, i) in nodes if o > 0]
        per_class = [[a for a in nodes if inst.classes[a[0]] == c] for c in CLASSES]
        for perms in itertools.product(*[itertools.permutations(g) for g in per_class]):
            edges = chain + [(p[j], p[j + 1]) for p in perms for j in range(len(p) - 1)]
            m = _longest_path(nodes, dur, edges)
            if m is not None:
                best = min(best, m)
    return best


def brute_stage_two(inst: Instance, one: StageOne, shares=DEFAULT_SHARES) -> float:
    """Min makespan over every share vector and every overlap/order state of cross-resource pairs."""
    k = len(one.split)
    nodes = [(o, i) for o in range(len(inst.names)) for i in range(k)]
    base = {a: inst.duration(a[0], one.split[a[1]]) for a in nodes}
    fixed = [((o - 1, i), (o, i)) for (o, i) in nodes if o > 0]
    for c in CLASSES:
        seq = one.order[c]
        fixed += list(zip(seq, seq[1:]))
    pairs = [(a, b) for a, b in itertools.combinations(nodes, 2) if inst.classes[a[0]] != inst.classes[b[0]]]
    triples = [t for t in itertools.combinations(nodes, 3) if len({inst.classes[x[0]] for x in t}) == 3]
    best = float("inf")
    for vec in itertools.product(shares, repeat=len(nodes)):
        r = dict(zip(nodes, vec))
        dur = {a: base[a] / float(perf(_PERF_KIND[inst.classes[a[0]]], r[a])) for a in nodes}
        for states in itertools.product(range(3), repeat=len(pairs)):
            ov = {}
            ok = True
            edges = list(fixed)
            for (a, b), st in zip(pairs, states):
                ov[a, b] = ov[b, a] = st == 0
                if st == 0 and r[a] + r[b] > 1 + 1e-9:
                    ok = False
                    break
                if st == 1:
                    edges.append((a, b))
                elif st == 2:
                    edges.append((b, a))
            if not ok:
                continue
            if any(ov[a, b] and ov[b, c] and ov[a, c] and r[a] + r[b] + r[c] > 1 + 1e-9 for a, b, c in triples):
                continue
            m = _longest_path(nodes, dur, edges)
            if m is not None:
                best = min(best, m)
    return best
