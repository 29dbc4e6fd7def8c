"""Speculative decoding in the serving simulator and the analytic replica model (issue 12): each
decoding sequence advances the expected accepted tokens of a draft-and-verify round per iteration,
the round costs the verification step plus the drafts, and TPOT is per output token."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from perfmodel import hardware, specs
from perfmodel import speculative as SP
from perfmodel.estimator import estimate
from perfmodel.plan import Plan
from perfmodel.serve_api import serve
from perfmodel.serving.analytic import ReplicaModel
from perfmodel.serving.deployment import build_pool, simulate_pool
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.specs.workload import load_workload

LLAMA = specs.load_model("llama-3.1-8b")
H100 = hardware.resolve("h100-sxm")
ISL, OSL = 1000, 129


def _pool(engine="ideal", scheduler=None, **plan):
    return build_pool(model=LLAMA, system=H100, engine=get_engine(engine), plan=Plan(**plan), scheduler=scheduler)


def _ngram(rate: float, k: int = 3) -> dict:
    return dict(spec_method="ngram", spec_tokens=k, spec_acceptance=(rate,) * k)


def _replica_model(**plan):
    pool = _pool(**plan)
    return ReplicaModel(timer=pool.timer, kv=pool.kv, scheduler="prefill_first", max_num_seqs=1, token_budget=8192,
                        mean_input=ISL, mean_output=OSL)


def _small_kv(pool, tokens: int):
    return dataclasses.replace(pool, kv=dataclasses.replace(pool.kv, capacity_tokens=tokens))


def _closed_c1(pool, n=3):
    req = load_workload(f"fixed:{ISL}:{OSL}").sample(n, offline=True)
    run = simulate_pool(pool, arrival_s=req.arrival_s, input_tokens=req.input_tokens,
                        output_tokens=req.output_tokens, concurrency=1)
    return run, (run.finish_s - run.first_token_s) / (OSL - 1)


def test_acceptance_zero_gives_no_gain_and_costs_the_verification_step():
    base, base_tpot = _closed_c1(_pool())
    pool = _pool(**_ngram(0.0))
    run, tpot = _closed_c1(pool)
    assert pool.timer.tokens_per_step == 1.0
    assert (run.emitted == OSL).all()
    assert (tpot > base_tpot).all()
    # every decode step is one verification round of 1 + k query tokens per sequence
    verify = pool.timer.decode_run(1, ISL + 1, OSL - 1)
    assert tpot == pytest.approx(np.full(3, verify / (OSL - 1)), rel=1e-9)


def test_closed_loop_one_client_tpot_is_the_round_over_its_expected_tokens():
    rates = (0.8, 0.6)
    pool = _pool(engine="vllm", spec_method="eagle3", spec_tokens=2, spec_acceptance=rates)
    e = SP.expected_tokens(rates)
    assert pool.timer.tokens_per_step == pytest.approx(1 + 0.8 + 0.48)
    run, tpot = _closed_c1(pool)
    rounds = math.ceil((OSL - 1) / e)
    # the rounds' contexts grow by E tokens each: decode_run times them exactly
    assert tpot == pytest.approx(np.full(3, pool.timer.decode_run(1, ISL + 1, rounds) / (OSL - 1)), rel=1e-9)
    mid_round = pool.timer.step(0, 0.0, 0, 0, 1, ISL + OSL / 2)
    assert tpot == pytest.approx(np.full(3, mid_round / e), rel=0.03)
    assert (run.emitted == OSL).all()


def test_tpot_falls_as_acceptance_rises():
    tpots = [_closed_c1(_pool(**_ngram(a)), n=1)[1][0] for a in (0.0, 0.3, 0.6, 0.9)]
    assert all(b < a for a, b in zip(tpots, tpots[1:])), tpots


@pytest.mark.parametrize("spec", [dict(spec_method="eagle3", spec_tokens=3), _ngram(0.5, k=4), {}])
def test_estimate_and_serve_agree_at_one_client(spec):
    est = estimate(model=LLAMA, hardware=H100, batch_size=1, isl=ISL, osl=OSL, **spec)
    d = serve(model="llama-3.1-8b", hardware="h100-sxm", workload=f"fixed:{ISL}:{OSL}", concurrency=1,
              num_requests=2, engine="ideal", **spec).to_dict()
    assert d["tpot_ms"]["mean"] == pytest.approx(est.tpot_ms, rel=0.03)
    assert d["ttft_ms"]["mean"] == pytest.approx(est.ttft_ms, rel=0.03)
    # the analytic replica model's decode step is per output token too; its closed loop (sweep's
    # default) adds the prefill-first share of busy time to TPOT (rate x prefill time, 3-7 % here,
    # with or without speculation), which one client never sees
    r = serve(model="llama-3.1-8b", hardware="h100-sxm", workload=f"fixed:{ISL}:{OSL}", offline=True,
              engine="ideal", simulate=False, **spec)
    rm = _replica_model(**spec)
    assert rm.t_decode(1) * 1e3 == pytest.approx(est.tpot_ms, rel=0.03)
    assert r.steady.at_concurrency(1).tpot_ms == pytest.approx(est.tpot_ms, rel=0.08)


def test_chunked_prefill_drafts_for_decoding_sequences_and_emits_every_token():
    req = load_workload("sharegpt").sample(120, offline=True, seed=1)
    plain = _pool(scheduler="chunked", token_budget=512)
    spec = _pool(scheduler="chunked", token_budget=512, **_ngram(0.7))
    kw = dict(arrival_s=req.arrival_s, input_tokens=req.input_tokens, output_tokens=req.output_tokens)
    a, b = simulate_pool(plain, **kw), simulate_pool(spec, **kw)
    assert np.array_equal(b.emitted, req.output_tokens)
    assert b.prefill_tokens_computed == a.prefill_tokens_computed
    assert b.iterations < a.iterations  # fewer rounds than tokens
    # a mixed iteration's decode part is a verification round: k + 1 tokens per sequence of the budget
    assert spec.timer.step(256, 256 * 128.5, 0, 1, 64, 64 * 1200) > plain.timer.step(256, 256 * 128.5, 0, 1, 64, 64 * 1200)


def test_drafts_hold_kv_while_verified():
    """A KV cache that fits the batch's tokens but not its draft slots preempts under speculation."""
    req = load_workload("fixed:2000:400").sample(64, offline=True)
    kw = dict(arrival_s=req.arrival_s, input_tokens=req.input_tokens, output_tokens=req.output_tokens)
    # room for the whole batch plus two tokens a sequence
    plain, spec = (_small_kv(_pool(max_batch=64, **plan), 64 * 2400 + 128) for plan in ({}, _ngram(0.0, k=8)))
    assert simulate_pool(plain, **kw).preemptions == 0
    run = simulate_pool(spec, **kw)
    assert run.preemptions > 0
    assert np.array_equal(run.emitted, req.output_tokens)
