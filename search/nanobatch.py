"""Nano-batch overlap: how long a step takes when its compute-, memory- and network-bound work
overlap on one device (NanoFlow, Zhu et al. OSDI'25, methods.md s1.6-1.7).

A nano-op given a resource share R runs at normalized performance P(R) of its solo speed
(duration D_best / P(R)). For GEMMs P(R) = R by definition; GEMV-class (memory-bound) and network
kernels keep more of their speed at small shares. The curves are NanoFlow Table 3 (A100) with the
elided middle interpolated linearly [R].

`overlap_time(C, M, N)` is the shortest time T in which the three classes can run concurrently:
the smallest T with R_c + R_m + R_n <= 1, R_c = C / T, R_m = P_gemv^-1(M / T),
R_n = P_net^-1(N / T). It is NanoFlow's stage-II objective with the shares constant over the step
(one "instant"); `search.ilp.nanoflow` solves the per-nano-op version exactly.
"""

from __future__ import annotations

import numpy as np

# NanoFlow Table 3: resource share R -> normalized performance P (only these columns printed).
SHARE_POINTS = np.array([0.0, 0.1, 0.2, 0.8, 0.9, 1.0])
GEMV_PERF = np.array([0.0, 0.2, 0.3, 0.85, 0.95, 1.0])
NET_PERF = np.array([0.0, 0.3, 0.5, 0.9, 1.0, 1.0])

_BISECT_STEPS = 40  # halves [max, sum] 40 times: relative error < 1e-12


def perf(kind: str, share):
    """P(R) for 'gemm', 'gemv' (memory-bound) or 'net' kernels."""
    if kind == "gemm":
        return np.asarray(share, dtype=float)
    return np.interp(share, SHARE_POINTS, GEMV_PERF if kind == "gemv" else NET_PERF)


def share_needed(kind: str, perf_needed):
    """Smallest share R with P(R) >= perf_needed (inverse of the piecewise-linear curve)."""
    p = np.clip(perf_needed, 0.0, 1.0)
    if kind == "gemm":
        return p
    curve = GEMV_PERF if kind == "gemv" else NET_PERF
    # NET_PERF reaches 1 at R = 0.9: the inverse takes the first share reaching each value.
    last = int(np.argmax(curve >= 1.0))
    return np.interp(p, curve[: last + 1], SHARE_POINTS[: last + 1])


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
    fill = (C + M + N - np.maximum(np.maximum(C, M), N)) / layers
    over = overlap_time(k * C, k * M, k * N) + fill
    return np.where(k > 1, np.minimum(over, serial), serial)
