"""Parsing JSON from user input with one-line errors (file, line and column named)."""

from __future__ import annotations

import json
from pathlib import Path

from perfmodel.common.errors import PerfModelError


def parse_json(where: Path | str, text: str):
    """`text` (read from `where`: a path, or a name such as "--calibration") parsed as JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PerfModelError(f"{where}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
