"""`perfmodel accuracy`: JSON, Markdown and table output on a few measured rows; one-line errors."""

import json
from pathlib import Path

from tests._cli import run

RATCHET = json.loads((Path(__file__).parents[1] / "perfmodel" / "data" / "accuracy_ratchet.json").read_text())
TWO = ",".join(sorted(RATCHET["sample_rows"])[:2])


def test_accuracy_json_markdown_and_table(capsys):
    code, out, err = run(capsys, "accuracy", "--only", f"{TWO},r104", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["expressible"] == 2 and doc["rows_total"] == 3
    assert {r["key"] for r in doc["rows"]} == set(TWO.split(","))
    assert doc["not_expressible"][0]["key"] == "r104" and doc["not_expressible"][0]["reason"] == "concurrency not given"
    assert doc["overall"]["rows"] == 2 and doc["overall"]["tpot_median_abs_error_pct"] >= 0
    code, out, err = run(capsys, "accuracy", "--only", TWO, "--markdown")
    assert code == 0 and out.startswith("| by | group | rows |") and "| engine |" in out
    code, out, err = run(capsys, "accuracy", "--only", TWO, "--rows")
    assert code == 0 and "predicted vs measured" in out and "2 of 2 rows expressed" in out


def test_accuracy_bad_csv_is_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "accuracy", "--csv", str(tmp_path / "missing.csv"))
    assert code == 1 and err.startswith("error: --csv") and err.count("\n") == 1
