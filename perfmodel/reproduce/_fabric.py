"""The packet-spraying study's claim on a leaf-spine fabric, through perfmodel.leafspine."""

from __future__ import annotations

from perfmodel.leafspine import LeafSpine, collective_time
from perfmodel.reproduce._entry import Context, Entry, computed

SRC = "packet-spraying seed (issue 13's statement of its claim; the paper's figures are not in the reference set)"
BUFFER_B = 1e9    # our choice: 1 GB sent by every host


def packet_spraying(ctx: Context) -> Entry:
    nic = ctx.system("dgx-h100").node.nic      # 400 Gb/s ConnectX-7 per GPU (catalog, NV-BASEPOD)
    rate = nic.bw_per_direction_gb_s * nic.efficiency
    fabric = LeafSpine(leaves=8, spines=8, hosts_per_leaf=8, host_gb_s=rate, uplink_gb_s=rate)
    t = {r: collective_time(fabric, kind="all_to_all", nbytes=BUFFER_B, routing=r) for r in ("ecmp", "split", "spray")}
    split = t["split"]
    setup = {"model": "none (a collective)", "hardware": "8 leaves x 8 hosts (DGX H100 NICs), 8 spines, "
                                                      "leaf-spine links at the NIC rate (1:1)",
             "workload": "all-to-all, 1 GB per host in equal shares", "baseline": "ideal packet spraying",
             "sources": {"claim": SRC, "NIC rate": "catalog dgx-h100 nic (NV-BASEPOD)", "fabric size, buffer": "our choice"}}
    return computed(seed="packet spraying", claim="single-path routing with minimal flow splitting matches ideal "
                    "multipath (packet spraying)", setup=setup, published=1.0,
                    predicted=split["time_s"] / t["spray"]["time_s"], unit="x completion time vs spraying",
                    kind="ratio", source=SRC,
                    detail=f"ECMP {t['ecmp']['time_s'] / t['spray']['time_s']:.2f}x (max link load "
                           f"{t['ecmp']['max_congestion']:.2f}x spraying's); {split['flow_cuts_per_phase']:.0f} cuts over "
                           f"{split['flows_per_phase']} flows; {split['time_s'] * 1e3:.1f} ms")
