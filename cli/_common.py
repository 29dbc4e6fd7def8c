"""Shared option types and rendering helpers for the CLI modules."""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

PIPE_WIDTH = 100_000  # columns when stdout is not a terminal: one table row per line, nothing wrapped


class _Console(Console):
    """A rich console that, when its stream is not a terminal (a pipe, a file), renders at a width
    no table reaches, so `perfmodel models list | grep llama-3.1-70b` finds the row."""

    @property
    def size(self):
        size = super().size
        return size if self.is_terminal else size._replace(width=PIPE_WIDTH)

    @size.setter
    def size(self, new_size):
        Console.size.fset(self, new_size)


console = _Console()
err_console = _Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Preset name, Hugging Face id, or path to a config.json.")]
def report_hardware_defaults(value: str | None) -> str | None:
    """For a user's hardware YAML: a warning on stderr naming the fields it did not set (schema
    defaults such as the GEMM tile shape, which move predictions). Catalog ids pass through."""
    if value and value.endswith((".yaml", ".yml")):
        from perfmodel.hardware.catalog import load_file
        from perfmodel.hardware.describe import defaults_used

        for entry, fields in defaults_used(load_file(value)).items():
            err_console.print(f"warning: {value}: {entry} takes schema defaults for {', '.join(fields)} "
                              "(perfmodel hardware schema lists them)", markup=False, highlight=False,
                              soft_wrap=True)
    return value


HardwareOpt = Annotated[str, typer.Option("--hardware", "-H", help="Device, node or cluster id, or a hardware YAML file.",
                                          callback=report_hardware_defaults)]


@contextlib.contextmanager
def busy(message: str, *, enabled: bool = True, console_: Console | None = None):
    """A spinner with the elapsed time on stderr while a long call runs (serve with many requests,
    a goodput search); only when stderr is a terminal, so pipes and --json output stay clean."""
    c = console_ or err_console
    if not (enabled and c.is_terminal):
        yield
        return
    t0 = time.monotonic()
    with c.status(message) as status:
        def tick():
            while not done.wait(0.5):
                status.update(f"{message} ({time.monotonic() - t0:.0f} s)")

        done = threading.Event()
        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalar
        return _clean(obj.item())
    return obj


def print_json(data: Any) -> None:
    typer.echo(json.dumps(_clean(data), indent=2))


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left", title_style=None)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[fmt(v) for v in r])
    return t


def fmt(v: Any) -> str:
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    return "" if v is None else escape(str(v))  # catalog sources contain [brackets]


def id_list(flag: str, value: str | None) -> list[str] | None:
    """A comma-separated list of ids (None: not given). Empty or only commas is an error, not
    "everything": `--only ""` must not run the whole report."""
    if value is None:
        return None
    ids = [v.strip() for v in value.split(",") if v.strip()]
    if not ids:
        from perfmodel.errors import PerfModelError

        raise PerfModelError(f"{flag} needs at least one id, got {value!r}")
    return ids
