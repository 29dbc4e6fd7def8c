"""`perfmodel report`: one self-contained HTML page (Plotly, plotly.js inlined so it opens
offline) from a `tune --out` directory and, optionally, a `serve --out` directory: the Pareto front
(the throughput-interactivity curve: output tokens/s per device against tokens/s per user) over
every evaluated plan, the best plan's per-resource bounds and per-operator breakdown, its launch
command, and for the served run its latency distributions and latency against load."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Annotated, Optional

import typer

from perfmodel.cli._common import console
from perfmodel.common.jsonfile import parse_json
from perfmodel.common.textfile import read_text
from perfmodel.errors import PerfModelError

RENDERED_ATTR = "data-charts-rendered"   # set on <body> once every chart has drawn (the browser test reads it)


def _plotly():
    try:
        import plotly.graph_objects as go
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise PerfModelError("perfmodel report needs plotly, which is not installed: pip install plotly "
                             "(or perfmodel[report])") from None
    return go, get_plotlyjs


def _read_tune(run: Path) -> tuple[list[dict], list[dict], dict]:
    need = [run / "plans.csv", run / "pareto.json", run / "best_plan.json"]
    missing = [p.name for p in need if not p.is_file()]
    if missing:
        raise PerfModelError(f"--tune {run}: missing {', '.join(missing)}; write it with perfmodel tune --out {run}")
    plans = list(csv.DictReader(io.StringIO(read_text(need[0], what="a tune plans.csv"))))
    return plans, _json(need[1]), _json(need[2])


def _json(path: Path):
    """A JSON file a run wrote, through the shared reader (size, encoding and JSON errors in one line)."""
    return parse_json(path, read_text(path, what="a run's JSON output"))


def _num(x: str) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def pareto_figure(go, plans: list[dict], pareto: list[dict]):
    fig = go.Figure()
    pts = [(_num(p["tok_s_per_user"]), _num(p["tok_s_per_device"]), p["plan"], p["meets_slo"] == "1") for p in plans]
    for ok, name, color in ((True, "meets the SLOs", "#4c78a8"), (False, "misses the SLOs", "#bbbbbb")):
        sel = [p for p in pts if p[3] == ok and p[0] is not None and p[1] is not None]
        fig.add_trace(go.Scatter(x=[p[0] for p in sel], y=[p[1] for p in sel], text=[p[2] for p in sel],
                                 mode="markers", name=f"plans ({name})", marker={"size": 5, "color": color},
                                 hovertemplate="%{text}<br>%{x:.1f} tok/s/user, %{y:.0f} tok/s/device"))
    front = sorted(pareto, key=lambda f: f["tok_s_per_user"])
    fig.add_trace(go.Scatter(x=[f["tok_s_per_user"] for f in front], y=[f["output_tok_s_per_device"] for f in front],
                             text=[f["plan"] for f in front], mode="lines+markers", name="Pareto front",
                             line={"color": "#e45756"}, hovertemplate="%{text}<br>%{x:.1f} tok/s/user, "
                             "%{y:.0f} tok/s/device"))
    fig.update_layout(title="Throughput vs interactivity (every evaluated plan; the Pareto front)",
                      xaxis_title="tokens/s per user (1000 / TPOT ms)", yaxis_title="output tokens/s per device")
    return fig


def bounds_figure(go, doc: dict):
    items = [(k, v) for k, v in doc["bounds_output"].items() if v is not None]
    fig = go.Figure(go.Bar(x=[k for k, _ in items], y=[v for _, v in items], name="bound",
                           marker={"color": "#72b7b2"}))
    fig.add_trace(go.Bar(x=["predicted"], y=[doc["predicted_output_tok_s_per_device"]], name="predicted",
                         marker={"color": "#e45756"}))
    fig.update_layout(title=f"Per-resource bounds, best plan (binding: {doc['binding']})",
                      yaxis_title="output tokens/s per device", yaxis_type="log")
    return fig


def breakdown_figure(go, breakdown: dict):
    fig = go.Figure()
    for phase, color in (("prefill", "#4c78a8"), ("decode", "#f58518")):
        ops = [o for o in breakdown[phase] if o["time_ms"] > 0]
        fig.add_trace(go.Bar(y=[o["name"] for o in ops], x=[o["time_ms"] for o in ops], name=phase,
                             orientation="h", marker={"color": color}))
    fig.update_layout(title="Per-operator time, best plan (one device; prefill: the batch's prompts, decode: one step)",
                      xaxis_title="ms (all layers)", xaxis_type="log", barmode="group", height=520)
    return fig


def latency_figure(go, rows: list[dict]):
    fig = go.Figure()
    for key, name in (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"), ("e2e_ms", "end-to-end")):
        vals = sorted(v for v in (_num(r[key]) for r in rows) if v is not None)
        if vals:
            n = len(vals)
            fig.add_trace(go.Scatter(x=vals, y=[(i + 1) / n for i in range(n)], mode="lines", name=name))
    fig.update_layout(title="Served requests: latency distributions (simulated)", xaxis_title="ms",
                      xaxis_type="log", yaxis_title="fraction of requests")
    return fig


def load_figure(go, result: dict):
    """Latency vs load: the analytic TTFT and TPOT against the request rate, and the simulated run."""
    curve = result["analytic"]["latency_vs_load"]
    fig = go.Figure()
    for key, name, axis in (("ttft_ms", "TTFT (analytic mean)", "y"), ("tpot_ms", "TPOT (analytic mean)", "y2")):
        fig.add_trace(go.Scatter(x=[p["rate_req_s"] for p in curve], y=[p[key] for p in curve], mode="lines+markers",
                                 name=name, yaxis=axis))
    rate = result["config"].get("rate_req_s")
    if rate:
        fig.add_trace(go.Scatter(x=[rate], y=[result["ttft_ms"]["p50"]], mode="markers", name="TTFT p50 (simulated)",
                                 marker={"symbol": "square", "size": 10}, yaxis="y"))
        fig.add_trace(go.Scatter(x=[rate], y=[result["tpot_ms"]["p50"]], mode="markers", name="TPOT p50 (simulated)",
                                 marker={"symbol": "diamond", "size": 10}, yaxis="y2"))
    fig.update_layout(title="Latency vs load (served configuration)", xaxis_title="request rate (req/s)",
                      yaxis={"title": "TTFT ms", "type": "log"},
                      yaxis2={"title": "TPOT ms", "overlaying": "y", "side": "right", "rangemode": "tozero"},
                      legend={"x": 1.08})
    return fig


def _best_plan_views(best: dict) -> tuple[dict | None, dict | None, list[str], list[str]]:
    """(bounds doc, breakdown, launch commands, export notes) of the best plan's first pool."""
    from perfmodel.cli.bound import run_bound
    from perfmodel.estimator import estimate
    from perfmodel.plan import Plan
    from perfmodel.search.export import get_exporter
    from perfmodel.search.plan_file import PlanFile

    pf = PlanFile.model_validate(best)
    pool: Plan = pf.pools[-1]   # the decode pool of a disaggregated plan
    isl, osl = pf.workload.isl, pf.workload.osl
    fields = pool.model_dump(exclude={"mode"})
    doc = run_bound(model=pf.model, hardware=pf.hardware, isl=isl, osl=osl, plan_kwargs=fields,
                    batch_size=pool.max_batch)
    est = estimate(model=pf.model, hardware=pf.hardware, batch_size=pool.max_batch or 1, isl=isl, osl=osl,
                   plan=Plan(**fields))
    try:
        ex = get_exporter("vllm").export(pf)
        commands, notes = ex.commands, ex.notes
    except PerfModelError as exc:
        commands, notes = [], [f"vLLM cannot launch this plan: {exc}"]
    return doc, est.breakdown, commands, notes


def build_report(*, tune_dir: str, serve_dir: str | None = None) -> str:
    go, get_plotlyjs = _plotly()
    plans, pareto, best = _read_tune(Path(tune_dir))
    figures = [pareto_figure(go, plans, pareto)]
    doc, breakdown, commands, notes = _best_plan_views(best)
    figures += [bounds_figure(go, doc), breakdown_figure(go, breakdown)]
    if serve_dir:
        path = Path(serve_dir) / "requests.csv"
        if not path.is_file():
            raise PerfModelError(f"--serve {serve_dir}: no requests.csv; write it with perfmodel serve --out {serve_dir}")
        rows = list(csv.DictReader(io.StringIO(read_text(path, what="a serve requests.csv"))))
        figures.append(latency_figure(go, rows))
        result_path = Path(serve_dir) / "result.json"
        if result_path.is_file():
            result = _json(result_path)
            if result.get("analytic", {}).get("latency_vs_load"):
                figures.append(load_figure(go, result))
    pred = best["prediction"]
    summary = (f"{html.escape(best['model'])} on {best['devices']} x {html.escape(best['hardware'])}, "
               f"{best['workload']['isl']}/{best['workload']['osl']} tokens: {pred['output_tok_s_per_device']:,.0f} "
               f"output tok/s/device, TTFT {pred['ttft_ms']:.0f} ms, TPOT {pred['tpot_ms']:.1f} ms")
    divs = "\n".join(f.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart{i}")
                     for i, f in enumerate(figures))
    launch = html.escape("\n".join([*(f"# {n}" for n in notes), *commands]))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>perfmodel report: {html.escape(best['model'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}}
pre{{background:#f5f5f5;padding:.8em;overflow-x:auto;white-space:pre-wrap}}</style>
<script>{get_plotlyjs()}</script></head>
<body>
<h1>perfmodel report</h1>
<p>Best plan: <b>{html.escape(pareto[0]['plan'] if pareto else '')}</b>. {summary}.
Predictions of the analytical model (perfmodel {html.escape(best['provenance']['version'])},
catalog {html.escape(best['provenance']['catalog'])}).</p>
{divs}
<h2>Launch (vLLM)</h2>
<pre id="launch">{launch}</pre>
<script>
window.addEventListener("load", function () {{
  var n = document.querySelectorAll(".js-plotly-plot .main-svg").length > 0 ?
      document.querySelectorAll(".js-plotly-plot").length : 0;
  document.body.setAttribute("{RENDERED_ATTR}", String(n));
}});
</script>
</body></html>
"""


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        tune_dir: Annotated[str, typer.Option("--tune", help="A perfmodel tune --out directory (plans.csv, "
                                                             "pareto.json, best_plan.json).")],
        out: Annotated[str, typer.Option("--out", help="The HTML file to write.")] = "report.html",
        serve_dir: Annotated[Optional[str], typer.Option("--serve", help="A perfmodel serve --out directory: adds the "
                                                                         "served requests' latency distributions.")] = None,
    ) -> None:
        """One self-contained HTML page: Pareto front, bounds, per-operator breakdown, launch command."""
        from perfmodel.common.outpath import atomic_file, out_file

        target = out_file("--out", out, suffixes=(".html", ".htm"))  # before the work
        page = build_report(tune_dir=tune_dir, serve_dir=serve_dir)
        with atomic_file(target) as tmp:
            tmp.write_text(page)
        console.print(f"wrote {out} ({len(page) / 1e6:.1f} MB, opens offline)", markup=False, highlight=False)
