"""Goodput from the static estimate: DistServe's M/D/1 queueing approximation (Zhong et al.,
OSDI'24, eq. 1; methods.md s5).

A server with deterministic service time D fed by Poisson arrivals at utilization rho waits on
average W = rho D / (2 (1 - rho)) before service (M/D/1, Pollaczek-Khinchine), so a request's TTFT
is TTFT_static + W. The goodput is the largest rate whose TTFT stays within the SLO, i.e. the
largest rho with W <= SLO - TTFT_static:  rho* = 2w / (1 + 2w),  w = (SLO - TTFT_static) / D.

This is the analytic stand-in until the serving simulator (`perfmodel.serve`) lands: there,
goodput is the largest rate at which the simulated SLO attainment meets the target (DistServe's
binary search). The hook is `max_utilization` (and its two callers in `search.evaluate`): replace
rho* x capacity by the simulator's goodput for the plans on the front.
"""

from __future__ import annotations

import numpy as np


def max_utilization(ttft_s, service_s, ttft_slo_ms: float | None):
    """Largest utilization rho in [0, 1] at which TTFT_static + M/D/1 wait stays <= the SLO.
    `service_s`: the deterministic service time D a new request queues behind."""
    ttft_s = np.asarray(ttft_s, dtype=float)
    if ttft_slo_ms is None:
        return np.ones_like(ttft_s)
    slack = ttft_slo_ms / 1e3 - ttft_s
    w = slack / np.maximum(np.asarray(service_s, dtype=float), 1e-12)
    return np.where(slack > 0, 2 * w / (1 + 2 * w), 0.0)


def md1_ttft(ttft_s, service_s, rho):
    """TTFT at utilization rho: static TTFT + the M/D/1 mean wait (DistServe eq. 1 for D = service)."""
    rho = np.asarray(rho, dtype=float)
    return ttft_s + rho * service_s / (2 * (1 - rho))
