"""`perfmodel accuracy`: predicted vs measured mean TTFT and TPOT on every measured serving run the
model can express, with the median |error| overall and by engine, system, model, concurrency band
and aggregated / disaggregated; rows measured faster than their hardware allows are listed apart and
left out of the medians (perfmodel.closed_loop_bounds). A report, not a test: it exits 0 when it
could run."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import JsonOpt, console, id_list, print_json, table

GROUP_TITLES = {"engine": "engine", "system": "system", "model": "model", "band": "concurrency (clients)",
                "mode": "agg / disagg"}


def register(app: typer.Typer) -> None:
    @app.command()
    def accuracy(
        csv_path: Annotated[Optional[str], typer.Option("--csv", help="Measured serving CSV in the layout of "
                                                        "shared/reference/measured_serving.csv (default: the "
                                                        "copy shipped with the package).")] = None,
        only: Annotated[Optional[str], typer.Option("--only", help="Comma-separated row keys (rN: CSV line N).")] = None,
        rows: Annotated[bool, typer.Option("--rows", help="Also print every row.")] = False,
        markdown: Annotated[bool, typer.Option("--markdown", help="Print the summary as Markdown (README).")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Compare predictions with measured serving runs (closed loop, as benchmarked)."""
        from perfmodel.accuracy import report

        rep = report(csv_path, only=id_list("--only", only))
        if json_out:
            print_json(rep)
        elif markdown:
            typer.echo(to_markdown(rep))
        else:
            _render(rep, rows=rows)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.1f}%"


def _group_rows(rep: dict) -> list[list]:
    out = [["all", "", rep["overall"]["rows"], _pct(rep["overall"]["tpot_median_abs_error_pct"]),
            _pct(rep["overall"]["ttft_median_abs_error_pct"])]]
    for g, values in rep["groups"].items():
        for v, s in values.items():
            out.append([GROUP_TITLES[g], v, s["rows"], _pct(s["tpot_median_abs_error_pct"]),
                        _pct(s["ttft_median_abs_error_pct"])])
    return out


def _render(rep: dict, *, rows: bool) -> None:
    if rows:
        body = [[r["key"], r["run"], r["ttft_ms"]["predicted"], r["ttft_ms"]["measured"],
                 f"{r['ttft_ms']['error_pct']:+.1f}%", r["tpot_ms"]["predicted"], r["tpot_ms"]["measured"],
                 f"{r['tpot_ms']['error_pct']:+.1f}%"] for r in rep["rows"]]
        console.print(table("predicted vs measured (ms)", ["row", "run", "TTFT pred", "TTFT meas", "err",
                                                            "TPOT pred", "TPOT meas", "err"], body))
    console.print(table(f"median |error| of the means ({rep['csv']})", ["by", "group", "rows", "TPOT", "TTFT"],
                        _group_rows(rep)))
    console.print(f"{rep['expressible']} of {rep['rows_total']} rows expressed")
    if rep["inconsistent"]:
        console.print(table(_inconsistent_title(rep), ["row", "run", "bound"],
                            [[r["key"], r["run"], r["why"]] for r in rep["inconsistent"]]))
    console.print(table("not expressible", ["rows", "why"], [[n, why] for why, n in rep["reasons"].items()]))


def to_markdown(rep: dict) -> str:
    lines = ["| by | group | rows | median \\|error\\| TPOT | median \\|error\\| TTFT |", "|---|---|---:|---:|---:|"]
    for by, group, n, tpot, ttft in _group_rows(rep):
        lines.append(f"| {by} | {group} | {n} | {tpot} | {ttft} |")
    lines += ["", f"{rep['expressible']} of {rep['rows_total']} rows expressed."]
    if rep["inconsistent"]:
        lines += ["", f"{_inconsistent_title(rep)}:", "", "| row | run | bound |", "|---|---|---|"]
        lines += [f"| {r['key']} | {r['run']} | {r['why']} |" for r in rep["inconsistent"]]
    lines += ["", "| rows not expressed | why |", "|---:|---|"]
    lines += [f"| {n} | {why.replace('|', '/')} |" for why, n in rep["reasons"].items()]
    return "\n".join(lines)


def _inconsistent_title(rep: dict) -> str:
    every = rep["overall_all_rows"]
    return (f"{len(rep['inconsistent'])} rows inconsistent with the hardware bound, left out of the medians "
            f"(all {every['rows']} rows: TPOT {_pct(every['tpot_median_abs_error_pct'])}, "
            f"TTFT {_pct(every['ttft_median_abs_error_pct'])})")
