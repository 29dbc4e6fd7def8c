"""The plan file: a versioned JSON document carrying a deployment (one or two pools of `Plan`s),
the prediction made for it and its provenance (tool version, hardware catalog, calibration).

`perfmodel tune --out DIR` writes `best_plan.json`; `perfmodel export PLAN.json` reads it back.
A file of another `schema_version` is refused with a one-line error rather than misread.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from perfmodel.common.jsonfile import parse_json
from perfmodel.common.textfile import MAX_CONFIG_BYTES, read_text
from perfmodel.errors import PerfModelError, pydantic_message
from perfmodel.plan import PLAN_SCHEMA_VERSION, Plan, check_plan
from perfmodel.specs.registry import load_model

KIND = "perfmodel.plan"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Workload(_Strict):
    isl: int = Field(ge=1)
    osl: int = Field(ge=1)


class Slo(_Strict):
    ttft_ms: float | None = None
    tpot_ms: float | None = None


class Prediction(_Strict):
    ttft_ms: float
    tpot_ms: float
    e2e_ms: float
    output_tok_s: float
    output_tok_s_per_device: float
    tok_s_per_user: float | None
    goodput_tok_s_per_device: float
    memory_per_device_gb: float
    devices: int
    bound: str
    fraction_of_bound: float | None = None


class Provenance(_Strict):
    tool: str = "perfmodel"
    version: str
    catalog: str = Field(description="hardware ids and a digest of the bundled catalog files")
    calibration: str | None = None
    searcher: str | None = None
    objective: str | None = None
    selected_by: str | None = Field(default=None, description="how the plan was chosen when not by the "
                                                                "search's score (e.g. simulation of finalists)")
    created: str


class PlanFile(_Strict):
    schema_version: int = PLAN_SCHEMA_VERSION
    kind: Literal["perfmodel.plan"] = KIND
    model: str = Field(description="preset name the prediction used")
    # no control characters: it is written into launch scripts and echoed
    model_id: str = Field(pattern=r"^[^\x00-\x1f\x7f]+$", description="what an engine loads (Hugging Face id or path)")
    hardware: str
    devices: int = Field(ge=1)
    mode: Literal["aggregated", "disaggregated"]
    pools: list[Plan] = Field(min_length=1, max_length=2, description="offload fractions live on each Plan")
    expert_placement: str = "contiguous"
    workload: Workload
    slo: Slo = Slo()
    prediction: Prediction
    provenance: Provenance

    @model_validator(mode="after")
    def _pools_match_mode_and_devices(self):
        """A plan file is consistent with itself (issue 15: tampered files exported silently)."""
        modes = [p.mode for p in self.pools]
        want = ["aggregated"] if self.mode == "aggregated" else ["prefill", "decode"]
        if modes != want:
            raise ValueError(f"mode={self.mode} needs pools with modes {want}, got {modes}")
        used = sum(p.devices for p in self.pools)
        if used != self.devices:
            raise ValueError(f"devices={self.devices} but the pools use {used} (tp x pp x dp x workers summed)")
        return self

    def pool(self, role: str) -> Plan | None:
        return next((p for p in self.pools if p.mode == role), None)

    @property
    def weights_offload(self) -> float:
        return max(p.weights_offload for p in self.pools)

    @property
    def kv_offload(self) -> float:
        return max(p.kv_offload for p in self.pools)


def catalog_digest() -> str:
    h = hashlib.sha256()
    folder = resources.files("perfmodel.hardware") / "catalog"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            h.update(entry.name.encode())
            h.update(entry.read_bytes())
    return h.hexdigest()[:12]


def calibration_used(device_id: str, calibration: str | None) -> str | None:
    if calibration:
        return calibration
    try:
        from perfmodel import calibration as cal
    except ImportError:
        return None
    shipped = cal.find_shipped(device_id)
    return f"shipped:{getattr(shipped, 'name', device_id)}" if shipped is not None else None


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def load_plan_file(path: str | Path) -> PlanFile:
    p = Path(path)
    if not p.is_file():
        raise PerfModelError(f"{path}: no such plan file")
    data = parse_json(path, read_text(p, what="a plan file", max_bytes=MAX_CONFIG_BYTES))
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise PerfModelError(f"{path}: not a perfmodel plan file (kind {data.get('kind') if isinstance(data, dict) else None!r},"
                             f" expected {KIND!r}); write one with perfmodel tune --out DIR")
    version = data.get("schema_version")
    if version != PLAN_SCHEMA_VERSION:
        raise PerfModelError(f"{path}: plan schema_version {version!r} but this perfmodel reads version "
                             f"{PLAN_SCHEMA_VERSION}; re-run perfmodel tune to write a current plan")
    try:
        pf = PlanFile.model_validate(data)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source=str(path))) from None
    _check_against_model(pf, str(path))
    return pf


def _check_against_model(pf: PlanFile, where: str) -> None:
    """Each pool is a valid plan for the file's model (TP divides its heads, ...) when the model
    is a preset this perfmodel knows (a plan for a config.json path is checked where it is used)."""
    try:
        spec = load_model(pf.model)
    except PerfModelError:
        return
    for pool in pf.pools:
        try:
            check_plan(pool, spec)
        except PerfModelError as exc:
            raise PerfModelError(f"{where}: {pool.mode} pool: {exc}") from None


def write_plan_file(plan: PlanFile, path: str | Path) -> None:
    Path(path).write_text(plan.model_dump_json(indent=2) + "\n")
