"""Fit DeepSpeed-FastGen's host time per running sequence on NanoFlow's measurement of it.

NanoFlow (arXiv:2408.12757, Fig. 7) ran DeepSpeed-FastGen v0.2.3 and vLLM v0.5.3 side by side on
LLaMA-2-70B, 8x A100 SXM, offline (published_figures.csv rows 8 and 9). With the engines' device
work priced by the same step model, what separates the two is their scheduling (Dynamic SplitFuse
against prefill-first, both in the simulator) and their host work per iteration. FastGen's is the
one number no document gives: MII's scheduler and DeepSpeed's ragged-batch bookkeeping run in
Python once per running sequence per forward (MII pull request #377: per-sequence KV queries and
torch-tensor bookkeeping in Python loops were "significant"). The fit finds `cpu_per_seq_us` of the
fastgen profile that makes the predicted FastGen / vLLM throughput ratio match the measured one on
the train rows, by bounded scalar minimisation of the squared log ratio error.

Split: train on the two constant-length rows other than the one `perfmodel reproduce` reports
(512/512 and 512/1024); held out: 1024/512 (the reproduce entry) and the three traces (the
splitwise, lmsys and sharegpt presets), so the held-out error says whether a per-sequence host cost
carries to other lengths and to mixed lengths.

    python -m perfmodel.serving.fit_fastgen [--json]

prints the fitted value and each row's measured and predicted ratio; the value is then written into
`engine_profiles.py` by hand with this command as its source. The fit is relative to the vllm-0.5
profile's host cost (vLLM RFC #6854): it prices FastGen's host work as vLLM's is priced.
"""

from __future__ import annotations

import argparse
import functools
import json
import math

from scipy.optimize import minimize_scalar

from perfmodel.resolve import resolve_system
from perfmodel.serve_api import serve
from perfmodel.serving.engine_profiles import EngineProfile, get_engine
from perfmodel.errors import PerfModelError
from perfmodel.validation import OFFLINE_REQUESTS, OFFLINE_TRACE_REQUESTS, cases_from_rows, default_csv, read_rows

# NanoFlow Fig. 7 as published_figures.csv lists it: rows 8 (vLLM v0.5.3) and 9 (DeepSpeed-FastGen
# v0.2.3), each bar a `label=value` pair in the workload column that `perfmodel published` reads too.
NANOFLOW_ROWS = {"8": "vllm-0.5", "9": "fastgen"}


@functools.lru_cache(maxsize=1)
def nanoflow_bars() -> dict[str, dict[str, float]]:
    """tok/s/GPU (prefill + decode) per workload (this tool's preset or fixed:ISL:OSL) and engine."""
    path = default_csv()
    if path is None:
        raise PerfModelError("published_figures.csv not found: set PERFMODEL_PUBLISHED_CSV to its path")
    out: dict[str, dict[str, float]] = {}
    for c in cases_from_rows(read_rows(path))[0]:
        if NANOFLOW_ROWS.get(c.row) == c.kwargs["engine"]:
            out.setdefault(c.kwargs["workload"], {})[c.kwargs["engine"]] = c.published
    return out


TRAIN = ("fixed:512:512", "fixed:512:1024")
HELD_OUT = ("fixed:1024:512", "splitwise", "lmsys", "sharegpt")
SETUP = {"model": "llama-2-70b", "hardware": "a100-sxm-80gb", "tp": 8, "quant": "fp16"}
BOUNDS_US = (0.0, 500.0)     # per running sequence per iteration: 0 to half a millisecond of Python


def offline_tok_s_per_device(engine: str | EngineProfile, workload: str, *, system=None) -> float:
    """Offline prefill + decode tok/s per GPU of `engine` on NanoFlow's setup, with as many requests as
    `perfmodel published` runs for the row (more for the traces' long tails)."""
    requests = OFFLINE_REQUESTS if workload.startswith("fixed:") else OFFLINE_TRACE_REQUESTS
    r = serve(**SETUP | {"hardware": system or resolve_system(SETUP["hardware"])}, workload=workload,
              offline=True, num_requests=requests, engine=engine, goodput_search=False)
    return r.to_dict()["total_tok_s_per_device"]


def measured_ratio(workload: str) -> float:
    row = nanoflow_bars()[workload]
    return row["fastgen"] / row["vllm-0.5"]


def fit(*, max_evals: int = 20) -> dict:
    system = resolve_system(SETUP["hardware"])
    workloads = TRAIN + HELD_OUT
    vllm = {w: offline_tok_s_per_device("vllm-0.5", w, system=system) for w in workloads}
    base = get_engine("fastgen")

    def ratios(per_seq_us: float, rows) -> dict[str, float]:
        e = base.model_copy(update={"cpu_per_seq_us": per_seq_us})
        return {w: offline_tok_s_per_device(e, w, system=system) / vllm[w] for w in rows}

    def loss(per_seq_us: float) -> float:
        return sum(math.log(r / measured_ratio(w)) ** 2 for w, r in ratios(per_seq_us, TRAIN).items())

    best = minimize_scalar(loss, bounds=BOUNDS_US, method="bounded", options={"maxiter": max_evals, "xatol": 1.0})
    value = round(float(best.x))
    pred = ratios(value, workloads)
    rows = [{"workload": w, "split": "train" if w in TRAIN else "held out", "measured": measured_ratio(w),
             "predicted": pred[w], "error": pred[w] / measured_ratio(w) - 1} for w in workloads]
    return {"cpu_per_seq_us": value, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m perfmodel.serving.fit_fastgen", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args(argv)
    out = fit()
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"fastgen cpu_per_seq_us = {out['cpu_per_seq_us']} us per running sequence per iteration")
    for r in out["rows"]:
        print(f"  {r['workload']:<16} {r['split']:<9} FastGen / vLLM measured {r['measured']:.3f} "
              f"predicted {r['predicted']:.3f} ({r['error']:+.0%})")


if __name__ == "__main__":
    main()
