"""Bundled model presets (stored as HF config.json files) and name resolution."""

from __future__ import annotations

import functools
import json
import os
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
def alias_table() -> dict[str, list[str]]:
    """presets/aliases.yaml: preset name -> its HF ids and other spellings."""
    text = (resources.files("perfmodel.specs") / "presets" / "aliases.yaml").read_text()
    return yaml.safe_load(text) or {}


@functools.lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    """HF ids and other spellings -> preset name."""
    out = {}
    for preset, names in alias_table().items():
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
    """A preset name, a Hugging Face id (of a preset, else from the local cache or the Hub), or a
    path to a config.json."""
    if name_or_path.endswith(".json") or Path(name_or_path).is_dir():
        path = Path(name_or_path)
        if path.is_dir():
            path = path / "config.json"
        return _load_file(path, name=path.parent.name or path.stem, label=name_or_path)
    key = name_or_path.lower()
    presets = {p.lower(): p for p in preset_names()}
    if key in presets:
        return _load_preset(presets[key])
    alias = _aliases().get(key)
    if alias and alias.lower() in presets:
        return _load_preset(presets[alias.lower()])
    if "/" in name_or_path:  # a Hugging Face id that is no preset: the local cache, else the Hub
        return _load_file(hf_config_path(name_or_path), name=name_or_path, label=name_or_path)
    raise UnknownNameError("model", name_or_path, preset_names() + sorted(set(_aliases()) - set(presets)))


def _load_file(path: Path, *, name: str, label: str) -> ModelSpec:
    if not path.is_file():
        raise PerfModelError(f"--model {label}: no such file")
    cfg = parse_json(path, read_text(path, what="a model config", max_bytes=MAX_CONFIG_BYTES))
    spec = from_hf_config(cfg, name=name, source=str(path))
    sibling = path.parent / HF_QUANT_CONFIG
    if sibling.is_file():  # a ModelOpt export states its scheme here (it wins over config.json)
        text = read_text(sibling, what="a quantization config", max_bytes=MAX_CONFIG_BYTES)
        q = parse_hf_quant_config(parse_json(sibling, text), source=str(sibling))
        spec = spec.model_copy(update={"quant": q.quant_id})
    return spec


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def cached_config(repo_id: str) -> Path | None:
    """config.json of `repo_id` in the local hub cache (the snapshot refs/main names, else the newest)."""
    repo = hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / "main"
    if ref.is_file() and (snapshots / ref.read_text().strip() / "config.json").is_file():
        return snapshots / ref.read_text().strip() / "config.json"
    found = sorted(snapshots.glob("*/config.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0] if found else None


def hf_config_path(repo_id: str) -> Path:
    """A Hugging Face id's config.json: from the local cache, else downloaded (config files only)
    when huggingface_hub is installed and the Hub is reachable; otherwise a one-line error."""
    path = cached_config(repo_id)
    if path is not None:
        return path
    hint = f"pass a path to its config.json (--model path/to/config.json)"
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise PerfModelError(f"--model {repo_id}: not a preset and not in the Hugging Face cache ({hf_cache_dir()}), "
                             f"and huggingface_hub is not installed to download it; {hint}") from None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise PerfModelError(f"--model {repo_id}: not a preset and not in the Hugging Face cache ({hf_cache_dir()}), "
                             f"and HF_HUB_OFFLINE is set; {hint}")
    try:
        path = Path(hf_hub_download(repo_id, "config.json"))
    except Exception as exc:  # offline, gated, missing repo: all one line for the user
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PerfModelError(f"--model {repo_id}: not a preset, not in the Hugging Face cache, and the download "
                             f"failed ({type(exc).__name__}: {reason[:120]}); {hint}") from None
    for extra in ("hf_quant_config.json",):  # a sibling the precision reader looks at, when the repo has one
        try:
            hf_hub_download(repo_id, extra)
        except Exception:  # noqa: BLE001 - optional file
            pass
    return path
