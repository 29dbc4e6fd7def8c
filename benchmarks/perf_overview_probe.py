"""Probes of the perf-overview MoE gap (issues 11 and 12, docs/moe.md "Large-batch MoE"): whether
trtllm-bench's batch limits are what the runs reached, and how the prediction moves with them.

For each probed row: the requests each scheduler (attention-DP rank) receives against the
max_batch_size trtllm-bench sets it (perfmodel.serving.trtllm_bench), and the predicted
throughput with that limit and with half of it. A row whose requests per rank stay under the
limit never reaches it; a row whose error barely moves with a halved limit is not set by it.

Run:  PYTHONPATH=. python benchmarks/perf_overview_probe.py [ROW ...]   (about 15 s for the defaults)
"""

from __future__ import annotations

import sys
from pathlib import Path

from perfmodel.serve_api import serve
from perfmodel.validation import _bench_kwargs, cases_from_rows, read_rows

CSV = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "trtllm_perf_overview.csv"
# DeepSeek-R1 H200 DEP8 1k/1k (+86%), Qwen3-235B H100 DEP8 1k/1k (+62%), gpt-oss-20b H200 TP1 1k/1k (+100%)
DEFAULT_ROWS = ("1011", "1109", "1050")


def predicted(kwargs: dict, metric: str) -> float:
    return serve(**kwargs, goodput_search=False).to_dict()[metric]


def main(rows: list[str]) -> None:
    cases, _ = cases_from_rows(read_rows(CSV))
    print("| row | run | requests per rank | max_batch | published | error at max_batch | at max_batch / 2 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for case in (c for c in cases if c.row in rows):
        kw = _bench_kwargs(case)
        ranks = kw.get("dp", 1) if kw.get("ep", 1) > 1 else 1
        errors = []
        for limit in (kw["max_batch"], kw["max_batch"] // 2):
            got = predicted({**kw, "max_batch": limit}, case.metric)
            errors.append(f"{100 * (got / case.published - 1):+.1f}%")
        print(f"| {case.row} | {case.label[:60]} | {kw['num_requests'] / ranks:,.0f} | {kw['max_batch']:,} "
              f"| {case.published:,.0f} | {errors[0]} | {errors[1]} |")


if __name__ == "__main__":
    main(sys.argv[1:] or list(DEFAULT_ROWS))
