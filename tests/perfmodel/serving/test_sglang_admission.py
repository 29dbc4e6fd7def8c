"""SGLang's admission rule (PrefillAdder with new_token_ratio) in the serving simulator."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from perfmodel.plan import Plan
from perfmodel.serving.deployment import build_pool, simulate_pool
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.serving.kv import (SGLANG_CLIP_MAX_NEW_TOKENS, SGLANG_MIN_NEW_TOKEN_RATIO, new_token_ratio,
                                  new_token_ratio_fits, ratio_after_retract)
from perfmodel.serving.simulator import Replica

FITS = dict(used_tokens=3000, running_remaining_tokens=5000, ratio=0.1, capacity_tokens=10_000)


def test_rule_by_hand():
    # left: 10000 - 3000 held - 0.1 x 5000 running remaining = 6500
    assert new_token_ratio_fits(prompt_tokens=3000, output_tokens=3499, admitted_output_tokens=0, **FITS)
    # 3000 + 3500 = 6500 is not below what is left (SGLang: NO_TOKEN when total >= rem_total_tokens)
    assert not new_token_ratio_fits(prompt_tokens=3000, output_tokens=3500, admitted_output_tokens=0, **FITS)
    # outputs admitted in the same pass count whole: 1000 + 1000 + 4500 = 6500
    assert not new_token_ratio_fits(prompt_tokens=1000, output_tokens=1000, admitted_output_tokens=4500, **FITS)
    assert new_token_ratio_fits(prompt_tokens=1000, output_tokens=1000, admitted_output_tokens=4499, **FITS)


def test_output_estimate_is_clipped():
    big = dict(used_tokens=0, running_remaining_tokens=0, ratio=0.1, admitted_output_tokens=0, capacity_tokens=6000)
    assert SGLANG_CLIP_MAX_NEW_TOKENS == 4096
    assert new_token_ratio_fits(prompt_tokens=1000, output_tokens=100_000, **big)  # 1000 + 4096 < 6000
    assert not new_token_ratio_fits(prompt_tokens=2000, output_tokens=100_000, **big)  # 2000 + 4096 >= 6000


def test_ratio_decays_over_600_steps_and_restarts_after_a_retraction():
    floor = SGLANG_MIN_NEW_TOKEN_RATIO  # 0.098
    assert new_token_ratio(start=0.7, steps=0, floor=floor) == 0.7
    assert abs(new_token_ratio(start=0.7, steps=300, floor=floor) - 0.399) < 1e-12  # 0.7 - 300 x 0.602 / 600
    assert new_token_ratio(start=0.7, steps=600, floor=floor) == floor
    assert new_token_ratio(start=1.0, steps=10_000, floor=floor) == floor
    assert abs(ratio_after_retract(decoded_tokens=1000, running=10, max_new_tokens=5999) - 0.2) < 1e-12  # 1200/6000
    assert ratio_after_retract(decoded_tokens=9000, running=100, max_new_tokens=9999) == 1.0


def test_profile_uses_the_ratio_floor(make_pool):
    kv = make_pool("sglang-0.5").kv
    assert kv.admission == "new_token_ratio"
    assert abs(kv.reserve_output_fraction - 0.098) < 1e-12 and SGLANG_MIN_NEW_TOKEN_RATIO == kv.reserve_output_fraction


def _replica(pool, isl, osl, clients):
    n = len(isl)
    return Replica(arrival=np.zeros(n), isl=np.asarray(isl), osl=np.asarray(osl), timer=pool.timer, kv=pool.kv,
                   scheduler=pool.scheduler, max_num_seqs=pool.max_num_seqs, token_budget=pool.token_budget,
                   clients=clients)


def _peak(pool, isl, osl, clients):
    """Run to the end checking the held KV each turn; the most requests admitted at once."""
    rep = _replica(pool, isl, osl, clients)
    most = 0
    while rep.turn():
        assert rep.kv_used <= pool.kv.capacity_tokens
        most = max(most, rep.n_run + len(rep.prefilling))
    res = rep.result()
    assert np.isfinite(res.finish_s).all() and np.array_equal(res.emitted, osl)
    return most, rep


def test_admission_never_exceeds_the_kv_pool(make_pool):
    """Tight pool (TP1 H100, 30% of memory for weights and KV, ~45k tokens) and 256 clients of
    ~1400 + 1400 tokens: the held KV never exceeds the pool, every request completes, and the
    reserve admits fewer at once than vLLM-style on-demand admission (24 against 32), with fewer
    retractions."""
    pool = make_pool("sglang-0.5", kv_fraction=0.3)
    rng = np.random.default_rng(3)
    isl, osl = rng.integers(800, 2001, 400), rng.integers(800, 2001, 400)
    most, rep = _peak(pool, isl, osl, clients=256)
    greedy = replace(pool, kv=replace(pool.kv, admission="on_demand"))
    most_greedy, rep_greedy = _peak(greedy, isl, osl, clients=256)
    assert most < most_greedy < 256
    assert 0 < rep.preemptions < rep_greedy.preemptions  # 38 against 257
    assert rep.ratio_at[1] > 0 and rep.ratio_at[0] != 0.7  # the last retraction re-estimated the ratio


def test_low_concurrency_unchanged(llama8b_h100):
    """At 8 clients the pool is far from full: the rule admits as the old fixed reserve did."""
    model, system = llama8b_h100
    new = get_engine("sglang-0.5")
    old = new.model_copy(update={"admission": "reserve_ratio", "reserve_output_fraction": 0.4})
    rng = np.random.default_rng(5)
    isl, osl = rng.integers(800, 1001, 64), rng.integers(400, 501, 64)
    runs = [simulate_pool(build_pool(model=model, system=system, engine=e, plan=Plan(),
                                     scheduler=None), arrival_s=np.zeros(64),
                          input_tokens=isl, output_tokens=osl, concurrency=8) for e in (new, old)]
    assert np.array_equal(runs[0].first_token_s, runs[1].first_token_s)
    assert np.array_equal(runs[0].finish_s, runs[1].finish_s)
