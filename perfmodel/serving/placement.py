"""Where a disaggregated deployment's replicas sit and which link carries each request's KV.

Devices are assigned pool by pool (prefill first), worker by worker, replica by replica, as the
exporters launch them (`perfmodel.search.export._base.instances`). A prefill replica and a decode
replica on one node exchange KV over the node's link (NVLink, or PCIe on PCIe nodes); on two nodes
of one scale-up domain (an NVL72 rack, a CloudMatrix supernode) over the domain's link; otherwise
over the scale-out network (RDMA NICs), each link as `System.link_for_group` reports it. Every TP
(x PP) rank of a replica sends its shard over its own link, so min(prefill, decode) replica widths
move in parallel (DistServe s4.3).

The router sends prompts round-robin over prefill replicas and picks a decode replica by policy:
`round_robin` over all decode replicas, or `local`: round-robin over the decode replicas nearest to
the prefill replica (same node, else same scale-up domain, else all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfmodel.errors import PerfModelError
from perfmodel.hardware.catalog import System
from perfmodel.hardware.schema import Link
from perfmodel.serving.deployment import Pool

ROUTERS = ("round_robin", "local")
TIERS = ("node", "domain", "scaleout")


@dataclass(frozen=True)
class Placement:
    lanes: int                       # links one transfer uses in parallel
    kv_bytes_per_token: float        # whole model, every layer
    links: dict[str, tuple[Link, str]]   # tier -> (link, topology)
    prefill_node: np.ndarray         # [prefill replicas] node index of the replica's first device
    prefill_domain: np.ndarray
    decode_node: np.ndarray          # [decode replicas]
    decode_domain: np.ndarray

    def tier(self, p, d) -> np.ndarray:
        """0: same node, 1: same scale-up domain, 2: across the scale-out network."""
        p, d = np.asarray(p), np.asarray(d)
        same_node = self.prefill_node[p] == self.decode_node[d]
        same_domain = self.prefill_domain[p] == self.decode_domain[d]
        return np.where(same_node, 0, np.where(same_domain, 1, 2))

    def transfer_s(self, p, d, tokens) -> np.ndarray:
        """Seconds to move `tokens` of KV from prefill replica p to decode replica d."""
        tier = self.tier(p, d)
        lat = np.zeros(len(TIERS))
        rate = np.ones(len(TIERS))
        for i, name in enumerate(TIERS):
            if name in self.links:
                link = self.links[name][0]
                lat[i] = link.latency_us * 1e-6
                rate[i] = link.bw_per_direction_gb_s * 1e9 * link.efficiency * self.lanes
        return lat[tier] + np.asarray(tokens, dtype=float) * self.kv_bytes_per_token / rate[tier]

    def route_decode(self, prefill_replica, *, policy: str = "round_robin") -> np.ndarray:
        """Decode replica of each request (in arrival order) given its prefill replica."""
        p = np.asarray(prefill_replica, dtype=np.int64)
        n_d = len(self.decode_node)
        if policy == "round_robin":
            return np.arange(len(p)) % n_d
        if policy != "local":
            raise PerfModelError(f"--router must be one of {', '.join(ROUTERS)}, got {policy!r}")
        out = np.empty(len(p), dtype=np.int64)
        counters: dict[tuple, int] = {}
        for k, r in enumerate(p):
            near = np.where(self.decode_node == self.prefill_node[r])[0]
            if len(near) == 0:
                near = np.where(self.decode_domain == self.prefill_domain[r])[0]
            if len(near) == 0:
                near = np.arange(n_d)
            key = tuple(near)
            c = counters.get(key, 0)
            out[k] = near[c % len(near)]
            counters[key] = c + 1
        return out

    def mean_transfer_s(self, tokens: float, *, policy: str) -> float:
        """Mean transfer time of a `tokens` prompt over one full cycle of the router."""
        n = len(self.prefill_node) * len(self.decode_node)
        p = np.arange(n) % len(self.prefill_node)
        return float(self.transfer_s(p, self.route_decode(p, policy=policy), np.full(n, tokens)).mean())

    def to_dict(self, policy: str) -> dict:
        n = len(self.prefill_node) * len(self.decode_node)
        p = np.arange(n) % len(self.prefill_node)
        tiers = self.tier(p, self.route_decode(p, policy=policy))
        share = {TIERS[i]: float((tiers == i).mean()) for i in range(len(TIERS)) if (tiers == i).any()}
        return {"router": policy, "lanes": self.lanes,
                "links": {k: f"{v[0].name} ({v[1]})" for k, v in self.links.items() if k in share},
                "transfers_by_tier": share}


def _domain_devices(system: System) -> int:
    c = system.cluster
    if c is not None and c.scaleup_link is not None:
        return max(c.scaleup_domain_devices, system.node.devices_per_node)
    return system.node.devices_per_node


def place(system: System, prefill: Pool, decode: Pool) -> Placement:
    total = prefill.devices + decode.devices
    if total > system.max_devices:
        raise PerfModelError(
            f"the prefill pool ({prefill.devices} devices) and the decode pool ({decode.devices}) need {total} "
            f"devices but {system.id!r} has {system.max_devices}; name a larger cluster or fewer workers")
    per_node, domain = system.node.devices_per_node, _domain_devices(system)
    links = {}
    if per_node > 1:
        links["node"] = system.link_for_group(min(2, per_node) if system.node.topology != "pcie" else per_node)
    if system.max_devices > per_node and domain > per_node:
        links["domain"] = system.link_for_group(min(domain, system.max_devices))
    if system.max_devices > domain:
        links["scaleout"] = system.link_for_group(system.max_devices)
    w_p, w_d = prefill.plan.devices_per_replica, decode.plan.devices_per_replica
    first_p = np.arange(prefill.replicas) * w_p
    first_d = prefill.devices + np.arange(decode.replicas) * w_d
    return Placement(lanes=min(w_p, w_d), kv_bytes_per_token=prefill.step.kv_bytes_per_token, links=links,
                     prefill_node=first_p // per_node, prefill_domain=first_p // domain,
                     decode_node=first_d // per_node, decode_domain=first_d // domain)
