"""One MoE layer's experts on two queues: flash loads and compute (a two-machine flow shop).

Expert j has load time io_j (its missing planes over the flash bandwidth; 0 when cached) and
compute time c_j; its compute may start once its load is done and the previous expert's compute
is. In a fixed order the layer ends at the classic flow-shop recursion
    L_j = L_{j-1} + io_j,   C_j = max(C_{j-1}, L_j) + c_j,   makespan = C_n.
HEBF runs the hottest expert first. Johnson's rule (Johnson 1954, Naval Res. Logist. Q. 1(1)) gives
the order with the least makespan (jobs with io < c first by increasing io, then the rest by
decreasing c); when loads dominate (io >= c for all, flash being 20-70x slower than memory),
decreasing c is hottest first, so HEBF is Johnson's order there. Serial on-demand loading has no
overlap: sum(io) + sum(c).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerTime:
    """Seconds for one MoE layer's experts: load and compute totals, the makespan, and the stall
    (makespan minus compute: time the compute queue waits for flash)."""

    io_s: float
    compute_s: float
    makespan_s: float

    @property
    def stall_s(self) -> float:
        return max(0.0, self.makespan_s - self.compute_s)  # float noise when nothing loads


def flow_shop(io_s: np.ndarray, compute_s: np.ndarray, order) -> float:
    """Makespan of the jobs in `order` on a load queue then a compute queue."""
    loaded = done = 0.0
    for j in order:
        loaded += float(io_s[j])
        done = max(done, loaded) + float(compute_s[j])
    return done


def johnson_order(io_s: np.ndarray, compute_s: np.ndarray) -> list[int]:
    """The makespan-optimal order of a two-machine flow shop (Johnson's rule)."""
    first = sorted((j for j in range(len(io_s)) if io_s[j] < compute_s[j]), key=lambda j: io_s[j])
    last = sorted((j for j in range(len(io_s)) if io_s[j] >= compute_s[j]), key=lambda j: -compute_s[j])
    return first + last


def layer_time(io_s: np.ndarray, compute_s: np.ndarray, *, schedule: str) -> LayerTime:
    """Experts are indexed hottest first. on_demand: serial; hebf: overlapped, hottest first."""
    io, comp = float(io_s.sum()), float(compute_s.sum())
    if schedule == "on_demand":
        return LayerTime(io_s=io, compute_s=comp, makespan_s=io + comp)
    return LayerTime(io_s=io, compute_s=comp, makespan_s=flow_shop(io_s, compute_s, range(len(io_s))))
