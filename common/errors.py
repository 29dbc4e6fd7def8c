"""The project's one exception base. The CLI maps it to exit code 1 and a one-line message."""

from __future__ import annotations

import difflib


class PerfModelError(Exception):
    """A user-facing error: its message names the broken rule and the values involved."""


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
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        parts.append(f"{loc}={shown}: {msg}")
    return f"{source}: " + "; ".join(parts)
