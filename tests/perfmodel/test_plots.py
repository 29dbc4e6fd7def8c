"""Plots are written and non-empty; the bound CLI prints the documented JSON."""

import json

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from perfmodel import hardware  # noqa: E402
from perfmodel import specs  # noqa: E402
from perfmodel import overlap as OV  # noqa: E402
from perfmodel import plots  # noqa: E402
from perfmodel.bounds import steady_state_batch  # noqa: E402
from tests._cli import run  # noqa: E402
from perfmodel.errors import PerfModelError  # noqa: E402
from perfmodel.plan import Plan  # noqa: E402
from perfmodel.stepmodel import StepModel  # noqa: E402


BASE = ["bound", "--model", "llama-2-70b", "--hardware", "dgx-a100", "--tp", "8", "--quant", "fp16",
        "--workload", "fixed:1024:512"]


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_bound_plot_is_written(tmp_path, capsys, suffix):
    out = tmp_path / f"bounds.{suffix}"
    code, _, err = run(capsys, *BASE, "--nano-batches", "2", "--plot", str(out))
    assert code == 0, err
    assert out.exists() and out.stat().st_size > 5000


def test_plot_with_offload_draws_host_roofs(tmp_path, capsys):
    out = tmp_path / "offload.png"
    code, _, err = run(capsys, "bound", "--model", "llama-3.1-8b", "--hardware", "dgx-h100", "--kv-offload", "0.5",
                       "--kv-attention", "cpu", "--plot", str(out))
    assert code == 0, err
    assert out.stat().st_size > 5000


def test_chart_functions_draw():
    system, model = hardware.resolve("dgx-a100"), specs.load_model("llama-2-70b")
    sm = StepModel.build(model=model, system=system, plan=Plan(tp=8, nano_batches=2))
    batch = steady_state_batch(1000, 1024, 512)
    fig, axes = plt.subplots(2, 1)
    plots.roofline_chart(axes[0], sm.ops(batch), system.device)
    sched = OV.overlap(sm, batch).schedule
    axes[1].set_xlim(0, 10)
    plots.gantt_chart(axes[1], sched)
    assert len(axes[0].collections) > 5 and len(axes[1].patches) == sum(o.end_s > o.start_s for o in sched)
    plt.close(fig)
    with pytest.raises(PerfModelError):
        plots.gantt_chart(plt.gca(), [])


def test_unwritable_plot_path_is_one_line_error(capsys):
    code, _, err = run(capsys, *BASE, "--plot", "/nonexistent-dir/x.png")
    assert code == 1 and err.startswith("error: --plot") and err.count("\n") == 1


def test_bound_json_keys(capsys):
    code, out, err = run(capsys, *BASE, "--nano-batches", "3", "--json")
    assert code == 0, err
    doc = json.loads(out)
    for key in ("optimal_tok_s_per_device", "bounds", "binding", "predicted_tok_s_per_device", "fraction_of_optimal",
                "classification", "overlap", "bounds_output", "token_count"):
        assert key in doc
    assert {"T_R", "T_net/T_comp"} <= set(doc["classification"])
    assert doc["binding"] == "compute"
    assert 0.5 < doc["fraction_of_optimal"] < 0.8
    assert doc["predicted_tok_s_per_device"] <= doc["bounds"][doc["binding"]]
    assert doc["overlap"]["gain"] > 1


def test_bound_sparse_kv_at_long_context(capsys):
    """--kv-attention shadowkv|topk on a 100K-token workload: more sequences fit, the prediction rises, the host link
    and host memory get bounds, and no bound is exceeded."""
    args = ["bound", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--workload", "fixed:100000:1000", "--json"]
    docs = {}
    for sparse in (None, "shadowkv", "topk"):
        code, out, err = run(capsys, *args, *(["--kv-attention", sparse] if sparse else []))
        assert code == 0, err
        docs[sparse] = json.loads(out)
    for sparse in ("shadowkv", "topk"):
        d = docs[sparse]
        assert d["max_concurrency"] > 4 * docs[None]["max_concurrency"]
        assert d["predicted_tok_s_per_device"] > 1.5 * docs[None]["predicted_tok_s_per_device"]
        assert d["bounds"]["host_link"] and d["bounds"]["cpu_memory_capacity"]
        assert all(d["predicted_tok_s_per_device"] <= v for v in d["bounds"].values() if v)
    assert docs[None]["bounds"]["host_link"] is None


def test_bound_table(capsys):
    code, out, _ = run(capsys, *BASE)
    assert code == 0 and "fraction of optimal" in out and "per-resource bounds" in out


@pytest.mark.parametrize("args,msg", [
    (["--workload", "fixed:10"], "expected fixed:ISL:OSL"),
    (["--workload", "fixed:a:b"], "must be integers"),
    (["--workload", "fixed:0:5"], "must be >= 1"),
    (["--tp", "3"], "--tp 3 must divide"),
    (["--kv-attention", "cpu"], "attention_on_cpu needs kv_offload"),
    (["--kv-offload", "1.5"], "kv_offload"),
    (["--nano-split", "768,x"], "--nano-split"),
    (["--kv-attention", "quest"], "--kv-attention must be one of gpu, cpu, shadowkv, topk, a2ats, got 'quest'"),
    (["--kv-attention", "topk", "--kv-offload", "0.5"], "sparse_kv=topk places the KV cache itself"),
    (["--batch-size", "100000000"], "do not fit"),
])
def test_bad_input_is_one_line(capsys, args, msg):
    code, _, err = run(capsys, *BASE, *args)
    assert code == 1
    assert msg in err and err.count("\n") == 1


def test_documented_command_runs(capsys):
    """docs/bounds.md shows a `perfmodel bound` command: it must run and print what the doc lists."""
    import re
    import shlex
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "bounds.md").read_text()
    line = re.search(r"^perfmodel bound .*$", doc, re.M).group(0)
    code, out, err = run(capsys, *shlex.split(line)[1:])
    assert code == 0, err
    data = json.loads(out)
    keys = set(data) | set(data["classification"])
    listed = set(re.findall(r"`([\w/]+)`", doc.split("JSON keys:")[1].split("`--plot FILE`")[0])) - {"null"}
    assert listed <= keys, listed - keys
