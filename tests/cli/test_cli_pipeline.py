"""`perfmodel pipeline`: JSON document, table, one-line errors."""

import json

from tests._cli import run


def test_pipeline_json(capsys):
    code, out, err = run(capsys, "pipeline", "-H", "l40s-8gpu", "--image", "large", "-b", "4", "--cpu-cores", "16", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [s["stage"] for s in doc["stages"]][0] == "decode@cpu" and doc["batch_size"] == 4
    assert doc["image_px"] == [3840, 2160] and doc["bottleneck"] == {"resource": "cpu", "stage": "resize@cpu"}
    assert doc["throughput_img_s"] > 0 and 0 < doc["outside_dnn_fraction"] < 1


def test_pipeline_table(capsys):
    code, out, err = run(capsys, "pipeline", "--stages", "h2d,decode@gpu,resize@gpu,normalize@gpu,dnn@gpu")
    assert code == 0, err
    assert "decode@gpu" in out and "bottleneck gpu (dnn@gpu)" in out


def test_pipeline_errors_are_one_line(capsys):
    code, out, err = run(capsys, "pipeline", "--stages", "decode@cpu,dnn@gpu")
    assert code == 1 and err.strip().count("\n") == 0 and "put h2d before it" in err
    code, out, err = run(capsys, "pipeline", "-H", "h100-sxm", "--cpu-cores", "500")
    assert code == 1 and "--cpu-cores 500 exceeds the 112 cores" in err
