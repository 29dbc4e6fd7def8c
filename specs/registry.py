"""Bundled model presets (stored as HF config.json files) and name resolution."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

import yaml

from perfmodel.common.errors import PerfModelError, UnknownNameError
from perfmodel.common.jsonfile import parse_json
from perfmodel.common.textfile import MAX_CONFIG_BYTES, read_text
from perfmodel.specs.hf import from_hf_config
from perfmodel.specs.model import ModelSpec
from perfmodel.specs.quantization import parse_hf_quant_config

HF_QUANT_CONFIG = "hf_quant_config.json"  # ModelOpt's sibling of config.json


@functools.lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    """HF ids and other spellings -> preset name (from presets/aliases.yaml)."""
    text = (resources.files("perfmodel.specs") / "presets" / "aliases.yaml").read_text()
    table: dict[str, list[str]] = yaml.safe_load(text) or {}
    out = {}
    for preset, names in table.items():
        out[preset.lower()] = preset
        for n in names or []:
            out[n.lower()] = preset
    return out


def preset_names() -> list[str]:
    folder = resources.files("perfmodel.specs") / "presets"
    return sorted(e.name[:-5] for e in folder.iterdir() if e.name.endswith(".json"))


@functools.lru_cache(maxsize=64)
def _load_preset(name: str) -> ModelSpec:
    text = (resources.files("perfmodel.specs") / "presets" / f"{name}.json").read_text()
    return from_hf_config(json.loads(text), name=name, source=f"preset {name}")


def load_model(name_or_path: str) -> ModelSpec:
    """A preset name, a Hugging Face id of a preset, or a path to a config.json."""
    if name_or_path.endswith(".json") or Path(name_or_path).is_dir():
        path = Path(name_or_path)
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            raise PerfModelError(f"--model {name_or_path}: no such file")
        cfg = parse_json(path, read_text(path, what="a model config", max_bytes=MAX_CONFIG_BYTES))
        spec = from_hf_config(cfg, name=path.parent.name or path.stem, source=str(path))
        sibling = path.parent / HF_QUANT_CONFIG
        if sibling.is_file():  # a ModelOpt export states its scheme here (it wins over config.json)
            text = read_text(sibling, what="a quantization config", max_bytes=MAX_CONFIG_BYTES)
            q = parse_hf_quant_config(parse_json(sibling, text), source=str(sibling))
            spec = spec.model_copy(update={"quant": q.quant_id})
        return spec
    key = name_or_path.lower()
    presets = {p.lower(): p for p in preset_names()}
    if key in presets:
        return _load_preset(presets[key])
    alias = _aliases().get(key)
    if alias and alias.lower() in presets:
        return _load_preset(presets[alias.lower()])
    raise UnknownNameError("model", name_or_path, preset_names() + sorted(set(_aliases()) - set(presets)))
