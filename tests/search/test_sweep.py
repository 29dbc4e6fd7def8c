"""Throughput-interactivity curves: monotone in concurrency until saturation, a Pareto frontier equal
to brute force, the closed loop's Little's law, rate sweeps analytic and simulated, the CLI's JSON
and CSV, and tune's interactivity floor."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from perfmodel.errors import PerfModelError
from perfmodel.search.sweep import ANALYTIC_CLOSED, SIMULATED, best_at, parse_plan, sweep
from tests.search.conftest import run_cli

MOE = dict(model="qwen3-30b-a3b", hardware="dgx-h100", workload="fixed:1000:500")
PLANS = [{"tp": 8, "ep": 8, "quant": "fp8", "max_batch": 64}, {"tp": 2, "dp": 4, "quant": "fp8", "max_batch": 64}]
CONC = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]


@pytest.fixture(scope="module")
def curves():
    return sweep(**MOE, plans=PLANS, concurrency=CONC, num_requests=200)


def test_throughput_rises_and_per_user_speed_falls_until_saturation(curves):
    for c in curves.curves:
        tput = np.array([p["output_tok_s_per_device"] for p in c.points])
        user = np.array([p["tok_s_per_user"] for p in c.points])
        sat = np.array([p["saturated"] for p in c.points])
        assert all(p["method"] == ANALYTIC_CLOSED for p in c.points)
        assert sat.any() and not sat[0] and (np.diff(sat.astype(int)) >= 0).all()   # once saturated, stays
        first = int(np.argmax(sat))
        assert (np.diff(tput[:first + 1]) > 0).all() and (np.diff(user[:first + 1]) <= 1e-9).all()
        assert np.allclose(tput[first:], tput[first], rtol=1e-3)   # flat past saturation
        ttft = np.array([p["ttft_ms"] for p in c.points])
        assert (np.diff(ttft[first:]) > 0).all()                 # the extra clients queue for a prompt slot


def test_closed_loop_obeys_littles_law(curves):
    for p in curves.curves[0].points:
        assert p["rate_req_s"] * p["e2e_ms"] / 1e3 == pytest.approx(p["concurrency"], rel=1e-3)


def test_one_client_sees_one_prefill_then_unloaded_decode(curves):
    from perfmodel import serve
    one = curves.curves[0].points[0]
    solo = serve(**MOE, **PLANS[0], rate=0.01, num_requests=20, goodput_search=False).to_dict()
    assert one["ttft_ms"] == pytest.approx(solo["ttft_ms"]["mean"], rel=0.02)
    assert one["tpot_ms"] == pytest.approx(solo["tpot_ms"]["mean"], rel=0.02)


def test_frontier_equals_brute_force(curves):
    rows = [r for r in curves.rows() if r["sweep"] == "concurrency"]
    brute = set()
    for i, a in enumerate(rows):
        dominated = any(b["output_tok_s_per_device"] >= a["output_tok_s_per_device"]
                        and b["tok_s_per_user"] >= a["tok_s_per_user"]
                        and (b["output_tok_s_per_device"], b["tok_s_per_user"])
                        != (a["output_tok_s_per_device"], a["tok_s_per_user"]) for b in rows)
        duplicate = any((b["output_tok_s_per_device"], b["tok_s_per_user"])
                        == (a["output_tok_s_per_device"], a["tok_s_per_user"]) for b in rows[:i])
        if not dominated and not duplicate:
            brute.add(i)
    assert {i for i, r in enumerate(rows) if r["pareto"]} == brute
    assert {r["plan"] for r in curves.frontier()} == {"tp=8,ep=8,quant=fp8,max_batch=64",
                                                       "tp=2,dp=4,quant=fp8,max_batch=64"}


def test_best_at_an_interactivity_floor(curves):
    best = best_at(curves, min_tok_s_per_user=150)
    ok = [r for r in curves.rows() if r["tok_s_per_user"] >= 150]
    assert best["tok_s_per_user"] >= 150
    assert best["output_tok_s_per_device"] == max(r["output_tok_s_per_device"] for r in ok)
    assert best_at(curves, min_tok_s_per_user=1e6) is None


def test_closed_loop_analytic_curve_matches_the_simulated_one():
    """Below saturation the analytic curve is the simulated closed loop's throughput and TPOT within
    5%; TTFT differs (fixed-length clients that start together stay in step in the simulation and
    queue behind each other's prompts, the analytic model spreads them out), which `method` says."""
    plan, conc = [{"tp": 2, "dp": 4, "quant": "fp8"}], [1, 4, 16, 64, 256]
    a = sweep(**MOE, plans=plan, concurrency=conc).curves[0].points
    s = sweep(**MOE, plans=plan, concurrency=conc, simulate=True, num_requests=200).curves[0].points
    assert {p["method"] for p in s} == {SIMULATED}
    for x, y in zip(a, s):
        assert x["output_tok_s_per_device"] == pytest.approx(y["output_tok_s_per_device"], rel=0.05)
        assert x["tpot_ms"] == pytest.approx(y["tpot_ms"], rel=0.05)
    assert a[0]["ttft_ms"] == pytest.approx(s[0]["ttft_ms"], rel=0.02)   # one client: one prefill


def test_rate_sweep_analytic_and_simulated_agree_below_saturation():
    plan = [{"tp": 2, "quant": "fp8"}]
    a = sweep(**MOE, plans=plan, rates=[2, 8], num_requests=300).curves[0].points
    s = sweep(**MOE, plans=plan, rates=[2, 8], num_requests=300, simulate=True).curves[0].points
    assert [p["method"] for p in s] == [SIMULATED, SIMULATED]
    assert a[0]["ttft_ms"] < a[1]["ttft_ms"] and s[0]["tpot_ms"] < s[1]["tpot_ms"]
    for x, y in zip(a, s):
        assert x["tpot_ms"] == pytest.approx(y["tpot_ms"], rel=0.2)


def test_disaggregated_plan_curve():
    kw = dict(scheduler="disagg", quant="fp8", prefill_tp=2, decode_tp=1, decode_dp=4, decode_ep=4)
    c = sweep(**MOE, plans=[kw], concurrency=[1, 16, 256], num_requests=200).curves[0]
    assert c.devices == 6
    tput = [p["output_tok_s_per_device"] for p in c.points]
    assert tput == sorted(tput) and c.points[0]["tok_s_per_user"] > c.points[-1]["tok_s_per_user"]


def test_plan_parsing_and_bad_input():
    assert parse_plan("tp=8,ep=8,quant=fp8") == {"tp": 8, "ep": 8, "quant": "fp8"}
    assert parse_plan("scheduler=disagg,decode-ep=4") == {"scheduler": "disagg", "decode_ep": 4}
    with pytest.raises(PerfModelError, match="got 'tpx=8'"):
        parse_plan("tpx=8")
    with pytest.raises(PerfModelError, match="tp must be an integer, got 'eight'"):
        parse_plan("tp=eight")
    with pytest.raises(PerfModelError, match="--concurrency values must be >= 1, got 0"):
        sweep(**MOE, plans=[{}], concurrency=[0])
    assert parse_plan("tp=2,speculative=ngram:2:0.5") == {"tp": 2, "spec_method": "ngram", "spec_tokens": 2,
                                                          "spec_acceptance": (0.5, 0.5)}
    assert parse_plan("tp=2,speculative=none") == {"tp": 2}
    with pytest.raises(PerfModelError, match="METHOD"):
        parse_plan("speculative=medusa:2")


def test_speculative_sweep_is_faster_per_user_at_low_concurrency():
    plans = [{"tp": 8, "ep": 8, "quant": "fp8", "max_batch": 64}]
    plain = sweep(**MOE, plans=plans, concurrency=[1, 4], num_requests=100).curves[0]
    spec = sweep(**MOE, plans=plans, concurrency=[1, 4], num_requests=100, speculative="ngram:2:0.8").curves[0]
    assert spec.label == "tp=8,ep=8,quant=fp8,max_batch=64,speculative=ngram:2:0.8"
    for a, b in zip(plain.points, spec.points):
        assert b["tok_s_per_user"] > a["tok_s_per_user"]


CLI = ["sweep", "--model", "qwen3-30b-a3b", "--hardware", "dgx-h100", "--workload", "fixed:1000:500",
       "--plan", "tp=8,ep=8,quant=fp8", "--plan", "tp=2,dp=4,quant=fp8", "--concurrency", "1,8,64,512",
       "--num-requests", "100"]


def test_cli_json_csv_and_png(tmp_path, capsys):
    png, path = tmp_path / "c.png", tmp_path / "c.csv"
    code, out, err = run_cli(CLI + ["--rates", "2,8", "--csv", str(path), "--png", str(png), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["points"]) == 2 * (4 + 2) and doc["pareto"] and all(p["pareto"] for p in doc["pareto"])
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(doc["points"])
    for r, p in zip(rows, doc["points"]):
        assert r["plan"] == p["plan"] and float(r["output_tok_s_per_device"]) == pytest.approx(
            p["output_tok_s_per_device"])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_csv_to_stdout_and_table(capsys):
    code, out, err = run_cli(CLI + ["--csv", "-"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["concurrency"]) for r in rows] == [1, 8, 64, 512] * 2
    code, out, err = run_cli(CLI, capsys)
    assert code == 0, err
    assert "analytic closed-loop steady state" in out and "tokens/s/user" in out


def test_cli_bad_input_is_one_line(capsys):
    code, out, err = run_cli(CLI[:-4] + ["--concurrency", "1,x"], capsys)
    assert code == 1 and err.strip() == "error: --concurrency must be a comma list of numbers, got '1,x'"


def test_tune_min_tok_s_per_user(capsys):
    base = ["tune", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--devices", "2", "--workload", "1000/200",
            "--quant", "bf16", "--max-batch", "8,32,128", "--token-budget", "none", "--kv-dtype", "auto", "--json"]
    code, out, err = run_cli(base + ["--min-tok-s-per-user", "100"], capsys)
    assert code == 0, err
    best = json.loads(out)["best"]
    assert 1e3 / best["tpot_ms"] >= 100
    code, out, err = run_cli(base + ["--tpot-slo", "10"], capsys)
    same = json.loads(out)["best"]                             # the same limit, 1000 / 100 ms
    assert (same["plan"], same["tpot_ms"]) == (best["plan"], best["tpot_ms"])


def test_plan_file_with_per_pool_workers_sweeps_as_written(tmp_path, capsys):
    from perfmodel.plan import Plan
    from perfmodel.search.plan_file import (PlanFile, Prediction, Provenance, Workload, load_plan_file,
                                            write_plan_file)
    pools = [Plan(tp=2, workers=2, quant="fp8", mode="prefill"),
             Plan(tp=1, dp=4, ep=4, workers=2, quant="fp8", mode="decode")]
    pf = PlanFile(model="qwen3-30b-a3b", model_id="Qwen/Qwen3-30B-A3B", hardware="dgx-h100-x2", devices=12,
                  mode="disaggregated", pools=pools, workload=Workload(isl=1000, osl=500),
                  prediction=Prediction(ttft_ms=1, tpot_ms=1, e2e_ms=1, output_tok_s=1, output_tok_s_per_device=1,
                                        tok_s_per_user=1, goodput_tok_s_per_device=1, memory_per_device_gb=1,
                                        devices=12, bound="memory"),
                  provenance=Provenance(version="0", catalog="x", created="2026-01-01T00:00:00+00:00"))
    path = tmp_path / "plan.json"
    write_plan_file(pf, path)
    assert [p.workers for p in load_plan_file(path).pools] == [2, 2]
    code, out, err = run_cli(["sweep", "--model", "qwen3-30b-a3b", "--hardware", "dgx-h100-x2", "--workload",
                              "fixed:1000:500", "--plan", str(path), "--concurrency", "1,64", "--json"], capsys)
    assert code == 0, err
    pts = json.loads(out)["points"]
    assert [p["devices"] for p in pts] == [12, 12] and pts[0]["plan"].startswith("quant=fp8")
    assert "decode_workers=2" in pts[0]["plan"] and "decode_ep=4" in pts[0]["plan"]
