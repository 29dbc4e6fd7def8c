"""Search space: validation, fixing dimensions, pruning counted by reason, the rules of check_plan."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from perfmodel.errors import PerfModelError
from perfmodel.plan import Plan, check_plan
from perfmodel.search.problem import build_problem, make_space
from perfmodel.search.space import STRUCTURAL_REASONS, SearchSpace


def test_bad_values_are_one_line_errors():
    with pytest.raises(PerfModelError, match="tp values must be >= 1"):
        make_space(("h100-sxm",), 8, {"tp": [0, 2]})
    with pytest.raises(PerfModelError, match="offload_weights"):
        make_space(("h100-sxm",), 8, {"offload_weights": [1.5]})
    with pytest.raises(PerfModelError, match="--quant 'int3'"):
        make_space(("h100-sxm",), 8, {"quant": ["int3"]})
    with pytest.raises(PerfModelError, match="modes"):
        make_space(("h100-sxm",), 8, {"modes": ["hybrid"]})


def test_fixing_a_dimension_restricts_every_row(small_problem):
    sp = small_problem.space
    import dataclasses

    fixed = dataclasses.replace(sp, tp=(2,), prefill_tp=(2,), decode_tp=(2,), pruned={})
    t = fixed.enumerate()
    assert len(t) > 0
    assert set(t["tp"].tolist()) == {2}
    assert set(t["dtp"][t["mode"] == 1].tolist()) == {2}


@pytest.mark.parametrize("fixture", ["small_problem", "moe_problem"])
def test_rows_obey_check_plan(fixture, request):
    problem = request.getfixturevalue(fixture)
    sp = problem.space
    t = sp.enumerate()
    rng = np.random.default_rng(0)
    for i in rng.choice(len(t), size=min(300, len(t)), replace=False):
        r = t.row(int(i))
        pools = [(r["tp"], r["pp"], r["dp"], r["ep"])]
        if r["mode"] == 1:
            pools.append((r["dtp"], r["dpp"], r["ddp"], r["dep"]))
        for tp, pp, dp, ep in pools:
            check_plan(Plan(tp=tp, pp=pp, dp=dp, ep=ep), sp.model, max_devices=sp.devices)
        assert t.devices()[i] <= sp.devices


def test_pruned_plus_kept_is_the_whole_product():
    """Every plan of the cartesian product is either kept or counted under exactly one reason."""
    problem = build_problem(model="mixtral-8x7b", hardware="h100-sxm", devices=8, workload="1000/100",
                            space={"quant": "bf16", "max_batch": [8, 64], "token_budget": [None, 16], "dp": [1, 2, 3],
                                   "nano_batches": [1], "kv_dtype": [None], "prefill_batch": [1]})
    sp = problem.space
    t = sp.enumerate()
    pruned = sum(sp.pruned.values())
    n = sp.devices

    def pools(tps, pps, eps, fixed):
        out = 0
        for tp, pp, ep in itertools.product(tps, pps, eps):
            adp = ep > tp
            if (adp and True in sp.attention_dp) or (not adp and (False in sp.attention_dp or ep == 1)):
                # replica counts: fixed, else ep / tp with attention-DP, else 1 .. what the devices hold
                out += len(fixed) if fixed else 1 if adp else max(1, n // (tp * pp))
        return out

    agg = pools(sp.tp, sp.pp, sp.ep, sp.dp) * len(sp.max_batch) * len(sp.token_budget) * len(sp.nano_batches)
    dis = pools(sp.prefill_tp, sp.prefill_pp, sp.ep, None) * pools(sp.decode_tp, sp.decode_pp, sp.ep, None) * \
        len(sp.prefill_batch) * len(sp.max_batch) * len(sp.nano_batches)
    assert len(t) + pruned == agg + dis
    assert sp.pruned["budget_below_batch"] > 0     # budget 16 < batch 64
    assert sp.pruned["ep_vs_tp"] > 0               # attention-DP with dp fixed to 1, 2, 3
    assert sp.pruned["too_many_devices"] > 0
    assert set(sp.pruned) == set(STRUCTURAL_REASONS)


def test_heads_rule_counts(small_problem):
    problem = build_problem(model="llama-3.1-8b", hardware="h100-sxm", devices=8, workload="1000/100",
                            space={"tp": [3, 4], "modes": "aggregated", "quant": "bf16", "kv_dtype": [None],
                                   "max_batch": [8], "token_budget": [None], "nano_batches": [1]})
    sp = problem.space
    t = sp.enumerate()
    assert set(t["tp"].tolist()) == {4}
    assert sp.pruned["tp_not_dividing_heads"] > 0


def test_devices_beyond_one_node_span_nodes():
    problem = build_problem(model="llama-3.1-70b", hardware="h100-sxm", devices=16, workload="1000/100",
                            space={"modes": "aggregated", "quant": "bf16", "kv_dtype": [None], "max_batch": [8],
                                   "token_budget": [None], "nano_batches": [1]})
    sys0 = problem.space.systems[0]
    assert sys0.max_devices == 16
    link, kind = sys0.link_for_group(16)
    assert kind == "scaleout"


def test_space_is_pydantic_and_forbids_extra():
    with pytest.raises(Exception):
        SearchSpace(hardware=("h100-sxm",), tensor_parallel=(2,))
