"""Collective communication with alpha-beta costs (Hockney model; Thakur et al., IJHPCA 2005).

time = alpha + volume_factor(n) * bytes / (bandwidth per direction * achievable fraction)
with the volume factors of bandwidth-optimal ring/tree algorithms (the NCCL "bus bandwidth"
convention): all-reduce 2(n-1)/n, all-gather and reduce-scatter (n-1)/n of the output size,
all-to-all (n-1)/n, point-to-point 1. `alpha` is the measured small-message latency of the link
the group spans (NVSwitch, PCIe, xGMI, HCCS, Ascend UB or the scale-out NIC; see
`System.link_for_group`). `group` may be a numpy array (vectorized search path).
"""

from __future__ import annotations

import math

import numpy as np

from perfmodel.hardware.catalog import System
from perfmodel.ops import OpCost

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "p2p")


def _volume(kind: str, n):
    if kind == "all_reduce":
        return 2.0 * (n - 1) / n
    if kind in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n
    if kind == "p2p":
        return 1.0
    raise ValueError(f"collective kind must be one of {KINDS}, got {kind!r}")


def _link(system: System, group: int, kind: str) -> tuple[float, float]:
    """(alpha seconds, effective bytes/s) of the bottleneck link for a group size. The latency was
    measured at `latency_group` devices; tree/ring depth grows with log2(n), so smaller groups are
    proportionally quicker (NCCL LL protocol small-message latency grows with log2 n). All-to-alls
    get the link's measured all-to-all fraction where the catalog has one (`Link.rate_efficiency`)."""
    link, _ = system.link_for_group(int(group))
    depth = max(math.log2(group), 1.0) / math.log2(link.latency_group)
    return link.latency_us * 1e-6 * depth, link.bw_per_direction_gb_s * 1e9 * link.rate_efficiency(kind)


def collective(name: str, kind: str, nbytes, group, system: System, *, count=1.0, rate_of: str | None = None) -> OpCost:
    """One collective over `group` devices moving `nbytes` (the per-device message size). `rate_of`:
    price the bytes at the achievable fraction of another kind (the NIC leg of an expert all-to-all
    moves point to point at the all-to-all kernels' measured rate)."""
    rate_kind = rate_of or kind
    if isinstance(group, np.ndarray):
        uniq, pos = np.unique(group, return_inverse=True)
        links = [_link(system, int(g), rate_kind) if (g > 1 or kind == "p2p") else (0.0, 1.0) for g in uniq]
        alpha = np.array([a for a, _ in links])[pos.reshape(group.shape)]
        rate = np.array([r for _, r in links])[pos.reshape(group.shape)]
        active = (group > 1) if kind != "p2p" else np.ones_like(group, dtype=bool)
        vol = _volume(kind, np.maximum(group, 1)) * nbytes
        return OpCost(name, "comm", comm_bytes=vol * active, t_comm=(alpha + vol / rate) * active, count=count)
    if group <= 1 and kind != "p2p":
        return OpCost(name, "comm", count=count)
    alpha, rate = _link(system, group, rate_kind)
    vol = _volume(kind, group) * nbytes
    return OpCost(name, "comm", comm_bytes=vol, t_comm=alpha + vol / rate, count=count)
