"""search.verify: the search's finalists re-run through the real serving simulator."""

from __future__ import annotations

import json

import pytest

from perfmodel.errors import PerfModelError
from perfmodel.search.tune import tune
from perfmodel.search.verify import _serve_args, finalists, recommend, verify

from tests.search.conftest import run_cli

SPACE = {"quant": "bf16", "modes": "aggregated", "max_batch": [32, 128, 512], "token_budget": [2048],
         "kv_dtype": [None], "nano_batches": [1]}


@pytest.fixture(scope="module")
def throughput_result():
    return tune(model="llama-3.1-8b", hardware="h100-sxm", devices=2, workload="fixed:1000:200", space=SPACE)


def test_finalists_are_the_best_distinct_predictions(throughput_result):
    r = throughput_result
    idx = finalists(r, 3)
    score = r.metrics["score"]
    assert idx[0] == r.result.best
    assert all(score[a] >= score[b] for a, b in zip(idx[1:], idx[2:]))
    keys = {(round(float(r.metrics["score"][i]), 6), round(float(r.metrics["ttft_ms"][i]), 6)) for i in idx}
    assert len(keys) == len(idx)


def test_offline_throughput_is_simulated_for_each_finalist(throughput_result):
    rows = verify(throughput_result, 2, num_requests=300)
    assert 1 <= len(rows) <= 2
    for v in rows:
        assert v["simulated"] and v["simulated_output_tok_s_per_device"] > 0
        assert v["difference"] == pytest.approx(v["simulated_output_tok_s_per_device"]
                                                / v["analytic_output_tok_s_per_device"] - 1)
        # the steady-state closed form and a 300-request simulation with ramp-up and drain agree
        # to within a factor of two on a plain dense model
        assert abs(v["difference"]) < 0.5


def test_goodput_is_simulated_under_the_slos():
    r = tune(model="llama-3.1-8b", hardware="h100-sxm", devices=1, workload="fixed:1000:200", ttft_slo=1000,
             tpot_slo=40, objective="goodput", space=SPACE)
    (v,) = verify(r, 1, num_requests=400)
    assert v["simulated"] and v["simulated_goodput_tok_s_per_device"] > 0
    # at the simulated goodput rate the SLOs hold for the attainment target (0.9)
    assert v["simulated_slo_attainment"] >= 0.9
    assert v["simulated_tpot_p90_ms"] <= 40 * 1.5


def test_offloaded_plans_are_simulated_with_their_placement():
    r = tune(model="llama-3.1-8b", hardware="h100-sxm", devices=1, workload="fixed:1000:200",
             space={**SPACE, "offload_kv": [0.5], "max_batch": [32]})
    assert _serve_args(r, r.result.best)["kv_offload"] == 0.5
    (v,) = verify(r, 1, num_requests=50)
    assert v["simulated"] and v["simulated_output_tok_s_per_device"] > 0


def test_plans_the_simulator_cannot_express_say_why():
    r = tune(model="llama-3.1-8b", hardware="h100-sxm", devices=2, workload="fixed:1000:200",
             space={**SPACE, "modes": "disaggregated", "nano_batches": [2], "max_batch": [32]})
    with pytest.raises(PerfModelError, match="nano-batch overlap in a disaggregated decode pool"):
        _serve_args(r, r.result.best)
    (v,) = verify(r, 1, num_requests=50)
    assert v["simulated"] is None and "disaggregated" in v["why_not"]


def test_recommend_takes_the_best_simulated_finalist():
    rows = [{"row": 7, "simulated": True, "simulated_goodput_tok_s_per_device": 10.0},
            {"row": 3, "simulated": None, "why_not": "x"},
            {"row": 5, "simulated": True, "simulated_goodput_tok_s_per_device": 12.5}]
    assert recommend(rows) == 5
    assert recommend(rows[1:2]) is None and recommend([]) is None


def test_the_recommended_plan_is_the_one_written(tmp_path):
    """Llama-3.1-8B on one H100, 2000/300 offline, ranked with the fluid nano-batch model alone
    (retime_nano=False): its best (two nano-batches, chunk 2048) simulates below a finalist without
    nano-batches; that one is recommended and becomes best_plan.json, saying how it was chosen."""
    r = tune(model="llama-3.1-8b", hardware="h100-sxm", devices=1, workload="fixed:2000:300",
             space={"quant": "fp8", "modes": "aggregated", "kv_dtype": [None], "max_batch": [128, 384],
                    "token_budget": [2048, 8192]}, retime_nano=False)
    r.verified = verify(r, 3, num_requests=300)
    r.recommended = recommend(r.verified)
    sims = {v["row"]: v["simulated_output_tok_s_per_device"] for v in r.verified if v["simulated"]}
    assert len(sims) == 3 and r.recommended == max(sims, key=sims.get)
    assert r.chosen == r.recommended != r.result.best
    r.write(tmp_path)
    written = json.loads((tmp_path / "best_plan.json").read_text())
    assert written["pools"][0] == json.loads(r.plan_file(r.recommended).pools[0].model_dump_json())
    assert "simulated" in written["provenance"]["selected_by"]
    d = r.to_dict()
    assert d["recommended"]["plan"] == r.row_dict(r.recommended)["plan"] != d["best"]["plan"]
    assert d["best"]["plan_file"]["provenance"]["selected_by"] is None


def test_cli_verify_adds_the_simulated_rows(capsys):
    code, out, err = run_cli(["tune", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--devices", "1",
                              "--workload", "1000/200", "--quant", "bf16", "--mode", "agg", "--max-batch", "64",
                              "--token-budget", "2048", "--nano-batches", "1", "--verify", "1", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert len(d["verified"]) == 1 and d["verified"][0]["plan"] == d["best"]["plan"]
    code, out, err = run_cli(["tune", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--verify", "-1"], capsys)
    assert code == 1 and err == "error: --verify must be between 0 and 64 plans, got -1\n"
