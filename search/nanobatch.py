"""Nano-batch overlap: how long a step takes when its compute-, memory- and network-bound work
overlap on one device (NanoFlow, Zhu et al. OSDI'25, methods.md s1.6-1.7).

A nano-op given a resource share R runs at normalized performance P(R) of its solo speed
(duration D_best / P(R)). For GEMMs P(R) = R by definition; GEMV-class (memory-bound) and network
kernels keep more of their speed at small shares. The curves are the cost model's
(`perfmodel.interference.performance`: NanoFlow's measured points, PCHIP-interpolated).

`overlap_time(C, M, N)` is the shortest time T in which the three classes can run concurrently:
the smallest T with R_c + R_m + R_n <= 1, R_c = C / T, R_m = P_gemv^-1(M / T),
R_n = P_net^-1(N / T). It is NanoFlow's stage-II objective with the shares constant over the step
(one "instant"); `search.ilp.nanoflow` solves the per-nano-op version exactly. It is optimistic
against perfmodel.overlap's list schedule; `search.refine` re-times the plans that reach the top.
"""

from __future__ import annotations

import numpy as np

from perfmodel.interference import performance

_CLASS = {"gemm": "compute", "gemv": "memory", "net": "network"}


_GRID = np.linspace(0.0, 1.0, 2001)      # share grid for inverting the monotone curves

_BISECT_STEPS = 40  # halves [max, sum] 40 times: relative error < 1e-12


def perf(kind: str, share):
    """P(R) for 'gemm', 'gemv' (memory-bound) or 'net' kernels."""
    return performance(_CLASS[kind], np.asarray(share, dtype=float))


def _inverse_table(kind: str) -> tuple[np.ndarray, np.ndarray]:
    p = np.maximum.accumulate(perf(kind, _GRID))
    first = np.concatenate([[True], np.diff(p) > 0])   # first share reaching each value
    return p[first], _GRID[first]


_INVERSE = {k: _inverse_table(k) for k in ("gemv", "net")}


def share_needed(kind: str, perf_needed):
    """Smallest share R with P(R) >= perf_needed (inverse of the monotone curve, on a 1/2000 grid
    rounded up so that P(R) >= perf_needed holds)."""
    p = np.clip(perf_needed, 0.0, 1.0)
    if kind == "gemm":
        return p
    pv, rv = _INVERSE[kind]
    idx = np.searchsorted(pv, p - 1e-12, side="left")
    return rv[np.minimum(idx, len(rv) - 1)]


def overlap_time(C, M, N):
    """Shortest concurrent time of compute (C), memory (M) and network (N) work (arrays, seconds)."""
    C, M, N = (np.asarray(x, dtype=float) for x in (C, M, N))
    lo = np.maximum(np.maximum(C, M), N)
    hi = C + M + N
    for _ in range(_BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        safe = np.where(mid > 0, mid, 1.0)
        need = C / safe + share_needed("gemv", M / safe) + share_needed("net", N / safe)
        ok = need <= 1.0
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return hi


def nano_step_time(C, M, N, k, layers: float = 1.0):
    """One step split into k nano-batches: C, M, N are the class times of ONE nano-batch over the
    step's `layers` layers. The k copies overlap (overlap_time of kC, kM, kN); the pipeline fills
    and drains once per step, costing one nano-batch's non-dominant work of one layer. Never
    slower than running them back to back; k == 1 is the serial sum."""
    C, M, N, k = (np.asarray(x, dtype=float) for x in (C, M, N, k))
    serial = k * (C + M + N)
    if not (k > 1).any():  # no row is split: skip the bisection (the search's common case)
        return serial
    fill = (C + M + N - np.maximum(np.maximum(C, M), N)) / layers
    over = overlap_time(k * C, k * M, k * N) + fill
    return np.where(k > 1, np.minimum(over, serial), serial)
