"""Nano-batch overlap (NanoFlow, Zhu et al. OSDI'25, s4; issue 4, part 2).

The dense batch of one iteration is split into K nano-batches (`Plan.nano_batches`, sizes from
`Plan.nano_split` or equal). Every operator runs once per nano-batch (a nano-op), costed by the
same `perfmodel.step` functions on the smaller batch, so the cost of smaller GEMMs (worse tile
and wave utilisation, weights read once per nano-batch, K x the launches) comes from
`perfmodel.ops.gemm` with the nano-batch M.

Nano-ops are classified by the resource that bounds them (`OpCost.bound`: compute, memory,
network; overhead-only ops count as memory). Ops of different classes may overlap, ops of the same
class may not (NanoFlow stage I: one stream per resource class). While several classes run they
share the device: the GEMM-centric share R of each running class (sum <= 1) gives it a speed
P(R) relative to running alone (NanoFlow s4.1.1, D = D_best / P(R)): P = R for compute (by
definition), and NanoFlow Table 3's measured R->P exchange rates for memory-bound (GEMV) and
network kernels. Table 3 prints R = 0, 0.1, 0.2, 0.8, 0.9, 1 only; the elided middle is filled by
monotone cubic (PCHIP, Fritsch-Carlson) interpolation through the printed points.

Schedule: a greedy list scheduler (one stream per class; a ready nano-op starts when its stream is
free, earliest layer/op/nano-batch first; dependencies: a nano-op waits for the previous op of the
same nano-batch, NanoFlow's rule that nano-ops depend iff their parents do and their batch ranges
intersect). At every start or finish the shares are re-chosen so that the running nano-ops finish
together as early as possible (min over the grid, R in steps of 0.05, of max_c left_c / P_c(R_c));
NanoFlow's stage II MILP picks R per nano-op for the whole pipeline instead. Instead of an 80-layer simulation, three identical layers
of each layer kind are simulated and the stage time is fill + layers x the steady per-layer period.
The LM head, sampling and pipeline send run after the layers, not overlapped.

The iteration takes min(overlapped schedule, nano-batches back to back): an engine's pipeline
search (NanoFlow's MILP) would never pick a schedule slower than not overlapping. So
  t_overlap <= t_nano_sequential = t_sequential + overhead,
with overhead = the stated cost of nano-batching (smaller GEMMs, repeated weight reads, launches).
The vectorized search path (`perfmodel.vectorized`) does not model overlap.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import PchipInterpolator

from perfmodel import ops as O
from perfmodel import step as S
from perfmodel.iteration import BatchShape

CLASSES = ("compute", "memory", "network")

# NanoFlow Table 3 (A100, ~100 GEMM-GEMV pairs; std < 5% of the mean): printed columns only.
TABLE3_R = (0.0, 0.1, 0.2, 0.8, 0.9, 1.0)
TABLE3_P = {"memory": (0.0, 0.2, 0.3, 0.85, 0.95, 1.0), "network": (0.0, 0.3, 0.5, 0.9, 1.0, 1.0)}
SHARE_STEP = 0.05
SIM_LAYERS = 3


@functools.lru_cache(maxsize=None)
def _curve(cls: str) -> PchipInterpolator | None:
    return None if cls == "compute" else PchipInterpolator(TABLE3_R, TABLE3_P[cls])


def performance(cls: str, r):
    """Speed relative to running alone of a `cls` kernel given GEMM-centric share r (0..1)."""
    r = np.clip(r, 0.0, 1.0)
    c = _curve(cls)
    return r if c is None else np.clip(c(r), 0.0, 1.0)


@functools.lru_cache(maxsize=None)
def _share_options() -> dict[tuple[bool, bool, bool], tuple[np.ndarray, np.ndarray]]:
    """For every set of active classes: candidate share vectors (sum <= 1, every active class
    > 0) and the speeds they give, shape (n, 3)."""
    grid = np.round(np.arange(0.0, 1.0 + 1e-9, SHARE_STEP), 6)
    out = {}
    for mask in ((a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)):
        if not any(mask):
            continue
        axes = [grid[1:] if m else np.array([0.0]) for m in mask]
        r = np.array(np.meshgrid(*axes, indexing="ij")).reshape(3, -1).T
        r = r[r.sum(axis=1) <= 1.0 + 1e-9]
        p = np.stack([performance(cls, r[:, i]) for i, cls in enumerate(CLASSES)], axis=1)
        out[tuple(bool(m) for m in mask)] = (r, p)
    return out


def choose_shares(active: tuple[bool, bool, bool], remaining) -> tuple[np.ndarray, np.ndarray]:
    """(R, P) for the active classes that let all running nano-ops finish together soonest:
    argmin over the grid of max_c remaining_c / P_c(R_c) (remaining: solo seconds left of the op
    running in class c). Giving every op R_c = its share of the solo work reproduces running them
    back to back at worst, because P(R) >= R on every curve; so sharing is never slower."""
    r, p = _share_options()[active]
    rem = np.asarray(remaining, dtype=float)
    idx = [i for i in range(3) if active[i]]
    finish = np.max(rem[idx] / np.maximum(p[:, idx], 1e-12), axis=1)
    i = int(np.argmin(finish))
    return r[i], p[i]


def op_class(op: O.OpCost) -> str:
    b = op.bound
    return "memory" if b == "overhead" else b


@dataclass
class NanoOp:
    name: str
    cls: str
    nano: int
    layer: int
    solo_s: float
    start_s: float = 0.0
    end_s: float = 0.0
    mean_share: float = 0.0


@dataclass
class OverlapResult:
    """One pipeline stage of one micro-batch, with and without nano-batch overlap."""

    nano_batches: int
    split: tuple[float, ...]
    t_sequential_s: float          # the batch unsplit, operators back to back (the on-device model)
    t_nano_sequential_s: float     # split into nano-batches, back to back, no overlap
    t_simulated_s: float           # the overlapped schedule
    t_head_s: float                # LM head etc. after the layers (in every time above)
    class_totals_s: tuple[float, float, float] = (0.0, 0.0, 0.0)  # solo seconds per class, all nano-ops
    schedule: list[NanoOp] = field(default_factory=list, repr=False)  # the simulated layers

    @property
    def t_overlap_s(self) -> float:
        return float(min(self.t_simulated_s, self.t_nano_sequential_s))

    @property
    def t_fluid_s(self) -> float:
        """The ideal pipeline (NanoFlow stage II in the fluid limit, no dependencies): the least
        time in which shares with sum <= 1 can run every class's solo work, a small LP over the
        share grid: min sum_j x_j s.t. sum_j x_j P_c(R_j) >= W_c. A lower bound on any schedule."""
        return fluid_time(self.class_totals_s)

    @property
    def overhead_s(self) -> float:
        """The stated cost of nano-batching: smaller GEMMs, weights re-read, more launches."""
        return self.t_nano_sequential_s - self.t_sequential_s

    @property
    def gain(self) -> float:
        return self.t_sequential_s / self.t_overlap_s

    def to_dict(self) -> dict:
        return {"nano_batches": self.nano_batches, "split": list(self.split),
                "t_sequential_ms": self.t_sequential_s * 1e3, "t_nano_sequential_ms": self.t_nano_sequential_s * 1e3,
                "t_overlap_ms": self.t_overlap_s * 1e3, "t_simulated_ms": self.t_simulated_s * 1e3,
                "t_fluid_ms": self.t_fluid_s * 1e3, "overhead_ms": self.overhead_s * 1e3, "gain": self.gain}


def fluid_time(work) -> float:
    """Least time to run solo work W_c of each class with shares from the grid (see t_fluid_s)."""
    from scipy.optimize import linprog

    w = np.asarray(work, dtype=float)
    if w.sum() <= 0:
        return 0.0
    opts = np.vstack([p for _, p in _share_options().values()])
    res = linprog(np.ones(len(opts)), A_ub=-opts.T, b_ub=-w, bounds=(0, None), method="highs")
    return float(res.fun) if res.success else float(w.sum())


def split_fractions(plan, k: int | None = None) -> tuple[float, ...]:
    k = plan.nano_batches if k is None else k
    if plan.nano_split is not None and len(plan.nano_split) == k:
        tot = sum(plan.nano_split)
        return tuple(x / tot for x in plan.nano_split)
    return tuple([1.0 / k] * k)


def _layer_kinds(model) -> list[tuple[str, int]]:
    n_moe = model.num_moe_layers
    kinds = []
    if model.num_layers - n_moe:
        kinds.append(("dense", model.num_layers - n_moe))
    if n_moe:
        kinds.append(("moe", n_moe))
    return kinds


def _layer_ops(sm, kind: str, b: BatchShape) -> list[O.OpCost]:
    args = (sm.model, sm.system, sm.quant, sm.plan, b)
    block = S.mlp_ops(*args) if kind == "dense" else S.moe_ops(*args)
    return [op for op in S.attention_ops(*args) + block]


def simulate(chains: list[list[tuple[str, str, float]]], layers: int) -> tuple[float, list[NanoOp]]:
    """Greedy overlapped schedule of `layers` repetitions of each nano-batch's op chain.

    chains[k] = [(name, class, solo seconds), ...] for nano-batch k (one layer). Returns the
    makespan and the nano-ops with start/end times."""
    n_ops = len(chains[0])
    K = len(chains)
    ops = [[NanoOp(name, cls, k, l, t) for l in range(layers) for (name, cls, t) in chains[k]] for k in range(K)]
    nxt = [0] * K                        # next op index per nano-batch chain
    ready_at = [0.0] * K                 # when its predecessor finished
    remaining = np.zeros(3)
    for chain in ops:
        for op in chain:
            remaining[CLASSES.index(op.cls)] += op.solo_s
    running: dict[int, list] = {}        # class index -> [op, work left (solo s), share-time integral]
    busy_chain = [False] * K
    t = 0.0
    done = 0
    total = K * layers * n_ops
    out: list[NanoOp] = []
    while done < total:
        # start ready ops on free streams, earliest (layer, op, nano-batch) first
        started = True
        while started:
            started = False
            cands = []
            for k in range(K):
                if not busy_chain[k] and nxt[k] < len(ops[k]) and ready_at[k] <= t + 1e-15:
                    op = ops[k][nxt[k]]
                    ci = CLASSES.index(op.cls)
                    if ci not in running:
                        cands.append((nxt[k] // n_ops, nxt[k] % n_ops, k, ci, op))
            for layer, idx, k, ci, op in sorted(cands):
                if ci in running:
                    continue
                op.start_s = t
                if op.solo_s <= 0:
                    op.end_s = t
                    nxt[k] += 1
                    done += 1
                    out.append(op)
                    started = True
                    break
                running[ci] = [op, op.solo_s, 0.0]
                busy_chain[k] = True
                started = True
        if not running:
            # nothing can run now: jump to the next ready time
            waits = [ready_at[k] for k in range(K) if nxt[k] < len(ops[k]) and not busy_chain[k]]
            t = max(t, min(waits)) if waits else t
            if not waits:
                break
            continue
        active = tuple(i in running for i in range(3))
        # compute: its ready backlog (the running GEMM's work left plus ready GEMMs queued behind it);
        # memory/network: the running op's work left plus the non-compute ops after it in its
        # nano-batch before that nano-batch's next GEMM (what must finish to feed the GEMM stream)
        left = np.zeros(3)
        for i, item in running.items():
            left[i] = item[1]
            if i != 0:
                k, j = item[0].nano, nxt[item[0].nano] + 1
                while j < len(ops[k]) and ops[k][j].cls != "compute":
                    left[i] += ops[k][j].solo_s
                    j += 1
        for k in range(K):
            if not busy_chain[k] and nxt[k] < len(ops[k]) and ops[k][nxt[k]].cls == "compute":
                left[0] += ops[k][nxt[k]].solo_s
        r, perf = choose_shares(active, left)
        # time to the first finish at these speeds
        dt = min(running[i][1] / perf[i] for i in running)
        waits = [ready_at[k] - t for k in range(K) if nxt[k] < len(ops[k]) and not busy_chain[k] and ready_at[k] > t]
        if waits:
            dt = min(dt, min(waits))
        for i, item in list(running.items()):
            work = perf[i] * dt
            item[1] -= work
            item[2] += r[i] * dt
            remaining[i] -= work
            if item[1] <= 1e-15:
                op = item[0]
                op.end_s = t + dt
                op.mean_share = item[2] / max(op.end_s - op.start_s, 1e-30)
                k = op.nano
                nxt[k] += 1
                ready_at[k] = op.end_s
                busy_chain[k] = False
                done += 1
                out.append(op)
                del running[i]
        t += dt
    return t, out


def overlap(sm, batch: BatchShape, *, nano_batches: int | None = None, split: tuple[float, ...] | None = None
            ) -> OverlapResult:
    """One pipeline stage of one micro-batch `batch` with nano-batch overlap (see module docstring)."""
    model, pp = sm.model, sm.plan.pp
    K = sm.plan.nano_batches if nano_batches is None else nano_batches
    fr = split if split is not None else split_fractions(sm.plan, K)
    args = (sm.model, sm.system, sm.quant, sm.plan)
    t_seq = S.stage_time(S.step_ops(*args, batch), model, pp)
    nanos = [S.scale_batch(batch, f) for f in fr]
    t_nano_seq = sum(S.stage_time(S.step_ops(*args, b), model, pp) for b in nanos)
    stage_layers = math.ceil(model.num_layers / pp)
    share = stage_layers / model.num_layers
    head = sum(op.total_s for b in nanos for op in S.head_ops(*args, b))
    if any(b.tokens > 0 for b in nanos) and pp > 1:
        head += sum(op.total_s for b in nanos for op in S.step_ops(*args, b) if op.name == "pp_send")
    t_layers = 0.0
    schedule: list[NanoOp] = []
    fill = None
    for kind, n in _layer_kinds(model):
        chains = [[(op.name, op_class(op), op.time_s) for op in _layer_ops(sm, kind, b)] for b in nanos]
        t2, _ = simulate(chains, SIM_LAYERS - 1)
        t3, sched = simulate(chains, SIM_LAYERS)
        period = t3 - t2
        if fill is None:
            fill = max(t2 - (SIM_LAYERS - 1) * period, 0.0)
            schedule = sched
        t_layers += n * share * period
    t_sim = float((fill or 0.0) + t_layers + head)
    totals = [0.0, 0.0, 0.0]
    for b in nanos:
        for op in S.step_ops(*args, b):
            share_ = 1.0 if op.name in S.HEAD_OPS else share
            totals[CLASSES.index(op_class(op))] += op.total_s * share_
    return OverlapResult(nano_batches=K, split=tuple(fr), t_sequential_s=t_seq, t_nano_sequential_s=t_nano_seq,
                         t_simulated_s=t_sim, t_head_s=head, schedule=schedule, class_totals_s=tuple(totals))


def stage_time(sm, batch: BatchShape) -> float:
    """One pipeline stage of one micro-batch: the on-device formula (`perfmodel.step.stage_time`)
    for one nano-batch, the overlapped schedule for more."""
    if sm.plan.nano_batches <= 1:
        return S.stage_time(S.step_ops(sm.model, sm.system, sm.quant, sm.plan, batch), sm.model, sm.plan.pp)
    return overlap(sm, batch).t_overlap_s
