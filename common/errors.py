"""The project's one exception base. The CLI maps it to exit code 1 and a one-line message."""

from __future__ import annotations

import difflib
import re


# Longest message a PerfModelError prints (an expanded input echoed whole once ran to 75 MB).
MAX_MESSAGE_CHARS = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` safe for one terminal line: control characters (newlines, ANSI escapes) shown as
    escapes, and at most `limit` characters."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


class PerfModelError(Exception):
    """A user-facing error: its message names the broken rule and the values involved. Printed,
    it is one line: user text inside it (a file name, a plan string) cannot add lines or
    terminal escapes (issue 15)."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class UnknownNameError(PerfModelError):
    """A name (model, device, workload, ...) that is not in its registry."""

    def __init__(self, kind: str, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint}")
        self.kind = kind
        self.name = name


def pydantic_message(exc: Exception, *, source: str) -> str:
    """Condense a pydantic ValidationError into one line naming the field and the value."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return f"{source}: {exc}"
    parts = []
    for err in errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = err.get("msg", "")
        if not loc:  # a whole-object rule: its message names the fields and values itself
            parts.append(msg.removeprefix("Value error, "))
            continue
        value = err.get("input")
        shown = one_line(repr(value), limit=80) if not isinstance(value, dict) else "{...}"
        parts.append(f"{loc}={shown}: {msg}")
    return f"{source}: " + "; ".join(parts)
