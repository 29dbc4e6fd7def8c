"""The published-figures report asserts per-row error ceilings (issue 15): every expressed row
within the default bound of tests/perfmodel/published_ceilings.yaml, each known-large error under
its listed ceiling, and no stale entry. The whole report is `slow`; a few rows run by default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from perfmodel.validation import default_csv, report

CEILINGS = yaml.safe_load((Path(__file__).with_name("published_ceilings.yaml")).read_text())
# Rows of the default suite (about a second in all; a NanoFlow row alone simulates for 25 s): the
# TRT-LLM v0.17 table (within the default bound) and QServe's rows 17-18 (three of them listed).
QUICK_ROWS = ["17", "18", "23", "24", "25", "26", "27"]
TRTLLM_V017 = ("23", "24", "25", "26", "27")


def violations(rep: dict, ceilings: dict, *, complete: bool) -> list[str]:
    """What breaks the ratchet: a row past its ceiling (or the default bound), a listed row now
    inside the default bound (delete its entry), and, for a complete report, listed rows that no
    longer run."""
    default = ceilings["default_abs_error_pct"]
    known = ceilings["known"]
    out = []
    seen = set()
    for row in rep["rows"]:
        err = row["error_pct"]
        if err is None:
            continue
        seen.add(row["key"])
        entry = known.get(row["key"])
        limit = entry["ceiling_pct"] if entry else default
        if abs(err) > limit:
            why = f" (listed: {entry['reason']})" if entry else ""
            out.append(f"row {row['key']}: error {err:+.1f}% exceeds {limit}%{why}")
        elif entry and abs(err) <= default:
            out.append(f"row {row['key']}: error {err:+.1f}% is now within the default {default}%: "
                       "delete its entry from published_ceilings.yaml")
    if complete:
        out += [f"row {k}: listed in published_ceilings.yaml but not in the report" for k in sorted(set(known) - seen)]
    return out


def _csv() -> Path:
    path = default_csv()
    if path is None:
        pytest.skip("shared/reference/published_figures.csv not found beside the repository")
    return path


def test_ratchet_catches_an_unlisted_large_error_and_a_stale_entry():
    rows = [{"key": "1", "error_pct": 12.0}, {"key": "9:LMSYS-Chat-1M", "error_pct": 89.6},
            {"key": "new", "error_pct": -55.0}, {"key": "17", "error_pct": 20.0}]
    found = violations({"rows": rows}, CEILINGS, complete=False)
    assert found == ["row new: error -55.0% exceeds 40%",
                     "row 17: error +20.0% is now within the default 40%: delete its entry from published_ceilings.yaml"]
    assert any("9:ShareGPT" in v for v in violations({"rows": rows}, CEILINGS, complete=True))


def test_every_known_entry_has_a_reason_and_a_ceiling_above_the_default():
    for key, entry in CEILINGS["known"].items():
        assert set(entry) == {"ceiling_pct", "reason"} and len(entry["reason"]) > 20, key
        assert CEILINGS["default_abs_error_pct"] < entry["ceiling_pct"] < 250, key


def test_quick_rows_meet_their_ceilings():
    rep = report(_csv(), only=QUICK_ROWS)
    keys = {r["key"] for r in rep["rows"] if r["error_pct"] is not None}
    assert {"17", "17:TRT-LLM W8A8", "18", *TRTLLM_V017} <= keys, keys
    assert violations(rep, CEILINGS, complete=False) == []
    # the TRT-LLM v0.17 offline table: the engine profile the model is built for stays within 15%
    for r in rep["rows"]:
        if r["key"] in TRTLLM_V017:
            assert abs(r["error_pct"]) < 15, r


@pytest.mark.slow
def test_published_report_meets_every_ceiling(capsys):
    """The full report (about two minutes): `bash .ci/run-slow`."""
    from perfmodel.cli.published import to_markdown

    rep = report(_csv())
    with capsys.disabled():
        print("\n" + to_markdown(rep))
    assert rep["expressed"] >= 55
    assert violations(rep, CEILINGS, complete=True) == []
    assert rep["expressed_value_column"] >= 29
    assert rep["median_abs_error_pct_value_column"] <= CEILINGS["value_column_median_ceiling_pct"]
