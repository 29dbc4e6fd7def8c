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


def test_a_row_faster_than_its_hardware_is_listed_apart(capsys):
    """CSV line 3 (Qwen3-32B NVFP4 TP2 on B200, 416 clients of 15000/500 tokens, TPOT 13.7 ms) holds
    more decoding sequences than two B200s have KV for (tests/perfmodel/test_closed_loop_bounds.py):
    kept in the rows, marked, listed with its bound, and out of the medians."""
    code, out, err = run(capsys, "accuracy", "--only", "r3", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [r["key"] for r in doc["rows"]] == ["r3"] and doc["rows"][0]["consistent"] is False
    assert doc["inconsistent"][0]["key"] == "r3" and "kv_capacity" in doc["inconsistent"][0]["violations"]
    assert doc["overall"]["rows"] == 0 and doc["overall_all_rows"]["rows"] == 1
    code, out, err = run(capsys, "accuracy", "--only", "r3", "--markdown")
    assert code == 0 and "1 rows inconsistent with the hardware bound" in out and "| r3 |" in out
