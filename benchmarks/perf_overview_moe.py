"""TensorRT-LLM's perf-overview tables (MoE and new models, trtllm-bench max throughput on B200,
GB200, H200, H100): published vs predicted per row, the median |error| by model family, by GPU and by ISL/OSL,
and on the development and held-out halves.

Rows: benchmarks/data/trtllm_perf_overview.csv (transcribed from NVIDIA/TensorRT-LLM
docs/source/developer-guide/perf-overview.md at commit 03e27c7; each row names its table and
column). Nothing is fitted to them. Halves (by model, so a held-out row shares no model with a
development row): development = DeepSeek-R1, Qwen3-235B-A22B, gpt-oss-20b; held out =
Llama-4 Maverick, gpt-oss-120b, Qwen3-30B-A3B, Llama-3.3-70B.

Run:  python benchmarks/perf_overview_moe.py [--json REPORT.json] [--write-ratchet]
  --json: read a saved `perfmodel published --csv benchmarks/data/trtllm_perf_overview.csv --json`
          instead of running it (about two minutes on one core);
  --write-ratchet: write tests/perfmodel/data/perf_overview_ratchet.json (median ceilings that
          tests/perfmodel/test_perf_overview.py holds): rerun after a change that improves accuracy.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from perfmodel.validation import report

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "benchmarks" / "data" / "trtllm_perf_overview.csv"
RATCHET = ROOT / "tests" / "perfmodel" / "data" / "perf_overview_ratchet.json"
DEVELOPMENT = ("deepseek-r1", "qwen3-235b-a22b", "gpt-oss-20b")
HELD_OUT = ("llama-4-maverick", "gpt-oss-120b", "qwen3-30b-a3b", "llama-3.3-70b")
# Rows the fast test re-runs (about a second each): DeepSeek-R1, Llama-3.3-70B and Qwen3-235B at 1024/1024 on B200.
QUICK_ROWS = ("1002", "1060", "1094")


def model_of(run: str) -> str:
    return run.split(": ", 1)[1].split(" ", 1)[0]


def gpu_of(run: str) -> str:
    return run.split(" on ", 1)[1].split(";", 1)[0]


def median_abs(rows: list[dict]) -> float | None:
    errs = [abs(r["error_pct"]) for r in rows if r["error_pct"] is not None]
    return statistics.median(errs) if errs else None


def lengths_of(run: str) -> str:
    return run.split("; fixed:", 1)[1].split(" ", 1)[0].replace(":", "/")


def groups(rows: list[dict]) -> dict:
    by: dict[str, dict[str, list[dict]]] = {"model": {}, "gpu": {}, "isl/osl": {}}
    for r in rows:
        by["model"].setdefault(model_of(r["run"]), []).append(r)
        by["gpu"].setdefault(gpu_of(r["run"]), []).append(r)
        by["isl/osl"].setdefault(lengths_of(r["run"]), []).append(r)
    out = {k: {name: {"rows": len(rs), "median_abs_error_pct": median_abs(rs),
                      "mean_signed_error_pct": statistics.fmean(r["error_pct"] for r in rs)}
               for name, rs in sorted(v.items())} for k, v in by.items()}
    out["all"] = {"rows": len(rows), "median_abs_error_pct": median_abs(rows)}
    out["development"] = {"models": list(DEVELOPMENT),
                          "median_abs_error_pct": median_abs([r for r in rows if model_of(r["run"]) in DEVELOPMENT])}
    out["held_out"] = {"models": list(HELD_OUT),
                       "median_abs_error_pct": median_abs([r for r in rows if model_of(r["run"]) in HELD_OUT])}
    return out


def ceiling(x: float) -> float:
    """The ratchet's margin, as benchmarks/accuracy_ratchet.py: max(2 points, 10 %)."""
    return round(x + max(2.0, 0.1 * x), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="a saved `perfmodel published --csv ... --json` report")
    ap.add_argument("--write-ratchet", action="store_true")
    args = ap.parse_args()
    rep = json.loads(Path(args.json).read_text()) if args.json else report(CSV)
    rows = [r for r in rep["rows"] if r["error_pct"] is not None]
    print(f"{'row':>5}  {'model':<17} {'gpu':<9} {'what was run':<44} {'published':>9} {'predicted':>9} {'error':>7}")
    for r in rows:
        what = r["run"].split("; ", 1)[1].split(", trtllm-bench")[0] + " " + r["run"].split(" on ")[0].split(" ", 2)[2]
        print(f"{r['key']:>5}  {model_of(r['run']):<17} {gpu_of(r['run']):<9} {what[:44]:<44} "
              f"{r['published']:>9,.0f} {r['predicted']:>9,.0f} {r['error_pct']:>+6.1f}%")
    for s in rep["not_expressible"]:
        print(f"{s['key']:>5}  not expressed: {s['reason']}")
    g = groups(rows)
    for kind in ("model", "gpu", "isl/osl"):
        print(f"\nmedian |error| by {kind} (mean signed error)")
        for name, v in g[kind].items():
            print(f"  {name:<17} {v['rows']:>3} rows  {v['median_abs_error_pct']:5.1f}%  ({v['mean_signed_error_pct']:+.1f}%)")
    print(f"\nall {g['all']['rows']} rows: median |error| {g['all']['median_abs_error_pct']:.1f}%; development "
          f"({', '.join(DEVELOPMENT)}) {g['development']['median_abs_error_pct']:.1f}%; held out "
          f"({', '.join(HELD_OUT)}) {g['held_out']['median_abs_error_pct']:.1f}%")
    if args.write_ratchet:
        ratchet = {"source": "python benchmarks/perf_overview_moe.py --write-ratchet",
                   "median_ceiling_pct": ceiling(g["all"]["median_abs_error_pct"]),
                   "model_median_ceiling_pct": {k: ceiling(v["median_abs_error_pct"]) for k, v in g["model"].items()},
                   "quick_rows": {r["key"]: ceiling(abs(r["error_pct"])) for r in rows if r["key"] in QUICK_ROWS}}
        RATCHET.write_text(json.dumps(ratchet, indent=1) + "\n")
        print(f"wrote {RATCHET}")


if __name__ == "__main__":
    main()
