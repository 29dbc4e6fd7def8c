"""Serving workloads: request lengths, arrival times, shared prefixes and conversations.

A workload comes from `fixed:ISL:OSL`, `random:ISL:OSL:RATIO` (lengths uniform on [RATIO x len,
len], the benchmark clients' random dataset), a preset name (`specs/workloads/presets.yaml`), a workload
YAML file, or a BurstGPT CSV trace (`load_workload`). `sample(n, rate=..., offline=..., seed=...)`
draws a `Requests` table of numpy columns with a seeded generator, so the same seed gives the same
requests.

Two kinds share that `sample` method: `Workload` (synthetic: length distributions and an arrival
process, validated by pydantic) and `TraceWorkload` (rows replayed from a trace file).

Modules: `lengths` (length distributions), `arrivals` (arrival processes), `synthetic`
(`Workload`), `traces` (BurstGPT), `base` (`Requests`); this module resolves `--workload`.
"""

from __future__ import annotations

import functools
import math
from importlib import resources
from pathlib import Path
from typing import Union

import yaml
from pydantic import ValidationError

from perfmodel.common.errors import PerfModelError, UnknownNameError, pydantic_message
from perfmodel.common.yamlfile import load_mapping
from perfmodel.common.textfile import MAX_CONFIG_BYTES, read_text
from perfmodel.specs.workload.arrivals import Arrival, Gamma, Offline, Poisson, arrival_times
from perfmodel.specs.workload.base import Requests
from perfmodel.specs.workload.lengths import Empirical, Fixed, LengthDist, LogNormal, Normal, Uniform, Zipf
from perfmodel.specs.workload.synthetic import Conversation, Workload
from perfmodel.specs.workload.traces import BURSTGPT_COLUMNS, TraceWorkload, read_burstgpt, write_burstgpt

__all__ = ["AnyWorkload", "Arrival", "BURSTGPT_COLUMNS", "Conversation", "Empirical", "Fixed", "Gamma",
           "LengthDist", "LogNormal", "Normal", "Offline", "Poisson", "Requests", "TraceWorkload", "Uniform",
           "Workload", "Zipf", "arrival_times", "fixed", "load_workload", "preset_names", "random_lengths", "read_burstgpt",
           "write_burstgpt"]

AnyWorkload = Union[Workload, TraceWorkload]


@functools.lru_cache(maxsize=1)
def _presets() -> dict[str, dict]:
    text = (resources.files("perfmodel.specs") / "workloads" / "presets.yaml").read_text()
    return yaml.safe_load(text)


def preset_names() -> list[str]:
    return sorted(_presets())


def _validate(data: dict, source: str) -> Workload:
    try:
        return Workload.model_validate(data)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source=source)) from None


def fixed(isl: int, osl: int) -> Workload:
    return Workload(name=f"fixed:{isl}:{osl}", input=Fixed(value=isl), output=Fixed(value=osl))


def random_lengths(isl: int, osl: int, ratio: float) -> Workload:
    """Prompt and output lengths uniform on [ratio x max, max], as the benchmark clients' random
    dataset draws them (SGLang bench_serving and InferenceMAX's benchmark_serving.py
    `--random-range-ratio`: lengths from [len x ratio, len])."""
    lo_i, lo_o = max(1, math.ceil(isl * ratio)), max(1, math.ceil(osl * ratio))
    return Workload(name=f"random:{isl}:{osl}:{ratio:g}", input=Uniform(low=lo_i, high=isl),
                    output=Uniform(low=lo_o, high=osl))


def load_workload(spec: str) -> AnyWorkload:
    """`fixed:ISL:OSL`, `random:ISL:OSL:RATIO`, a preset name, a workload YAML file, or a BurstGPT CSV."""
    if spec.startswith("random:"):
        parts = spec.split(":")
        try:
            isl, osl, ratio = int(parts[1]), int(parts[2]), float(parts[3])
            ok = len(parts) == 4 and isl > 0 and osl > 0 and 0 < ratio <= 1
        except (ValueError, IndexError):
            ok = False
        if not ok:
            raise PerfModelError(f"--workload {spec!r}: expected random:ISL:OSL:RATIO with positive lengths and "
                                 "0 < RATIO <= 1, e.g. random:1024:1024:0.8")
        return random_lengths(isl, osl, ratio)
    if spec.startswith("fixed:"):
        parts = spec.split(":")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts[1:]):
            raise PerfModelError(f"--workload {spec!r}: expected fixed:ISL:OSL with positive integers, e.g. fixed:1024:512")
        return fixed(int(parts[1]), int(parts[2]))
    if spec.lower() in _presets():
        entry = dict(_presets()[spec.lower()])
        if "trace" in entry:
            trace = read_burstgpt(resources.files("perfmodel.specs") / "workloads" / entry["trace"])
            return TraceWorkload(name=spec.lower(), arrival_s=trace.arrival_s, input_tokens=trace.input_tokens,
                                 output_tokens=trace.output_tokens, skipped=trace.skipped,
                                 source=entry.get("source", ""))
        return _validate({"name": spec.lower(), **entry}, f"preset {spec}")
    path = Path(spec)
    if spec.endswith(".csv"):
        return read_burstgpt(path)
    if spec.endswith((".yaml", ".yml")):
        if not path.is_file():
            raise PerfModelError(f"--workload {spec}: no such file")
        data = load_mapping(path, read_text(path, what="a workload file", max_bytes=MAX_CONFIG_BYTES),
                            what="a workload file")
        data.setdefault("name", path.stem)
        return _validate(data, str(path))
    raise UnknownNameError("workload", spec, preset_names() + ["fixed:ISL:OSL", "random:ISL:OSL:RATIO",
                                                               "<file>.yaml", "<file>.csv"])
