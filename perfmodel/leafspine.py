"""Collectives on a two-tier leaf-spine fabric: ECMP hashing, single-path routing with minimal flow
splitting, and ideal packet spraying (max link load and completion time).

Hosts (one NIC each) hang off leaves; every leaf has one uplink to every spine (`uplink_gb_s` per
direction; oversubscription = hosts_per_leaf x host_gb_s / (spines x uplink_gb_s)). A flow between
leaves crosses one uplink (source leaf -> spine) and one downlink (spine -> destination leaf):
- `ecmp`: every flow is hashed onto one spine (seeded random choice; the mean over `seeds` draws);
- `single`: single-path routing planned by the application without splitting: flows, largest first,
  each on the spine whose uplink and downlink are least loaded (greedy LPT placement);
- `split`: single-path routing planned by the application: the flows of each leaf pair are laid
  end to end over the spines, each spine taking an equal share, and a flow is cut only where a
  share ends (at most spines - 1 cuts per leaf pair; McNaughton's wrap-around rule);
- `spray`: every flow is spread evenly over all spines (per-packet spraying, no reordering cost).
A phase lasts as long as its most loaded link (host NIC, uplink or downlink) needs; a collective is
a sequence of identical phases (ring: 2(n-1) steps of 1/n of the buffer; all-to-all: one phase).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from perfmodel.errors import PerfModelError

Routing = Literal["ecmp", "single", "split", "spray"]
ROUTINGS: tuple[str, ...] = ("ecmp", "single", "split", "spray")


@dataclass(frozen=True)
class LeafSpine:
    leaves: int
    spines: int
    hosts_per_leaf: int
    host_gb_s: float          # NIC rate per direction, GB/s
    uplink_gb_s: float        # each leaf-spine link per direction, GB/s

    def __post_init__(self):
        for name in ("leaves", "spines", "hosts_per_leaf"):
            if getattr(self, name) < 1:
                raise PerfModelError(f"leaf-spine {name} must be >= 1, got {getattr(self, name)}")
        for name in ("host_gb_s", "uplink_gb_s"):
            if getattr(self, name) <= 0:
                raise PerfModelError(f"leaf-spine {name} must be > 0 GB/s, got {getattr(self, name)}")

    @property
    def hosts(self) -> int:
        return self.leaves * self.hosts_per_leaf

    @property
    def oversubscription(self) -> float:
        return self.hosts_per_leaf * self.host_gb_s / (self.spines * self.uplink_gb_s)

    def leaf(self, host: int) -> int:
        return host // self.hosts_per_leaf


def ring_flows(fabric: LeafSpine, nbytes: float) -> list[tuple[int, int, float]]:
    """One step of a ring over every host in order: host i sends nbytes to host i + 1."""
    n = fabric.hosts
    return [(i, (i + 1) % n, nbytes) for i in range(n)] if n > 1 else []


def all_to_all_flows(fabric: LeafSpine, nbytes: float) -> list[tuple[int, int, float]]:
    """Every host sends nbytes to every other host."""
    n = fabric.hosts
    return [(i, j, nbytes) for i in range(n) for j in range(n) if i != j]


def link_loads(fabric: LeafSpine, flows, routing: Routing, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Bytes on every link for one phase: host send/receive, uplinks [leaf, spine], downlinks
    [spine, leaf]; and `cuts`, the flow pieces added by splitting (split routing)."""
    if routing not in ROUTINGS:
        raise PerfModelError(f"routing must be one of {', '.join(ROUTINGS)}, got {routing!r}")
    send, recv = np.zeros(fabric.hosts), np.zeros(fabric.hosts)
    up, down = np.zeros((fabric.leaves, fabric.spines)), np.zeros((fabric.spines, fabric.leaves))
    rng = np.random.default_rng(seed)
    pairs: dict[tuple[int, int], list[float]] = {}
    for src, dst, b in flows:
        send[src] += b
        recv[dst] += b
        a, z = fabric.leaf(src), fabric.leaf(dst)
        if a != z:
            pairs.setdefault((a, z), []).append(b)
    cuts = 0
    for (a, z), sizes in pairs.items():
        if routing == "ecmp":
            for b, s in zip(sizes, rng.integers(0, fabric.spines, len(sizes))):
                up[a, s] += b
                down[s, z] += b
        elif routing == "single":
            for b in sorted(sizes, reverse=True):
                s = int(np.argmin(np.maximum(up[a, :], down[:, z])))
                up[a, s] += b
                down[s, z] += b
        elif routing == "spray":
            up[a, :] += sum(sizes) / fabric.spines
            down[:, z] += sum(sizes) / fabric.spines
        else:
            share = sum(sizes) / fabric.spines
            s, room = 0, share
            for b in sizes:  # lay flows end to end; cut one where a spine's share ends
                while b > room * (1 + 1e-12) and s < fabric.spines - 1:
                    if room > share * 1e-12:  # a piece fills the rest of this spine's share
                        up[a, s] += room
                        down[s, z] += room
                        b -= room
                        cuts += 1
                    s, room = s + 1, share
                up[a, s] += b
                down[s, z] += b
                room -= b
    return {"send": send, "recv": recv, "up": up, "down": down, "cuts": np.array(cuts)}


def phase_time_s(fabric: LeafSpine, loads: dict[str, np.ndarray]) -> dict:
    """Seconds for the most loaded link to drain, and which kind of link it is."""
    host_bw, up_bw = fabric.host_gb_s * 1e9, fabric.uplink_gb_s * 1e9
    t = {"host": max(loads["send"].max(), loads["recv"].max()) / host_bw,
         "fabric": max(loads["up"].max(initial=0.0), loads["down"].max(initial=0.0)) / up_bw}
    return {"time_s": max(t.values()), "bound": max(t, key=t.get), **{f"{k}_s": v for k, v in t.items()}}


def collective_time(fabric: LeafSpine, *, kind: Literal["all_reduce", "all_to_all"], nbytes: float,
                    routing: Routing, seeds: int = 16) -> dict:
    """Completion time of a ring all-reduce of an `nbytes` buffer per host, or an all-to-all sending
    `nbytes` in total from each host (equal shares), with the max fabric-link congestion (the most
    loaded fabric link over what spraying puts on it). ECMP: mean over `seeds` hash draws."""
    n = fabric.hosts
    if n < 2:
        raise PerfModelError(f"a collective needs >= 2 hosts, the fabric has {n}")
    if kind == "all_reduce":
        flows, phases = ring_flows(fabric, nbytes / n), 2 * (n - 1)
    elif kind == "all_to_all":
        flows, phases = all_to_all_flows(fabric, nbytes / n), 1
    else:
        raise PerfModelError(f"kind must be all_reduce or all_to_all, got {kind!r}")
    ideal = link_loads(fabric, flows, "spray")
    ideal_max = max(ideal["up"].max(initial=0.0), ideal["down"].max(initial=0.0))
    runs = []
    for seed in range(seeds if routing == "ecmp" else 1):
        loads = link_loads(fabric, flows, routing, seed=seed)
        worst = max(loads["up"].max(initial=0.0), loads["down"].max(initial=0.0))
        runs.append((phase_time_s(fabric, loads)["time_s"], worst / ideal_max if ideal_max else 1.0,
                     int(loads["cuts"])))
    t, congestion, cuts = (float(np.mean([r[i] for r in runs])) for i in range(3))
    return {"kind": kind, "routing": routing, "time_s": t * phases, "phases": phases,
            "max_congestion": congestion, "flow_cuts_per_phase": cuts, "flows_per_phase": len(flows)}
