"""SGLang's admission rule (PrefillAdder with new_token_ratio) in the serving simulator."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from perfmodel.plan import Plan
from perfmodel.serving.deployment import build_pool, simulate_pool
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.serving.kv import SGLANG_CLIP_MAX_NEW_TOKENS, SGLANG_MIN_NEW_TOKEN_RATIO, new_token_ratio_fits
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
    return most, rep.preemptions


def test_admission_never_exceeds_the_kv_pool(make_pool):
    """Tight pool (TP1 H100, 30% of memory for weights and KV, ~45k tokens) and 256 clients of
    ~1400 + 1400 tokens: the held KV never exceeds the pool, every request completes, and the
    reserve admits fewer at once than vLLM-style on-demand admission, with fewer retractions."""
    pool = make_pool("sglang-0.5", kv_fraction=0.3)
    rng = np.random.default_rng(3)
    isl, osl = rng.integers(800, 2001, 400), rng.integers(800, 2001, 400)
    most, retracted = _peak(pool, isl, osl, clients=256)
    greedy = replace(pool, kv=replace(pool.kv, admission="on_demand"))
    most_greedy, retracted_greedy = _peak(greedy, isl, osl, clients=256)
    assert most < most_greedy < 256
    assert retracted < retracted_greedy


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
