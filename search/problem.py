"""Build a search `Problem` from user-facing names: model, hardware (+ device count), workload,
SLOs, objective and the (partly fixed) search space."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from perfmodel.common.jsonfile import parse_json
from perfmodel.common.textfile import MAX_CONFIG_BYTES, read_text
from perfmodel.hardware.catalog import System
from perfmodel.hardware.schema import Cluster
from perfmodel.errors import PerfModelError, pydantic_message
from perfmodel.resolve import resolve_model, resolve_system
from perfmodel.search.space import ResolvedSpace, SearchSpace
from perfmodel.specs.registry import alias_table

_LENGTHS = re.compile(r"^(?:fixed:)?(\d+)[/:x,](\d+)$")


Objective = Literal["throughput", "goodput", "cost"]
OBJECTIVES: tuple[str, ...] = ("throughput", "goodput", "cost")


@dataclass(frozen=True)
class SLO:
    """Latency targets in ms (None = no target)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None


@dataclass
class Problem:
    """Everything a searcher needs: the space, the workload, the SLOs and what to maximize."""

    space: ResolvedSpace
    isl: int
    osl: int
    slo: SLO
    objective: str = "throughput"
    expert_imbalance: dict | None = None   # (placement index, ep) -> max/mean expert load
    price_per_device_hour: tuple[float, ...] | None = None  # per hardware entry

    def __post_init__(self):
        # perfmodel StepModels of the nano-batched plans evaluated with nano_model="pipeline", kept
        # so that their chosen pipelines (one search per batch-size class) are reused across calls
        self._step_models: dict[tuple, object] = {}


def parse_workload(workload: str | None, isl: int | None = None, osl: int | None = None) -> tuple[int, int]:
    """(isl, osl) from `ISL/OSL`, `fixed:ISL:OSL`, a workload preset or file (mean lengths; needs
    `specs.workload`), or explicit isl/osl."""
    if workload is None:
        if isl is None or osl is None:
            raise PerfModelError("give --workload ISL/OSL (e.g. 4000/500) or a workload preset")
        return _check_lengths(int(isl), int(osl))
    m = _LENGTHS.match(workload.strip())
    if m:
        return _check_lengths(int(m.group(1)), int(m.group(2)))
    try:
        from perfmodel.specs.workload import load_workload  # the workload module (lengths, arrivals, traces)
    except ImportError:
        raise PerfModelError(f"--workload {workload!r}: use ISL/OSL (e.g. 4000/500) or fixed:ISL:OSL") from None
    w = load_workload(workload)
    return _check_lengths(max(1, round(w.mean_input)), max(1, round(w.mean_output)))


def _check_lengths(isl: int, osl: int) -> tuple[int, int]:
    if isl < 1 or osl < 1:
        raise PerfModelError(f"workload lengths must be >= 1, got isl={isl}, osl={osl}")
    return isl, osl


def system_for(name: str, devices: int | None, calibration: str | None = None) -> System:
    """The system for a hardware id; `devices` beyond one node spans ceil(devices / per node) nodes
    joined by the node's NIC (a cluster built on the fly)."""
    system = resolve_system(name, calibration=calibration)
    if devices is None or devices <= system.max_devices:
        return system
    node = system.node
    if system.cluster is not None or node.nic is None:
        raise PerfModelError(f"--devices {devices} exceeds the {system.max_devices} devices of {system.id!r}"
                             + ("" if system.cluster else f" and node {node.id!r} has no NIC to span nodes"))
    nodes = -(-devices // node.devices_per_node)
    cluster = Cluster(id=f"{nodes}x{node.id}", name=f"{nodes} x {node.name}", node=node.id, num_nodes=nodes,
                      scaleup_domain_devices=node.scaleup_domain_devices,
                      sources={"num_nodes": "perfmodel tune --devices", "scaleup_domain_devices": f"node {node.id}"})
    return System(device=system.device, node=node, cluster=cluster, host_cpu=system.host_cpu)


def _tuple(v):
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return tuple(v)
    return (v,)


def make_space(hardware: tuple[str, ...], devices: int | None, space: SearchSpace | dict | None) -> SearchSpace:
    if isinstance(space, SearchSpace):
        return space.model_copy(update={"hardware": hardware, "devices": devices or space.devices})
    data = {k: _tuple(v) if k not in ("devices", "memory_utilization") else v for k, v in (space or {}).items()
            if v is not None}
    data["hardware"] = hardware
    if devices is not None:
        data["devices"] = devices
    try:
        return SearchSpace(**data)
    except PerfModelError:
        raise
    except Exception as exc:
        raise PerfModelError(pydantic_message(exc, source="search space")) from None


# Most devices one search spans (issue 15: the disaggregated pool matrix grows with the square of
# the device count; 64 devices take ~14 s and ~4 GB, 1000 never finished). README "Limits".
MAX_TUNE_DEVICES = 64


def build_problem(*, model: str, hardware: str | list[str], devices: int | None = None, workload: str | None = None,
                  isl: int | None = None, osl: int | None = None, ttft_slo: float | None = None,
                  tpot_slo: float | None = None, objective: str = "throughput", space: SearchSpace | dict | None = None,
                  routing: str | None = None, price_per_device_hour: float | list[float] | None = None,
                  calibration: str | None = None) -> Problem:
    if objective not in OBJECTIVES:
        raise PerfModelError(f"--objective {objective!r} must be one of {', '.join(OBJECTIVES)}")
    for name, v in (("--ttft-slo", ttft_slo), ("--tpot-slo", tpot_slo)):
        if v is not None and not 0 < v < math.inf:
            raise PerfModelError(f"{name} must be a finite number > 0 ms, got {v}")
    if devices is not None and not 1 <= devices <= MAX_TUNE_DEVICES:
        raise PerfModelError(f"--devices must be between 1 and {MAX_TUNE_DEVICES}, got {devices}")
    names = tuple(h.strip() for h in (hardware.split(",") if isinstance(hardware, str) else hardware) if h.strip())
    if not names:
        raise PerfModelError("--hardware is empty")
    spec = resolve_model(model)
    systems = [system_for(h, devices, calibration) for h in names]
    i, o = parse_workload(workload, isl, osl)
    if i + o > spec.max_context:
        raise PerfModelError(f"isl + osl = {i + o} exceeds the context length of {spec.name} ({spec.max_context})")
    resolved = make_space(names, devices, space).resolve(spec, systems)
    prices = _tuple(price_per_device_hour)
    if prices is not None and len(prices) not in (1, len(names)):
        raise PerfModelError(f"--price-per-device-hour: give one price or one per hardware ({len(names)})")
    if prices is not None and len(prices) == 1:
        prices = prices * len(names)
    imbalance = None
    if routing and spec.moe is not None:
        from perfmodel.search.routing import expert_imbalance_table, load_routing

        imbalance = expert_imbalance_table(load_routing(routing, spec), resolved.expert_placement, resolved.ep)
    return Problem(space=resolved, isl=i, osl=o, slo=SLO(ttft_slo, tpot_slo), objective=objective,
                   expert_imbalance=imbalance, price_per_device_hour=prices)


def serving_model_id(model: str, name: str) -> str:
    """The id an engine loads: the user's Hugging Face id if given; for a config.json, its
    `_name_or_path` (what transformers saved it from), else the folder that holds it; else the
    preset's Instruct id. `perfmodel export --model-id` overrides it."""
    if model.endswith(".json"):
        path = Path(model)
        try:  # the shared safe reader: size limit, encoding and JSON checks
            saved = parse_json(path, read_text(path, what="a model config", max_bytes=MAX_CONFIG_BYTES))
            saved = saved.get("_name_or_path") if isinstance(saved, dict) else None
        except (OSError, PerfModelError):
            saved = None
        return saved if isinstance(saved, str) and saved.strip() else str(path.resolve().parent)
    if "/" in model:
        return model
    ids = [a for a in alias_table().get(name, []) if "/" in a]
    instruct = [a for a in ids if "instruct" in a.lower() or "chat" in a.lower()]
    return (instruct or ids or [name])[0]
