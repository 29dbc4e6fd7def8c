"""Measured interference between kernels sharing one GPU: NanoFlow's R -> P exchange rates.

A kernel given GEMM-centric resource share R runs at P(R) of its solo speed (NanoFlow, Zhu et al.
OSDI'25, s4.1.1; methods.md s1.6). For GEMMs P = R by definition. The points below are the
published measurements for GEMV-class (memory-bound) and network kernels on A100; the model
interpolates between them with monotone cubic (PCHIP) curves (`perfmodel.overlap.performance`,
`search.nanobatch.performance`). This module holds data only, so both can import it cheaply.
"""

from __future__ import annotations

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
