"""Goodput as DistServe defines it: the largest request rate at which the share of requests meeting
both latency SLOs stays at or above a target (90 % by default), found by bisection on simulated
runs; reported for the deployment and per device. A finite run above capacity only builds a
backlog, so attainment is judged after a warm-up share of the requests: an overloaded rate makes
the later requests miss."""

from __future__ import annotations

from typing import Callable

# Bisection steps after bracketing: 2^-7 of the bracket, < 1 % of the rate.
STEPS = 7
# Leading share of requests (by arrival) not judged: the system starts empty.
WARMUP = 0.2


def search(attainment_at: Callable[[float], float], *, target: float, guess: float, steps: int = STEPS) -> float:
    """Largest rate r with attainment_at(r) >= target (0.0 if even a trickle misses it).
    `guess`: a rate near saturation (the analytic estimate)."""
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}")
    hi = max(guess, 1e-6)
    lo = 0.0
    for _ in range(6):  # bracket: grow hi until it fails
        if attainment_at(hi) < target:
            break
        lo, hi = hi, hi * 2
    else:
        return lo
    if lo == 0.0:
        lo = hi * 1e-3
        if attainment_at(lo) < target:
            return 0.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        if attainment_at(mid) >= target:
            lo = mid
        else:
            hi = mid
    return lo
