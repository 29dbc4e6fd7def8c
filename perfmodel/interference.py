"""Measured interference between kernels sharing one GPU: NanoFlow's R -> P exchange rates.

A kernel given GEMM-centric resource share R runs at P(R) of its solo speed (NanoFlow, Zhu et al.
OSDI'25, s4.1.1; methods.md s1.6). For GEMMs P = R by definition. The points below are the
published measurements for GEMV-class (memory-bound) and network kernels on A100; `performance`
interpolates between them with monotone cubic (PCHIP) curves, the one curve of
`perfmodel.overlap` and `search.nanobatch`. It is written with numpy (SciPy's PchipInterpolator,
same values, tests/perfmodel/test_interference.py) so neither imports scipy (0.7 s of a cold
start) for it.
"""

from __future__ import annotations

import functools

import numpy as np

# NanoFlow Table 3 (~100 GEMM-GEMV pairs on A100, std < 5% of the mean): the printed columns only,
# the middle of the table is elided ("...") in the paper.
TABLE3_R = (0.0, 0.1, 0.2, 0.8, 0.9, 1.0)
TABLE3_P = {"memory": (0.0, 0.2, 0.3, 0.85, 0.95, 1.0), "network": (0.0, 0.3, 0.5, 0.9, 1.0, 1.0)}

# NanoFlow s4.1 / Fig. 6 (LLaMA-2-70B pipeline): decode attention given R = 0.4 "reaches about 80%
# of its solo speed" (methods.md s1.6). A point inside Table 3's elided middle.
FIG6_POINTS = {"memory": ((0.4, 0.8),), "network": ()}


def share_points(cls: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(R, P) points of the measured exchange rate for a memory or network kernel, sorted by R."""
    pts = sorted(set(zip(TABLE3_R, TABLE3_P[cls])) | set(FIG6_POINTS[cls]))
    return tuple(r for r, _ in pts), tuple(p for _, p in pts)


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives with SciPy's end conditions (PchipInterpolator)."""
    h = np.diff(x)
    delta = np.diff(y) / h
    d = np.zeros_like(y)
    for k in range(1, len(x) - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])

    def end(h0, h1, m0, m1):
        v = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(v) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(v) > abs(3 * m0):
            return 3 * m0
        return v

    d[0] = end(h[0], h[1], delta[0], delta[1])
    d[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    return d


@functools.lru_cache(maxsize=None)
def _curve(cls: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = (np.asarray(v, dtype=float) for v in share_points(cls))
    return x, y, _pchip_slopes(x, y)


def performance(cls: str, r):
    """P(R): speed of a `cls` ("compute", "memory" or "network") kernel given GEMM-centric share r,
    relative to running alone; r a number or an array."""
    r = np.clip(np.asarray(r, dtype=float), 0.0, 1.0)
    if cls == "compute":
        return r
    x, y, d = _curve(cls)
    i = np.clip(np.searchsorted(x, r, side="right") - 1, 0, len(x) - 2)
    h = x[i + 1] - x[i]
    s = (r - x[i]) / h
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    return np.clip(h00 * y[i] + h10 * h * d[i] + h01 * y[i + 1] + h11 * h * d[i + 1], 0.0, 1.0)
