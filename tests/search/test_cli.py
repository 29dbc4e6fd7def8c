"""`perfmodel tune` and `perfmodel export` through the real entry point: output, files, exit codes."""

from __future__ import annotations

import csv
import json

import pytest

from tests.search.conftest import run_cli

BASE = ["tune", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--devices", "2", "--workload", "1000/200",
        "--quant", "bf16", "--max-batch", "8,32", "--token-budget", "none,2048", "--kv-dtype", "auto"]


def test_tune_json_has_the_documented_keys(capsys):
    code, out, err = run_cli(BASE + ["--ttft-slo", "500", "--tpot-slo", "30", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    for key in ("best", "pareto", "evaluated", "pruned", "seconds"):
        assert key in d
    for key in ("plan", "output_tok_s_per_device", "ttft_ms", "tpot_ms"):
        assert key in d["best"]
    assert d["best"]["ttft_ms"] <= 500 and d["best"]["tpot_ms"] <= 30
    assert d["evaluated"] > 0 and isinstance(d["pruned"], dict)
    assert d["best"]["plan_file"]["schema_version"] >= 1


def test_tune_human_output_and_out_dir(tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, out, err = run_cli(BASE + ["--ttft-slo", "500", "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert "Pareto front" in out and "tok/s/device" in out and "best (throughput)" in out
    for name in ("plans.csv", "pareto.json", "best_plan.json", "pareto.png"):
        assert (out_dir / name).is_file()
    rows = list(csv.DictReader(open(out_dir / "plans.csv")))
    assert len(rows) > 10 and {"plan", "ttft_ms", "tok_s_per_device", "meets_slo"} <= set(rows[0])
    assert (out_dir / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the best plan exports
    code, out, err = run_cli(["export", str(out_dir / "best_plan.json"), "--format", "vllm"], capsys)
    assert code == 0 and "vllm serve meta-llama/Llama-3.1-8B-Instruct" in out


def test_fixing_options_restrict_the_search(capsys):
    code, out, _ = run_cli(BASE + ["--tp", "2", "--mode", "agg", "--json"], capsys)
    d = json.loads(out)
    assert code == 0
    assert all(p["pools"][0]["tp"] == 2 and p["mode"] == "aggregated" for p in d["pareto"])


def test_no_plan_meets_the_slo(capsys):
    code, out, err = run_cli(BASE + ["--ttft-slo", "1", "--tpot-slo", "1"], capsys)
    assert code == 1
    assert "closest plans" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: no plan meets TTFT <= 1 ms and TPOT <= 1 ms") and "closest:" in last


def test_no_plan_meets_the_slo_json(capsys):
    code, out, err = run_cli(BASE + ["--ttft-slo", "1", "--json"], capsys)
    assert code == 1
    d = json.loads(out)
    assert d["best"] is None and len(d["closest"]) > 0
    assert err.strip().startswith("error: no plan meets")


@pytest.mark.parametrize("args,message", [
    (["--storage", "postgresql://nobody@127.0.0.1:1/none", "--searcher", "optuna", "--trials", "2"],
     "cannot open the study storage"),
    (["--storage", "redis://x"], "is not a storage URL"),
    (["--workers", "2", "--searcher", "optuna"], "--workers > 1 needs a shared --storage"),
    (["--objective", "speed"], "--objective 'speed' must be one of"),
    (["--searcher", "annealing"], "unknown searcher 'annealing'"),
    (["--tp", "two"], "--tp takes integers"),
    (["--workload", "lots"], "workload 'lots'"),
    (["--kv-attention", "gpu,quest"], "kv_attention"),
    (["--kv-attention", "cpu"], "the search space holds no valid plan; pruned:"),
])
def test_bad_input_is_one_line_exit_1(args, message, capsys):
    code, out, err = run_cli(BASE + args, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_password_is_not_echoed(capsys):
    code, _, err = run_cli(BASE + ["--storage", "postgresql://bob:secret@127.0.0.1:1/db", "--searcher", "optuna"], capsys)
    assert code == 1 and "secret" not in err


def test_export_errors(tmp_path, capsys):
    code, _, err = run_cli(["export", str(tmp_path / "missing.json")], capsys)
    assert code == 1 and "no such plan file" in err
    bad = tmp_path / "old.json"
    bad.write_text(json.dumps({"kind": "perfmodel.plan", "schema_version": 0}))
    code, _, err = run_cli(["export", str(bad)], capsys)
    assert code == 1 and "schema_version 0" in err and len(err.strip().splitlines()) == 1


def test_python_api_is_the_same(tmp_path):
    import perfmodel

    r = perfmodel.tune(model="llama-3.1-8b", hardware="h100-sxm", devices=2, workload="1000/200",
                       space={"quant": "bf16", "max_batch": [8, 32]}, ttft_slo=500)
    d = r.to_dict()
    assert d["best"]["ttft_ms"] <= 500 and d["searcher"] == "grid"


def test_long_context_search_takes_sparse_kv(tmp_path, capsys):
    """Llama-3.1-8B on one H100 with 100K-token prompts: searching where decode attention reads
    the KV (--kv-attention) finds a sparse-KV plan well above the best dense one; its plan file
    carries sparse_kv, and the Optuna searcher samples the same dimension."""
    args = ["tune", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--devices", "1", "--workload",
            "fixed:100000:1000", "--ttft-slo", "60000", "--tpot-slo", "100", "--mode", "agg",
            "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    dense = json.loads(out)["best"]
    code, out, err = run_cli(args + ["--kv-attention", "gpu,shadowkv,topk", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    best = json.loads(out)["best"]
    assert best["offload"]["kv_attention"] in ("shadowkv", "topk")
    assert best["output_tok_s_per_device"] > 1.3 * dense["output_tok_s_per_device"]
    plan = json.loads((tmp_path / "best_plan.json").read_text())
    assert plan["pools"][0]["sparse_kv"] == best["offload"]["kv_attention"]
    code, out, err = run_cli(args + ["--kv-attention", "gpu,shadowkv", "--searcher", "optuna", "--trials", "20"],
                             capsys)
    assert code == 0, err
    assert json.loads(out)["best"]["offload"]["kv_attention"] in ("gpu", "shadowkv")


def test_an_empty_space_names_the_rules_that_pruned_it(capsys):
    code, out, err = run_cli(BASE + ["--kv-attention", "cpu"], capsys)   # CPU attention, but no host KV
    assert code == 1 and "cpu_attention_without_host_kv" in err and "no plan meets" not in err


def test_tune_engine_searches_only_what_it_launches(capsys):
    """--engine vllm: nano-batches and sparse attention are not vLLM options, so no plan on the
    front uses them, though the space offered them; fixing only what vLLM lacks is one-line error."""
    args = BASE + ["--mode", "agg", "--nano-batches", "1,2", "--kv-attention", "gpu,shadowkv", "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    everything = json.loads(out)["evaluated"]
    code, out, err = run_cli(args + ["--engine", "vllm"], capsys)
    assert code == 0, err
    front = json.loads(out)["pareto"]
    assert json.loads(out)["evaluated"] < everything / 2     # 2 nano-batch x 2 attention choices -> 1 x 1
    assert front and all(p["pools"][0]["nano_batches"] == 1 and p["pools"][0]["sparse_kv"] is None for p in front)
    code, out, err = run_cli(BASE + ["--nano-batches", "2", "--engine", "sglang"], capsys)
    assert code == 1 and "--engine sglang cannot launch --nano-batches 2" in err and len(err.strip().splitlines()) == 1
