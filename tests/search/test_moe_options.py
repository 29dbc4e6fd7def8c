"""Issue-12 search dimensions: two-batch overlap, EPLB redundant experts and speculative decoding
are timed in search exactly as `estimate` times them, pruned by reason, and labelled."""

from __future__ import annotations

import numpy as np
import pytest

from perfmodel.errors import PerfModelError
from perfmodel.estimator import estimate
from perfmodel.plan import Plan
from perfmodel.search.evaluate import evaluate
from perfmodel.search.problem import build_problem
from perfmodel.search.serving_options import parse_speculative
from perfmodel.search.space import PlanTable, SearchSpace

SPACE = {"quant": "fp8", "kv_dtype": ["fp8"], "two_batch_overlap": [False, True], "redundant_experts": [0, 32],
         "speculative": ["none", "mtp:2", "eagle3:1", "ngram:3:0.4"], "token_budget": [None, 2048],
         "nano_batches": [1, 2], "max_batch": [8, 64]}


@pytest.fixture(scope="module")
def problem():
    return build_problem(model="deepseek-v3", hardware="hgx-h200", devices=8, workload="2000/200",
                         space={**SPACE, "modes": ["aggregated"]})


def test_options_resolve_to_one_list(problem):
    opts = problem.space.serving_options
    assert len(opts) == 2 * 2 * 4
    assert parse_speculative("mtp") == ("mtp", 1, None)
    assert parse_speculative("ngram:3:0.4") == ("ngram", 3, (0.4, 0.4, 0.4))
    for bad in ("ngram:3", "medusa:2", "mtp:0", "eagle3:2:1.5"):
        with pytest.raises(PerfModelError):
            parse_speculative(bad)


def test_static_rows_match_estimate(problem):
    """TTFT and TPOT of static aggregated rows = `estimate` of the plan the row exports."""
    sp = problem.space
    rows = []
    for x, opt in enumerate(sp.serving_options):
        for tp, ep, dp in ((8, 8, 1), (1, 8, 8)):
            if opt.redundant_experts and ep == 1:
                continue
            rows.append(dict(mode=0, tp=tp, pp=1, ep=ep, dp=dp, batch=64, budget=0, nano=1, xopt=x, quant=0, kv=0))
    t = PlanTable.from_rows(rows)
    m = evaluate(problem, t)
    for i, r in enumerate(rows):
        opt = sp.serving_options[r["xopt"]]
        plan = Plan(tp=r["tp"], ep=r["ep"], dp=r["dp"], quant="fp8", kv_dtype="fp8", **opt.plan_fields())
        e = estimate(model=sp.model, hardware=sp.systems[0], batch_size=64, isl=2000, osl=200, plan=plan)
        assert m["ttft_ms"][i] == pytest.approx(e.ttft_ms, rel=1e-9), plan.describe()
        assert m["tpot_ms"][i] == pytest.approx(e.tpot_ms, rel=1e-9), plan.describe()
        assert m["memory_gb"][i] == pytest.approx(e.memory_per_device_gb, rel=1e-9), plan.describe()


def test_pruned_by_reason_and_labelled(problem):
    sp = problem.space
    t = sp.enumerate()
    for reason in ("tbo_with_nano_batches", "redundant_experts_without_ep"):
        assert sp.pruned[reason] > 0
    opt = np.array([sp.serving_options[x] for x in t["xopt"]])
    tbo = np.array([o.two_batch_overlap for o in opt])
    spec = np.array([o.spec_method is not None for o in opt])
    eplb = np.array([o.redundant_experts > 0 for o in opt])
    assert not (tbo & (t["nano"] > 1)).any()
    assert (spec & (t["budget"] > 0)).any()  # speculative decoding with chunked prefill is searched
    assert not (eplb & (t["ep"] == 1)).any()


def test_tune_finds_speculative_plans_under_a_tight_tpot():
    from perfmodel.search.tune import tune

    r = tune(model="deepseek-v3", hardware="hgx-h200", devices=8, workload="2000/200", tpot_slo=15,
             space={"quant": "fp8", "kv_dtype": ["fp8"], "modes": ["aggregated"], "speculative": ["none", "mtp:2"],
                    "two_batch_overlap": [False, True], "max_batch": [8, 16, 32], "token_budget": [None]},
             searcher="grid")
    best = r.to_dict()["best"]
    assert "mtp2" in best["plan"] and best["tpot_ms"] <= 15
    (pool,) = best["pools"]
    assert pool["spec_method"] == "mtp" and pool["spec_tokens"] == 2


def test_search_space_rejects_bad_options():
    with pytest.raises(Exception, match="redundant_experts"):
        SearchSpace(hardware=("h100-sxm",), redundant_experts=(-1,))
    with pytest.raises(PerfModelError, match="ngram"):
        SearchSpace(hardware=("h100-sxm",), speculative=("ngram:2",))


def test_chunked_prefill_rows_with_speculative_decoding():
    """Chunked-prefill steady state with drafts (a decode is a round of e tokens with 1 + k query
    tokens against the budget): acceptance 0 costs the verification and gains nothing, acceptance
    lowers TPOT, and the rounds are per emitted token."""
    specs = ["none", "ngram:3:0", "ngram:3:0.5", "ngram:3:0.9"]
    prob = build_problem(model="llama-3.1-8b", hardware="h100-sxm", devices=1, workload="2000/200",
                         space={"quant": "bf16", "kv_dtype": [None], "speculative": specs, "token_budget": [2048],
                                "nano_batches": [1], "modes": ["aggregated"]})
    opts = prob.space.serving_options
    rows = [dict(mode=0, tp=1, pp=1, ep=1, dp=1, batch=32, budget=2048, nano=1, xopt=x, quant=0, kv=0)
            for x in range(len(opts))]
    m = evaluate(prob, PlanTable.from_rows(rows))
    by = {(o.spec_method, o.spec_acceptance[0] if o.spec_acceptance else None): i for i, o in enumerate(opts)}
    none, zero, half, most = (by[(None, None)], by[("ngram", 0.0)], by[("ngram", 0.5)], by[("ngram", 0.9)])
    assert m["tpot_ms"][zero] > m["tpot_ms"][none] and m["tok_s"][zero] < m["tok_s"][none]
    assert m["tpot_ms"][most] < m["tpot_ms"][half] < m["tpot_ms"][zero]
    assert np.isfinite(m["ttft_ms"]).all() and (m["ttft_ms"] > 0).all()


LOCALITY = {"quant": "fp8", "kv_dtype": ["fp8"], "modes": ["aggregated"], "expert_locality": [None, 0.5, 0.9],
            "max_batch": [8, 64], "token_budget": [None, 2048]}


@pytest.fixture(scope="module")
def locality_problem():
    return build_problem(model="deepseek-v3", hardware="hgx-h200", devices=8, workload="2000/200", space=LOCALITY)


def test_expert_locality_rows_match_estimate(locality_problem):
    """Speculative MoE's locality as a tune dimension: static rows time as `estimate` of the plan
    they export, and a share above 1/ep lowers TTFT and TPOT of attention-DP rows."""
    sp = locality_problem.space
    assert [o.expert_locality for o in sp.serving_options] == [None, 0.5, 0.9]
    rows = [dict(mode=0, tp=1, pp=1, ep=8, dp=8, batch=64, budget=0, nano=1, xopt=x, quant=0, kv=0) for x in range(3)]
    m = evaluate(locality_problem, PlanTable.from_rows(rows))
    for i, opt in enumerate(sp.serving_options):
        plan = Plan(tp=1, ep=8, dp=8, quant="fp8", kv_dtype="fp8", **opt.plan_fields())
        e = estimate(model=sp.model, hardware=sp.systems[0], batch_size=64, isl=2000, osl=200, plan=plan)
        assert m["ttft_ms"][i] == pytest.approx(e.ttft_ms, rel=1e-9), plan.describe()
        assert m["tpot_ms"][i] == pytest.approx(e.tpot_ms, rel=1e-9), plan.describe()
    assert m["ttft_ms"][0] > m["ttft_ms"][1] > m["ttft_ms"][2]
    assert m["tpot_ms"][0] > m["tpot_ms"][1] > m["tpot_ms"][2]


def test_expert_locality_pruned_where_it_changes_nothing(locality_problem):
    sp = locality_problem.space
    t = sp.enumerate()
    loc = np.array([sp.serving_options[x].expert_locality or 0.0 for x in t["xopt"]])
    assert sp.pruned["expert_locality_without_attention_dp"] > 0 and sp.pruned["expert_locality_not_above_uniform"] > 0
    kept = loc > 0
    assert kept.any() and (t["ep"][kept] > t["tp"][kept]).all() and (loc[kept] * t["ep"][kept] > 1).all()
    # every placement-agnostic attention-DP row is kept, with each locality above 1/ep beside it
    adp = (loc == 0) & (t["ep"] > t["tp"])
    assert adp.any() and ((loc == 0.9) & (t["ep"] > t["tp"])).sum() == adp.sum()


def test_expert_locality_labelled_and_pinned_for_engines():
    from perfmodel.search.launchable import restrict_space
    from perfmodel.search.serving_options import ServingOption

    assert ServingOption(expert_locality=0.8).label() == ["local0.8"]
    assert restrict_space("sglang", {})["expert_locality"] == (None,)
    with pytest.raises(PerfModelError, match="--expert-locality"):
        restrict_space("vllm", {"expert_locality": (0.8,)})
    with pytest.raises(Exception, match="expert_locality"):
        SearchSpace(hardware=("hgx-h200",), expert_locality=(1.5,))
