"""Accuracy against measured serving runs: the per-group ceilings of the ratchet
(tests/perfmodel/data/accuracy_ratchet.json, written by benchmarks/accuracy_ratchet.py) hold.
The default suite re-runs a sample of cheap rows; the full report runs under the `slow` marker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfmodel.accuracy import (Case, Skip, case_from_row, cases, clients_modeled, engine_for, length_ratio, model_name,
                                read_rows, report, run_case, simulated_length_ratio)
from perfmodel.errors import PerfModelError

RATCHET = json.loads((Path(__file__).parent / "data" / "accuracy_ratchet.json").read_text())


def test_sample_rows_stay_under_their_ceilings():
    sample = RATCHET["sample_rows"]
    rep = report(only=list(sample))
    got = {r["key"]: r for r in rep["rows"]}
    assert set(got) == set(sample), "a sample row is no longer expressible"
    bad = [(k, r["run"], r["tpot_ms"]["error_pct"], sample[k]["tpot_pct"], r["ttft_ms"]["error_pct"],
            sample[k]["ttft_pct"]) for k, r in got.items()
           if abs(r["tpot_ms"]["error_pct"]) > sample[k]["tpot_pct"] or abs(r["ttft_ms"]["error_pct"]) > sample[k]["ttft_pct"]]
    assert not bad, "row, run, TPOT error %, ceiling, TTFT error %, ceiling: " + repr(bad)


@pytest.mark.slow
def test_full_report_per_group_ceilings():
    rep = report()
    assert rep["expressible"] >= RATCHET["expressible_min"]
    bad = []
    for g, values in RATCHET["groups"].items():
        for v, ceil in values.items():
            s = rep["groups"][g].get(v)
            assert s is not None, f"group {g}={v} has no expressed row any more"
            for metric in ("tpot", "ttft"):
                if s[f"{metric}_median_abs_error_pct"] > ceil[f"{metric}_pct"]:
                    bad.append((g, v, metric, s[f"{metric}_median_abs_error_pct"], ceil[f"{metric}_pct"]))
    for metric in ("tpot", "ttft"):
        if rep["overall"][f"{metric}_median_abs_error_pct"] > RATCHET["overall"][f"{metric}_pct"]:
            bad.append(("all", "", metric, rep["overall"][f"{metric}_median_abs_error_pct"],
                        RATCHET["overall"][f"{metric}_pct"]))
    assert not bad, "group, value, metric, median |error| %, ceiling: " + repr(bad)


def _row(**kw) -> dict:
    base = {"backend": "vllm", "backend_version": "0.12.0", "model": "Qwen/Qwen3-32B", "system": "h100_sxm",
            "precision": "bf16", "gemm_quant": "", "mode": "agg", "isl": "1024", "osl": "128", "concurrency": "8",
            "tp": "2", "pp": "1", "ttft_ms_mean": "150", "tpot_ms_mean": "18"}
    return {**base, **kw}


def test_a_row_becomes_the_closed_loop_run_the_benchmark_made():
    c = case_from_row("r2", _row())
    assert isinstance(c, Case)
    assert c.kwargs == {"model": "qwen3-32b", "hardware": "h100-sxm", "quant": "bf16", "engine": "vllm-v1",
                        "workload": "random:1024:128:0.8", "concurrency": 8, "num_requests": 80, "tp": 2}
    d = case_from_row("r3", _row(mode="disagg", tp="", prefill_tp="1", prefill_workers="3", decode_tp="4",
                                 decode_workers="2"))
    assert d.kwargs["scheduler"] == "disagg"
    assert (d.kwargs["prefill_workers"], d.kwargs["prefill_dp"], d.kwargs["decode_tp"], d.kwargs["decode_workers"]) \
        == (3, 1, 4, 2)
    assert d.kwargs["hardware"] == "h100-sxmx2"   # 3 + 8 GPUs: two 8-GPU nodes


def test_documented_clients_send_equal_lengths_on_the_aiconfigurator_grid_only():
    """AIConfigurator's eval runners (genai-perf stddev 0, bench_serving range ratio 1) sent every
    request ISL / OSL tokens; InferenceMAX's runs (dated rows) and Dynamo's images drew [0.8, 1] x."""
    grid = _row()                                              # vllm 0.12.0, no image, no date
    assert length_ratio(grid) == 1.0
    assert length_ratio(_row(measured="2026-01-23", image="nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.8.0")) == 0.8
    assert length_ratio(_row(backend="vllm", backend_version="", measured="2025-10-29")) == 0.8
    assert length_ratio(_row(backend="sglang", backend_version="0.5.6.post2")) == 0.8
    assert case_from_row("r2", grid, documented_clients=True).kwargs["workload"] == "random:1024:128:1"
    assert case_from_row("r2", grid).kwargs["workload"] == "random:1024:128:0.8"   # the report's default
    # the report keeps equal lengths where the client holds the lockstep (SGLang's bench_serving)
    sglang_grid = _row(backend="sglang", backend_version="0.5.1.post1")
    assert simulated_length_ratio(sglang_grid) == 1.0 and simulated_length_ratio(grid) == 0.8
    assert case_from_row("r2", sglang_grid).kwargs["workload"] == "random:1024:128:1"
    assert simulated_length_ratio(_row(backend="sglang", backend_version="0.5.6.post2")) == 0.8
    counts = {}
    for r in read_rows(None):
        if length_ratio(r) == 1.0:
            counts[r["backend"]] = counts.get(r["backend"], 0) + 1
    assert counts == {"trtllm": 353, "vllm": 111, "sglang": 78}   # the three campaigns of the grid


def test_clients_modeled_leaves_out_the_genai_perf_grid_only():
    """The simulated clients are the documented ones everywhere but on genai-perf's grid rows (equal
    lengths sent, the 0.8 spread simulated): TRT-LLM 1.0.0rc3 and vLLM 0.12.0 without an image."""
    assert not clients_modeled(_row())                                          # vllm 0.12.0 grid
    assert not clients_modeled(_row(backend="trtllm", backend_version="1.0.0rc3"))
    assert clients_modeled(_row(backend="sglang", backend_version="0.5.1.post1"))   # bench_serving lockstep
    assert clients_modeled(_row(measured="2026-01-23", image="nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.8.0"))
    assert clients_modeled(_row(backend="trtllm", backend_version=""))         # InferenceMAX
    left = {}
    for r in read_rows(None):
        if not clients_modeled(r):
            left[(r["backend"], r["backend_version"])] = left.get((r["backend"], r["backend_version"]), 0) + 1
    assert left == {("trtllm", "1.0.0rc3"): 353, ("vllm", "0.12.0"): 111}


def test_moe_columns_become_attention_dp_and_expert_parallelism():
    """The CSV's tp is the attention TP, attention_dp the attention-DP ranks, moe_ep the expert
    ranks (tp x attention_dp GPUs per worker): DeepSeek's 'DEP8' is tp 1, dp 8, ep 8."""
    dep = case_from_row("r4", _row(backend="trtllm", backend_version="1.1.0", model="deepseek-ai/DeepSeek-R1",
                                   system="b200_sxm", precision="fp4", gemm_quant="nvfp4", moe_quant="nvfp4",
                                   tp="1", attention_dp="8", moe_tp="1", moe_ep="8"))
    assert (dep.kwargs["tp"], dep.kwargs["dp"], dep.kwargs["ep"]) == (1, 8, 8) and dep.kwargs["hardware"] == "b200"
    tep = case_from_row("r5", _row(tp="8", attention_dp="1", moe_tp="1", moe_ep="8", model="Qwen/Qwen3-235B-A22B"))
    assert (tep.kwargs["tp"], tep.kwargs["ep"]) == (8, 8) and "dp" not in tep.kwargs
    oss = case_from_row("r6", _row(model="openai/gpt-oss-120b", precision="mxfp4", gemm_quant="bf16", moe_quant="mxfp4"))
    assert oss.kwargs["quant"] == "bf16+experts=w4.25a16"   # vLLM's MXFP4 x BF16 experts (EngineProfile.mxfp4_experts)
    # a dense model has no expert layers to split: an expert-parallel column is ignored, not refused
    dense = case_from_row("r7", _row(model="Qwen/Qwen3-8B", tp="8", moe_tp="1", moe_ep="8"))
    assert dense.kwargs["tp"] == 8 and "ep" not in dense.kwargs
    pool = case_from_row("r8", _row(model="meta-llama/Llama-3.3-70B-Instruct", mode="disagg", tp="", prefill_tp="4",
                                    decode_tp="8", prefill_moe_ep="4", decode_moe_ep="8"))
    assert "prefill_ep" not in pool.kwargs and "decode_ep" not in pool.kwargs


@pytest.mark.parametrize("kw,reason", [
    (dict(concurrency=""), "concurrency not given"),
    (dict(backend="tgi"), "no engine profile for backend 'tgi'"),
    (dict(backend="vllm", backend_version="0.4.2"), "predates the profiled lines"),
    (dict(precision="int3", gemm_quant="int3"), "precision 'int3' not modelled"),
    (dict(tpot_ms_mean=""), "mean TTFT or TPOT not measured"),
])
def test_rows_that_cannot_be_expressed_say_why(kw, reason):
    s = case_from_row("r9", _row(**kw))
    assert isinstance(s, Skip) and reason in s.reason


def test_names_and_engines():
    assert model_name("nvidia/Qwen3-32B-NVFP4") == "qwen3-32b"
    assert model_name("nvidia/Llama-3.1-8B-Instruct-FP8") == "llama-3.1-8b"
    assert engine_for("trtllm", "1.0.0rc3")[0] == "trtllm-pytorch"
    assert engine_for("sglang", "0.5.6.post2")[0] == "sglang-0.5"
    assert engine_for("vllm", "")[0] == "vllm-v1"
    assert [engine_for("vllm", v)[0] for v in ("0.10.1", "0.8.0", "0.6.3")] == ["vllm-v1", "vllm-v1", "vllm-0.5"]
    assert [engine_for("trtllm", v)[0] for v in ("0.21.0", "0.11.0")] == ["trtllm", "trtllm-0.8"]
    assert engine_for("sglang", "0.4.9")[0] == "sglang-0.5"


def test_packaged_csv_and_bad_paths(tmp_path):
    rows = read_rows()
    assert len(rows) == 1071
    assert sum(isinstance(c, Case) for c in cases(rows)) > 1000
    with pytest.raises(PerfModelError, match="no such file"):
        read_rows(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(PerfModelError, match="line 1: expected the columns"):
        read_rows(bad)



def test_a_nemotron_nas_row_is_expressed_and_predicted():
    """Llama-Nemotron Super (per-layer NAS blocks) rows resolve to its own preset, not Llama-3.3-70B,
    and run; the measured columns here only fill the row (the packaged CSV has no Nemotron run)."""
    c = case_from_row("r7", _row(model="nvidia/Llama-3_3-Nemotron-Super-49B-v1_5-FP8", precision="fp8",
                                 gemm_quant="fp8", tp="2", concurrency="4"))
    assert isinstance(c, Case) and c.kwargs["model"] == "llama-3.3-nemotron-super-49b"
    out = run_case(c)
    assert not out.note and out.ttft_ms > 0 and 0 < out.tpot_ms < 100
