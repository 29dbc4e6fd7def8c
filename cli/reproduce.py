"""`perfmodel reproduce`: each seed paper's headline, predicted on the paper's setup, with a status.
A report: it exits 0 when it could run, whatever the statuses."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import JsonOpt, console, print_json, table


def register(app: typer.Typer) -> None:
    @app.command()
    def reproduce(
        names: Annotated[Optional[list[str]], typer.Argument(help="Seed systems (default: all), e.g. NanoFlow "
                                                             "QServe 'MoE-Lens'.")] = None,
        markdown: Annotated[bool, typer.Option("--markdown", help="Print the table as Markdown (README).")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Every seed system's headline: published vs predicted on the paper's own setup."""
        from perfmodel.reproduce import reproduce as run
        from perfmodel.search.moetuner import register_search_seeds

        register_search_seeds()  # MoETuner runs the search layer's ILP

        entries = [e.to_dict() for e in run(names or None)]
        if json_out:
            print_json(entries)
        elif markdown:
            typer.echo(to_markdown(entries))
        else:
            rows = [[e["seed"], _num(e["published"]), _num(e["predicted"]), e["unit"], e["status"],
                     e["note"]] for e in entries]
            console.print(table("seed papers: published vs predicted", ["seed", "published", "predicted",
                                                                         "unit", "status", "note"], rows))
            console.print(summary(entries))


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def summary(entries: list[dict]) -> str:
    counts = {s: sum(e["status"] == s for e in entries) for s in ("reproduced", "missed", "not modeled")}
    return f"{len(entries)} seeds: " + ", ".join(f"{n} {s}" for s, n in counts.items())


def to_markdown(entries: list[dict]) -> str:
    lines = ["| seed | claim | setup | published | predicted | unit | status | note |",
             "|---|---|---|---:|---:|---|---|---|"]
    for e in entries:
        s = e["setup"]
        setup = "; ".join(str(s[k]) for k in ("model", "hardware", "workload", "baseline") if k in s)
        lines.append(f"| {e['seed']} | {e['claim']} | {setup} | {_num(e['published'])} | {_num(e['predicted'])} "
                     f"| {e['unit']} | {e['status']} | {e['note']} |")
    lines.append("")
    lines.append(summary(entries) + ".")
    return "\n".join(lines)
