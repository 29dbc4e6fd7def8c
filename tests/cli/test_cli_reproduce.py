"""`perfmodel reproduce`: JSON entries, Markdown table, one-line error for an unknown seed."""

import json

from tests._cli import run


def test_reproduce_json(capsys):
    code, out, err = run(capsys, "reproduce", "QServe", "Tilus", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [e["seed"] for e in doc] == ["QServe", "Tilus"]
    assert doc[0]["status"] == "reproduced" and doc[0]["predicted"] > 1
    assert doc[1]["status"] == "not modeled" and doc[1]["predicted"] is None


def test_reproduce_markdown(capsys):
    code, out, err = run(capsys, "reproduce", "shadowkv", "--markdown")
    assert code == 0, err
    assert out.startswith("| seed | claim |") and "| ShadowKV |" in out and "1 seeds: 1 reproduced" in out


def test_reproduce_unknown_seed(capsys):
    code, out, err = run(capsys, "reproduce", "nanoflw")
    assert code == 1 and err.strip() == "error: unknown seed 'nanoflw'; did you mean 'NanoFlow'?"
