"""Bundled model presets (stored as HF config.json files) and name resolution."""

from __future__ import annotations

import difflib
import functools
import json
import os
from importlib import resources
from pathlib import Path

import yaml

from perfmodel.common.errors import PerfModelError, UnknownNameError
from perfmodel.common.jsonfile import parse_json
from perfmodel.common.textfile import MAX_CONFIG_BYTES, read_text
from perfmodel.specs.checkpoint_names import Candidate, candidates
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


@functools.lru_cache(maxsize=1)
def _repo_names() -> dict[str, str]:
    """The repository part of each alias's Hugging Face id ('DeepSeek-R1-0528') -> preset, for
    re-uploads under another organisation; a repository name two presets share is left out."""
    out: dict[str, str] = {}
    shared: set[str] = set()
    for preset, names in alias_table().items():
        for n in names or []:
            if "/" in n:
                repo = n.rpartition("/")[2].lower()
                if out.get(repo, preset) != preset:
                    shared.add(repo)
                out[repo] = preset
    return {k: v for k, v in out.items() if k not in shared}


def preset_names() -> list[str]:
    folder = resources.files("perfmodel.specs") / "presets"
    return sorted(e.name[:-5] for e in folder.iterdir() if e.name.endswith(".json"))


@functools.lru_cache(maxsize=64)
def _load_preset(name: str) -> ModelSpec:
    text = (resources.files("perfmodel.specs") / "presets" / f"{name}.json").read_text()
    return from_hf_config(json.loads(text), name=name, source=f"preset {name}")


def _known(name: str) -> str | None:
    """The preset `name` names exactly: a preset, an alias, or an alias's repository name."""
    key = name.lower()
    presets = {p.lower(): p for p in preset_names()}
    if key in presets:
        return presets[key]
    alias = _aliases().get(key) or ("/" not in key and _repo_names().get(key)) or None
    return presets.get(alias.lower()) if alias else None


def find_checkpoint(name: str) -> tuple[str, Candidate] | None:
    """The preset of a checkpoint name and the candidate that reached it (tags stripped, quant
    hint), by perfmodel.specs.checkpoint_names' rules; None when no rule reaches a preset."""
    for cand in candidates(name):
        preset = _known(cand.name)
        if preset is not None:
            return preset, cand
    return None


def resolve_checkpoint(name: str) -> tuple[str, str | None]:
    """(preset, quant hint) of a checkpoint name: 'nvidia/DeepSeek-R1-0528-FP4-v2' ->
    ('deepseek-r1', 'nvfp4'); the hint is the `--quant` id of the stripped tag, None without one.
    An unknown name is a one-line error with the closest names."""
    found = find_checkpoint(name)
    if found is None:
        raise UnknownNameError("model", name, _known_names())
    preset, cand = found
    return preset, cand.quant_hint


def _known_names() -> list[str]:
    presets = preset_names()
    return presets + sorted(set(_aliases()) - {p.lower() for p in presets})


def _suggestions(name: str) -> str:
    last = list(candidates(name))[-1].name.lower()
    pool = sorted(set(preset_names()) | set(_repo_names()))
    close = difflib.get_close_matches(last, pool, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def load_model(name_or_path: str) -> ModelSpec:
    """A preset name, a Hugging Face id (of a preset; else its config.json from the local cache;
    else the preset its name reaches by stripping the organisation, quantization, variant and date
    tags, perfmodel.specs.checkpoint_names; else from the Hub), or a path to a config.json."""
    if name_or_path.endswith(".json") or Path(name_or_path).is_dir():
        path = Path(name_or_path)
        if path.is_dir():
            path = path / "config.json"
        return _load_file(path, name=path.parent.name or path.stem, label=name_or_path)
    preset = _known(name_or_path)
    if preset is not None:
        return _load_preset(preset)
    if "/" in name_or_path:  # the checkpoint's own config.json, when the cache has it, beats a rule
        cached = cached_config(name_or_path)
        if cached is not None:
            return _load_file(cached, name=name_or_path, label=name_or_path)
    found = find_checkpoint(name_or_path)
    if found is not None:
        return _with_quant_hint(_load_preset(found[0]), found[1].quant_hint)
    if "/" in name_or_path:  # a Hugging Face id no rule reaches: the Hub
        try:
            path = hf_config_path(name_or_path)
        except PerfModelError as exc:
            raise PerfModelError(f"{exc}{_suggestions(name_or_path)}") from None
        return _load_file(path, name=name_or_path, label=name_or_path)
    raise UnknownNameError("model", name_or_path, _known_names())


def _with_quant_hint(spec: ModelSpec, hint: str | None) -> ModelSpec:
    """The preset as the re-upload stores it: a 16-bit tag means unquantized; a preset whose own
    finer id already names the tag's format ('fp8-block+kv=bf16' for '-FP8') keeps that id."""
    if hint is None:
        return spec
    if hint in ("bf16", "fp16"):
        return spec.model_copy(update={"quant": None})
    schemes = [part.partition("=")[2] or part for part in (spec.quant or "").split("+") if not part.startswith("kv=")]
    if any(s.startswith(hint) for s in schemes):
        return spec
    return spec.model_copy(update={"quant": hint})


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
