"""Serving metrics from per-request timestamps (what vLLM's and SGLang's benchmark scripts report).

TTFT = first token - arrival; TPOT = (finish - first token) / (output tokens - 1), over requests
with more than one output token; end-to-end = finish - arrival. Throughputs divide by the run's
duration, first arrival to last finish. ITL (inter-token latency) is over token gaps rather than
requests: its mean is the token-weighted mean of TPOT (vLLM `bench serve`); `itl_ms` percentiles
are those of each request's mean gap, weighted by its gaps. The simulator also records every
per-token gap (a prefill stall included): `token_gaps_ms` gives their distribution, the TBT tail
Sarathi-Serve's SLO is set on.
Tokens/s per user is the mean over requests of 1 / TPOT (the decode speed a client sees;
genai-perf's output token throughput per user). SLO attainment is the share of requests meeting both the
TTFT and the TPOT target (DistServe's definition).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Timeline:
    """Per-request results of a whole deployment (all replicas)."""

    arrival_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray

    @property
    def ttft_s(self) -> np.ndarray:
        return self.first_token_s - self.arrival_s

    @property
    def tpot_s(self) -> np.ndarray:
        """Per request; NaN where only one token was produced."""
        multi = self.output_tokens > 1
        out = np.full(len(self.arrival_s), np.nan)
        out[multi] = (self.finish_s[multi] - self.first_token_s[multi]) / (self.output_tokens[multi] - 1)
        return out

    @property
    def e2e_s(self) -> np.ndarray:
        return self.finish_s - self.arrival_s

    def tail(self, skip: int) -> "Timeline":
        """The requests after the first `skip` (in issue order): a run without its warm-up."""
        return Timeline(self.arrival_s[skip:], self.first_token_s[skip:], self.finish_s[skip:],
                        self.input_tokens[skip:], self.output_tokens[skip:])

    @property
    def duration_s(self) -> float:
        return float(self.finish_s.max() - self.arrival_s.min())


def distribution_ms(x_s: np.ndarray) -> dict[str, float]:
    x = x_s[~np.isnan(x_s)] * 1e3
    if len(x) == 0:
        return {"mean": float("nan"), **{f"p{p}": float("nan") for p in PERCENTILES}}
    q = np.percentile(x, PERCENTILES)
    return {"mean": float(x.mean()), **{f"p{p}": float(v) for p, v in zip(PERCENTILES, q)}}


def weighted_distribution_ms(x_s: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Mean and percentiles of `x_s` where sample i counts `weights[i]` times (inverted weighted CDF)."""
    keep = ~np.isnan(x_s) & (weights > 0)
    x, w = x_s[keep] * 1e3, weights[keep].astype(float)
    if len(x) == 0:
        return {"mean": float("nan"), **{f"p{p}": float("nan") for p in PERCENTILES}}
    order = np.argsort(x, kind="stable")
    x, cum = x[order], np.cumsum(w[order])
    idx = np.searchsorted(cum, np.array(PERCENTILES) / 100 * cum[-1], side="left")
    q = x[np.minimum(idx, len(x) - 1)]
    return {"mean": float((x * w[order]).sum() / cum[-1]), **{f"p{p}": float(v) for p, v in zip(PERCENTILES, q)}}


def token_gaps_ms(gap_s: np.ndarray, count: np.ndarray) -> dict[str, float]:
    """Mean and percentiles of the time between tokens over every token (`count[i]` tokens waited
    `gap_s[i]`): the per-token TBT distribution."""
    return weighted_distribution_ms(np.asarray(gap_s, dtype=float), np.asarray(count))


def slo_attainment(t: Timeline, ttft_slo_ms: float | None, tpot_slo_ms: float | None, *,
                   warmup: float = 0.0) -> float | None:
    """Share of requests meeting both SLOs; `warmup`: leading share of requests (by arrival) left out."""
    if ttft_slo_ms is None and tpot_slo_ms is None:
        return None
    ok = np.ones(len(t.arrival_s), dtype=bool)
    if ttft_slo_ms is not None:
        ok &= t.ttft_s * 1e3 <= ttft_slo_ms
    if tpot_slo_ms is not None:
        tpot = t.tpot_s
        ok &= np.isnan(tpot) | (tpot * 1e3 <= tpot_slo_ms)
    if warmup:
        order = np.argsort(t.arrival_s, kind="stable")
        ok = ok[order][int(len(ok) * warmup):]
    return float(ok.mean())


def summarize(t: Timeline, *, devices: int, ttft_slo_ms: float | None = None,
              tpot_slo_ms: float | None = None) -> dict:
    dur = t.duration_s
    out_tok = float(t.output_tokens.sum())
    total_tok = out_tok + float(t.input_tokens.sum())
    rate = len(t.arrival_s) / dur if dur > 0 else float("inf")
    return {
        "requests": int(len(t.arrival_s)),
        "duration_s": dur,
        "output_tok_s": out_tok / dur,
        "total_tok_s": total_tok / dur,
        "output_tok_s_per_device": out_tok / dur / devices,
        "total_tok_s_per_device": total_tok / dur / devices,
        "request_rate": rate,
        "ttft_ms": distribution_ms(t.ttft_s),
        "tpot_ms": distribution_ms(t.tpot_s),
        "itl_ms": weighted_distribution_ms(t.tpot_s, t.output_tokens - 1),
        "tok_s_per_user": float(np.nanmean(1.0 / t.tpot_s)) if (t.output_tokens > 1).any() else float("nan"),
        "e2e_ms": distribution_ms(t.e2e_s),
        "normalized_latency_s_per_token": float((t.e2e_s / t.output_tokens).mean()),
        "slo_attainment": slo_attainment(t, ttft_slo_ms, tpot_slo_ms),
    }


def steady_window_tok_s(t: Timeline) -> tuple[float, float, float] | None:
    """(output tok/s, total tok/s, window seconds) between the ramp-up and the drain of an offline
    run: from the first completion (every slot has been filled once) to the last first token
    (after it no request is admitted, so the batch only shrinks). What a benchmark measuring a
    window of iterations in the middle of a run reports (NanoFlow's offline runs skip 2,000 or
    10,000 iterations and count 1,500). A request's prompt counts when its first token appears;
    its other output tokens are spread evenly from its first token to its finish. None when the
    run has no such window (one wave of requests)."""
    t0, t1 = float(t.finish_s.min()), float(t.first_token_s.max())
    if not t1 > t0:
        return None
    first, finish = t.first_token_s, t.finish_s
    started = (first >= t0) & (first <= t1)
    span = np.maximum(finish - first, 1e-12)
    share = np.clip((np.minimum(finish, t1) - np.maximum(first, t0)) / span, 0.0, 1.0)
    out = started.sum() + float(((t.output_tokens - 1) * share).sum())
    total = out + float(t.input_tokens[started].sum())
    return out / (t1 - t0), total / (t1 - t0), t1 - t0
