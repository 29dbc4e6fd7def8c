"""The exporter extension point: a plan file in, launch commands and config files out.

Contract of `Exporter.export(plan)`: returns an `Export` whose `commands` are shell command lines
(each parseable by `shlex.split`, flags named as in the engine's current documentation) and whose
`files` map file names to their text (YAML must load with `yaml.safe_load`). It raises
PerfModelError when the plan uses something the engine cannot express.
"""

from __future__ import annotations

import abc
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from perfmodel.errors import PerfModelError
from perfmodel.plan import Plan
from perfmodel.registry import Registry
from perfmodel.search.plan_file import PlanFile

BASE_PORT = 8000


@dataclass
class Instance:
    """One server process of a pool: its devices and port."""

    role: str          # aggregated | prefill | decode
    index: int
    devices: list[int]
    port: int

    @property
    def visible(self) -> str:
        return ",".join(str(d) for d in self.devices)


@dataclass
class Export:
    engine: str
    commands: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def script(self) -> str:
        lines = ["#!/usr/bin/env bash", f"# {self.engine} launch commands written by perfmodel export", "set -euo pipefail"]
        lines += [f"# {n}" for n in self.notes]
        lines += self.commands
        return "\n".join(lines) + "\n"

    def write(self, out: str | Path) -> list[Path]:
        from perfmodel.common.outpath import out_dir, staged_dir

        d = out_dir("--out", out, what="a directory for launch.sh and config files")
        files = {**self.files, "launch.sh": self.script()}
        with staged_dir(d) as tmp:  # all files or none
            for name, text in files.items():
                (tmp / name).write_text(text)
            (tmp / "launch.sh").chmod(0o755)
        return [d / name for name in files]

    def to_dict(self) -> dict:
        return {"engine": self.engine, "commands": self.commands, "files": self.files, "notes": self.notes}


class Exporter(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    def export(self, plan: PlanFile) -> Export:
        ...


def instances(plan: PlanFile, ports: dict[str, int] | None = None) -> dict[str, list[Instance]]:
    """Server processes per pool role: devices assigned in order (pool by pool, worker by worker,
    replica by replica), ports counting up from `ports[role]` (default BASE_PORT)."""
    out: dict[str, list[Instance]] = {}
    next_dev = 0
    for pool in plan.pools:
        n = pool.tp * pool.pp
        port = (ports or {}).get(pool.mode, BASE_PORT)
        out[pool.mode] = []
        for r in range(pool.replicas):
            out[pool.mode].append(Instance(pool.mode, r, list(range(next_dev, next_dev + n)), port + r))
            next_dev += n
    return out


def cmd(*parts) -> str:
    """A shell command line from words (None and False words dropped)."""
    return " ".join(shlex.quote(str(p)) for p in parts if p is not None and p is not False)


def env_cmd(env: dict[str, str], *parts) -> str:
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return (prefix + " " if prefix else "") + cmd(*parts)


def attention_dp(pool: Plan) -> bool:
    """Attention data-parallel with experts spanning the replicas (Plan: ep > tp)."""
    return pool.ep > pool.tp


def per_worker(groups: list[Instance], pool: Plan, *, merge: bool | None = None) -> list[Instance]:
    """One server spans a worker's dp replicas (with attention-DP, or where `merge` says so: vLLM's
    --data-parallel-size): merge each worker's instances (ports counting up from the first's)."""
    if not (attention_dp(pool) if merge is None else merge):
        return groups
    return [Instance(groups[0].role, w, sorted(d for g in groups[w * pool.dp:(w + 1) * pool.dp] for d in g.devices),
                     groups[0].port + w) for w in range(pool.workers)]


def kv_tokens_for(plan: PlanFile) -> int:
    return plan.workload.isl + plan.workload.osl


def unsupported(engine: str, what: str) -> PerfModelError:
    return PerfModelError(f"{engine} cannot express {what}; pick another plan or engine")


def check_kv_attention(engine: str, plan: PlanFile) -> None:
    """Serving engines attend over the KV on the device: a plan whose decode attention runs on the
    CPU or is sparse over host KV (ShadowKV, top-K; research systems) cannot be launched on them."""
    for pool in plan.pools:
        if pool.sparse_kv:
            raise unsupported(engine, f"sparse decode attention over host KV (sparse_kv={pool.sparse_kv})")
        if pool.attention_on_cpu:
            raise unsupported(engine, "decode attention on the CPU (attention_on_cpu)")


def unemitted_notes(engine: str, plan: PlanFile) -> list[str]:
    """Plan fields no serving engine here has a flag for, listed so the export says what the
    prediction assumed that the command will not do."""
    notes = []
    for pool in plan.pools:
        if pool.nano_batches > 1:
            notes.append(f"{pool.mode} pool: nano_batches={pool.nano_batches} (NanoFlow's overlapped nano-batches) "
                         f"is not a {engine} option; the command runs one batch per step, so expect the prediction "
                         "of the same plan with --nano-batches 1")
        if pool.expert_locality is not None:
            notes.append(f"{pool.mode} pool: expert_locality={pool.expert_locality:g} (Speculative MoE token "
                         f"shuffling and expert grouping) is not a {engine} option; the command routes "
                         "placement-agnostically, so expect the prediction of the same plan without it")
    if plan.expert_placement != "contiguous":
        notes.append(f"expert_placement={plan.expert_placement}: the plan assumed a balanced expert placement "
                     f"(MoETuner ILP); {engine} places experts contiguously unless its expert-load balancer "
                     "is enabled, which is not emitted here")
    return notes


_REGISTRY: Registry[Exporter] = Registry("export format")
register = _REGISTRY.register
