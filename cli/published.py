"""`perfmodel published`: predictions next to published measurements, row by row, with the median
absolute error. A report, not a test: it always exits 0 when it could run."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import JsonOpt, console, id_list, print_json, table


def register(app: typer.Typer) -> None:
    @app.command()
    def published(
        csv_path: Annotated[Optional[str], typer.Option("--csv", help="Published figures CSV (default: "
                                                        "shared/reference/published_figures.csv beside the "
                                                        "repository, or $PERFMODEL_PUBLISHED_CSV).")] = None,
        only: Annotated[Optional[str], typer.Option("--only", help="Comma-separated row ids.")] = None,
        markdown: Annotated[bool, typer.Option("--markdown", help="Print the table as Markdown (README).")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Compare predictions with every published row the model can express."""
        from perfmodel.errors import PerfModelError
        from perfmodel.validation import default_csv, report

        if csv_path is not None and not csv_path.strip():  # not "the default CSV"
            raise PerfModelError("--csv is empty: name a published-figures CSV file")
        path = csv_path or default_csv()
        if path is None:
            raise PerfModelError("no published figures CSV found: pass --csv PATH or set PERFMODEL_PUBLISHED_CSV")
        rep = report(path, only=id_list("--only", only))
        if json_out:
            print_json(rep)
        elif markdown:
            typer.echo(to_markdown(rep))
        else:
            rows = [[r["key"], r["run"], r["predicted"], r["published"], r["unit"], _pct(r["error_pct"])]
                    for r in rep["rows"] if r["error_pct"] is not None]
            console.print(table(f"predicted vs published ({rep['csv']})",
                                ["row", "what was run", "predicted", "published", "unit", "error"], rows))
            console.print(f"median absolute error: {rep['median_abs_error_pct']:.1f}% over {rep['expressed']} "
                          f"expressed values; {rep['median_abs_error_pct_value_column']:.1f}% over the "
                          f"{rep['expressed_value_column']} figures of the CSV's value column")
            skipped = [[s["key"], s["reason"]] for s in rep["not_expressible"]]
            console.print(table("not expressible", ["row", "why"], skipped))


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:+.1f}%"


def to_markdown(rep: dict) -> str:
    lines = ["| row | what was run | predicted | published | unit | error |", "|---|---|---:|---:|---|---:|"]
    for r in rep["rows"]:
        if r["error_pct"] is not None:
            lines.append(f"| {r['key']} | {r['run']} | {_num(r['predicted'])} | {_num(r['published'])} | {r['unit']} "
                         f"| {_pct(r['error_pct'])} |")
    lines.append("")
    lines.append(f"Median absolute error: **{rep['median_abs_error_pct']:.1f}%** over {rep['expressed']} values "
                 f"(each row's figure and the other figures its notes give); "
                 f"**{rep['median_abs_error_pct_value_column']:.1f}%** over the "
                 f"{rep['expressed_value_column']} figures of the CSV's value column.")
    lines.append("")
    lines.append("| not expressed | why |")
    lines.append("|---|---|")
    for s in rep["not_expressible"]:
        lines.append(f"| {s['key']} | {s['reason']} |")
    return "\n".join(lines)
