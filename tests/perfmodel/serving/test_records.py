"""Data out of a serving run: per-request rows, the CSV and the Chrome / Perfetto trace agree with
the simulated timeline; results become DataFrames when pandas is there and say so when not."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from perfmodel.errors import PerfModelError
from perfmodel.serve_api import serve
from perfmodel.serving.metrics import Timeline
from perfmodel.serving.records import _lanes, chrome_trace, request_rows
from tests._cli import run

SERVE = ["serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--workload", "sharegpt", "--rate", "4",
         "--num-requests", "60"]


@pytest.fixture(scope="module")
def result():
    return serve(model="llama-3.1-8b", hardware="h100-sxm", workload="sharegpt", rate=4.0, num_requests=60)


def test_rows_match_the_timeline(result):
    rows = request_rows(result.timeline)
    assert len(rows) == 60
    ttft = np.array([r["ttft_ms"] for r in rows])
    assert np.allclose(np.sort(ttft), np.sort(result.timeline.ttft_s * 1e3))
    assert np.median(ttft) == pytest.approx(result.to_dict()["ttft_ms"]["p50"], rel=1e-6)
    assert all(r["arrival_s"] <= r["first_token_s"] <= r["finish_s"] for r in rows)


def test_trace_is_chrome_format_and_lanes_never_overlap(result):
    t = result.timeline
    doc = chrome_trace(t)
    spans = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert len(spans) == 2 * 60 and {e["name"] for e in spans} == {"wait+prefill", "decode"}
    by_lane: dict[int, list] = {}
    for e in spans:
        by_lane.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    for intervals in by_lane.values():
        intervals.sort()
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(intervals, intervals[1:]))
    counts = [e["args"]["requests"] for e in doc["traceEvents"] if e["ph"] == "C"]
    assert counts[-1] == 0 and max(counts) == len(by_lane)   # as many lanes as the peak in the system


def test_lanes_are_interval_partitioning():
    assert _lanes(np.array([0.0, 1.0, 2.0, 0.5]), np.array([1.0, 2.0, 3.0, 2.5])) == [0, 0, 0, 1]


def test_serve_out_writes_csv_trace_and_result(tmp_path, capsys):
    code, out, err = run(capsys, *SERVE, "--out", str(tmp_path), "--json")
    assert code == 0, err
    d = json.loads(out)
    rows = list(csv.DictReader(open(tmp_path / "requests.csv")))
    assert len(rows) == 60 and float(rows[0]["e2e_ms"]) > 0
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert trace["displayTimeUnit"] == "ms" and len(trace["traceEvents"]) > 120
    assert json.loads((tmp_path / "result.json").read_text())["output_tok_s"] == pytest.approx(d["output_tok_s"])
    assert set(d["written"]) == {"requests", "trace", "result", "latency_plot"}
    assert (tmp_path / "latency_vs_load.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_latency_vs_load_rises_with_the_rate(result):
    curve = result.analytic["latency_vs_load"]
    rates = [p["rate_req_s"] for p in curve]
    sat = result.analytic["saturation_req_s"]
    assert rates == sorted(rates) and rates[-1] == pytest.approx(0.95 * sat)
    ttft = [p["ttft_ms"] for p in curve]
    assert all(a <= b for a, b in zip(ttft, ttft[1:])) and ttft[-1] > 3 * ttft[0]


def test_to_frame(result, monkeypatch):
    pd = pytest.importorskip("pandas")
    df = result.to_frame()
    assert isinstance(df, pd.DataFrame) and len(df) == 60 and df["ttft_ms"].median() == pytest.approx(
        result.to_dict()["ttft_ms"]["p50"])
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)     # as if pandas were not installed
    with pytest.raises(PerfModelError, match="needs pandas, which is not installed"):
        result.to_frame()


def test_estimate_and_tune_frames():
    pytest.importorskip("pandas")
    from perfmodel.estimator import estimate
    from perfmodel.search.tune import tune

    e = estimate(model="llama-3.1-8b", hardware="h100-sxm", batch_size=8, isl=512, osl=64)
    df = e.to_frame()
    assert set(df["phase"]) == {"prefill", "decode"} and len(df) == len(e.breakdown["prefill"]) + len(e.breakdown["decode"])
    r = tune(model="llama-3.1-8b", hardware="h100-sxm", devices=1, workload="1000/200",
             space={"quant": "bf16", "max_batch": [8, 32], "modes": "aggregated"})
    plans = r.to_frame()
    assert len(plans) == r.to_dict()["evaluated"] and {"plan", "tok_s_per_device", "meets_slo"} <= set(plans.columns)


def test_timeline_rows_handle_single_token_requests():
    t = Timeline(np.array([0.0]), np.array([0.1]), np.array([0.1]), np.array([10]), np.array([1]))
    assert request_rows(t)[0]["tpot_ms"] is None
