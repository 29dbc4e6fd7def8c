"""Steady-state serving estimate from mean lengths: saturation throughput, latency at a rate, the
largest rate that keeps the latency SLOs. Costs a handful of step-model evaluations.

Per replica, with mean prompt I, mean output O and mean decode context c: a sequence stays in the
batch for its O steps, so the batch's mean context is residence-weighted,
c = E[I O] / E[O] + E[O^2] / (2 E[O]) (= I + O/2 for fixed lengths; longer for heavy tails):
  concurrency  B = min(max_num_seqs, KV capacity / KV per request) and, for schedulers that mix
               prefill into decode iterations, B * (1 + I/(O-1)) <= token budget;
  saturation   static:         B / (t_prefill(B x I) + (O-1) t_decode(B))
               prefill-first:  1 / (t_prefill(k x I)/k + (O-1) t_decode(B)/B),  k prompts per prefill
               mixed/chunked:  B / ((O-1) t_mixed(B decodes + B I/(O-1) prompt tokens))
  at rate R    decoding sequences by Little's law, B_R = R (O-1) TPOT, solved as a fixed point with
               TPOT = t_decode(B_R) / (1 - R t_prefill(I)) (prefill-first) or t_mixed(B_R, R TPOT I);
               TTFT = prefill time + residual iteration + M/D/1 wait rho/(2 mu (1 - rho))
               (DistServe eq. 1 with the replica's per-request service time 1/mu).
KV per request: on-demand allocation holds I + O/2 on average (plus half an allocation unit);
reserve-max admission holds I + O for the whole life of a request.
Speculative decoding: an iteration is a round of E expected tokens (`StepTimer.tokens_per_step`)
with 1 + k query tokens per sequence against the token budget; t_decode and t_mixed are per output
token (round / E, the round carrying E times the prompt tokens per output token), so the formulas
above keep counting O - 1 token steps, and TPOT is per token as engines report it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

from perfmodel.attention_dp import group_ranks, padded_share
from perfmodel.serving.kv import KVConfig
from perfmodel.serving.timing import StepTimer

MIXING = frozenset({"chunked", "splitfuse", "inflight"})
STATIC = frozenset({"static", "prepack"})


@dataclass(frozen=True)
class Workpoint:
    """Latency at one request rate (whole deployment)."""

    rate_req_s: float
    utilization: float
    decode_batch: float
    ttft_ms: float
    tpot_ms: float
    e2e_ms: float


@dataclass(frozen=True)
class AnalyticEstimate:
    concurrency: float           # sequences per replica at saturation
    limited_by: str              # kv | max_num_seqs | token_budget
    saturation_req_s: float      # whole deployment
    saturation_output_tok_s: float
    saturation_total_tok_s: float
    at_rate: Workpoint | None
    max_rate_meeting_slo: float | None

    def to_dict(self) -> dict:
        d = asdict(self)
        return d


class ReplicaModel:
    """Mean-value model of one replica."""

    def __init__(self, *, timer: StepTimer, kv: KVConfig, scheduler: str, max_num_seqs: int, token_budget: int,
                 mean_input: float, mean_output: float, decode_context: float | None = None):
        """`decode_context`: residence-weighted mean context (default I + O/2, fixed lengths)."""
        self.t, self.kv, self.sched = timer, kv, scheduler
        self.I, self.O = max(mean_input, 1.0), max(mean_output, 1.0)
        self.O1 = max(self.O - 1, 1e-9)
        self.ctx = decode_context if decode_context is not None else self.I + self.O / 2
        self.budget = token_budget
        per_req = self._kv_per_request()
        limits = {"kv": kv.capacity_tokens / per_req, "max_num_seqs": float(max_num_seqs)}
        self.E, self.slots = timer.tokens_per_step, 1 + timer.draft_tokens  # see the module docstring
        plan = getattr(timer.model, "plan", None)
        self.ranks = group_ranks(plan) if plan is not None else 1  # attention-DP ranks stepping together
        if scheduler in MIXING:
            limits["token_budget"] = token_budget * self.O1 / (self.O1 * self.slots + self.I * self.E)
        self.limited_by = min(limits, key=limits.get)
        self.B = max(1.0, limits[self.limited_by])

    def _kv_per_request(self) -> float:
        kv, I, O = self.kv, self.I, self.O
        if self.sched in STATIC or kv.admission == "reserve_max":
            return kv.alloc(math.ceil(I + O))
        extra = kv.reserve_output_fraction * O / 2 if kv.admission in ("reserve_ratio", "new_token_ratio") else 0.0
        return self.ctx + kv.frag_tokens + extra

    # ---- step times -----------------------------------------------------------------------
    def t_decode(self, b: float) -> float:
        """Per output token of a decode-only iteration of b sequences."""
        n = max(1, round(b))
        return self.t.step(0, 0.0, 0, 0, n, round(n * self.ctx)) / self.E

    def t_prefill(self, k: float) -> float:
        """One prefill iteration of k whole prompts."""
        k = max(1, round(k))
        tokens = round(k * self.I)
        return self.t.step(tokens, k * self.I * (self.I + 1) / 2, 0, k, 0, 0)

    def t_mixed(self, b: float, prompt_tokens: float) -> float:
        """Per output token of b decoding sequences that mix in `prompt_tokens` per output token."""
        if round(prompt_tokens * self.E) == 0:
            return self.t_decode(b)
        return self._mixed_round(b, prompt_tokens * self.E) / self.E

    def _mixed_round(self, b: float, prompt_tokens: float) -> float:
        """One iteration of b decoding sequences and `prompt_tokens` prompt tokens."""
        n = max(0, round(b))
        p = max(0, round(prompt_tokens))
        if p == 0:
            return self.t_decode(b) * self.E
        seqs = max(1, round(p / self.I))
        chunk = max(1.0, self.budget - n * self.slots)
        # chunks of a prompt re-read the KV of the earlier chunks: ~ (pieces - 1) I/2 per prompt
        reread = max(0.0, math.ceil(self.I / chunk) - 1) * self.I / 2 * p / self.I
        return self.t.step(p, p * (self.I + 1) / 2, reread, seqs, n, round(n * self.ctx))

    def _t_mixed_at(self, b: float, prompts_per_step: float) -> float:
        """Mean step time when `prompts_per_step` prompts start per step: below one chunk per step a
        fraction q of the steps carries a whole chunk and the rest decode only (a prompt's tokens
        run together, so a MoE step does not activate experts for a token-sized slice of it every
        step); at one chunk or more per step every step mixes the mean prompt tokens."""
        chunk = max(1.0, self.budget - b * self.slots)
        q = prompts_per_step * self.E * math.ceil(self.I / chunk)  # share of iterations with a chunk
        q = padded_share(q, self.ranks)  # attention-DP: any rank's chunk pads its group (perfmodel.attention_dp)
        if q >= 1:
            return self.t_mixed(b, prompts_per_step * self.I)
        return (1 - q) * self.t_decode(b) + q * self._mixed_round(b, min(self.I, chunk)) / self.E

    # ---- saturation -----------------------------------------------------------------------
    def saturation_req_s(self) -> float:
        B, I, O1 = self.B, self.I, self.O1
        if self.sched in STATIC:
            return B / (self.t_prefill(B) + O1 * self.t_decode(B))
        if self.sched in MIXING:
            return B / (O1 * self.t_mixed(B, B * I / O1))
        if self.sched == "decode_only":
            return B / (O1 * self.t_decode(B))
        k = max(1.0, min(B, math.floor(self.budget / I)))
        per_request = self.t_prefill(k) / k
        if self.O <= 1:  # a prefill-only pool
            return 1.0 / per_request
        return 1.0 / (per_request + O1 * self.t_decode(B) / B)

    # ---- one rate -------------------------------------------------------------------------
    def at_rate(self, rate: float, mu: float, *, queue: bool = True) -> tuple[float, float, float, float]:
        """(ttft_s, tpot_s, decode batch, utilization) at `rate` requests/s on this replica;
        `queue=False` leaves out the open-loop (M/D/1) wait, which a closed loop bounds itself."""
        rho = rate / mu
        if rho >= 1:
            return math.inf, math.inf, self.B, rho
        t_pf1 = self.t_prefill(1)
        tpot = self.t_decode(1)
        b = 1.0
        for _ in range(30):
            b = min(self.B, max(1.0, rate * self.O1 * tpot))
            if self.sched in MIXING:
                new = self._t_mixed_at(b, rate * tpot)
            else:
                busy = 0.0 if self.sched == "decode_only" else min(rate * t_pf1, 0.95)
                new = self.t_decode(b) / (1 - busy)
            if abs(new - tpot) <= 1e-6 * tpot:
                tpot = new
                break
            tpot = 0.5 * (tpot + new)
        if self.sched in MIXING:
            chunk = max(1.0, self.budget - b * self.slots)
            prefill = math.ceil(self.I / chunk) * self._mixed_round(b, min(self.I, chunk))
        else:
            prefill = t_pf1
        ttft = prefill + rho * tpot * self.E / 2 + (rho / (2 * mu * (1 - rho)) if queue else 0.0)
        return ttft, tpot, b, rho


def estimate(model: ReplicaModel, *, replicas: int, rate: float | None = None, ttft_slo_ms: float | None = None,
             tpot_slo_ms: float | None = None) -> AnalyticEstimate:
    mu = model.saturation_req_s()
    total_mu = mu * replicas
    point = None
    if rate is not None:
        ttft, tpot, b, rho = model.at_rate(rate / replicas, mu)
        point = Workpoint(rate, rho, b, ttft * 1e3, tpot * 1e3, (ttft + model.O1 * tpot) * 1e3)
    best = None
    if ttft_slo_ms is not None or tpot_slo_ms is not None:
        def meets(r: float) -> bool:
            ttft, tpot, _, _ = model.at_rate(r / replicas, mu)
            return ((ttft_slo_ms is None or ttft * 1e3 <= ttft_slo_ms)
                    and (tpot_slo_ms is None or tpot * 1e3 <= tpot_slo_ms))
        lo, hi = 0.0, total_mu
        if meets(hi * 0.999):
            best = hi * 0.999
        elif meets(hi * 1e-6):
            for _ in range(20):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if meets(mid) else (lo, mid)
            best = lo
        else:
            best = 0.0
    return AnalyticEstimate(
        concurrency=model.B, limited_by=model.limited_by, saturation_req_s=total_mu,
        saturation_output_tok_s=total_mu * model.O, saturation_total_tok_s=total_mu * (model.I + model.O),
        at_rate=point, max_rate_meeting_slo=best)


@dataclass(frozen=True)
class ClosedLoopPoint:
    """C clients, each sending its next request when the previous one completes (whole deployment)."""

    concurrency: float
    rate_req_s: float
    ttft_ms: float
    tpot_ms: float
    e2e_ms: float
    saturated: bool


@dataclass(frozen=True)
class SteadyState:
    """A deployment's mean-value model as curves need it: its saturation rate and the queue-free
    mean TTFT and TPOT at a request rate (whole deployment, seconds)."""

    saturation_req_s: float
    mean_output: float
    latency: Callable[[float], tuple[float, float]]
    open_loop: Callable[[float], tuple[float, float]]   # the same with the M/D/1 wait of Poisson arrivals

    def at_concurrency(self, c: float) -> ClosedLoopPoint:
        """Little's law on the closed loop: the rate X with X (TTFT(X) + (O-1) TPOT(X)) = C. Past
        saturation X stays at the saturation rate and the extra clients wait for a prompt slot:
        TTFT = C / X - (O-1) TPOT."""
        o1 = max(self.mean_output - 1, 0.0)

        def cycle(x: float) -> tuple[float, float, float]:
            ttft, tpot = self.latency(x)
            return ttft, tpot, ttft + o1 * tpot

        top = self.saturation_req_s * (1 - 1e-6)
        ttft, tpot, cyc = cycle(top)
        if top * cyc <= c:
            wait = max(ttft, c / top - o1 * tpot)
            return ClosedLoopPoint(c, top, wait * 1e3, tpot * 1e3, (wait + o1 * tpot) * 1e3, True)
        lo, hi = 0.0, top
        for _ in range(CLOSED_LOOP_BISECTIONS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if mid * cycle(mid)[2] < c else (lo, mid)
        ttft, tpot, cyc = cycle(lo)
        x = c / cyc
        return ClosedLoopPoint(c, x, ttft * 1e3, tpot * 1e3, cyc * 1e3, False)


# Bisection steps for the closed-loop rate: 2^-24 of the saturation rate, below the model's own error.
CLOSED_LOOP_BISECTIONS = 24


def steady_state(model: ReplicaModel, *, replicas: int) -> SteadyState:
    mu = model.saturation_req_s()

    def latency(rate: float, queue: bool = False) -> tuple[float, float]:
        ttft, tpot, _, _ = model.at_rate(rate / replicas, mu, queue=queue)
        return ttft, tpot
    return SteadyState(saturation_req_s=mu * replicas, mean_output=model.O, latency=latency,
                       open_loop=lambda rate: latency(rate, True))
