"""`perfmodel serve`: JSON keys, tables, workload forms, and one-line errors with exit code 1."""

import json

import pytest

from tests._cli import run

HEADER = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
BASE = ["serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm"]


def test_serve_json_keys(capsys):
    code, out, err = run(capsys, *BASE, "--workload", "sharegpt", "--rate", "4", "--num-requests", "200",
                         "--ttft-slo", "500", "--tpot-slo", "50", "--json")
    assert code == 0, err
    doc = json.loads(out)
    for key in ("output_tok_s", "total_tok_s", "request_rate", "slo_attainment", "goodput_req_s",
                "goodput_req_s_per_device", "output_tok_s_per_device", "analytic"):
        assert key in doc
    for key in ("ttft_ms", "tpot_ms", "e2e_ms"):
        assert set(doc[key]) == {"mean", "p50", "p90", "p99"}
    assert 0 <= doc["slo_attainment"] <= 1 and doc["goodput_req_s"] > 0
    tbt = doc["sim"]["tbt_ms"]  # every gap between tokens: its mean is the token-weighted mean of TPOT
    assert tbt["mean"] == pytest.approx(doc["itl_ms"]["mean"], rel=1e-6) and tbt["p99"] >= tbt["p50"]


def test_serve_closed_loop(capsys):
    args = [*BASE, "--workload", "fixed:1024:128", "--concurrency", "8", "--num-requests", "40", "--warmup", "8"]
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["config"]["mode"] == "closed loop" and doc["config"]["concurrency"] == 8
    assert doc["requests"] == 40 and doc["config"]["warmup_requests"] == 8
    for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
        assert set(doc[key]) == {"mean", "p50", "p90", "p99"}
    assert doc["tok_s_per_user"] > 0 and doc["total_tok_s_per_device"] > doc["output_tok_s_per_device"]
    code, out, err = run(capsys, *args)
    assert code == 0 and "8 clients" in out and "tokens/s per user" in out and "TBT (every gap)" in out


@pytest.mark.parametrize("workload", ["fixed:512:64", "burstgpt-sample", "lmsys"])
def test_serve_workload_forms(capsys, workload):
    code, out, err = run(capsys, *BASE, "--workload", workload, "--offline", "--num-requests", "100",
                         "--engine", "trtllm", "--quant", "fp8")
    assert code == 0, err
    assert "output tokens/s" in out and "TTFT" in out and "analytic steady state" in out


def test_serve_nano_batches_reach_the_step_model(capsys):
    """--nano-batches K runs the plan's steps through perfmodel.overlap (NanoFlow overlap): on a
    compute-bound 70B TP8 batch the steady state is faster than the same plan without it."""
    args = ["serve", "--model", "llama-2-70b", "--hardware", "dgx-a100", "--tp", "8", "--quant", "fp16",
            "--workload", "fixed:1024:512", "--offline", "--num-requests", "300", "--engine", "ideal",
            "--token-budget", "4096", "--max-batch", "1024", "--json"]
    docs = {}
    for k in ("1", "2"):
        code, out, err = run(capsys, *args, "--nano-batches", k)
        assert code == 0, err
        docs[k] = json.loads(out)
    assert docs["2"]["analytic"]["saturation_output_tok_s"] > 1.03 * docs["1"]["analytic"]["saturation_output_tok_s"]
    code, out, err = run(capsys, *args, "--nano-batches", "0")
    assert code == 1 and "nano_batches" in err and "Traceback" not in err
    code, out, err = run(capsys, *args, "--nano-split", "768,1280")
    assert code == 0, err
    assert json.loads(out)["config"]["pools"]["aggregated"]["plan"].endswith("nano2:768/1280")


def test_serve_yaml_and_disagg(capsys, tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("input: {dist: uniform, low: 100, high: 900}\noutput: {dist: fixed, value: 50}\n"
                 "arrival: {process: gamma, cv: 2.0, rate_req_s: 5}\n")
    code, out, err = run(capsys, *BASE[:-1], "dgx-h100", "--workload", str(f), "--scheduler", "disagg",
                         "--prefill-tp", "1", "--decode-tp", "2", "--num-requests", "100", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["devices"] == 3 and set(doc["config"]["pools"]) == {"prefill", "decode"}


def test_serve_disagg_per_pool_ep_workers_and_router(capsys):
    moe = ["serve", "--model", "qwen3-30b-a3b", "--hardware", "dgx-h100-x2", "--workload", "fixed:1000:32",
           "--rate", "2", "--num-requests", "40", "--scheduler", "disagg", "--quant", "fp8",
           "--prefill-tp", "2", "--prefill-workers", "2", "--decode-tp", "1", "--decode-dp", "4", "--decode-ep", "4",
           "--decode-workers", "2"]
    code, out, err = run(capsys, *moe, "--router", "local", "--json")
    assert code == 0, err
    doc = json.loads(out)
    dec = doc["config"]["pools"]["decode"]
    assert (dec["tp"], dec["dp"], dec["ep"], dec["workers"], dec["replicas"]) == (1, 4, 4, 2, 8)
    assert doc["devices"] == 12 and doc["config"]["kv_transfer"]["transfers_by_tier"] == {"node": 1.0}
    code, out, err = run(capsys, *moe)
    assert code == 0, err
    assert "KV transfer" in out and "tp1 dp4 ep4 x2 workers" in out
    code, out, err = run(capsys, *moe, "--router", "nearest")
    assert code == 1 and err.strip() == "error: --router must be one of round_robin, local, got 'nearest'"
    code, out, err = run(capsys, *moe, "--decode-workers", "0")
    assert code == 1 and err.strip() == "error: --decode-workers must be >= 1, got 0"
    code, out, err = run(capsys, *moe[:-6], "--decode-ep", "3")
    assert code == 1 and err.strip() == ("error: decode pool: --ep 3 must divide the number of experts (128) of "
                                         "qwen3-30b-a3b")


@pytest.mark.parametrize("content,line", [
    ("", 1),
    (HEADER + "1,ChatGPT,5,x,5,API log\n", 2),
    (HEADER + "1,ChatGPT,5,5,10,API log\n2,ChatGPT,5\n", 3),
])
def test_malformed_or_empty_trace_is_one_line_exit_1(capsys, tmp_path, content, line):
    f = tmp_path / "t.csv"
    f.write_text(content)
    code, out, err = run(capsys, *BASE, "--workload", str(f), "--offline")
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1
    assert f"line {line}:" in err


@pytest.mark.parametrize("args,needle", [
    (["--workload", "sharegpt"], "--rate"),
    (["--workload", "sharegpt", "--offline", "--rate", "3"], "give one of --offline, --rate and --concurrency"),
    (["--workload", "sharegpt", "--concurrency", "0"], "--concurrency must be >= 1"),
    (["--workload", "nope"], "unknown workload"),
    (["--workload", "fixed:10:10", "--offline", "--engine", "vlm"], "did you mean 'vllm'"),
    (["--workload", "fixed:10:10", "--offline", "--scheduler", "fifo"], "unknown scheduler"),
    (["--workload", "fixed:200000:10", "--offline"], "exceeds the context length"),
])
def test_user_errors(capsys, args, needle):
    code, out, err = run(capsys, *BASE, *args)
    assert code == 1 and needle in err and err.count("\n") == 1


def test_serve_lora_adapters(capsys):
    args = [*BASE, "--workload", "fixed:256:64", "--offline", "--num-requests", "100", "--json"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    code, out2, err = run(capsys, *args, "--lora-adapters", "500", "--lora-rank", "64,8", "--lora-popularity", "0.8")
    assert code == 0, err
    assert json.loads(out2)["output_tok_s"] < json.loads(out)["output_tok_s"]
    code, out, err = run(capsys, *BASE, "--workload", "fixed:256:64", "--offline", "--lora-adapters", "4",
                         "--lora-rank", "8,x")
    assert code == 1 and err.strip() == "error: --lora-rank must be integers separated by commas, got '8,x'"


def test_serve_swiftkv(capsys):
    args = [*BASE, "--workload", "fixed:2000:128", "--offline", "--num-requests", "64", "--json"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    code, out2, err = run(capsys, *args, "--swiftkv", "0.5")
    assert code == 0, err
    assert json.loads(out2)["total_tok_s"] > 1.1 * json.loads(out)["total_tok_s"]  # prompt tokens skip half the layers
    code, out, err = run(capsys, *BASE, "--workload", "fixed:256:64", "--offline", "--swiftkv", "0.5:x")
    assert code == 1 and err.strip() == "error: --swiftkv must be SKIP_FRACTION[:ACROSS] (e.g. 0.5 or 0.5:4), got '0.5:x'"


def test_serve_finetune(capsys):
    args = [*BASE, "--workload", "sharegpt", "--rate", "10", "--tpot-slo", "50", "--num-requests", "100"]
    code, out, err = run(capsys, *args, "--finetune-seq-len", "1024", "--json")
    assert code == 0, err
    f = json.loads(out)["finetune"]
    assert 0 < f["fraction_of_peak"] < 1 and f["iteration_ms"] <= 50 and f["finetune_tok_s"] > 0
    code, out, err = run(capsys, *BASE, "--workload", "sharegpt", "--offline", "--num-requests", "10",
                         "--finetune-seq-len", "1024")
    assert code == 1 and "give --rate and --tpot-slo" in err


def test_serve_speculative_in_tunes_grammar(capsys):
    args = [*BASE, "--workload", "fixed:1000:129", "--concurrency", "1", "--num-requests", "2", "--engine", "ideal",
            "--json"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    plain = json.loads(out)
    code, out, err = run(capsys, *args, "--speculative", "ngram:3:0.6")
    assert code == 0, err
    spec = json.loads(out)
    pool = spec["config"]["pools"]["aggregated"]
    assert pool["tokens_per_step"] == pytest.approx(1 + 0.6 + 0.36 + 0.216)
    assert "ngram" in pool["plan"]
    assert spec["tpot_ms"]["mean"] < plain["tpot_ms"]["mean"]
    assert spec["output_tok_s"] > plain["output_tok_s"]
    code, out, err = run(capsys, *args, "--speculative", "mtp:2:1.5")
    assert code == 1 and err.strip().count("\n") == 0 and "0 <= RATE <= 1" in err
