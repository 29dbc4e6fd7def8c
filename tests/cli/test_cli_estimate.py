"""CLI behaviour: JSON output, human tables, and one-line errors with exit code 1."""

import json

import pytest

from tests._cli import run


BASE = ["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--batch-size", "8", "--isl", "512",
        "--osl", "64"]


def test_estimate_json(capsys):
    code, out, err = run(capsys, *BASE, "--json")
    assert code == 0, err
    doc = json.loads(out)
    for key in ("ttft_ms", "tpot_ms", "throughput_tok_s", "memory_per_device_gb", "fits", "bound", "breakdown"):
        assert key in doc
    assert doc["fits"] is True
    assert doc["bound"]["decode"] == "memory"
    assert all({"name", "time_ms", "flops", "bytes", "bound"} <= set(op) for op in doc["breakdown"]["decode"])


def test_estimate_table(capsys):
    code, out, _ = run(capsys, *BASE)
    assert code == 0
    assert "TTFT (ms)" in out and "decode step" in out


@pytest.mark.parametrize("argv,needle", [
    (["--model", "llama-3.1-9b"], "did you mean 'llama-3.1-8b'"),
    (["--hardware", "h10"], "unknown hardware 'h10'"),
    (["--tp", "3"], "--tp 3 must divide the number of attention heads (32)"),
    (["--isl", "0"], "--isl must be a positive integer, got 0"),
    (["--osl", "-5"], "--osl must be a positive integer"),
    (["--quant", "int3"], "--quant 'int3' is not known"),
    (["--nano-split", "1,x"], "--nano-split '1,x': expected comma-separated sizes"),
    (["--nano-split", "1,-2"], "plan: nano_split sizes must be > 0, got (1.0, -2.0)"),
])
def test_bad_input_one_line_exit_1(capsys, argv, needle):
    args = list(BASE)
    for i in range(0, len(argv), 2):
        flag, value = argv[i], argv[i + 1]
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    code, out, err = run(capsys, *args)
    assert code == 1
    assert needle in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


def test_plan_that_does_not_fit_exits_1_with_numbers(capsys):
    code, out, err = run(capsys, "estimate", "--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--batch-size", "4",
                         "--isl", "512", "--osl", "64")
    assert code == 1
    assert "does not fit" in err and "weights 141" in err


def test_malformed_config_json(capsys, tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama", "hidden_size": 4096,\n  oops}')
    code, _, err = run(capsys, *(["estimate", "--model", str(bad)] + BASE[3:]))
    assert code == 1 and "malformed JSON at line 2" in err


def test_malformed_hardware_yaml(capsys, tmp_path):
    bad = tmp_path / "hw.yaml"
    bad.write_text("devices:\n  - id: x\n    name: [unclosed\n")
    code, _, err = run(capsys, *(BASE[:3] + ["--hardware", str(bad)] + BASE[5:]))
    assert code == 1 and "malformed YAML" in err and "Traceback" not in err


def test_models_and_hardware_listing(capsys):
    code, out, _ = run(capsys, "models", "list", "--json")
    assert code == 0
    names = {m["name"] for m in json.loads(out)}
    assert {"llama-3.1-8b", "deepseek-v3", "mixtral-8x7b"} <= names
    code, out, _ = run(capsys, "models", "show", "--model", "meta-llama/Llama-3.1-8B", "--json")
    assert json.loads(out)["kv_bytes_per_token_bf16"] == 131072
    code, out, _ = run(capsys, "hardware", "show", "--hardware", "h100-sxm", "--json")
    assert json.loads(out)["device"]["peak_dense_tflops"]["bf16"] == 989.4


def test_nano_split_is_the_plans_split(capsys):
    """--nano-split 768,1280 (NanoFlow's Llama-2-70B split) sets two nano-batches of those sizes;
    the step model times that split, not the equal one --nano-batches 2 searches from."""
    from perfmodel.estimator import estimate

    args = ["estimate", "--model", "llama-2-70b", "--hardware", "dgx-a100", "--tp", "8", "--quant", "fp16",
            "--batch-size", "512", "--isl", "1024", "--osl", "512", "--json"]
    code, out, err = run(capsys, *args, "--nano-split", "768,1280")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["plan"]["nano_batches"] == 2 and doc["plan"]["nano_split"] == [768.0, 1280.0]
    api = estimate(model="llama-2-70b", hardware="dgx-a100", tp=8, quant="fp16", batch_size=512, isl=1024, osl=512,
                   nano_split=(768, 1280))
    assert doc["tpot_ms"] == pytest.approx(api.tpot_ms, rel=1e-12)
    even = estimate(model="llama-2-70b", hardware="dgx-a100", tp=8, quant="fp16", batch_size=512, isl=1024, osl=512,
                    nano_split=(1, 1))
    assert even.tpot_ms != pytest.approx(api.tpot_ms, rel=1e-6)


def test_estimate_swiftkv(capsys):
    base = ["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--batch-size", "4", "--isl", "2000",
            "--osl", "64", "--json"]
    code, out, err = run(capsys, *base)
    assert code == 0, err
    code, out2, err = run(capsys, *base, "--swiftkv", "0.5")
    assert code == 0, err
    assert json.loads(out2)["ttft_ms"] < 0.6 * json.loads(out)["ttft_ms"]
    code, out, err = run(capsys, *base, "--swiftkv", "1.0")
    assert code == 1 and "skip_fraction must satisfy 0 <= f < 1, got 1.0" in err


MIXTRAL = ["estimate", "--model", "mixtral-8x7b", "--hardware", "hgx-h800", "--batch-size", "4", "--isl", "4096",
           "--osl", "16", "--tp", "2", "--dp", "4", "--ep", "8", "--json"]


def test_estimate_moe_overlap(capsys):
    """--moe-overlap tile (COMET) hides EP communication behind the experts: a shorter prefill."""
    ttft = {}
    for scheme in ("none", "tile", "chunked:4"):
        code, out, err = run(capsys, *MIXTRAL, "--moe-overlap", scheme)
        assert code == 0, err
        ttft[scheme] = json.loads(out)["ttft_ms"]
    assert ttft["tile"] < ttft["none"] and ttft["tile"] < ttft["chunked:4"]


@pytest.mark.parametrize("value,needle", [("fine", "expected none, tile or chunked[:K]"),
                                          ("tile:2", "expected none, tile or chunked[:K]"),
                                          ("chunked:0", "K must be an integer in [1, 16]")])
def test_estimate_moe_overlap_errors(capsys, value, needle):
    code, _, err = run(capsys, *MIXTRAL, "--moe-overlap", value)
    assert code == 1 and needle in err and "Traceback" not in err
