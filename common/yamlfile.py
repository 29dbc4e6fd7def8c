"""Reading a YAML mapping from user input with one-line errors (file and line named)."""

from __future__ import annotations

from pathlib import Path

import yaml

from perfmodel.common.errors import PerfModelError


def load_mapping(path: Path | str, text: str, *, what: str) -> dict:
    """Parse `text` (read from `path`) as YAML that must be a mapping; `what` says which kind of
    file it is, for the message ("a workload file must be a mapping, ...")."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PerfModelError(f"{path}:{where} malformed YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise PerfModelError(f"{path}: {what} must be a mapping, got {type(data).__name__}")
    return data
