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
definition), and NanoFlow's measured R->P exchange rates for memory-bound (GEMV) and network
kernels (`perfmodel.interference`: Table 3's printed columns R = 0, 0.1, 0.2, 0.8, 0.9, 1 plus the
R = 0.4 -> P = 0.8 of decode attention in its Fig. 6 pipeline), joined by monotone cubic (PCHIP,
Fritsch-Carlson) interpolation.

Schedule: a list scheduler (one stream per class; a ready nano-op starts when its stream is
free, earliest layer/op/nano-batch first; dependencies: a nano-op waits for the previous op of the
same nano-batch, NanoFlow's rule that nano-ops depend iff their parents do and their batch ranges
intersect). Elementwise ops (norms, RoPE, KV append, activation) run fused with the GEMM next to
them, as NanoFlow's released stage-I program pins them (its fusion equalities for KQV/RoPE-append,
LayerNorm-FFN and Activation). At every start or finish the shares are re-chosen by a policy:
either the running nano-ops finish together as early as possible (min over the grid, R in steps
of 0.05, of max_c left_c / P_c(R_c)), or the GEMM stream keeps a fixed share R_c while the other
classes split the rest that way. A small pipeline search stands in for NanoFlow's two MILPs
(stage I: nano-batch sizes and order; stage II: R per nano-op): it tries the share policies in
`SHARE_POLICIES`, the issue orders in `ORDERS` and, unless the plan fixes `nano_split`, the
splits of `candidate_splits`, and keeps the fastest. Instead of an 80-layer simulation, two and three identical layers of each
layer kind are simulated and the stage time is fill + layers x the steady per-layer period.
The LM head, sampling and pipeline send run after the layers, not overlapped.

The iteration takes min(overlapped schedule, nano-batches back to back): an engine's pipeline
search (NanoFlow's MILP) would never pick a schedule slower than not overlapping. So
  t_overlap <= t_nano_sequential = t_sequential + overhead,
with overhead = the stated cost of nano-batching (smaller GEMMs, repeated weight reads, launches).
A step model (`stage_time`) also runs a step unsplit when that is faster, as a small decode batch
often is: NanoFlow's stage I chooses the number of nano-batches per batch size, one included, so
`Plan.nano_batches` = K means up to K. The vectorized search path (`perfmodel.vectorized`) does not
model overlap.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from perfmodel import ops as O
from perfmodel import step as S
from perfmodel.interference import TABLE3_P, TABLE3_R, performance, share_points  # noqa: F401  (re-exported)
from perfmodel.iteration import BatchShape

CLASSES = ("compute", "memory", "network")

SHARE_STEP = 0.05
SIM_LAYERS = 3
# GEMM-stream share while other classes run; None = all running nano-ops finish together.
# NanoFlow Fig. 6 gives its LLaMA-2-70B GEMMs R = 0.6-0.9 next to GEMV/network at 0.1-0.4.
SHARE_POLICIES: tuple[float | None, ...] = (None, 0.9, 0.8, 0.7)
# Which ready nano-op a free stream takes first: "layer" (earliest layer, op, nano-batch: the
# nano-batches move in lockstep) or "staggered" (nano-batch k is ranked k/K of a layer behind its
# position, so nano-batch 0 runs up to a layer ahead: one nano-batch's attention meets another's
# FFN, as in NanoFlow's Fig. 6 pipeline).
ORDERS = ("layer", "staggered")
# Elementwise ops fused with a neighbouring GEMM in the overlapped pipeline: into the GEMM before
# them (epilogue) or the one after them (prologue). NanoFlow's released stage I
# (efeslab/Nanoflow auto_search, methods.md s1.7) pins KQV+RoPE-append, LayerNorm+FFN, Activation.
FUSE_INTO_PREVIOUS = frozenset({"rope", "kv_write"})
FUSE_INTO_NEXT = frozenset({"norm", "post_norm", "silu_mul", "expert_silu_mul", "topk"})


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


@functools.lru_cache(maxsize=None)
def _policy_options(active: tuple[bool, bool, bool], compute_share: float | None
                    ) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray]:
    """`_share_options()[active]` under a share policy: (R, P, the classes that must finish
    together, 1 / P of those classes)."""
    r, p = _share_options()[active]
    idx = [i for i in range(3) if active[i]]
    if compute_share is not None and active[0] and len(idx) > 1:
        # the GEMM stream keeps `compute_share`; the other classes finish together on the rest
        keep = np.isclose(r[:, 0], compute_share)
        if keep.any():
            r, p = r[keep], p[keep]
            idx = idx[1:]
    return r, p, idx, 1.0 / np.maximum(p[:, idx], 1e-12)


def choose_shares(active: tuple[bool, bool, bool], remaining, compute_share: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(R, P) for the active classes that let all running nano-ops finish together soonest:
    argmin over the grid of max_c remaining_c / P_c(R_c) (remaining: solo seconds left of the op
    running in class c). Giving every op R_c = its share of the solo work reproduces running them
    back to back at worst, because P(R) >= R on every curve; so sharing is never slower.
    `compute_share` fixes the GEMM stream's R while other classes run (a share policy)."""
    r, p, idx, inv_p = _policy_options(active, compute_share)
    rem = np.asarray(remaining, dtype=float)[idx]
    i = int(np.argmin((inv_p * rem).max(axis=1)))
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
    pipeline: "Pipeline | None" = None  # what the pipeline search chose
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
                "t_fluid_ms": self.t_fluid_s * 1e3, "overhead_ms": self.overhead_s * 1e3, "gain": self.gain,
                "pipeline": None if self.pipeline is None else
                {"split": list(self.pipeline.split),
                 "per_layer_kind": [{"compute_share": p, "order": o} for p, o in self.pipeline.policies]}}


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


def _layer_kinds(model) -> list[tuple[tuple, int]]:
    """((mixer, mlp), layers) of each layer kind of the model; ((mixer, mlp, group), layers) for
    the kinds of a NAS model's groups of one layer shape (ModelSpec.layer_groups)."""
    groups = model.layer_groups
    if len(groups) == 1:
        return [((mixer, mlp), n) for mixer, mlp, n in model.layer_kinds]
    return [((mixer, mlp, g), n) for g in groups for mixer, mlp, n in g.layer_kinds]


def fuse_chain(ops: list[O.OpCost]) -> list[tuple[str, str, float]]:
    """One nano-batch's layer as (name, class, solo seconds), the elementwise ops in
    `FUSE_INTO_PREVIOUS` / `FUSE_INTO_NEXT` folded into the GEMM beside them (their time added to
    it, the fused op named "a+b"). An elementwise op with no GEMM on that side stays on its own."""
    out: list[list] = []
    carry_names: list[str] = []
    carry_s = 0.0
    for op in ops:
        cls = op_class(op)
        if op.name in FUSE_INTO_PREVIOUS and out and out[-1][1] == "compute" and not carry_names:
            out[-1][0] += "+" + op.name
            out[-1][2] += op.time_s
            continue
        if op.name in FUSE_INTO_NEXT:
            carry_names.append(op.name)
            carry_s += op.time_s
            continue
        if carry_names and cls != "compute":
            # no GEMM follows: the carried ops run on their own, in order
            out.append(["+".join(carry_names), "memory", carry_s])
            carry_names, carry_s = [], 0.0
        out.append(["+".join(carry_names + [op.name]), cls, op.time_s + carry_s])
        carry_names, carry_s = [], 0.0
    if carry_names:
        out.append(["+".join(carry_names), "memory", carry_s])
    return [tuple(x) for x in out]


def candidate_splits(k: int) -> list[tuple[float, ...]]:
    """Nano-batch sizes the pipeline search tries when the plan fixes none: equal, and a smaller
    first nano-batch (NanoFlow's LLaMA-2-70B pipeline, Fig. 6: [0, 768) and [768, 2048), i.e.
    0.375 / 0.625), so the first nano-batch's memory-bound attention starts while the second's
    GEMMs still run."""
    if k <= 1:
        return [(1.0,)]
    eq = 1.0 / k
    first = (0.375, 0.25) if k == 2 else (eq / 2,)
    out = [tuple([eq] * k)]
    for f in first:
        rest = (1.0 - f) / (k - 1)
        out.append(tuple([f] + [rest] * (k - 1)))
    return out


def _layer_ops(sm, kind, b: BatchShape) -> list[O.OpCost]:
    """One layer's ops; `kind` is (mixer, mlp), (mixer, mlp, group of the layer's shape), or
    "dense" / "moe" for a full-attention layer."""
    mixer, mlp, model = ("full", kind, sm.model) if isinstance(kind, str) else (*kind[:2], kind[2] if len(kind) > 2 else sm.model)
    return S.layer_ops(model, sm.system, sm.quant, sm.plan, b, mixer, mlp)


def simulate(chains: list[list[tuple[str, str, float]]], layers: int, *, compute_share: float | None = None,
             order: str = "layer") -> tuple[float, list[NanoOp]]:
    """Greedy overlapped schedule of `layers` repetitions of each nano-batch's op chain.

    chains[k] = [(name, class, solo seconds), ...] for nano-batch k (one layer); `compute_share`
    is the share policy (see `choose_shares`). Returns the makespan and the nano-ops with
    start/end times."""
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
                        key = (nxt[k] // n_ops, nxt[k] % n_ops, k) if order == "layer" else \
                            (nxt[k] + k * n_ops / K, k, 0)
                        cands.append((key, k, ci, op))
            for _, k, ci, op in sorted(cands, key=lambda c: c[0]):
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
        r, perf = choose_shares(active, left, compute_share)
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


@dataclass(frozen=True)
class Pipeline:
    """What the pipeline search chose: the nano-batch split, and the share policy and issue order
    for each layer kind (dense, MoE) in `_layer_kinds` order."""

    split: tuple[float, ...]
    policies: tuple[tuple[float | None, str], ...]


def _layer_pipeline(sm, nanos: list[BatchShape], candidates) -> tuple[float, float, list[NanoOp], tuple]:
    """(fill, layers time, schedule of the first layer kind, chosen (share policy, order) per kind)
    for these nano-batches; candidates[i]: the (policy, order) pairs tried for layer kind i."""
    share = math.ceil(sm.model.num_layers / sm.plan.pp) / sm.model.num_layers
    t_layers = 0.0
    fill = None
    schedule: list[NanoOp] = []
    chosen = []
    for (kind, n), cands in zip(_layer_kinds(sm.model), candidates):
        chains = [fuse_chain(_layer_ops(sm, kind, b)) for b in nanos]
        # One stream per class at speed P <= 1: a layer's period is at least the largest class's
        # solo work in it. t3 - t2 alone can fall below that (a stream idle in the two-layer run
        # fills in the third), and `n` times that period then undercounts the bottleneck resource
        # (issue 15: a network-bound prefill predicted above its network bound).
        floor = max(sum(t for chain in chains for (_, c, t) in chain if c == cls) for cls in CLASSES)
        best = None
        for pol, order in cands:
            t2, _ = simulate(chains, SIM_LAYERS - 1, compute_share=pol, order=order)
            t3, sched = simulate(chains, SIM_LAYERS, compute_share=pol, order=order)
            period = max(t3 - t2, floor)
            f = max(t2 - (SIM_LAYERS - 1) * period, 0.0)
            cost = (f if fill is None else 0.0) + n * share * period
            if best is None or cost < best[0] - 1e-15:
                best = (cost, f, period, sched, (pol, order))
        _, f, period, sched, choice = best
        if fill is None:
            fill, schedule = f, sched
        chosen.append(choice)
        t_layers += n * share * period
    return fill or 0.0, t_layers, schedule, tuple(chosen)


def overlap(sm, batch: BatchShape, *, nano_batches: int | None = None, split: tuple[float, ...] | None = None,
            pipeline: Pipeline | None = None) -> OverlapResult:
    """One pipeline stage of one micro-batch `batch` with nano-batch overlap (see module docstring).

    `pipeline` replays a pipeline chosen before; otherwise the search runs: the split is `split`,
    else the plan's `nano_split`, else the best of `candidate_splits`, and each layer kind takes
    the best of `SHARE_POLICIES` x `ORDERS`."""
    model, pp = sm.model, sm.plan.pp
    K = sm.plan.nano_batches if nano_batches is None else nano_batches
    n_kinds = len(_layer_kinds(model))
    if pipeline is not None:
        K = len(pipeline.split)
        splits, cands = [pipeline.split], [(c,) for c in pipeline.policies]
    else:
        if split is not None:
            splits = [tuple(split)]
        elif sm.plan.nano_split is not None and len(sm.plan.nano_split) == K:
            splits = [split_fractions(sm.plan, K)]
        else:
            splits = candidate_splits(K)
        cands = [[(p, o) for o in ORDERS for p in SHARE_POLICIES]] * n_kinds
    args = (sm.model, sm.system, sm.quant, sm.plan)
    t_seq = S.stage_time(S.step_ops(*args, batch), model, pp)
    share = math.ceil(model.num_layers / pp) / model.num_layers
    best = None
    for fr in splits:
        nanos = [S.scale_batch(batch, f) for f in fr]
        head = sum(op.total_s for b in nanos for op in S.head_ops(*args, b))
        if any(b.tokens > 0 for b in nanos) and pp > 1:
            head += sum(op.total_s for b in nanos for op in S.step_ops(*args, b) if op.name == "pp_send")
        fill, t_layers, schedule, chosen = _layer_pipeline(sm, nanos, cands)
        t_sim = float(fill + t_layers + head)
        if best is None or t_sim < best[0] - 1e-15:
            best = (t_sim, fr, nanos, head, schedule, chosen)
    t_sim, fr, nanos, head, schedule, chosen = best
    t_nano_seq = sum(S.stage_time(S.step_ops(*args, b), model, pp) for b in nanos)
    totals = [0.0, 0.0, 0.0]
    for b in nanos:
        for op in S.step_ops(*args, b):
            share_ = 1.0 if op.name in S.HEAD_OPS else share
            totals[CLASSES.index(op_class(op))] += op.total_s * share_
    return OverlapResult(nano_batches=K, split=tuple(fr), t_sequential_s=t_seq, t_nano_sequential_s=t_nano_seq,
                         t_simulated_s=t_sim, t_head_s=head, schedule=schedule, class_totals_s=tuple(totals),
                         pipeline=Pipeline(split=tuple(fr), policies=chosen))


def _size_class(batch: BatchShape) -> tuple[int, int]:
    """The batch-size class a pipeline is searched for: tokens to the nearest power of two and the
    decode share of them in quarters (an engine searches its pipeline offline per dense batch size,
    NanoFlow s4.1.2, and reuses it)."""
    tokens = max(batch.tokens, 1.0)
    return int(round(math.log2(tokens))), int(round(4 * batch.decode_seqs / tokens))


def stage_time(sm, batch: BatchShape) -> float:
    """One pipeline stage of one micro-batch: the on-device formula (`perfmodel.step.stage_time`)
    for one nano-batch; for more, the overlapped schedule or the unsplit step, whichever is faster
    (module docstring). The pipeline search runs once per batch-size class (`_size_class`) of a
    step model; other batches of that class replay it."""
    if sm.plan.nano_batches <= 1:
        return S.stage_time(S.step_ops(sm.model, sm.system, sm.quant, sm.plan, batch), sm.model, sm.plan.pp)
    chosen = sm.nano_pipelines
    key = (sm.plan.nano_batches, _size_class(batch))
    pipe = chosen.get(key)
    if pipe is not None:
        r = overlap(sm, batch, pipeline=pipe)
    else:
        r = overlap(sm, batch)
        chosen[key] = r.pipeline
    return min(r.t_overlap_s, r.t_sequential_s)
