"""Fit TensorRT-LLM's hidden host time per running sequence on the perf-overview development rows.

The PyTorch backend's executor does Python work for every running request each iteration
(scheduling, input preparation, sampler and response bookkeeping); its overlap scheduler runs that
work for iteration i+1 while the GPU runs iteration i, so a step takes max(device, host) and the
host only shows once a step's device time is shorter than it: small-active MoE models (gpt-oss,
Qwen3-30B-A3B) at the thousands of sequences trtllm-bench runs. The profile field is
`EngineProfile.cpu_hidden_per_seq_us`. No TRT-LLM document gives the number, so it is fitted here:
a grid over the value, each point the mean squared log(predicted / published) over the development
half of benchmarks/data/trtllm_perf_overview.csv (DeepSeek-R1, Qwen3-235B-A22B, gpt-oss-20b),
picking the value with the smallest (a median would not see the rows the value moves: most
development rows are device-bound); the held-out half (Llama-4 Maverick,
gpt-oss-120b, Qwen3-30B-A3B, Llama-3.3-70B) is then run at 0 and at the fitted value.

Run:  PYTHONPATH=. python benchmarks/fit_trtllm_host.py [--grid 0,20,40,60,80,100]   (~12 min)
"""

from __future__ import annotations

import argparse
import math
import statistics

from perfmodel.serving import engine_profiles
from perfmodel.validation import read_rows, report

from perf_overview_moe import CSV, DEVELOPMENT, HELD_OUT  # benchmarks/ is the script's directory

ENGINE = "trtllm-pytorch"


def _key(text: str) -> str:
    """'Llama-4-Maverick (17B-128E Instruct)' -> 'llama4maverick': the preset name's letters and digits."""
    return "".join(ch for ch in text.split(" (")[0].lower() if ch.isalnum())


def _ids(models: tuple[str, ...]) -> list[str]:
    keys = {_key(m) for m in models}
    return [r["id"] for r in read_rows(CSV) if _key(r["model"]) in keys]


def _run(value: float, ids: list[str]) -> tuple[float, float, int]:
    base = engine_profiles.ENGINES[ENGINE]
    engine_profiles.ENGINES[ENGINE] = base.model_copy(update={"cpu_hidden_per_seq_us": value})
    try:
        rows = [r for r in report(CSV, only=ids)["rows"] if r["error_pct"] is not None]
    finally:
        engine_profiles.ENGINES[ENGINE] = base
    logs = [math.log(r["predicted"] / r["published"]) for r in rows]
    return statistics.fmean(x * x for x in logs), statistics.median(abs(r["error_pct"]) for r in rows), len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", default="0,20,40,60,80,100", help="values to try, us per running sequence")
    args = ap.parse_args()
    dev, held = _ids(DEVELOPMENT), _ids(HELD_OUT)
    print(f"development rows {len(dev)}, held-out rows {len(held)}")
    best = None
    for v in (float(x) for x in args.grid.split(",")):
        loss, med, n = _run(v, dev)
        print(f"  {v:5.1f} us/seq: development mean squared log error {loss:.4f}, median |error| {med:.1f}% ({n} rows)")
        if best is None or loss < best[1]:
            best = (v, loss)
    for v in sorted({0.0, best[0]}):
        loss, med, n = _run(v, held)
        print(f"held out at {v:g} us/seq: mean squared log error {loss:.4f}, median |error| {med:.1f}% ({n} rows)")
    print(f"fitted cpu_hidden_per_seq_us = {best[0]:g}")


if __name__ == "__main__":
    main()
