"""Attention-DP ranks in lockstep (perfmodel.serving.lockstep, issue 12), on the real step model of
an MoE plan (Qwen3-30B-A3B, DP4 x EP4 on one H100 node): one rank runs as an independent replica
does, equal ranks lose nothing, unequal ones never make an iteration shorter, and the
simulation's own bookkeeping (Little's law) still holds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from perfmodel import hardware, specs
from perfmodel.attention_dp import group_ranks
from perfmodel.plan import Plan
from perfmodel.serving.deployment import build_pool, simulate_pool
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.serving.lockstep import _envelope, padded_decode_run, simulate_group
from perfmodel.serving.simulator import Replica
from perfmodel.specs.workload import load_workload
from perfmodel.specs.workload.base import Requests

PLAN = Plan(tp=1, dp=4, ep=4, quant="fp8")


@pytest.fixture(scope="module")
def pool():
    return build_pool(model=specs.load_model("qwen3-30b-a3b"), system=hardware.resolve("dgx-h100"),
                      engine=get_engine("vllm"), plan=PLAN, scheduler="chunked")


def _replica(pool, req, seed=0):
    return Replica(arrival=req.arrival_s, isl=req.input_tokens, osl=req.output_tokens, timer=pool.timer,
                   kv=pool.kv, scheduler=pool.scheduler, max_num_seqs=pool.max_num_seqs,
                   token_budget=pool.token_budget, seed=seed)


def _same(a, b):
    for f in ("first_token_s", "finish_s", "emitted", "token_gap_s", "token_gap_count"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert (a.iterations, a.busy_s, a.area_req_s) == (b.iterations, b.busy_s, b.area_req_s)


def test_the_plan_is_one_group_of_four_ranks():
    assert group_ranks(PLAN) == 4 and group_ranks(Plan(tp=4, dp=1, ep=4)) == 1


def test_one_rank_runs_as_an_independent_replica(pool):
    req = load_workload("sharegpt").sample(120, rate=8.0, seed=3)
    alone = _replica(pool, req).run()
    [grouped] = simulate_group([_replica(pool, req)])
    _same(alone, grouped)


def test_equal_ranks_lose_nothing(pool):
    req = load_workload("sharegpt").sample(80, rate=6.0, seed=4)
    alone = _replica(pool, req).run()
    for res in simulate_group([_replica(pool, req) for _ in range(3)]):
        _same(alone, res)


def _tpot(res, req):
    return (res.finish_s - res.first_token_s) / (req.output_tokens - 1)


def test_a_busy_rank_slows_a_light_one(pool):
    """A rank decoding four requests shares its iterations with a rank taking long prompts: every
    prompt chunk on the busy rank stalls the light rank's decodes. (Per request, finish times are
    not monotone in step times, a scheduling effect: an arrival lands in a different iteration.)"""
    light = load_workload("fixed:200:300").sample(4, offline=True, seed=0)
    heavy = load_workload("fixed:3000:50").sample(60, rate=10.0, seed=0)
    alone_l, alone_h = _replica(pool, light).run(), _replica(pool, heavy).run()
    step_l, step_h = simulate_group([_replica(pool, light), _replica(pool, heavy)])
    assert (_tpot(step_l, light) > 1.2 * _tpot(alone_l, light)).all()
    assert (step_l.finish_s >= alone_l.finish_s).all()
    assert _tpot(step_h, heavy).mean() >= _tpot(alone_h, heavy).mean()
    assert np.array_equal(step_l.emitted, light.output_tokens) and np.array_equal(step_h.emitted, heavy.output_tokens)


def test_littles_law_holds_in_lockstep(pool):
    req = load_workload("sharegpt").sample(400, rate=24.0, seed=5)
    run = simulate_pool(pool, arrival_s=req.arrival_s, input_tokens=req.input_tokens,
                        output_tokens=req.output_tokens)
    e2e = run.finish_s - req.arrival_s
    span = run.finish_s.max() - req.arrival_s.min()
    assert np.isfinite(run.finish_s).all() and np.array_equal(run.emitted, req.output_tokens)
    assert run.area_req_s / span == pytest.approx(len(req) / span * e2e.mean(), rel=1e-9)


def test_serve_in_lockstep_is_slower_than_independent_ranks(pool):
    """simulate_pool runs the plan's four ranks as one group: mean TPOT above the same requests on
    the same ranks simulated alone (today's model before lockstep)."""
    req = load_workload("fixed:2000:200").sample(200, rate=12.0, seed=6)
    run = simulate_pool(pool, arrival_s=req.arrival_s, input_tokens=req.input_tokens,
                        output_tokens=req.output_tokens)
    where = np.arange(len(req)) % pool.replicas
    alone = np.concatenate([_tpot(_replica(pool, _subset(req, where == k), seed=k).run(), _subset(req, where == k))
                            for k in range(pool.replicas)])
    assert _tpot(run, req).mean() > 1.05 * alone.mean()


def _subset(req, mask):
    return Requests(*(getattr(req, f)[mask] for f in req.__dataclass_fields__))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(1, 64), st.integers(0, 200_000)), min_size=1, max_size=4),
       st.integers(1, 400))
def test_padded_decode_run_is_never_faster_than_any_rank_and_exact_for_one(pool, ranks, k):
    timer = pool.timer
    seqs, ctx = [n for n, _ in ranks], [float(c) for _, c in ranks]
    group = padded_decode_run(timer, seqs, ctx, k)
    for n, c in zip(seqs, ctx):
        assert group >= timer.decode_run(n, c, k) * (1 - 1e-12)
    if len(ranks) == 1:
        assert group == timer.decode_run(seqs[0], ctx[0], k)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 64)), min_size=1, max_size=5),
       st.integers(1, 300))
def test_envelope_pieces_follow_the_largest_line(lines, k):
    c, g = [float(x) for x, _ in lines], [float(y) for _, y in lines]
    pieces = _envelope(c, g, k)
    assert sum(steps for _, steps, _ in pieces) == k and pieces[0][0] == 0
    for start, steps, i in pieces:
        for j in (start, start + steps - 1):
            assert math.isclose(c[i] + j * g[i], max(a + j * b for a, b in zip(c, g)))


def test_closed_loop_disaggregated_decode_ranks_step_together(monkeypatch):
    """The closed-loop co-simulation of two pools runs a DP4 x EP4 decode worker's ranks as one
    lockstep group: unequal decode batches (mixed output lengths) pad to the largest, so mean TPOT
    is above the same run with its ranks independent, every request finishes, and a decode pool
    without attention-DP (TP4 x EP4, one rank per worker) is untouched by the grouping."""
    from perfmodel.serving import disagg

    model, system = specs.load_model("qwen3-30b-a3b"), hardware.resolve("dgx-h100")
    eng = get_engine("sglang")

    def pool(mode, sched, **kw):
        return build_pool(model=model, system=system, engine=eng, plan=Plan(mode=mode, quant="fp8", **kw),
                          scheduler=sched)
    pre = pool("prefill", "prefill_first", tp=1, dp=2)
    req = load_workload("sharegpt").sample(160, offline=True, seed=7)

    def run(dec):
        r = disagg.simulate_closed(system, pre, dec, concurrency=64, input_tokens=req.input_tokens,
                                   output_tokens=req.output_tokens)
        assert np.isfinite(r.finish_s).all()
        more = req.output_tokens > 1
        return np.mean(((r.finish_s - r.first_token_s) / np.maximum(req.output_tokens - 1, 1))[more])

    adp = pool("decode", "decode_only", tp=1, dp=4, ep=4)
    tep = pool("decode", "decode_only", tp=4, ep=4)
    lock_adp, lock_tep = run(adp), run(tep)
    monkeypatch.setattr(disagg, "group_ranks", lambda plan: 1)
    assert lock_adp > 1.005 * run(adp)  # decode-only: padding the batch costs little where weights dominate
    assert lock_tep == run(tep)
