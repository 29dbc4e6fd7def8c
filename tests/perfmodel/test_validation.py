"""Reading published-figure rows generically and the `perfmodel published` report."""

import csv
import json

import pytest

from perfmodel.cli import main
from perfmodel.validation import (cases_from_rows, parse_engine, parse_hardware, parse_metric, parse_quant,
                                  parse_workload, report, weight_group)

COLUMNS = ["id", "source", "where", "system", "model", "hardware", "precision", "parallelism", "workload",
           "metric", "value", "unit", "confidence", "notes"]
ROWS = [
    ["8", "NanoFlow", "fig7", "vLLM v0.5.3 (NanoFlow baseline)", "LLaMA-2-70B", "8x A100-80GB SXM (DGX, NVLink)",
     "FP16", "TP=8", "offline; const 512/512=494; const 1024/512=552", "per-GPU token throughput", "552",
     "tok/s/GPU (value col = const 1024/512)", "high", ""],
    ["13", "NanoFlow", "fig11", "NanoFlow (vLLM baseline in same fig.)", "DeepSeek-67B", "A100-80GB SXM (8x DGX node)",
     "FP16", "TP=8 (assumed)", "offline, const in=1024/out=512", "per-GPU token throughput", "1147", "tok/s/GPU",
     "high", "vLLM = 532 tok/s/GPU in same figure."],
    ["24", "TRT-LLM docs", "v0.17", "TensorRT-LLM v0.17 (C++/TRT engine)", "Llama-3.1-8B", "1x A100-SXM4-80GB", "FP16",
     "TP=1", "offline ISL/OSL=1000/1000; in-flight batching, kv_cache_free_gpu_mem_fraction 0.95",
     "output token throughput (whole system)", "3786.83", "tok/s", "high", ""],
    ["90", "made up", "x", "SGLang v0.4.3", "Llama-3.1-8B-Instruct", "1x H200", "BF16", "TP=1",
     "online, ShareGPT, Poisson, 4 req/s", "output token throughput", "1000", "tok/s", "low", ""],
    ["60", "SwiftKV", "abs", "vLLM + SwiftKV (Snowflake fork)", "Llama-3.1-70B-Instruct (SwiftKV-distilled)", "4x H100",
     "16-bit", "4 GPUs", "prefill-heavy", "combined (input+output) throughput", "16000", "tok/s (system)", "low", ""],
]


def _rows():
    return [dict(zip(COLUMNS, r)) for r in ROWS]


def test_column_parsers():
    assert parse_hardware("8x A100-80GB SXM (DGX, NVLink)") == ("a100-sxm-80gb", 8)
    assert parse_hardware("1x H100-80GB HBM3") == ("h100-sxm", 1)
    assert parse_hardware("4x L40S") == ("l40s", 4)
    assert parse_hardware("TPU v5e") is None
    assert parse_quant("FP8 (FP8 KV cache)") == "fp8" and parse_quant("INT8 (W8A8)") == "w8a8"
    assert parse_quant("W4A8KV4 (QoQ)") == "w4a8kv4" and parse_quant("16-bit") == "fp16"
    assert parse_engine("vLLM v0.5.3 (NanoFlow baseline)", {})[0] == "vllm-0.5"
    assert parse_engine("vLLM", {"vllm": "vllm v0.5.3"})[0] == "vllm-0.5"
    assert parse_engine("TensorRT-LLM v0.17", {})[0] == "trtllm"
    assert parse_engine("NanoFlow (vLLM baseline in same fig.)", {})[0] == "nanoflow"
    assert parse_engine("TensorRT-LLM v0.8.0 (NanoFlow baseline)", {})[0] == "trtllm-0.8"
    assert parse_metric("per-GPU token throughput", "tok/s/GPU")[0] == "total_tok_s_per_device"
    assert parse_metric("output token throughput (whole system)", "tok/s")[0] == "output_tok_s"
    assert parse_metric("normalized latency (end-to-end latency / output tokens)", "s/token")[0] == \
        "normalized_latency_s_per_token"
    wl, _ = parse_workload("online, LMSYS-Chat-1M trace, Poisson arrivals, 15 req/s")
    assert wl == {"workload": "lmsys", "rate": 15.0}
    wl, _ = parse_workload("offline, in=1024/out=512, in-flight batching off, batch=256")
    assert wl == {"workload": "fixed:1024:512", "offline": True, "max_batch": 256, "scheduler": "static"}


def test_rows_become_cases_or_reasons():
    cases, skips = cases_from_rows(_rows())
    keys = {c.key: c for c in cases}
    assert set(keys) == {"8:const 512/512", "8:const 1024/512", "13", "13:vLLM", "24", "90"}
    assert keys["13"].kwargs["engine"] == "nanoflow"
    assert keys["8:const 512/512"].kwargs["workload"] == "fixed:512:512"
    assert keys["13:vLLM"].kwargs["engine"] == "vllm-0.5" and keys["13:vLLM"].published == 532
    assert keys["24"].kwargs["kv_fraction"] == 0.95 and keys["24"].kwargs["engine"] == "trtllm"
    assert keys["90"].kwargs["engine"] == "sglang" and keys["90"].kwargs["hardware"] == "h200-sxm"
    reasons = {s.key: s.reason for s in skips}
    assert "SwiftKV" in reasons["60"]
    # NanoFlow's offline rows are a window of iterations (its eval scripts skip the first 2,000 or
    # 10,000 and count 1,500); the baselines' whole runs and TRT-LLM's trtllm-bench runs are not
    assert keys["13"].steady_window and "steady window" in keys["13"].label
    assert not keys["13:vLLM"].steady_window and not keys["24"].steady_window and not keys["90"].steady_window


def test_weight_group_follows_the_row_hardware():
    qoq = "W4A8KV4 (QoQ; per-channel on A100, g128 on L40S)"
    assert weight_group(qoq, "l40s") == 128 and weight_group(qoq, "a100-sxm-80gb") is None
    assert weight_group("FP8 (FP8 KV cache)", "h100-sxm") is None
    row = dict(zip(COLUMNS, ["18", "QServe", "x", "QServe", "Llama-3-8B", "1x L40S-48G", qoq, "single GPU",
                             "offline, in=1024/out=512, in-flight batching off, batch=128",
                             "max achievable token generation throughput", "3656", "tok/s", "high", ""]))
    a100 = {**row, "id": "17", "hardware": "1x A100-80G"}
    cases, _ = cases_from_rows([row, a100])
    assert {c.key: c.kwargs["quant"] for c in cases} == {"18": "w4a8kv4-g128", "17": "w4a8kv4"}


def test_report_and_cli(tmp_path, capsys):
    f = tmp_path / "pub.csv"
    with f.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(ROWS)
    rep = report(f, only=["24"])
    (row,) = rep["rows"]
    assert row["predicted"] > 0 and row["error_pct"] == pytest.approx(100 * (row["predicted"] / 3786.83 - 1))
    assert rep["median_abs_error_pct"] == pytest.approx(abs(row["error_pct"]))
    code = 0
    try:
        main(["published", "--csv", str(f), "--only", "24,60", "--json"])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code in (0, None), err
    doc = json.loads(out)
    assert doc["expressed"] == 1 and doc["not_expressible"][0]["row"] == "60"


def test_nanoflow_rows_take_the_dense_batch_of_nanoflows_own_config():
    mixtral = dict(zip(COLUMNS, ROWS[1]))
    mixtral.update(id="14", model="Mixtral-8x7B", notes="vLLM = 997 tok/s/GPU in same figure.")
    cases, _ = cases_from_rows([mixtral, dict(zip(COLUMNS, ROWS[1]))])
    keys = {c.key: c for c in cases}
    # pipeline/config_all/mixtral-8-7B/1024.json global_batch_size 4096; DeepSeek-67B keeps the profile's
    assert keys["14"].kwargs["token_budget"] == 4096 and "dense batch 4096" in keys["14"].label
    assert "token_budget" not in keys["13"].kwargs and "token_budget" not in keys["14:vLLM"].kwargs
