"""`perfmodel validate`: the whole chain (microbenchmarks -> executor grid -> calibration fit ->
predicted vs measured) through the CLI, on CPU; the CUDA path where a GPU exists."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from perfmodel.calibration import load_calibration
from perfmodel.cli import app
from perfmodel.executor import cuda_available

runner = CliRunner()
KEYS = {"median_ape", "p90_ape", "uncalibrated_median_ape", "n", "points"}


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_quick_cpu_validation_reports_calibrated_and_uncalibrated_error(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "out"
    doc = _json(runner.invoke(app, ["validate", "--device", "cpu", "--quick", "--json", "--out", str(out)]))
    assert KEYS <= set(doc)
    assert doc["n"] >= 4 and len(doc["points"]) == doc["n_measured"]
    assert 0 <= doc["median_ape"] <= doc["p90_ape"] and doc["uncalibrated_median_ape"] > 0
    point = doc["points"][0]
    assert {"phase", "batch", "length", "measured_ms", "predicted_ms", "predicted_uncalibrated_ms", "ape",
            "spread", "ops"} <= set(point)
    for name in ("points.csv", "ops.csv", "microbench.csv", "predicted_vs_measured.png", "calibration.json",
                 "hardware.yaml", "result.json"):
        assert (out / name).is_file(), name
    profile = load_calibration(out / "calibration.json")
    assert profile.device_id == doc["device"] and profile.torch_version and profile.shapes_measured["grid"]
    assert set(profile.overrides) & {"mem_bw_efficiency", "gemm_efficiency", "kernel_overhead_us"}
    # the hardware file and the profile feed `estimate`, which then predicts the measured shapes
    import perfmodel
    from perfmodel.specs.model import ModelSpec

    spec = ModelSpec.model_validate(doc["spec"])
    p = next(p for p in doc["points"] if p["phase"] == "prefill")
    est = perfmodel.estimate(model=spec, hardware=str(out / "hardware.yaml"), calibration=str(out / "calibration.json"),
                   batch_size=p["batch"], isl=p["length"], osl=2, quant="fp32")
    assert est.ttft_ms == pytest.approx(p["predicted_ms"], rel=1e-6)


@pytest.mark.slow
def test_default_cpu_validation_meets_the_issue_target():
    """Issue 6: `perfmodel validate --device cpu` in about a minute, >= 10 points, calibrated median
    absolute error <= 15% (held-out points)."""
    pytest.importorskip("torch")
    doc = _json(runner.invoke(app, ["validate", "--device", "cpu", "--json"]))
    assert doc["n"] >= 10
    if doc["disturbed"]:  # timing on a saturated shared host says nothing about the model
        pytest.skip(f"other processes used up to {doc['host_load']:.0%} of the host CPU while measuring")
    assert doc["median_ape"] <= 15.0, json.dumps({k: doc[k] for k in KEYS - {"points"}})
    assert doc["wall_s"] < 120


def test_bad_device_is_a_one_line_error():
    res = runner.invoke(app, ["validate", "--device", "tpu"])
    assert res.exit_code == 1 and "--device must be cpu or cuda" in str(res.exception)


def test_commands_without_torch_fail_in_one_line(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "import perfmodel.executor, perfmodel.calibration, perfmodel.cli.validate\n"
            "from perfmodel.cli import main\n"
            "main(['validate', '--device', 'cpu'])\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[3])})
    assert res.returncode == 1
    assert res.stderr.strip() == ("error: the executor needs PyTorch: pip install 'perfmodel[executor]' "
                                  "(or pip install torch)")


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device")
def test_quick_cuda_validation(tmp_path):
    doc = _json(runner.invoke(app, ["validate", "--device", "cuda", "--quick", "--json", "--out", str(tmp_path)]))
    assert KEYS <= set(doc) and doc["device"] and doc["overlap"]["measured_ms"] > 0
    assert doc["calibration"]["driver_version"]


def test_gpu_doc_uses_only_real_options():
    """docs/gpu-calibration.md shows commands; every option it names exists in `validate --help`
    (or `estimate --help`, for --calibration)."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "gpu-calibration.md").read_text()
    help_text = "".join(runner.invoke(app, [cmd, "--help"], terminal_width=200).stdout for cmd in ("validate", "estimate"))
    used = set(re.findall(r"(--[a-z][a-z-]+)", " ".join(l for l in doc.splitlines() if "perfmodel validate" in l)))
    used |= set(re.findall(r"`(--[a-z][a-z-]+)", doc))
    assert used, "the doc shows no options"
    missing = sorted(o for o in used if o not in help_text)
    assert not missing, missing
