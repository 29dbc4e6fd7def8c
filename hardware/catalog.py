"""Load the bundled hardware catalog (and users' YAML files) and resolve names to a `System`."""

from __future__ import annotations

import re

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from perfmodel.common.errors import PerfModelError, UnknownNameError, pydantic_message
from perfmodel.common.textfile import MAX_CONFIG_BYTES, read_text
from perfmodel.common.yamlfile import load_mapping
from perfmodel.hardware.schema import Catalog, Cluster, Device, Link, Node


@dataclass(frozen=True)
class System:
    """What a plan runs on: one device type, the node that hosts it, optionally a cluster."""

    device: Device
    node: Node
    cluster: Cluster | None = None
    host_cpu: Device | None = None

    @property
    def id(self) -> str:
        return self.cluster.id if self.cluster else self.device.id

    @property
    def max_devices(self) -> int:
        if self.cluster:
            return self.cluster.num_nodes * self.node.devices_per_node
        return self.node.devices_per_node

    def link_for_group(self, group_size: int) -> tuple[Link, str]:
        """The bottleneck link a collective over `group_size` devices uses, and its topology."""
        if group_size <= 1:
            return _LOOPBACK, "single"
        if group_size > self.max_devices:
            where = self.cluster.id if self.cluster else self.node.id
            raise PerfModelError(
                f"a group of {group_size} devices does not fit {where!r}, which has {self.max_devices}; "
                f"name a cluster (e.g. a multi-node entry) to span nodes"
            )
        if group_size <= self.node.scaleup_domain_devices and self.node.topology != "pcie":
            link = self.device.scaleup_link or self.device.host_link
            return link, self.node.topology
        if self.cluster and group_size <= self.cluster.scaleup_domain_devices and self.cluster.scaleup_link:
            return self.cluster.scaleup_link, "ub_switch"
        if group_size <= self.node.devices_per_node:
            if self.device.host_link is None:
                raise PerfModelError(
                    f"a group of {group_size} devices on {self.node.id!r} needs the device's host_link, "
                    f"but {self.device.id!r} has none in the catalog"
                )
            return self.device.host_link, "pcie"
        link = (self.cluster.scaleout if self.cluster and self.cluster.scaleout else None) or self.node.nic
        if link is None:
            raise PerfModelError(
                f"a group of {group_size} devices spans nodes but {self.node.id!r} has no NIC in the catalog"
            )
        return link, "scaleout"


_LOOPBACK = Link(name="none", bw_per_direction_gb_s=1e6, latency_us=0.0, efficiency=1.0)


def _read_yaml(path: Path | str, text: str) -> Catalog:
    data = load_mapping(path, text, what="a hardware file with devices/nodes/clusters")
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source=str(path))) from None


def _check_unique(cat: Catalog, where: str) -> None:
    """Every id and alias names one entry (clusters, nodes and devices share one namespace)."""
    seen: dict[str, str] = {}
    for kind, items in (("device", cat.devices), ("node", cat.nodes), ("cluster", cat.clusters)):
        for item in items:
            for key in [item.id, *item.aliases]:
                owner = f"{kind} {item.id!r}"
                prev = seen.setdefault(key.lower(), owner)
                if prev != owner:
                    raise PerfModelError(f"{where}: name {key!r} is used by both {prev} and {owner}")


def _check_references(cat: Catalog, where: str) -> None:
    """Nodes name existing accelerators and CPU devices; clusters name existing nodes."""
    devices = _index(cat.devices)
    nodes = _index(cat.nodes)
    for node in cat.nodes:
        dev = devices.get(node.device.lower())
        if dev is None:
            raise UnknownNameError("device", node.device, [d.id for d in cat.devices])
        if dev.kind == "cpu":  # type: ignore[union-attr]
            raise PerfModelError(f"{where}: node {node.id!r} hosts {node.device!r}, which is a cpu, not an accelerator")
        if node.host_cpu is not None:
            cpu = devices.get(node.host_cpu.lower())
            if cpu is None:
                raise PerfModelError(f"{where}: node {node.id!r}: host_cpu {node.host_cpu!r} is not a device in the catalog")
            if cpu.kind != "cpu":  # type: ignore[union-attr]
                raise PerfModelError(f"{where}: node {node.id!r}: host_cpu {node.host_cpu!r} is a {cpu.kind}, not a cpu")  # type: ignore[union-attr]
    for cl in cat.clusters:
        if cl.node.lower() not in nodes:
            raise PerfModelError(f"{where}: cluster {cl.id!r}: node {cl.node!r} is not in the catalog")


@functools.lru_cache(maxsize=1)
def bundled() -> Catalog:
    """All YAML files under hardware/catalog/, merged."""
    devices, nodes, clusters = [], [], []
    folder = resources.files("perfmodel.hardware") / "catalog"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            cat = _read_yaml(f"hardware/catalog/{entry.name}", entry.read_text())
            devices += cat.devices
            nodes += cat.nodes
            clusters += cat.clusters
    cat = Catalog(devices=devices, nodes=nodes, clusters=clusters)
    _check_unique(cat, "hardware/catalog")
    _check_references(cat, "hardware/catalog")
    return cat


def load_file(path: str | Path) -> Catalog:
    p = Path(path)
    if not p.is_file():
        raise PerfModelError(f"--hardware {path}: no such file")
    cat = _read_yaml(p, read_text(p, what="a hardware file", max_bytes=MAX_CONFIG_BYTES))
    _check_unique(cat, str(p))  # a duplicate id would silently shadow the first entry
    return cat


def _index(items) -> dict[str, object]:
    out = {}
    for item in items:
        for key in [item.id, *item.aliases]:
            out[key.lower()] = item
    return out


def list_ids(catalog: Catalog | None = None) -> list[str]:
    cat = catalog or bundled()
    return [d.id for d in cat.devices] + [n.id for n in cat.nodes] + [c.id for c in cat.clusters]


def get_device(name: str, catalog: Catalog | None = None) -> Device:
    cat = catalog or bundled()
    dev = _index(cat.devices).get(name.lower())
    if dev is None:
        raise UnknownNameError("hardware", name, [d.id for d in cat.devices])
    return dev  # type: ignore[return-value]


def _default_node(device: Device, cat: Catalog) -> Node:
    candidates = [n for n in cat.nodes if n.device == device.id]
    for n in candidates:
        if n.default:
            return n
    if candidates:
        return candidates[0]
    # A device with no node in the catalog: a single-device "node" on its own host link.
    why = "synthesized by hardware.catalog: the device has no node in the catalog, so it runs alone"
    return Node(
        id=f"{device.id}-single", name=f"one {device.name}", device=device.id, devices_per_node=1,
        topology="single", scaleup_domain_devices=1, cpu_sockets=1,
        sources={"devices_per_node": why, "scaleup_domain_devices": why, "cpu_sockets": why},
    )


def resolve(name: str, *, entry: str | None = None) -> System:
    """A device, node or cluster id (or alias), or a path to a user's YAML file: its first entry, or
    the id `entry` names (a file with several setups)."""
    if name.endswith((".yaml", ".yml")) or "/" in name:
        user = load_file(name)
        _check_unique(user, name)
        base = bundled()
        # The user's entries come last so that they win over bundled entries with the same id or alias
        # (`_index` keeps the last entry for a key).
        cat = Catalog(devices=[*base.devices, *user.devices], nodes=[*base.nodes, *user.nodes],
                      clusters=[*base.clusters, *user.clusters])
        _check_references(cat, name)
        first = (user.clusters or user.nodes or user.devices or [None])[0]
        if first is None:
            raise PerfModelError(f"--hardware {name}: the file defines no device, node or cluster")
        return _resolve_in(entry or first.id, cat)
    return _resolve_in(name, bundled())


def _resolve_in(name: str, cat: Catalog) -> System:
    key = name.lower()
    clusters, nodes, devices = _index(cat.clusters), _index(cat.nodes), _index(cat.devices)
    if key in clusters:
        cl: Cluster = clusters[key]  # type: ignore[assignment]
        node: Node = nodes[cl.node.lower()]  # type: ignore[assignment]
        return _system(devices[node.device.lower()], node, cl, devices)  # type: ignore[arg-type]
    if key in nodes:
        node = nodes[key]  # type: ignore[assignment]
        return _system(devices[node.device.lower()], node, None, devices)  # type: ignore[arg-type]
    if key in devices:
        dev: Device = devices[key]  # type: ignore[assignment]
        return _system(dev, _default_node(dev, cat), None, devices)
    m = _NODES_OF.match(key)
    if m and (m.group(1) in nodes or m.group(1) in devices or m.group(1) in clusters):
        return _nodes_of(m.group(1), int(m.group(2)), cat)
    raise UnknownNameError("hardware", name, list_ids(cat))


# `ID` x N: N of a node (or of a device's default node) joined by the node's NIC, e.g. dgx-b200x8.
_NODES_OF = re.compile(r"^(.+?)x(\d+)$")
MAX_NODES = 1024  # a user-controlled size (issue 15): larger clusters are named in a catalog file


def _nodes_of(base: str, count: int, cat: Catalog) -> System:
    """A cluster of `count` nodes that are not in the catalog as a cluster: scale-up inside each node,
    the node's NIC between them (a rail-optimised fabric without oversubscription, the assumption
    the catalog's own multi-node entries make)."""
    system = _resolve_in(base, cat)
    if system.cluster is not None:
        raise PerfModelError(f"--hardware {base}x{count}: {base} is already a cluster; name its nodes instead")
    if not 1 <= count <= MAX_NODES:
        raise PerfModelError(f"--hardware {base}x{count}: the node count must be between 1 and {MAX_NODES}")
    node = system.node
    if count > 1 and node.nic is None:
        raise PerfModelError(f"--hardware {base}x{count}: node {node.id!r} has no NIC in the catalog to join "
                             f"{count} of them; name a cluster from a hardware file")
    why = f"synthesized by hardware.catalog from --hardware {base}x{count}: {count} x {node.id} over its NIC"
    cluster = Cluster(id=f"{base}x{count}", name=f"{count} x {node.name}", node=node.id, num_nodes=count,
                      scaleup_domain_devices=node.scaleup_domain_devices, scaleup_link=None, scaleout=node.nic,
                      sources={"num_nodes": why, "scaleup_domain_devices": why, "scaleout": why})
    return _system(system.device, node, cluster, _index(cat.devices))


def _system(dev: Device, node: Node, cluster: Cluster | None, devices: dict) -> System:
    cpu = devices.get(node.host_cpu.lower()) if node.host_cpu else None
    return System(device=dev, node=node, cluster=cluster, host_cpu=cpu)  # type: ignore[arg-type]
