"""The evaluator agrees with the cost model's own vectorized path, and its extensions behave."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._hyp import examples

from perfmodel.vectorized import estimate_grid
from perfmodel.search.evaluate import evaluate, fraction_of_bound
from perfmodel.search.nanobatch import nano_step_time, overlap_time, perf, share_needed
from perfmodel.search.problem import build_problem
from perfmodel.search.space import PlanTable


def _rows(problem, **cols):
    n = len(next(iter(cols.values())))
    rows = [{k: v[i] for k, v in cols.items()} for i in range(n)]
    return PlanTable.from_rows(rows)


@pytest.mark.parametrize("model,kv", [("llama-3.1-70b", None), ("llama-3.1-70b", "fp8"), ("mixtral-8x7b", None),
                                      ("gpt-oss-20b", None), ("qwen3-next-80b-a3b", "fp8"), ("nemotron-h-8b", None)])
def test_static_plans_match_estimate_grid(model, kv):
    """Static batches, one nano-batch, no offload: exactly estimate_grid's TTFT, TPOT, throughput."""
    problem = build_problem(model=model, hardware="h100-sxm", devices=8, workload="3000/300",
                            space={"quant": "bf16", "kv_dtype": [kv]})
    sp = problem.space
    tp = np.array([1, 2, 4, 8, 2, 4, 8])
    pp = np.array([1, 1, 2, 1, 4, 2, 1])
    ep = np.array([1, 1, 1, 1, 1, 2, 8]) if sp.model.moe else np.ones(7, dtype=int)
    b = np.array([1, 4, 16, 64, 8, 32, 128])
    t = _rows(problem, mode=[0] * 7, tp=tp, pp=pp, ep=ep, dp=[1] * 7, batch=b, budget=[0] * 7, nano=[1] * 7)
    m = evaluate(problem, t)
    ref = estimate_grid(model=sp.model, system=sp.systems[0], quant="bf16", kv_dtype=kv, tp=tp, pp=pp, ep=ep,
                        dp=np.ones(7, dtype=int), batch_size=b, isl=3000, osl=300)
    np.testing.assert_allclose(m["ttft_ms"], ref["ttft_ms"], rtol=1e-12)
    np.testing.assert_allclose(m["tpot_ms"], ref["tpot_ms"], rtol=1e-12)
    np.testing.assert_allclose(m["tok_s"], ref["throughput_tok_s"], rtol=1e-12)
    np.testing.assert_array_equal(m["fits"], ref["fits"])


def test_disaggregated_rate_matching(small_problem):
    t = _rows(small_problem, mode=[1, 1], tp=[1, 1], pp=[1, 1], ep=[1, 1], dp=[1, 2], batch=[1, 1],
              dtp=[2, 2], dpp=[1, 1], dep=[1, 1], ddp=[1, 1], dbatch=[32, 32], nano=[1, 1])
    m = evaluate(small_problem, t)
    assert m["devices"].tolist() == [3, 4]
    # More prefill replicas never lower the served rate, and TTFT/TPOT do not depend on replicas.
    assert m["tok_s"][1] >= m["tok_s"][0] - 1e-9
    assert m["ttft_ms"][0] == pytest.approx(m["ttft_ms"][1])
    assert m["tpot_ms"][0] == pytest.approx(m["tpot_ms"][1])
    assert set(m["limiter"].tolist()) <= {1, 2}


def test_chunked_prefill_lowers_ttft_of_big_batches(small_problem):
    t = _rows(small_problem, mode=[0, 0], tp=[2, 2], pp=[1, 1], ep=[1, 1], dp=[1, 1], batch=[128, 128],
              budget=[0, 2048], nano=[1, 1])
    m = evaluate(small_problem, t)
    assert m["ttft_ms"][1] < m["ttft_ms"][0]


def test_weight_offload_frees_memory_and_costs_time():
    problem = build_problem(model="llama-3.1-70b", hardware="h100-sxm", devices=2, workload="1000/100",
                            space={"quant": "bf16", "offload_weights": [0.0, 0.6], "kv_dtype": [None]})
    t = _rows(problem, mode=[0, 0], tp=[1, 1], pp=[1, 1], ep=[1, 1], dp=[1, 1], batch=[8, 8], budget=[0, 0],
              nano=[1, 1], woff=[0.0, 0.6])
    m = evaluate(problem, t)
    assert not m["fits"][0] and m["fits"][1]
    assert m["memory_gb"][1] < m["memory_gb"][0]
    assert m["tpot_ms"][1] > m["tpot_ms"][0]


def test_fraction_of_bound_is_below_one(small_problem):
    t = small_problem.space.enumerate()
    m = evaluate(small_problem, t)
    ok = np.nonzero(m["fits"])[0]
    f = fraction_of_bound(small_problem, t, m, ok)
    assert (f > 0).all() and (f < 1).all()


def test_slo_and_score(small_problem):
    t = small_problem.space.enumerate()
    m = evaluate(small_problem, t)
    slo = small_problem.slo
    ok = m["fits"] & (m["ttft_ms"] <= slo.ttft_ms) & (m["tpot_ms"] <= slo.tpot_ms)
    np.testing.assert_array_equal(m["meets_slo"], ok)
    assert np.isneginf(m["score"][~ok]).all()
    np.testing.assert_allclose(m["score"][ok], m["tok_s_per_device"][ok])
    assert (m["goodput_tok_s_per_device"] <= m["tok_s_per_device"] + 1e-9).all()


def test_nano_batches_on_a_big_mixed_batch_help():
    problem = build_problem(model="llama-3.1-70b", hardware="h100-sxm", devices=8, workload="1000/1000",
                            space={"quant": "bf16", "kv_dtype": [None]})
    t = _rows(problem, mode=[0, 0], tp=[8, 8], pp=[1, 1], ep=[1, 1], dp=[1, 1], batch=[512, 512],
              budget=[4096, 4096], nano=[1, 2])
    m = evaluate(problem, t)
    assert m["tpot_ms"][1] < m["tpot_ms"][0]


@settings(max_examples=examples(60))
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_overlap_time_between_max_and_sum(c, mm, n):
    t = float(overlap_time(np.array([c]), np.array([mm]), np.array([n]))[0])
    assert max(c, mm, n) - 1e-12 <= t <= c + mm + n + 1e-12


@settings(max_examples=examples(60))
@given(st.floats(0, 1))
def test_share_inverse(p):
    for kind in ("gemm", "gemv", "net"):
        r = share_needed(kind, p)
        assert float(perf(kind, r)) >= p - 1e-9


def test_nano_one_is_serial():
    C, M, N = np.array([1.0]), np.array([2.0]), np.array([0.5])
    assert float(nano_step_time(C, M, N, np.array([1]))[0]) == pytest.approx(3.5)


def test_static_nano_and_offload_defaults_do_not_change_rows(small_problem):
    """Evaluating a subset gives the same numbers as evaluating it inside the whole table."""
    t = small_problem.space.enumerate()
    m = evaluate(small_problem, t)
    idx = np.arange(0, len(t), 7)
    sub = evaluate(small_problem, t.take(idx))
    for k in ("ttft_ms", "tpot_ms", "tok_s", "score"):
        np.testing.assert_allclose(sub[k], m[k][idx])
    _ = dataclasses


@pytest.mark.parametrize("model,hw,isl,osl,tp,b", [("llama-3.1-8b", "h100-sxm", 100_000, 1000, 1, 4),
                                                   ("llama-3.1-70b", "dgx-h100", 60_000, 500, 4, 4)])
def test_kv_attention_plans_match_the_cost_model(model, hw, isl, osl, tp, b):
    """Static batches with decode attention on the CPU over host KV, or sparse (ShadowKV, top-K):
    the evaluator's TTFT, TPOT and memory are perfmodel.estimate's for the same Plan."""
    from perfmodel.estimator import estimate
    from perfmodel.plan import Plan

    problem = build_problem(model=model, hardware=hw, devices=8, workload=f"{isl}/{osl}",
                            space={"quant": "bf16", "kv_dtype": [None], "offload_kv": [0.0, 0.5],
                                   "kv_attention": ["gpu", "cpu", "shadowkv", "topk"]})
    sp = problem.space
    for a, name in enumerate(sp.kv_attention):
        kvoff = 0.5 if name == "cpu" else 0.0
        t = _rows(problem, mode=[0], tp=[tp], pp=[1], ep=[1], dp=[1], batch=[b], budget=[0], nano=[1], attn=[a],
                  kvoff=[kvoff])
        m = evaluate(problem, t)
        plan = Plan(tp=tp, kv_offload=kvoff, attention_on_cpu=name == "cpu",
                    sparse_kv=name if name in ("shadowkv", "topk") else None)
        e = estimate(model=model, hardware=sp.systems[0], batch_size=b, isl=isl, osl=osl, plan=plan)
        assert m["tpot_ms"][0] == pytest.approx(e.tpot_ms, rel=5e-3), name
        assert m["ttft_ms"][0] == pytest.approx(e.ttft_ms, rel=5e-3), name
        assert m["memory_gb"][0] == pytest.approx(e.memory_per_device_gb, rel=5e-3), name


def test_kv_attention_rules_prune_the_space():
    problem = build_problem(model="llama-3.1-8b", hardware="h100-sxm", devices=1, workload="1000/100",
                            space={"quant": "bf16", "kv_dtype": [None], "modes": "aggregated", "offload_kv": [0.0, 0.5],
                                   "kv_attention": ["gpu", "cpu", "shadowkv"]})
    sp = problem.space
    t = sp.enumerate()
    attn = np.asarray(sp.kv_attention)[t["attn"]]
    assert set(attn) == {"gpu", "cpu", "shadowkv"}
    assert (t["kvoff"][attn == "cpu"] > 0).all() and (t["kvoff"][attn == "shadowkv"] == 0).all()
    per_group = int((attn == "gpu").sum() / 2)          # gpu runs with both offload_kv values
    assert sp.pruned["cpu_attention_without_host_kv"] == per_group
    assert sp.pruned["sparse_kv_with_offload_kv"] == per_group
    mla = build_problem(model="deepseek-v2-lite", hardware="h100-sxm", devices=1, workload="1000/100",
                        space={"quant": "bf16", "kv_dtype": [None], "modes": "aggregated",
                               "kv_attention": ["gpu", "topk"]}).space
    assert len(mla.enumerate()) and mla.pruned["sparse_kv_on_mla"] > 0
