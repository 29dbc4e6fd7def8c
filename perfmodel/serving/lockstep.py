"""Attention-DP ranks in lockstep (issue 12): the discrete-event simulation of a group of ranks that
share their MoE layers.

With attention data parallelism and experts spread over the ranks (`Plan.ep > Plan.tp`), every
MoE layer is a collective over the group (DeepEP dispatch / combine, or DP attention's gather and
scatter), so no rank runs ahead: engines pad each rank's batch to the largest (SGLang DP attention's
`global_num_tokens`; ranks without work run idle batches) and the group's iteration is that of the
component-wise largest batch (`perfmodel.attention_dp.pad_to_largest`). Each rank keeps its own
queue, KV cache, scheduler and batch (a `Replica`); the group runs one iteration at a time:

- every rank with work plans its iteration (`Replica.prepare`); the group's duration is the step
  time of the padded batch (plus the largest pending swap time), and every rank applies it
  (`Replica.commit`); ranks with nothing to run wait through it;
- when every working rank only decodes, the group runs k steps at once (k: the first completion,
  KV limit or arrival on any rank); the padded decode context is the largest rank's at every step,
  the upper envelope of the ranks' contexts growing each at its own rate
  (`padded_decode_run`).

One rank alone, or ranks with equal batches, run exactly as independent replicas do; unequal
batches never make an iteration shorter than any rank's own (every operator's time grows with
every batch component).
"""

from __future__ import annotations

import math

from perfmodel.attention_dp import pad_to_largest
from perfmodel.iteration import BatchShape
from perfmodel.serving.replica_data import WAIT, ReplicaResult
from perfmodel.serving.simulator import Replica
from perfmodel.serving.timing import StepTimer


def simulate_group(ranks: list[Replica]) -> list[ReplicaResult]:
    """Run the attention-DP ranks of one group in lockstep (module docstring); their results in
    order. One rank runs exactly as `Replica.run` does."""
    return LockstepGroup(ranks).run()


class LockstepGroup:
    """The ranks of one attention-DP group, stepped together; a replica-like unit for event loops
    (`next_time`, `horizon`, `turn`) such as the disaggregated co-simulation."""

    def __init__(self, ranks: list[Replica]):
        if not ranks:
            raise ValueError("a lockstep group needs at least one rank")
        self.ranks = ranks
        self.timer = ranks[0].timer

    @property
    def horizon(self) -> float:
        return self.ranks[0].horizon

    @horizon.setter
    def horizon(self, t: float) -> None:
        for r in self.ranks:
            r.horizon = t

    def next_time(self) -> float:
        return min(r.next_time() for r in self.ranks)

    def run(self) -> list[ReplicaResult]:
        while self.turn():
            pass
        return [r.result() for r in self.ranks]

    def turn(self) -> bool:
        """One group iteration (or a jump to the next arrival on any rank); False when no rank has
        anything left to do."""
        works = [(r, r.prepare()) for r in self.ranks]
        busy = [(r, w) for r, w in works if w is not None and w is not WAIT]
        if not busy:
            waiting = [r for r, w in works if w is WAIT]
            if not waiting:
                return False
            t = min(r.arr[r.next_arrival] for r in waiting)
            for r in self.ranks:
                r.wait_until(max(r.now, t))
            return True
        swap_s = max(r.overhead for r, _ in busy)
        for r, _ in busy:
            r.overhead = 0.0
        timer = self.timer
        if any(w.chunks for _, w in busy):
            dt = timer.shape(pad_to_largest([BatchShape(*w.shape) for _, w in busy]))
            steps = 1
        else:
            steps = _cut_at_arrivals(timer, busy, self.ranks, min(w.steps for _, w in busy))
            dt = padded_decode_run(timer, [r.n_run for r, _ in busy], [r.sum_ctx for r, _ in busy], steps)
        dt += swap_s
        for r, w in works:
            if w is None or w is WAIT:
                r.wait_until(r.now + dt)
            else:
                r.commit(w._replace(steps=min(w.steps, steps)), dt)
        return True


def padded_decode_run(timer: StepTimer, seqs: list[int], contexts: list[float], k: int) -> float:
    """Time of k decode-only steps of a group padded to its largest rank: max(seqs) sequences at
    the largest summed context of any rank at each step, rank i's growing by seqs[i] x tokens per
    step (the upper envelope of the ranks' lines, one `StepTimer.decode_run` per piece)."""
    n = max(seqs)
    growth = [s * timer.tokens_per_step for s in seqs]
    return sum(timer.decode_run(n, contexts[i] + start * growth[i], steps, growth=growth[i])
               for start, steps, i in _envelope(contexts, growth, k))


def _envelope(c: list[float], g: list[float], k: int) -> list[tuple[int, int, int]]:
    """Pieces (first step, steps, line) of max_i(c[i] + j g[i]) over steps j < k."""
    cur = max(range(len(c)), key=lambda i: (c[i], g[i]))
    start, out = 0, []
    while start < k:
        nxt, end = None, k
        for i in range(len(c)):
            if g[i] > g[cur]:  # first step at which line i is strictly above the current one
                j = max(start + 1, math.floor((c[cur] - c[i]) / (g[i] - g[cur])) + 1)
                if j < end or (j == end and nxt is not None and g[i] > g[nxt]):
                    nxt, end = i, j
        out.append((start, end - start, cur))
        if nxt is None:
            break
        start, cur = end, nxt
    return out


def _cut_at_arrivals(timer: StepTimer, busy, live: list[Replica], steps: int) -> int:
    """Fewer decode steps when an arrival on any rank (a prompt that pads the whole group) or a
    co-simulation horizon comes first; each rank already stops at its own."""
    limit = min([r.horizon for r in live] + [r.arr[r.next_arrival] for r in live if r.next_arrival < r.issued])
    if limit == math.inf or steps <= 1:
        return steps
    now = busy[0][0].now
    t1 = timer.shape(pad_to_largest([BatchShape(*w.shape) for _, w in busy]))
    return min(steps, max(1, math.ceil((limit - now) / t1)))
