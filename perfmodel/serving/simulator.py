"""Discrete-event simulation of one replica's iterations.

Each loop turn: take arrivals, make KV room for the running sequences (preempting the newest by
recompute or swap), ask the scheduler for the iteration's work, advance time by its duration.
A decode-only iteration is repeated up to the next event (completion, arrival, KV full) in one
turn: its k steps cost `StepTimer.decode_run` (exact, the step is affine in the context), so the
loop's work is O(events) rather than O(tokens).

Running sequences all advance the same number of tokens per decode step, `E` (1, or with
speculative decoding the expected tokens of a draft-and-verify round, `speculative.tokens_per_step`:
a deterministic expectation), so a global decode-step counter `G` gives each one's progress: a
sequence that joined at `g0` with context `base` and R tokens to go has context
`base + E (G - g0)` and finishes when `G` reaches `g0 + ceil(R / E)`. While a round verifies its
drafts each sequence holds KV for them (vLLM's lookahead slots): the KV check before a step leaves
room for 1 + k tokens per sequence. Aggregates (count, summed context, KV tokens) are kept
incrementally.

Token gaps (time between tokens, TBT / ITL per token): a sequence's gap is the time from its last
token to the end of the decode step that emits the next one; a prefill-only iteration in between
(prefill-first schedulers) stalls every running sequence and lengthens its gap. All running
sequences share the last step's end, except those that joined since (their gap starts at their
first token), so the gaps are kept as (gap, tokens) pairs, O(events). A run of k decode steps
counts k - 1 gaps of its mean step time. A sequence back from swap or a recompute preemption
starts a new gap when it rejoins (the time it spent out is not counted).

Closed loop (`clients=C`): requests are issued in index order; the first C at t = 0 and request
C + k when the k-th request (any) completes, as a benchmark client with C concurrent slots
(vLLM `bench serve --max-concurrency`, SGLang bench_serving, genai-perf `--concurrency`) does.
Unissued requests hold an infinite arrival time until then.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import numpy as np

from perfmodel.errors import PerfModelError
from perfmodel.serving.kv import (ADMISSION_WATERMARK, SGLANG_CLIP_MAX_NEW_TOKENS, SGLANG_INIT_NEW_TOKEN_RATIO,
                                  KVConfig, new_token_ratio, new_token_ratio_fits, ratio_after_retract)
from perfmodel.serving.replica_data import WAIT, PrefixCache, ReplicaResult, Work
from perfmodel.serving.schedulers import Scheduler
from perfmodel.serving.timing import StepTimer


class Replica:
    """State of one replica during a simulation; schedulers read it and call `try_admit`."""

    def __init__(self, *, arrival, isl, osl, timer: StepTimer, kv: KVConfig, scheduler: Scheduler,
                 max_num_seqs: int, token_budget: int, prefix_tokens=None, prefix_group=None, conversation=None,
                 reuse_tokens=None, prefilled: bool = False, prefix: PrefixCache | None = None, seed: int = 0,
                 clients: int | None = None, arrival_delay_s: float = 0.0):
        self.delay = arrival_delay_s  # issue -> the scheduler sees it (the engine's front end)
        self.arr = [float(x) + arrival_delay_s for x in arrival]
        self.clients = clients
        if clients is not None:  # closed loop: see the module docstring
            if clients < 1:
                raise PerfModelError(f"closed loop needs >= 1 client, got {clients}")
            self.arr = [arrival_delay_s if i < clients else math.inf for i in range(len(self.arr))]
        self.issued = min(clients, len(self.arr)) if clients is not None else len(self.arr)
        self.isl = [int(x) for x in isl]
        self.osl = [int(x) for x in osl]
        n = len(self.arr)
        self.pfx = [0] * n if prefix_tokens is None else [int(x) for x in prefix_tokens]
        self.grp = [-1] * n if prefix_group is None else [int(x) for x in prefix_group]
        self.conv = [-1] * n if conversation is None else [int(x) for x in conversation]
        self.reuse = [0] * n if reuse_tokens is None else [int(x) for x in reuse_tokens]
        self.prefilled = prefilled
        self.timer, self.kv, self.sched = timer, kv, scheduler
        self.max_num_seqs, self.token_budget = max_num_seqs, token_budget
        self.prefix = prefix
        self.rng = np.random.default_rng(seed)
        self.tps = timer.tokens_per_step          # tokens per decode step (see the module docstring)
        self.slots = 1 + timer.draft_tokens       # KV slots a sequence needs for its next step
        # per request
        self.first = [math.nan] * n
        self.finish = [math.nan] * n
        self.out = [0] * n          # output tokens emitted so far
        self.need = [0] * n         # prompt tokens to compute in the current prefill
        self.cached = [-1] * n      # tokens served from cache (-1: not decided yet)
        self.done = [0] * n         # prompt tokens computed so far
        self.kv_adm = [0.0] * n     # KV charged at admission
        self.g0 = [0] * n
        self.base = [0] * n
        self.steps = [0] * n        # decode steps to finish, from g0
        self.rem = [0] * n          # output tokens to go, from g0
        self.epoch = [0] * n
        self.swap_tokens = [0.0] * n
        # replica
        self.now = 0.0
        self.G = 0
        self.ratio_at = (SGLANG_INIT_NEW_TOKEN_RATIO, 0)  # SGLang new_token_ratio: (value, set at step G)
        self.n_run = 0
        self.sum_ctx = 0
        self.running: dict[int, None] = {}
        self.heap: list[tuple[int, int, int]] = []
        self.waiting: deque[int] = deque()
        self.swapped: deque[int] = deque()
        self.prefilling: list[int] = []
        self.kv_used = 0.0
        self.sum_remaining = 0
        # KV grows with every decoded token unless admission reserved it (TRT-LLM, static batches)
        self.grows = kv.admission != "reserve_max" and not scheduler.reserves_batch
        self.cap_admit = kv.capacity_tokens * (1 - ADMISSION_WATERMARK)
        self.ready: set[int] = set()
        self.next_arrival = 0
        self.in_system = 0
        self.area = 0.0
        self.busy = 0.0
        self.overhead = 0.0         # swap time to add to the next iteration
        self.iterations = 0
        self.preemptions = 0
        self.prefill_computed = 0
        self.cached_total = 0
        self.pad: tuple[int, int, bool] | None = None
        self.horizon = math.inf     # co-simulation: a run of decode steps ends at the first step past it
        self.finished: list[int] = []  # completion order
        self.last_step_end = 0.0    # when the last decode step ended (the running sequences' last token)
        self.fresh: dict[int, float] = {}  # rid -> its last token, for sequences joined since that step
        self.gaps: list[float] = []
        self.gap_counts: list[int] = []

    # ---- what schedulers use --------------------------------------------------------------
    def prompt_left(self, rid: int) -> int:
        if self.cached[rid] < 0:
            self._decide_cache(rid)
        return self.need[rid] - self.done[rid]

    def _decide_cache(self, rid: int) -> None:
        """Prefix-cache hit (drawn once per request) and the prompt it leaves to compute."""
        hit = 0
        p = self.prefix
        if p is not None and not self.prefilled:
            g = self.grp[rid]
            if self.pfx[rid] and g >= 0 and g in self.ready and self.rng.random() < p.hit_rate:
                hit = self.pfx[rid]
            if p.cacheblend and self.reuse[rid] and self.rng.random() < p.hit_rate:
                hit += int(self.reuse[rid] * (1 - p.recompute_fraction))
        self.cached[rid] = hit
        self.need[rid] = self.isl[rid] - hit

    def try_admit(self, rid: int) -> bool:
        """Admit the head of the waiting queue if batch and KV limits allow; allocate its KV."""
        if self.swapped or self.n_run + len(self.prefilling) >= self.max_num_seqs:
            return False
        kv = self.kv
        if self.cached[rid] < 0:
            self._decide_cache(rid)
        shared = self.cached[rid] if self.grp[rid] == 0 else 0  # system-prompt blocks are shared
        resumed = self.out[rid]                                    # > 0 after a recompute preemption
        remaining = self.osl[rid] - resumed
        if kv.admission == "reserve_max":
            charge = kv.alloc(self.isl[rid] + self.osl[rid] - shared)
            ok = self.kv_used + charge <= kv.capacity_tokens
        else:
            charge = kv.alloc(self.isl[rid] + resumed - shared) + kv.frag_tokens
            future = 0.0
            if kv.admission == "reserve_ratio":
                future = kv.reserve_output_fraction * (self.sum_remaining + remaining)
            if kv.admission == "new_token_ratio":
                ok = new_token_ratio_fits(
                    used_tokens=self.kv_used, prompt_tokens=charge, output_tokens=remaining,
                    admitted_output_tokens=sum(min(self.osl[r] - self.out[r], SGLANG_CLIP_MAX_NEW_TOKENS)
                                               for r in self.prefilling),
                    running_remaining_tokens=self.sum_remaining, capacity_tokens=kv.capacity_tokens,
                    ratio=new_token_ratio(start=self.ratio_at[0], steps=self.G - self.ratio_at[1],
                                          floor=kv.reserve_output_fraction))
            else:
                ok = self.kv_used + charge + future <= self.cap_admit
        if not ok:
            return False
        self.waiting.popleft()
        self.kv_used += charge
        self.kv_adm[rid] = charge
        if self.prefilled:  # disaggregated decode: KV arrived with the request
            self.out[rid] = max(resumed, 1)
            self._join(rid, self.isl[rid] + self.out[rid], self.osl[rid] - self.out[rid])
        else:
            if resumed:  # recompute the prompt and the tokens generated before preemption
                self.need[rid] = self.isl[rid] + resumed - self.cached[rid]
            self.done[rid] = 0
            self.prefilling.append(rid)
        return True

    def take_static_batch(self) -> tuple[list[int], int, int]:
        """Up to max_num_seqs waiting requests whose padded KV (longest prompt + longest output
        each) fits."""
        batch: list[int] = []
        L = O = 0
        cap = self.kv.capacity_tokens - self.kv_used
        for rid in self.waiting:
            if len(batch) == self.max_num_seqs:
                break
            l2, o2 = max(L, self.isl[rid]), max(O, self.osl[rid])
            if (len(batch) + 1) * self.kv.alloc(l2 + o2) > cap:
                break
            batch.append(rid)
            L, O = l2, o2
        for rid in batch:
            self.waiting.popleft()
            self._decide_cache(rid)
            self.kv_adm[rid] = self.kv.alloc(L + O)
            self.kv_used += self.kv_adm[rid]
            self.done[rid] = 0
            self.prefilling.append(rid)
        return batch, L, O

    # ---- running set ----------------------------------------------------------------------
    def _join(self, rid: int, base: int, tokens: int) -> None:
        """Start decoding `tokens` more output tokens from context `base`."""
        if tokens <= 0:
            self._finish(rid, ran=False)
            return
        steps = tokens if self.tps == 1.0 else math.ceil(tokens / self.tps)
        self.running[rid] = None
        self.fresh[rid] = self.now
        self.n_run += 1
        self.sum_ctx += base
        self.g0[rid], self.base[rid], self.steps[rid], self.rem[rid] = self.G, base, steps, tokens
        self.sum_remaining += tokens
        heapq.heappush(self.heap, (self.G + steps, self.epoch[rid], rid))

    def _leave(self, rid: int) -> int:
        """Remove from the running set; returns the output tokens it emitted while running."""
        del self.running[rid]
        self.fresh.pop(rid, None)
        adv = (self.G - self.g0[rid]) * self.tps  # what the aggregates added for it
        self.n_run -= 1
        self.sum_ctx -= self.base[rid] + adv
        self.sum_remaining -= self.rem[rid] - adv
        self.kv_used -= self.kv_adm[rid] + (adv if self.grows else 0)
        self.epoch[rid] += 1
        tokens = min(self.rem[rid], int(adv + 1e-9))
        self.out[rid] += tokens
        return tokens

    def _finish(self, rid: int, *, ran: bool = True) -> None:
        if ran:
            self._leave(rid)
        else:
            self.kv_used -= self.kv_adm[rid]
        self.finish[rid] = self.now
        self.finished.append(rid)
        self.in_system -= 1
        if self.issued < len(self.arr):  # closed loop: the freed client sends its next request
            self.arr[self.issued] = self.now + self.delay
            self.issued += 1
        if self.conv[rid] >= 0:
            self.ready.add(self.conv[rid] + 1)

    def _preempt(self) -> None:
        """Free KV for one more decode step by evicting the newest running sequences."""
        before = self.preemptions
        self._evict()
        if self.preemptions > before and self.kv.admission == "new_token_ratio":
            max_new = sum(self.osl[r] for r in self.running)
            self.ratio_at = (ratio_after_retract(decoded_tokens=max_new - round(self.sum_remaining),
                                                 running=self.n_run, max_new_tokens=max_new), self.G)

    def _evict(self) -> None:
        while self.n_run and self.kv_used + self.n_run * self.slots > self.kv.capacity_tokens:
            rid = next(reversed(self.running))
            if self.n_run == 1:
                raise PerfModelError(
                    f"request {rid} ({self.isl[rid]} + {self.osl[rid]} tokens) does not fit in the KV cache "
                    f"({self.kv.capacity_tokens} tokens): use more devices, a shorter context or a KV dtype")
            held = self.kv_adm[rid] + (self.G - self.g0[rid]) * self.tps
            done = self._leave(rid)
            self.preemptions += 1
            if self.kv.preemption == "swap":
                self.swap_tokens[rid] = held
                self.base[rid], self.rem[rid] = self.base[rid] + done, self.rem[rid] - done
                self.overhead += self.kv.swap_time_s(held)
                self.swapped.appendleft(rid)
            else:
                self.cached[rid] = 0
                self.waiting.appendleft(rid)

    def _swap_in(self) -> None:
        while self.swapped:
            rid = self.swapped[0]
            held = self.swap_tokens[rid]
            if self.kv_used + held > self.cap_admit or self.n_run >= self.max_num_seqs:
                return
            self.swapped.popleft()
            self.kv_used += held
            self.kv_adm[rid] = held
            self.overhead += self.kv.swap_time_s(held)
            self._join(rid, self.base[rid], self.rem[rid])

    # ---- the loop -------------------------------------------------------------------------
    def _arrivals(self) -> None:
        n = len(self.arr)
        while self.next_arrival < n and self.arr[self.next_arrival] <= self.now:
            rid = self.next_arrival
            self.waiting.append(rid)
            self.area += self.now - self.arr[rid]
            self.in_system += 1
            self.next_arrival += 1

    def _advance(self, dt: float, steps: int) -> None:
        dt += self.overhead
        self.overhead = 0.0
        self.area += self.in_system * dt
        self.busy += dt
        start = self.now
        self.now += dt
        self.iterations += max(steps, 1)
        if steps:
            n = self.n_run
            self._record_gaps(start, dt / steps, steps)
            self.G += steps
            grown = n * steps * self.tps
            self.sum_ctx += grown
            self.sum_remaining -= grown
            if self.grows:
                self.kv_used += grown
            heap, G = self.heap, self.G
            while heap and heap[0][0] <= G:
                _, ep, rid = heapq.heappop(heap)
                if ep == self.epoch[rid] and rid in self.running:
                    self._finish(rid)

    def _record_gaps(self, start: float, step_s: float, steps: int) -> None:
        """Gaps of the tokens `steps` decode steps of `step_s` each, from `start`, emit. With
        speculative decoding a step emits `tps` tokens per sequence: each gap is per output token
        (the round's gap over tps), counted once per sequence and round (every round weighs the
        same tps tokens, so the token-weighted distribution is unchanged)."""
        first_end = start + step_s
        per = 1.0 / self.tps
        old = self.n_run - len(self.fresh)
        if old > 0:
            self.gaps.append((first_end - self.last_step_end) * per)
            self.gap_counts.append(old)
        for t in self.fresh.values():
            self.gaps.append((first_end - t) * per)
            self.gap_counts.append(1)
        if steps > 1:
            self.gaps.append(step_s * per)
            self.gap_counts.append(self.n_run * (steps - 1))
        self.fresh.clear()
        self.last_step_end = start + step_s * steps

    def _top(self) -> int:
        heap = self.heap
        while heap and (heap[0][1] != self.epoch[heap[0][2]] or heap[0][2] not in self.running):
            heapq.heappop(heap)
        return heap[0][0]

    def add(self, *, arrival: float, isl: int, osl: int) -> int:
        """Append a request that arrives at `arrival` (no earlier than those already added); its id."""
        for lst, v in ((self.arr, float(arrival)), (self.isl, int(isl)), (self.osl, int(osl)), (self.pfx, 0),
                       (self.grp, -1), (self.conv, -1), (self.reuse, 0), (self.first, math.nan),
                       (self.finish, math.nan), (self.out, 0), (self.need, 0), (self.cached, -1), (self.done, 0),
                       (self.kv_adm, 0.0), (self.g0, 0), (self.base, 0), (self.steps, 0), (self.rem, 0), (self.epoch, 0),
                       (self.swap_tokens, 0.0)):
            lst.append(v)
        self.issued += 1
        return len(self.arr) - 1

    def next_time(self) -> float:
        """When this replica next does anything: now if it holds work, else its next known arrival."""
        if self.waiting or self.n_run or self.prefilling or self.swapped:
            return self.now
        if self.next_arrival < self.issued:
            return max(self.now, self.arr[self.next_arrival])
        return math.inf

    def prepare(self) -> Work | None:
        """Take arrivals, make KV room and ask the scheduler for the next iteration: its `Work`,
        `WAIT` when the replica has nothing to run before its next arrival, None when nothing is
        left. `commit` applies the work once its duration is known (`turn` times it alone,
        `perfmodel.serving.lockstep` times a group of attention-DP ranks together)."""
        self._arrivals()
        if self.swapped:
            self._swap_in()
        if self.grows and self.n_run:
            self._preempt()
        chunks, decode, pad = self.sched.plan(self)
        decode = decode and self.n_run > 0
        if not chunks and not decode:
            if self.next_arrival < self.issued:
                return WAIT
            if self.waiting or self.swapped or self.prefilling:
                rid = (self.waiting or self.swapped or self.prefilling)[0]
                raise PerfModelError(
                    f"request {rid} ({self.isl[rid]} prompt + {self.osl[rid]} output tokens) can never be "
                    f"scheduled: the replica holds {self.kv.capacity_tokens} KV tokens and "
                    f"{self.max_num_seqs} sequences")
            return None
        if not chunks:
            return Work((), True, None, self._run_length(), (0, 0.0, 0, 0, self.n_run, self.sum_ctx))
        pt = kvr = 0
        pairs = 0.0
        for rid, c in chunks:
            off = self.cached[rid] + self.done[rid]
            pt += c
            pairs += c * (off + (c + 1) / 2)
            kvr += off
        if pad is not None and pad[2]:  # padded static prefill
            L, B = pad[0], len(chunks)
            pt, pairs, kvr = B * L, B * L * (L + 1) / 2, 0
        n = self.n_run if decode else 0
        return Work(tuple(chunks), decode, pad, 1 if decode else 0,
                    (pt, pairs, kvr, len(chunks), n, self.sum_ctx if decode else 0))

    def commit(self, work: Work, dt: float) -> None:
        """Apply `work` (from `prepare`, its decode steps possibly cut to `work.steps`) taking `dt`
        seconds, plus any pending swap time."""
        self._advance(dt, work.steps)
        if not work.chunks:
            return
        self.prefill_computed += work.shape[0]
        for rid, c in work.chunks:
            self.done[rid] += c
            if self.done[rid] >= self.need[rid]:
                self.prefilling.remove(rid)
                self.cached_total += self.cached[rid]
                self._prefill_done(rid, work.pad)

    def turn(self) -> bool:
        """One loop turn (an iteration, a run of decode steps, or a jump to the next arrival);
        False when nothing is left to do."""
        work = self.prepare()
        if work is None:
            return False
        if work is WAIT:
            self.now = max(self.now, self.arr[self.next_arrival])
            return True
        if work.chunks:
            dt = self.timer.step(*work.shape)
        else:
            dt = self.timer.decode_run(self.n_run, self.sum_ctx, work.steps)
        self.commit(work, dt)
        return True

    def wait_until(self, t: float) -> None:
        """Idle until `t` (an attention-DP rank waiting through its group's iteration)."""
        self.area += self.in_system * (t - self.now)
        self.now = t

    def run(self) -> ReplicaResult:
        while self.turn():
            pass
        return self.result()

    def _prefill_done(self, rid: int, pad) -> None:
        """The prefill emits one token; the sequence then decodes (static batches: padded)."""
        if math.isnan(self.first[rid]):
            self.first[rid] = self.now
        self.out[rid] += 1
        if pad is not None:
            self._join(rid, pad[0] + 1, pad[1] - 1)
        else:
            self._join(rid, self.isl[rid] + self.out[rid], self.osl[rid] - self.out[rid])
        if self.grp[rid] == 0 and self.pfx[rid]:
            self.ready.add(0)

    def _run_length(self) -> int:
        """Decode steps to run at once: up to the next completion, KV limit, arrival or horizon."""
        n = self.n_run
        k = self._top() - self.G
        if self.grows:  # steps whose growth leaves room for the last one's slots
            room = self.kv.capacity_tokens - self.kv_used - n * self.slots
            k = min(k, max(1, math.floor(room / (n * self.tps)) + 1))
        limit = self.horizon
        if self.next_arrival < self.issued:
            limit = min(limit, self.arr[self.next_arrival])
        if limit < math.inf and k > 1:
            t1 = self.timer.step(0, 0.0, 0, 0, n, self.sum_ctx)
            k = min(k, max(1, math.ceil((limit - self.now) / t1)))
        return k

    def result(self) -> ReplicaResult:
        emitted = np.array(self.out, dtype=np.int64)
        return ReplicaResult(
            arrival_s=np.array(self.arr) - self.delay, first_token_s=np.array(self.first), finish_s=np.array(self.finish),
            input_tokens=np.array(self.isl, dtype=np.int64), output_tokens=np.array(self.osl, dtype=np.int64),
            emitted=emitted, prefill_tokens_computed=self.prefill_computed, cached_tokens=self.cached_total,
            preemptions=self.preemptions, iterations=self.iterations, busy_s=self.busy, area_req_s=self.area,
            step_model_calls=self.timer.calls, token_gap_s=np.array(self.gaps),
            token_gap_count=np.array(self.gap_counts, dtype=np.int64))


def simulate_replica(**kwargs) -> ReplicaResult:
    return Replica(**kwargs).run()
