"""TensorRT-LLM 1.x perf-overview rows (benchmarks/data/trtllm_perf_overview.csv): the row parser
expresses every row, and the errors stay under the ratchet that benchmarks/perf_overview_moe.py
writes (tests/perfmodel/data/perf_overview_ratchet.json). A few rows run by default; the whole
table (about two minutes) is `slow`."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from perfmodel.validation import cases_from_rows, parse_hardware, parse_parallelism, parse_quant, read_rows, report

ROOT = Path(__file__).resolve().parents[2]
CSV = ROOT / "benchmarks" / "data" / "trtllm_perf_overview.csv"
RATCHET = json.loads((Path(__file__).parent / "data" / "perf_overview_ratchet.json").read_text())


def test_columns_as_the_tables_spell_them():
    assert parse_hardware("4x GB200 192GB (GB200 NVL72)") == ("gb200", 4)
    assert parse_hardware("4x B200 180GB (DGX B200)") == ("b200", 4)
    assert parse_parallelism("DEP4 (attention DP=4, EP=4, TP=1)", 4) == {"tp": 1, "dp": 4, "ep": 4}
    assert parse_parallelism("TP=2", 2) == {"tp": 2}
    assert parse_quant("NVFP4 (nvidia/DeepSeek-R1-0528-NVFP4-v2), FP8 KV cache") == "nvfp4+kv=fp8"
    assert parse_quant("FP8 block-scaled (deepseek-ai/DeepSeek-R1-0528), FP8 KV cache") == "fp8-block+kv=fp8"
    assert parse_quant("MXFP4 experts, BF16 elsewhere (openai/gpt-oss checkpoint), FP8 KV cache") \
        == "bf16+experts=mxfp4+kv=fp8"
    assert parse_quant("FP8 (FP8 KV cache)") == "fp8"  # the v0.17 rows read as before


def test_every_row_is_a_trtllm_bench_case_on_the_pytorch_backend():
    rows = read_rows(CSV)
    cases, skips = cases_from_rows(rows)
    assert not skips and len(cases) == len(rows)
    assert {c.kwargs["engine"] for c in cases} == {"trtllm-pytorch"}
    assert all(c.trtllm_bench and c.cuda_graph_max_batch == 8192 for c in cases)
    stated = {(1024, 1024): 3000, (8192, 1024): 1500, (1024, 32768): 1000}  # the doc's request counts
    for c in cases:
        _, isl, osl = c.kwargs["workload"].split(":")
        if (int(isl), int(osl)) in stated:
            assert c.kwargs["num_requests"] == stated[(int(isl), int(osl))]


def test_quick_rows_meet_their_ceilings():
    rep = report(CSV, only=list(RATCHET["quick_rows"]))
    got = {r["key"]: r["error_pct"] for r in rep["rows"]}
    assert set(got) == set(RATCHET["quick_rows"])
    over = {k: f"{got[k]:+.1f}% > {c}%" for k, c in RATCHET["quick_rows"].items() if abs(got[k]) > c}
    assert not over, f"perf-overview rows past their ratchet ceilings: {over}"


@pytest.mark.slow
def test_whole_table_meets_the_median_ceilings():
    """`python benchmarks/perf_overview_moe.py` prints the same table; about two minutes."""
    rep = report(CSV)
    rows = [r for r in rep["rows"] if r["error_pct"] is not None]
    assert len(rows) == len(read_rows(CSV))
    median = statistics.median(abs(r["error_pct"]) for r in rows)
    assert median <= RATCHET["median_ceiling_pct"], f"median |error| {median:.1f}% > {RATCHET['median_ceiling_pct']}%"
    for model, ceiling in RATCHET["model_median_ceiling_pct"].items():
        errs = [abs(r["error_pct"]) for r in rows if r["run"].split(": ", 1)[1].startswith(model + " ")]
        assert errs and statistics.median(errs) <= ceiling, f"{model}: median |error| above {ceiling}%"
