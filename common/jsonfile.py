"""Parsing JSON from user input with one-line errors (file, line and column named).

Refused, each in one line: malformed JSON; NaN / Infinity constants (not JSON, and no size or rate
means them); nesting deeper than MAX_DEPTH (a RecursionError otherwise)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from perfmodel.common.errors import PerfModelError

# Deepest nesting of lists/objects accepted in a user's JSON or YAML (configs nest 3-4 levels).
MAX_DEPTH = 64


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of the range of a 64-bit float")
    return value


def parse_json(where: Path | str, text: str):
    """`text` (read from `where`: a path, or a name such as "--calibration") parsed as JSON."""
    depth = _max_depth(text)
    if depth > MAX_DEPTH:
        raise PerfModelError(f"{where}: JSON nested more than {MAX_DEPTH} levels deep; refused")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise PerfModelError(f"{where}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:  # NaN / Infinity / -Infinity / 1e400
        raise PerfModelError(f"{where}: {exc}") from None
    except RecursionError:
        raise PerfModelError(f"{where}: JSON nested too deeply") from None


def _max_depth(text: str) -> int:
    """Deepest bracket nesting outside strings (a linear scan, before the recursive parser)."""
    depth = best = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > best:
                best = depth
                if best > MAX_DEPTH:
                    return best
        elif ch in "]}":
            depth -= 1
    return best
