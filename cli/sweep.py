"""`perfmodel sweep`: throughput per device vs tokens/s per user over concurrency (and latency vs
request rate) for one or more plans, with the Pareto frontier; JSON, CSV, a terminal plot, a PNG."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from perfmodel.cli._common import HardwareOpt, JsonOpt, ModelOpt, console, print_json, table
from perfmodel.cli.estimate import CalOpt, SpeculativeOpt
from perfmodel.cli.serve import WorkloadOpt
from perfmodel.errors import PerfModelError

CSV_COLUMNS = ("plan", "devices", "sweep", "concurrency", "rate_req_s", "output_tok_s", "output_tok_s_per_device",
               "tok_s_per_user", "ttft_ms", "tpot_ms", "e2e_ms", "saturated", "pareto", "method")


def numbers(text: str | None, kind: type, option: str) -> list | None:
    if not text:
        return None
    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise PerfModelError(f"{option} must be a comma list of numbers, got {text!r}") from None


def write_csv(rows: list[dict], path: str | Path | None) -> None:
    f = sys.stdout if path in (None, "-") else open(path, "w", newline="")
    try:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    finally:
        if f is not sys.stdout:
            f.close()


def register(app: typer.Typer) -> None:
    @app.command()
    def sweep(
        model: ModelOpt,
        hardware: HardwareOpt,
        workload: WorkloadOpt,
        plan: Annotated[list[str], typer.Option("--plan", "-p", help="A deployment: serve options as key=value "
                                                "(e.g. tp=8,ep=8,quant=fp8; scheduler=disagg,prefill_tp=2,...) or "
                                                "a plan .json from tune --out. Repeat for several.")],
        concurrency: Annotated[Optional[str], typer.Option("--concurrency", "-c", help="Client counts, e.g. "
                                                           "1,2,4,8,16 (closed loop).")] = None,
        rates: Annotated[Optional[str], typer.Option("--rates", help="Request rates (req/s), e.g. 1,2,5,10 "
                                                     "(latency vs load).")] = None,
        simulate: Annotated[bool, typer.Option("--simulate", help="Simulate every point (discrete-event; "
                                               "closed loop with C warm-up requests left out) instead of the "
                                               "analytic steady state.")] = False,
        num_requests: Annotated[int, typer.Option("--num-requests", "-n", help="Requests per simulated point "
                                                  "(and sampled for the workload's means).")] = 1000,
        engine: Annotated[str, typer.Option("--engine", help="Engine profile.")] = "vllm",
        calibration: CalOpt = None,
        speculative: SpeculativeOpt = None,
        csv_out: Annotated[Optional[str], typer.Option("--csv", help="Write every point as CSV to this path "
                                                       "('-': stdout).")] = None,
        png: Annotated[Optional[str], typer.Option("--png", help="Write the curves as a PNG.")] = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Throughput-interactivity curves over concurrency and latency vs load over request rates."""
        from perfmodel.search.plots import curves_png, curves_terminal
        from perfmodel.search.sweep import parse_plan
        from perfmodel.common.outpath import atomic_file, out_file
        from perfmodel.search.sweep import sweep as run

        # where the results go, checked before the sweep runs
        png_target = out_file("--png", png, suffixes=(".png",)) if png is not None else None
        csv_target = out_file("--csv", csv_out) if csv_out not in (None, "-") else None
        r = run(model=model, hardware=hardware, workload=workload, plans=[parse_plan(p) for p in plan],
                concurrency=numbers(concurrency, int, "--concurrency"), rates=numbers(rates, float, "--rates"),
                simulate=simulate, num_requests=num_requests, engine=engine, calibration=calibration,
                speculative=speculative)
        if png_target is not None:
            with atomic_file(png_target) as tmp:
                curves_png(r, tmp)
        if csv_out == "-":
            write_csv(r.rows(), None)
            return
        if csv_target is not None:
            with atomic_file(csv_target) as tmp:
                write_csv(r.rows(), tmp)
        if json_out:
            print_json(r.to_dict())
            return
        cols = ["plan", "sweep", "C", "req/s", "tok/s/device", "tok/s/user", "TTFT ms", "TPOT ms", "frontier"]
        rows = [[x["plan"], x["sweep"], x.get("concurrency", ""), x["rate_req_s"], x["output_tok_s_per_device"],
                 x["tok_s_per_user"], x["ttft_ms"], x["tpot_ms"],
                 "*" if x["pareto"] else ("saturated" if x.get("saturated") else "")] for x in r.rows()]
        methods = sorted({x["method"] for x in r.rows()})
        console.print(table(f"{r.config['model']} on {r.config['hardware']} ({'; '.join(methods)})", cols, rows))
        plot = curves_terminal(r)
        if plot:
            print(plot)
