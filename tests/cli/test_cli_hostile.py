"""Hostile inputs (issue 15): each is refused with exit code 1 and one line on stderr that names
the field or option and its value: no traceback, no hang, no control characters from the input,
nothing of an arbitrary file echoed. Every case fails before any search or simulation runs."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from tests._cli import run

LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
         "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
         "vocab_size": 128256, "max_position_embeddings": 8192}
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def _config(**kw) -> str:
    return json.dumps(LLAMA | kw)


def _npz_claiming(shape: tuple[int, ...]) -> bytes:
    """A routing .npz whose `counts` header claims `shape` (and holds no data)."""
    header, archive = io.BytesIO(), io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("counts.npy", header.getvalue())
    return archive.getvalue()


# name -> bytes (or text) of a file the case refers to as {name}
FILES: dict[str, bytes | str] = {
    "kv0.json": _config(num_key_value_heads=0), "hd0.json": _config(head_dim=0),
    "htrue.json": _config(hidden_size=True), "layers.json": _config(num_hidden_layers=10**9),
    "infinity.json": _config().replace("8192", "Infinity"), "huge.json": _config().replace("8192", "1e400"),
    "tiny.json": _config().replace("8192", "1e-300"), "text.json": _config(num_attention_heads="many"),
    "moe.json": _config(model_type="mixtral", num_local_experts="x", num_experts_per_tok=2),
    "moe0.json": _config(model_type="mixtral", num_local_experts=8, num_experts_per_tok=0),
    "mla.json": _config(model_type="deepseek_v2", kv_lora_rank=-1, qk_rope_head_dim=64, qk_nope_head_dim=128,
                        v_head_dim=128),
    "binary.json": b"\x00\x01\x02\xff\xfe\x00", "latin1.json": '{"name": "caf\xe9"}'.encode("latin-1"),
    "utf16.json": _config().encode("utf-16"), "deep.json": "[" * 5000 + "]" * 5000,
    "list.json": "[1, 2]",
    "bomb.yaml": BOMB, "deep.yaml": "a: " + "[" * 5000 + "]" * 5000 + "\n", "binary.yaml": b"\xff\xfe\x00\x00",
    "passwd.yaml": "input: {dist: empirical, file: /etc/passwd}\noutput: {dist: fixed, value: 10}\n",
    "secret.csv": "hunter2-secret-token\n",
    "secret.yaml": "input: {dist: empirical, file: {dir}/secret.csv}\noutput: {dist: fixed, value: 10}\n",
    "nan.yaml": "input: {dist: normal, mean: .nan, std: 5}\noutput: {dist: fixed, value: 10}\n",
    "a_file": "not a directory\n",
    "garbage.npz": b"PK\x03\x04garbage", "huge.npz": _npz_claiming((100_000, 100_000)),
    "inf_bw.yaml": "devices:\n- id: fast\n  name: fast\n  vendor: x\n  kind: gpu\n  peak_dense_tflops: {bf16: 100}\n"
                   "  memory_gb: 80\n  memory_bw_gb_s: .inf\n  compute_units: 100\n  mem_bw_efficiency: 0.9\n"
                   "  kernel_overhead_us: 3\n",
    "escape_id.yaml": "devices:\n- id: ../../../escape\n  name: x\n  vendor: x\n  kind: gpu\n"
                      "  peak_dense_tflops: {bf16: 100}\n  memory_gb: 80\n  memory_bw_gb_s: 1000\n  compute_units: 100\n"
                      "  mem_bw_efficiency: 0.9\n  kernel_overhead_us: 3\n",
}

EST = ["estimate", "-H", "h100-sxm", "-b", "1", "--isl", "100", "--osl", "10"]
SERVE = ["serve", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--workload", "fixed:100:10", "-n", "10"]
TUNE = ["tune", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--devices", "2", "--workload", "1000/200",
        "--ttft-slo", "500", "--tpot-slo", "30"]

# (id, argv with {dir} for the folder of FILES, fragment the one-line message must contain)
CASES = [
    # model configs
    ("kv-heads-0", EST + ["-m", "{dir}/kv0.json"], "num_kv_heads=0"),
    ("head-dim-0", EST + ["-m", "{dir}/hd0.json"], "head_dim=0"),
    ("bool-size", EST + ["-m", "{dir}/htrue.json"], "hidden_size=True must be an integer"),
    ("1e9-layers", EST + ["-m", "{dir}/layers.json"], "num_layers=1000000000"),
    ("json-infinity", EST + ["-m", "{dir}/infinity.json"], "Infinity is not a number JSON allows"),
    ("json-1e400", EST + ["-m", "{dir}/huge.json"], "1e400 is out of the range"),
    ("json-1e-300", EST + ["-m", "{dir}/tiny.json"], "max_context=1e-300"),
    ("string-size", EST + ["-m", "{dir}/text.json"], "num_heads='many'"),
    ("moe-string", EST + ["-m", "{dir}/moe.json"], "num_experts='x'"),
    ("moe-k-0", EST + ["-m", "{dir}/moe0.json"], "experts_per_token=0"),
    ("mla-negative", EST + ["-m", "{dir}/mla.json"], "kv_lora_rank=-1"),
    ("binary-config", EST + ["-m", "{dir}/binary.json"], "is binary"),
    ("latin1-config", EST + ["-m", "{dir}/latin1.json"], "is not UTF-8 text"),
    ("utf16-config", EST + ["-m", "{dir}/utf16.json"], "is UTF-16/32 encoded"),
    ("deep-json", EST + ["-m", "{dir}/deep.json"], "nested more than 64 levels"),
    ("config-not-object", EST + ["-m", "{dir}/list.json"], "expected a JSON object"),
    ("model-name-escapes", EST + ["-m", "llama\n\x1b[31mred"], "unknown model"),
    # workload files
    ("yaml-anchor-bomb", SERVE + ["--rate", "1", "--workload", "{dir}/bomb.yaml"], "expands to more than"),
    ("deep-yaml", SERVE + ["--rate", "1", "--workload", "{dir}/deep.yaml"], "nested"),
    ("binary-yaml", SERVE + ["--rate", "1", "--workload", "{dir}/binary.yaml"], "UTF-16/32"),
    ("empirical-etc-passwd", SERVE + ["--rate", "1", "--workload", "{dir}/passwd.yaml"],
     "a length file must end in .csv, .txt, .tsv"),
    ("empirical-not-echoed", SERVE + ["--rate", "1", "--workload", "{dir}/secret.yaml"], "got a non-number"),
    ("workload-nan", SERVE + ["--rate", "1", "--workload", "{dir}/nan.yaml"], "mean"),
    ("workload-name-escapes", SERVE + ["--rate", "1", "--workload", "x\n\x1b[2J.yaml"], "no such file"),
    # serve options
    ("serve-seed-negative", SERVE + ["--rate", "1", "--seed", "-1"], "--seed must be a non-negative integer"),
    ("serve-rate-nan", SERVE + ["--rate", "nan"], "--rate must be a finite number"),
    ("serve-rate-inf", SERVE + ["--rate", "inf"], "--rate must be a finite number"),
    ("serve-rate-negative", SERVE + ["--rate", "-2"], "--rate must be a finite number"),
    ("serve-slo-target-2", SERVE + ["--rate", "1", "--slo-target", "2"], "--slo-target must be a fraction"),
    ("serve-requests-1e9", SERVE + ["--rate", "1", "-n", "1000000000"], "--num-requests must be between 1 and 200,000"),
    ("serve-block-size-0", SERVE + ["--rate", "1", "--block-size", "0"], "--block-size must be between"),
    ("serve-prefill-tp-0", SERVE + ["--rate", "1", "--scheduler", "disagg", "--prefill-tp", "0"],
     "--prefill-tp must be between"),
    ("serve-ttft-slo-negative", SERVE + ["--rate", "1", "--ttft-slo", "-5"], "--ttft-slo must be a finite number"),
    ("serve-tpot-slo-nan", SERVE + ["--rate", "1", "--tpot-slo", "nan"], "--tpot-slo must be a finite number"),
    # plans
    ("nano-batches-100000", EST + ["-m", "llama-3.1-8b", "--nano-batches", "100000"], "nano_batches=100000"),
    ("nano-split-nan", EST + ["-m", "llama-3.1-8b", "--nano-split", "nan,1"], "nano_split"),
    ("tp-3-on-32-heads", EST + ["-m", "llama-3.1-8b", "--tp", "3"], "--tp 3 must divide"),
    ("quant-comma", EST + ["-m", "llama-3.1-8b", "--quant", ","], "--quant ','"),
    ("bound-nano-100000", ["bound", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--workload", "fixed:100:10",
                           "--nano-batches", "100000"], "nano_batches=100000"),
    # hardware files
    ("hardware-inf-bandwidth", EST + ["-m", "llama-3.1-8b", "-H", "{dir}/inf_bw.yaml"], "memory_bw_gb_s"),
    ("hardware-id-escapes", EST + ["-m", "llama-3.1-8b", "-H", "{dir}/escape_id.yaml"], "id='../../../escape'"),
    # tune limits (checked before the search)
    ("tune-devices-1000", TUNE[:6] + ["1000"] + TUNE[7:], "--devices must be between 1 and 64"),
    ("tune-trials-1e8", TUNE + ["--trials", "100000000"], "--trials must be between 1 and 100,000"),
    ("tune-workers-1e5", TUNE + ["--workers", "100000"], "--workers must be between 1 and 64"),
    ("tune-verify-1e8", TUNE + ["--verify", "100000000"], "--verify must be between 0 and 64"),
    ("tune-storage-sqlite-memory", TUNE + ["--storage", "sqlite://"], "a SQLite storage needs a file"),
    ("tune-out-empty", TUNE + ["--out", ""], "--out is empty"),
    ("tune-out-file", TUNE + ["--out", "{dir}/a_file"], "is a file, not a directory"),
    ("tune-out-under-file", TUNE + ["--out", "{dir}/a_file/sub"], "is a file, not a directory"),
    ("tune-slo-nan", TUNE[:-4] + ["--ttft-slo", "nan"], "--ttft-slo must be a finite number"),
    ("tune-expert-locality-2", TUNE + ["--expert-locality", "none,2"], "--expert-locality shares must be in (0, 1], got 2.0"),
    ("tune-expert-locality-word", TUNE + ["--expert-locality", "most"], "--expert-locality takes none or shares"),
    ("routing-not-a-zip", TUNE[:2] + ["mixtral-8x7b"] + TUNE[3:] + ["--routing", "{dir}/garbage.npz"],
     "not a readable .npz routing profile"),
    # found by tests/cli/test_cli_fuzz.py (every command x option x hostile value)
    ("published-only-empty", ["published", "--only", ""], "--only needs at least one id"),
    ("published-csv-empty", ["published", "--csv", ""], "--csv is empty"),
    ("accuracy-only-commas", ["accuracy", "--only", ",,"], "--only needs at least one id"),
    ("accuracy-csv-binary", ["accuracy", "--csv", "{dir}/binary.json"], "is binary"),
    ("accuracy-csv-utf16", ["accuracy", "--csv", "{dir}/utf16.json"], "UTF-16/32"),
    ("serve-lora-adapters-1e29", SERVE + ["--rate", "1", "--lora-adapters", "123456789012345678901234567890"],
     "--lora-adapters must be between 1 and 100,000"),
    ("serve-out-escapes", SERVE + ["--rate", "1", "--out", "x\n\x1b[31mred"], "contains control characters"),
    ("report-out-empty", ["report", "--tune", "{dir}", "--out", ""], "--out is empty"),
    ("report-out-folder", ["report", "--tune", "{dir}", "--out", "{dir}"], "is a directory"),
    ("sweep-csv-no-folder", ["sweep", "-m", "llama-3.1-8b", "-H", "h100-sxm", "-w", "fixed:100:10", "-p", "tp=1",
                             "-c", "1", "--csv", "{dir}/missing/x.csv"], "does not exist"),
    ("sweep-png-suffix", ["sweep", "-m", "llama-3.1-8b", "-H", "h100-sxm", "-w", "fixed:100:10", "-p", "tp=1",
                          "-c", "1", "--png", "{dir}/binary.json"], "must end in .png"),
    ("bound-plot-suffix", ["bound", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--plot", "{dir}/x.bin"],
     "must end in .png, .pdf, .svg"),
    ("validate-repeats-0", ["validate", "--repeats", "0"], "--repeats must be an integer between 1 and 1,000"),
    ("validate-layers-huge", ["validate", "--device", "cuda", "--layers", "100000"], "--layers must be an integer"),
    ("routing-huge-header", TUNE[:2] + ["mixtral-8x7b"] + TUNE[3:] + ["--routing", "{dir}/huge.npz"],
     "claims shape (100000, 100000)"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    for name, body in FILES.items():
        data = body if isinstance(body, bytes) else body.replace("{dir}", str(d)).encode()
        (d / name).write_bytes(data)
    return d


@pytest.mark.parametrize("argv,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_one_line(argv, fragment, files, capsys):
    code, out, err = run(capsys, *[a.replace("{dir}", str(files)) for a in argv])
    assert code == 1, (code, err)
    assert err.endswith("\n") and err.count("\n") == 1 and err.startswith("error: "), err
    assert fragment in err, err
    assert "Traceback" not in err and "\x1b" not in err and "hunter2" not in err and "root:" not in err
    assert len(err) < 600


def test_refused_tune_writes_nothing(files, capsys):
    """No plan meets a 1 ms TTFT: exit 1 and no --out folder (nothing half-written)."""
    out_dir = files / "tune-out"
    code, _, err = run(capsys, *(TUNE[:-4] + ["--ttft-slo", "1", "--tpot-slo", "1", "--out", str(out_dir)]))
    assert code == 1 and "no plan meets" in err.strip().splitlines()[-1]
    assert not out_dir.exists()


def test_ship_refuses_a_device_id_that_leaves_the_folder():
    from perfmodel.cli.validate import _calibration_targets
    from perfmodel.errors import PerfModelError

    for bad in ("../../../escape", "a/b", "..", ""):
        with pytest.raises(PerfModelError, match="is not a plain name"):
            _calibration_targets(None, True, bad)
    (target,) = _calibration_targets(None, True, "cpu-amd-epyc-2c")
    assert target.name == "cpu-amd-epyc-2c.json" and target.parent.name == "calibrations"


@pytest.fixture(scope="module")
def tuned_plan(tmp_path_factory):
    """A real best_plan.json from a small search (Llama-3.1-8B, 1 H100, aggregated)."""
    from perfmodel.search.tune import tune

    out = tmp_path_factory.mktemp("tuned")
    tune(model="llama-3.1-8b", hardware="h100-sxm", devices=1, workload="1000/200",
         space={"quant": "bf16", "modes": "aggregated", "max_batch": [32], "token_budget": [2048]}, out=out)
    return json.loads((out / "best_plan.json").read_text())


@pytest.mark.parametrize("tamper,fragment", [
    (lambda d: d["pools"][0].update(tp=3) or d.update(devices=3), "--tp 3 must divide the number of attention heads (32)"),
    (lambda d: d["pools"][0].update(pp=1000) or d.update(devices=1000), "--pp 1000 exceeds the number of layers (32)"),
    (lambda d: d.update(devices=7), "devices=7 but the pools use 1"),
    (lambda d: d.update(mode="disaggregated"), "mode=disaggregated needs pools with modes ['prefill', 'decode']"),
    (lambda d: d["pools"][0].update(mode="decode"), "mode=aggregated needs pools with modes ['aggregated']"),
    (lambda d: d["pools"][0].update(nano_batches=100000), "nano_batches=100000"),
], ids=["tp3", "pp1000", "devices", "mode", "pool-mode", "nano"])
def test_tampered_plan_file_is_refused_by_export(tamper, fragment, tuned_plan, tmp_path, capsys):
    doc = json.loads(json.dumps(tuned_plan))
    code, _, err = run(capsys, "export", str(_write(tmp_path / "ok.json", doc)), "--format", "vllm")
    assert code == 0, err
    tamper(doc)
    code, _, err = run(capsys, "export", str(_write(tmp_path / "bad.json", doc)), "--format", "vllm")
    assert code == 1 and err.count("\n") == 1 and fragment in err, err


def test_export_model_id_with_escapes_is_refused(tuned_plan, tmp_path, capsys):
    plan = str(_write(tmp_path / "ok.json", tuned_plan))
    code, out, err = run(capsys, "export", plan, "--model-id", "x\n\x1b[31mred")
    assert code == 1 and "--model-id 'x\\n\\x1b[31mred' contains control characters" in err and "\x1b" not in out + err
    doc = json.loads(json.dumps(tuned_plan))
    doc["model_id"] = "evil\n\x1b[2J"
    code, out, err = run(capsys, "export", str(_write(tmp_path / "bad.json", doc)), "--format", "vllm")
    assert code == 1 and "model_id" in err and err.count("\n") == 1 and "\x1b" not in out + err


def _write(path, doc):
    path.write_text(json.dumps(doc))
    return path
