"""MoETuner's two-stage expert placement (Go & Mahajan, arXiv 2502.06643, s4.2; methods.md s6).

Inputs: a routing profile (`search.routing`) with P[l, e] tokens to expert e in layer l and
R[l, a, b] tokens routed from expert a in layer l to expert b in layer l + 1; G devices; the
bandwidth B[g1, g2] between devices (default: uniform).

Stage 1, balanced clustering (one ILP per layer; the layers do not interact):
  variables   x[c, e] in {0, 1}: expert e in cluster c;  u[c] >= 0
  objective   min sum_c u[c]                                   (MoETuner O_1 = sum |T_c - T_mean|)
  constraints sum_c x[c, e] = 1                     (each expert in one cluster)        [R: implied]
              sum_e x[c, e] = E / G                 (equal experts per cluster = equal memory)
              u[c] >= T_c - T_mean,  u[c] >= T_mean - T_c,  T_c = sum_e P[e] x[c, e]   (|.| linearized)
              sum_c u[c] >= 2 r (G - r) / G         (valid bound: T_c are integers; r = sum P mod G)
              x[c, e] = 0 for c > rank(e)           (symmetry: clusters are interchangeable, so the
                                                     i-th heaviest expert goes to one of clusters 0..i)
              u[c] >= (P_e + lightest E/G - 1 others - T_mean) x[c, e]         (heavy-expert cuts, valid:
              u[c] >= (P_a + P_b + lightest E/G - 2 others - T_mean)(x[c,a] + x[c,b] - 1)   a cluster
                                                     holding them carries at least that load)
  Solved from a warm start: longest-processing-time greedy plus pairwise swaps. When that start
  already meets the lower bound it is optimal and no solver runs (the bound is the certificate).
  MoETuner states the equal-memory rule over all layers (sum over l); per layer is stronger and
  keeps the layers separable [R].

Stage 2, cluster -> device assignment, layer by layer (layer 0's clusters on devices 0..G-1):
  variables   y[c, g] in {0, 1}: cluster c of layer l + 1 on device g;  t >= 0
  objective   min t                                (MoETuner O_2: the per-layer tail, max over pairs)
  constraints sum_g y[c, g] = 1,  sum_c y[c, g] = 1                     (one cluster per device)
              t >= sum_c C[k(g1), c] y[c, g2] / B[g1, g2]   for all g1 != g2
  with C[a, b] = tokens from cluster a of layer l to cluster b of layer l + 1 and k(g1) the layer-l
  cluster on g1 (fixed by the previous step). With uniform bandwidth each step depends only on how
  layer l+1's clusters pair with layer l's, so the layer-by-layer optimum is the global optimum of
  sum_l max(...); with non-uniform bandwidth it is the greedy layer-by-layer optimum [R].
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pulp

from perfmodel.errors import PerfModelError
from perfmodel.search.ilp._solver import Solve, solve, var
from perfmodel.search.routing import RoutingProfile


@dataclass
class Placement:
    clusters: np.ndarray            # [L, E] cluster of each expert (stage 1)
    devices: np.ndarray             # [L, E] device of each expert (stage 2)
    balance_objective: float        # sum over layers of sum_c |T_c - T_mean|
    traffic_objective: float        # sum over layer pairs of the max cross-device traffic / bandwidth
    optimal: bool                   # every ILP proven optimal
    seconds: float
    solves: list[Solve] = field(default_factory=list, repr=False)

    def imbalance(self, counts: np.ndarray) -> float:
        """Mean over layers of max device load / mean device load."""
        g = int(self.devices.max()) + 1
        out = []
        for layer in range(counts.shape[0]):
            loads = np.bincount(self.devices[layer], weights=counts[layer], minlength=g)
            out.append(loads.max() / loads.mean() if loads.mean() > 0 else 1.0)
        return float(np.mean(out))

    def to_dict(self) -> dict:
        return {"devices": self.devices.tolist(), "balance_objective": self.balance_objective,
                "traffic_objective": self.traffic_objective, "optimal": self.optimal, "seconds": self.seconds}


def balance_layer(load: np.ndarray, clusters: int, *, solver: str = "auto",
                  time_limit: float | None = None) -> tuple[np.ndarray, float, Solve]:
    """Stage 1 for one layer: cluster index per expert, the objective, the solve record."""
    experts = len(load)
    if experts % clusters:
        raise PerfModelError(f"{experts} experts cannot be split evenly over {clusters} devices")
    per = experts // clusters
    load = np.asarray(load, dtype=float)
    mean = load.sum() / clusters
    order = np.argsort(-load, kind="stable")
    rank = np.empty(experts, dtype=np.int64)
    rank[order] = np.arange(experts)
    start = _warm_start(load, clusters)
    lower = _lower_bound(load, clusters)
    start_obj = float(np.abs(np.bincount(start, weights=load, minlength=clusters) - mean).sum())
    if start_obj <= lower + 1e-9:
        return start, start_obj, Solve(status="optimal", objective=start_obj, solver="bound", seconds=0.0)
    prob = pulp.LpProblem("moetuner_balance", pulp.LpMinimize)
    x = {(c, e): var(prob, f"x_{c}_{e}", cat="Binary") for c in range(clusters) for e in range(experts)
         if c <= rank[e]}
    u = [var(prob, f"u_{c}", low=0) for c in range(clusters)]
    prob += pulp.lpSum(u)
    for e in range(experts):
        prob += pulp.lpSum(x[c, e] for c in range(clusters) if (c, e) in x) == 1
    for c in range(clusters):
        members = [x[c, e] for e in range(experts) if (c, e) in x]
        prob += pulp.lpSum(members) == per
        t = pulp.lpSum(float(load[e]) * x[c, e] for e in range(experts) if (c, e) in x)
        prob += u[c] >= t - mean
        prob += u[c] >= mean - t
    if lower > 0:
        prob += pulp.lpSum(u) >= lower
    # Valid cuts for heavy experts: a cluster holding expert e (and b) carries at least their load
    # plus the lightest others.
    for e in range(experts):
        rest = np.sort(np.delete(load, e))
        coef = load[e] + rest[: per - 1].sum() - mean
        if coef > 0:
            for c in range(clusters):
                if (c, e) in x:
                    prob += u[c] >= coef * x[c, e]
    heavy = [e for e in order[: 2 * clusters]]
    for i, a in enumerate(heavy):
        for b in heavy[i + 1:]:
            rest = np.sort(np.delete(load, [a, b]))
            coef = load[a] + load[b] + rest[: per - 2].sum() - mean
            if per >= 2 and coef > 0:
                for c in range(clusters):
                    if (c, a) in x and (c, b) in x:
                        prob += u[c] >= coef * (x[c, a] + x[c, b] - 1)
    # Warm start: the heuristic assignment mapped onto the symmetry-broken cluster labels.
    relabel = _canonical(start, load, clusters)
    for (c, e), xv in x.items():
        xv.setInitialValue(1 if relabel[e] == c else 0)
    t0 = np.bincount(relabel, weights=load, minlength=clusters)
    for c in range(clusters):
        u[c].setInitialValue(abs(t0[c] - mean))
    res = solve(prob, solver=solver, time_limit=time_limit, warm_start=True)
    if res.objective is None:
        raise PerfModelError(f"expert balance ILP: {res.status}")
    assign = np.full(experts, -1, dtype=np.int64)
    for (c, e), xv in x.items():
        if xv.value() is not None and xv.value() > 0.5:
            assign[e] = c
    return assign, float(res.objective), res


def _lower_bound(load: np.ndarray, clusters: int) -> float:
    """sum_c |T_c - mean| over integer loads: r clusters at q + 1 and G - r at q, r = total mod G."""
    if not np.allclose(load, np.round(load)):
        return 0.0
    r = int(round(load.sum())) % clusters
    return 2 * r * (clusters - r) / clusters


def _warm_start(load: np.ndarray, clusters: int, restarts: int = 300, patience: int = 40,
                seed: int = 0) -> np.ndarray:
    """Equal-count LPT greedy, then iterated local search (seeded): best-improvement one-for-one
    and two-for-two swaps to a local optimum, then random swaps to leave it, keeping the best;
    stops at the lower bound or after `patience` restarts without improvement."""
    from perfmodel.search.routing import balanced_groups

    mean = load.sum() / clusters
    lower = _lower_bound(load, clusters)
    rng = np.random.default_rng(seed)
    assign = _descend(balanced_groups(load, clusters), load, clusters, mean, lower)
    best, best_obj = assign.copy(), _objective(assign, load, clusters, mean)
    stale = 0
    for _ in range(restarts):
        if best_obj <= lower + 1e-9 or stale >= patience:
            break
        stale += 1
        cur = best.copy()
        for _ in range(2):  # perturb: two random swaps across clusters
            a, b = rng.choice(len(load), 2, replace=False)
            cur[a], cur[b] = cur[b], cur[a]
        cur = _descend(cur, load, clusters, mean, lower)
        obj = _objective(cur, load, clusters, mean)
        if obj < best_obj - 1e-9:
            best, best_obj, stale = cur, obj, 0
    return best


def _descend(assign, load, clusters, mean, lower, max_rounds: int = 200) -> np.ndarray:
    for _ in range(max_rounds):
        if _objective(assign, load, clusters, mean) <= lower + 1e-9:
            break
        if not (_swap11(assign, load, clusters, mean) or _swap22(assign, load, clusters, mean)):
            break
    return assign


def _objective(assign, load, clusters, mean) -> float:
    return float(np.abs(np.bincount(assign, weights=load, minlength=clusters) - mean).sum())


def _swap11(assign, load, clusters, mean) -> bool:
    T = np.bincount(assign, weights=load, minlength=clusters)
    ta, tb = T[assign][:, None], T[assign][None, :]
    diff = load[:, None] - load[None, :]            # a leaves, b joins a's cluster: T_a -= diff
    delta = np.abs(ta - diff - mean) + np.abs(tb + diff - mean) - np.abs(ta - mean) - np.abs(tb - mean)
    delta[assign[:, None] == assign[None, :]] = 0.0
    a, b = np.unravel_index(np.argmin(delta), delta.shape)
    if delta[a, b] >= -1e-9:
        return False
    assign[a], assign[b] = assign[b], assign[a]
    return True


def _swap22(assign, load, clusters, mean) -> bool:
    T = np.bincount(assign, weights=load, minlength=clusters)
    best = (-1e-9, None)
    members = [np.nonzero(assign == c)[0] for c in range(clusters)]
    pairs = [np.array([(m[i], m[j]) for i in range(len(m)) for j in range(i + 1, len(m))]).reshape(-1, 2)
             for m in members]
    for i in range(clusters):
        for j in range(i + 1, clusters):
            if not len(pairs[i]) or not len(pairs[j]):
                continue
            si = load[pairs[i]].sum(axis=1)[:, None]
            sj = load[pairs[j]].sum(axis=1)[None, :]
            d = si - sj
            delta = np.abs(T[i] - d - mean) + np.abs(T[j] + d - mean) - abs(T[i] - mean) - abs(T[j] - mean)
            k = np.unravel_index(np.argmin(delta), delta.shape)
            if delta[k] < best[0]:
                best = (delta[k], (pairs[i][k[0]], pairs[j][k[1]], i, j))
    if best[1] is None:
        return False
    pi, pj, i, j = best[1]
    assign[pi], assign[pj] = j, i
    return True


def _canonical(assign: np.ndarray, load: np.ndarray, clusters: int) -> np.ndarray:
    """Relabel clusters in order of first appearance along descending load, which satisfies the
    symmetry-breaking rule x[c, e] = 0 for c > rank(e)."""
    order = np.argsort(-load, kind="stable")
    label: dict[int, int] = {}
    for e in order:
        if int(assign[e]) not in label:
            label[int(assign[e])] = len(label)
    return np.array([label[int(c)] for c in assign], dtype=np.int64)


def cluster_traffic(trans: np.ndarray, ca: np.ndarray, cb: np.ndarray, clusters: int) -> np.ndarray:
    """C[a, b]: tokens from cluster a (layer l) to cluster b (layer l + 1)."""
    onehot_a = np.eye(clusters)[ca]          # [E, G]
    onehot_b = np.eye(clusters)[cb]
    return onehot_a.T @ trans @ onehot_b


def assign_layer(traffic: np.ndarray, prev_device_of_cluster: np.ndarray, bandwidth: np.ndarray, *,
                 solver: str = "auto", time_limit: float | None = None) -> tuple[np.ndarray, float, Solve]:
    """Stage 2 for one layer pair: device of each layer-(l+1) cluster, the tail, the solve record."""
    g = len(prev_device_of_cluster)
    cluster_on = np.empty(g, dtype=np.int64)     # layer-l cluster on each device
    cluster_on[prev_device_of_cluster] = np.arange(g)
    prob = pulp.LpProblem("moetuner_assign", pulp.LpMinimize)
    y = {(c, d): var(prob, f"y_{c}_{d}", cat="Binary") for c in range(g) for d in range(g)}
    t = var(prob, "t", low=0)
    prob += t
    for c in range(g):
        prob += pulp.lpSum(y[c, d] for d in range(g)) == 1
    for d in range(g):
        prob += pulp.lpSum(y[c, d] for c in range(g)) == 1
    for g1 in range(g):
        k = cluster_on[g1]
        for g2 in range(g):
            if g1 != g2:
                prob += t >= pulp.lpSum(float(traffic[k, c] / bandwidth[g1, g2]) * y[c, g2] for c in range(g))
    res = solve(prob, solver=solver, time_limit=time_limit)
    if res.objective is None:
        raise PerfModelError(f"expert assignment ILP: {res.status}")
    dev = np.array([next(d for d in range(g) if y[c, d].value() > 0.5) for c in range(g)], dtype=np.int64)
    return dev, float(res.objective), res


def place_experts(profile: RoutingProfile, devices: int, *, bandwidth: np.ndarray | None = None,
                  solver: str = "auto", time_limit: float | None = None) -> Placement:
    """Both stages over all layers (see module docstring)."""
    t0 = time.perf_counter()
    L, E = profile.counts.shape
    if E % devices:
        raise PerfModelError(f"{E} experts cannot be split evenly over {devices} devices")
    bw = np.ones((devices, devices)) if bandwidth is None else np.asarray(bandwidth, dtype=float)
    solves: list[Solve] = []
    clusters = np.zeros((L, E), dtype=np.int64)
    balance = 0.0
    for layer in range(L):
        clusters[layer], obj, res = balance_layer(profile.counts[layer], devices, solver=solver, time_limit=time_limit)
        balance += obj
        solves.append(res)
    device_of_cluster = np.zeros((L, devices), dtype=np.int64)
    device_of_cluster[0] = np.arange(devices)
    traffic_total = 0.0
    if profile.transitions is not None:
        for layer in range(L - 1):
            c = cluster_traffic(profile.transitions[layer], clusters[layer], clusters[layer + 1], devices)
            device_of_cluster[layer + 1], obj, res = assign_layer(c, device_of_cluster[layer], bw, solver=solver,
                                                                  time_limit=time_limit)
            traffic_total += obj
            solves.append(res)
    else:
        device_of_cluster[:] = np.arange(devices)
    devs = np.take_along_axis(device_of_cluster, clusters, axis=1)
    return Placement(clusters=clusters, devices=devs, balance_objective=balance, traffic_objective=traffic_total,
                     optimal=all(s.optimal for s in solves), seconds=time.perf_counter() - t0, solves=solves)


def tail_traffic(trans: np.ndarray, dev_a: np.ndarray, dev_b: np.ndarray, devices: int,
                 bandwidth: np.ndarray | None = None) -> float:
    """max over device pairs g1 != g2 of tokens from experts on g1 (layer l) to experts on g2 (l+1)."""
    bw = np.ones((devices, devices)) if bandwidth is None else bandwidth
    m = np.eye(devices)[dev_a].T @ trans @ np.eye(devices)[dev_b]
    np.fill_diagonal(m, 0.0)
    return float((m / bw).max())
