"""Simulator laws on the real step model: every scheduler completes every request with the right
tokens, Little's law holds on its own bookkeeping, it is reproducible, and the scheduling effects
the literature reports come out (chunked prefill and disaggregation cut decode stalls)."""

from __future__ import annotations

import numpy as np
import pytest

import perfmodel
from perfmodel.errors import PerfModelError
from perfmodel.serve_api import serve
from perfmodel.serving.deployment import simulate_pool
from perfmodel.serving.iteration_check import direct_step_time
from perfmodel.serving.metrics import token_gaps_ms
from perfmodel.serving.schedulers import scheduler_names
from perfmodel.specs.workload import load_workload

AGGREGATED = [s for s in scheduler_names() if s != "decode_only"]


def _run(pool, req, **kw):
    return simulate_pool(pool, arrival_s=req.arrival_s, input_tokens=req.input_tokens,
                         output_tokens=req.output_tokens, prefix_tokens=req.prefix_tokens,
                         prefix_group=req.prefix_group, conversation=req.conversation,
                         reuse_tokens=req.reuse_tokens, **kw)


@pytest.mark.parametrize("sched", AGGREGATED)
@pytest.mark.parametrize("mode", ["offline", "rate"])
def test_every_request_completes_and_tokens_are_conserved(make_pool, sched, mode):
    pool = make_pool("vllm", sched, max_batch=64)
    req = load_workload("sharegpt").sample(300, offline=mode == "offline", rate=20.0, seed=1)
    run = _run(pool, req)
    assert np.isfinite(run.finish_s).all() and np.isfinite(run.first_token_s).all()
    assert (run.first_token_s >= req.arrival_s).all() and (run.finish_s >= run.first_token_s).all()
    if sched in ("static", "prepack"):  # padded batches run to their longest output
        assert (run.emitted >= req.output_tokens).all()
    else:
        assert np.array_equal(run.emitted, req.output_tokens)
        assert run.prefill_tokens_computed >= req.input_tokens.sum() - run.cached_tokens


@pytest.mark.parametrize("sched", ["prefill_first", "chunked", "inflight", "static"])
def test_littles_law(make_pool, sched):
    pool = make_pool("vllm", sched, max_batch=32)
    req = load_workload("sharegpt").sample(400, rate=6.0, seed=2)
    run = _run(pool, req)
    e2e = run.finish_s - req.arrival_s
    span = run.finish_s.max() - req.arrival_s.min()
    L = run.area_req_s / span                       # time-average in system, from the event loop
    lam_w = len(req) / span * e2e.mean()            # lambda x W, from per-request timestamps
    assert L == pytest.approx(lam_w, rel=1e-9)


def test_same_seed_same_result():
    kw = dict(model="llama-3.1-8b", hardware="h100-sxm", workload="chat-multiturn", rate=3.0, num_requests=200,
              engine="sglang", prefix_hit_rate=0.7)
    a, b = serve(seed=5, **kw).to_dict(), serve(seed=5, **kw).to_dict()
    c = serve(seed=6, **kw).to_dict()
    for k in ("output_tok_s", "ttft_ms", "tpot_ms", "e2e_ms"):
        assert a[k] == b[k]
    assert a["ttft_ms"] != c["ttft_ms"]


@pytest.mark.parametrize("isl,osl", [(512, 64), (2000, 200)])
def test_vanishing_load_matches_static_estimate(isl, osl):
    r = serve(model="llama-3.1-8b", hardware="h100-sxm", workload=f"fixed:{isl}:{osl}", rate=0.001,
              num_requests=20, engine="ideal")
    est = perfmodel.estimate(model="llama-3.1-8b", hardware="h100-sxm", batch_size=1, isl=isl, osl=osl)
    d = r.to_dict()
    assert d["ttft_ms"]["mean"] == pytest.approx(est.ttft_ms, rel=0.01)
    assert d["tpot_ms"]["mean"] == pytest.approx(est.tpot_ms, rel=0.01)
    a = d["analytic"]["at_rate"]
    assert a["ttft_ms"] == pytest.approx(est.ttft_ms, rel=0.01)
    assert a["tpot_ms"] == pytest.approx(est.tpot_ms, rel=0.01)


def test_chunked_prefill_lowers_p99_tpot_at_equal_load():
    kw = dict(model="llama-3.1-8b", hardware="h100-sxm", workload="splitwise", rate=8.0, num_requests=600,
              engine="ideal", token_budget=512)
    first = serve(scheduler="prefill_first", **kw).to_dict()
    chunked = serve(scheduler="chunked", **kw).to_dict()
    assert chunked["request_rate"] == pytest.approx(first["request_rate"], rel=0.02)  # same load served
    assert chunked["tpot_ms"]["p99"] < 0.9 * first["tpot_ms"]["p99"]
    assert chunked["ttft_ms"]["mean"] > first["ttft_ms"]["mean"]  # the trade-off Sarathi-Serve describes


@pytest.mark.parametrize("sched", ["prefill_first", "chunked", "inflight"])
def test_token_gaps_count_every_token_after_the_first(make_pool, sched):
    pool = make_pool("vllm", sched, max_batch=64)
    req = load_workload("sharegpt").sample(300, rate=20.0, seed=1)
    run = _run(pool, req)
    assert run.preemptions == 0
    assert run.token_gap_count.sum() == (run.emitted - 1).sum()
    assert (run.token_gap_s > 0).all()
    # each request's gaps sum to its decode time, so the token-weighted gap mean is the token-weighted TPOT
    decode_s = (run.finish_s - run.first_token_s).sum()
    assert (run.token_gap_s * run.token_gap_count).sum() == pytest.approx(decode_s, rel=1e-9)


def test_token_gaps_by_hand_two_requests_prefill_first(make_pool):
    # A (100 prompt, 3 out) arrives first; B (1000 prompt, 2 out) arrives while A prefills. Prefill-first:
    # prefill A -> prefill B (A stalls) -> decode A+B (B's last token) -> decode A (A's last token). So A's
    # gaps are [first_A -> finish_B] (the stall inside) and [finish_B -> finish_A]; B's is [first_B -> finish_B].
    pool = make_pool("vllm-0.5", "prefill_first")
    run = simulate_pool(pool, arrival_s=np.array([0.0, 1e-6]), input_tokens=np.array([100, 1000]),
                        output_tokens=np.array([3, 2]))
    (first_a, first_b), (finish_a, finish_b) = run.first_token_s, run.finish_s
    assert first_a < first_b < finish_b < finish_a
    want = sorted([finish_b - first_a, finish_b - first_b, finish_a - finish_b])
    got = sorted(np.repeat(run.token_gap_s, run.token_gap_count))
    assert got == pytest.approx(want, rel=1e-12)


def test_prefill_stalls_set_the_tbt_tail_and_chunking_bounds_it(make_pool):
    # 4k-token prompts arriving while others decode: prefill-first stalls every decode for a whole
    # prompt; stall-free chunks of 512 tokens bound every gap by a 512-token mixed step
    req = load_workload("fixed:4096:200").sample(120, rate=1.5, seed=3)
    p99, longest_ms = {}, {}
    for sched in ("prefill_first", "chunked"):
        pool = make_pool("vllm-0.5", sched, max_batch=128, token_budget=512 if sched == "chunked" else 4096)
        run = _run(pool, req)
        p99[sched] = token_gaps_ms(run.token_gap_s, run.token_gap_count)["p99"]
        longest_ms[sched] = run.token_gap_s.max() * 1e3
    prefill_4k_ms = 1e3 * make_pool("vllm-0.5", "prefill_first").timer.step(4096, 4096 * 4097 / 2, 0, 1, 0, 0)
    assert p99["prefill_first"] >= prefill_4k_ms          # stalled gaps hold a whole prompt
    assert longest_ms["chunked"] < prefill_4k_ms          # no gap does
    assert p99["chunked"] < 0.5 * p99["prefill_first"]


def test_disaggregation_removes_prefill_decode_interference():
    # long prompts arriving while earlier requests decode: aggregated, every 8k-token prefill stalls
    # the decoding sequences; disaggregated, decode steps never wait behind a prompt
    kw = dict(model="llama-3.1-8b", hardware="dgx-h100", workload="fixed:8000:100", rate=2.0, num_requests=200,
              engine="ideal")
    agg = serve(scheduler="prefill_first", dp=2, **kw).to_dict()
    dis = serve(scheduler="disagg", prefill_dp=1, decode_dp=1, **kw).to_dict()
    alone = serve(scheduler="prefill_first", **{**kw, "rate": 0.001, "num_requests": 5}).to_dict()
    assert dis["tpot_ms"]["p99"] < 0.75 * agg["tpot_ms"]["p99"]
    assert dis["tpot_ms"]["p99"] < 1.2 * alone["tpot_ms"]["p50"]  # only batching, no stalls
    assert dis["tpot_ms"]["p99"] < 1.15 * dis["tpot_ms"]["p50"]


def test_kv_exhaustion_preempts_and_still_completes(make_pool):
    req = load_workload("fixed:2000:1500").sample(200, offline=True)
    for mode in ("recompute", "swap"):
        pool = make_pool("vllm-0.5", kv_fraction=0.3, preemption=mode)
        run = _run(pool, req)
        assert run.preemptions > 0
        assert np.isfinite(run.finish_s).all() and np.array_equal(run.emitted, req.output_tokens)


def test_swap_cost_grows_with_smaller_blocks(make_pool):
    small = make_pool("vllm-0.5", block_size=16, preemption="swap").kv
    large = make_pool("vllm-0.5", block_size=256, preemption="swap").kv
    assert small.swap_time_s(4096) > 1.5 * large.swap_time_s(4096)  # FastSwitch: per-block copies dominate


def test_contiguous_layout_allocates_pages(make_pool):
    paged = make_pool("vllm", kv_layout="paged")
    cont = make_pool("vllm", kv_layout="contiguous")
    # 2 MiB pages of one layer's K for 8 KV heads x 128 dims x 2 bytes = 1024 tokens
    assert cont.kv.unit_tokens == 1024 and paged.kv.unit_tokens == 16
    assert cont.timer.paged == 1.0


def test_prefix_caching_skips_shared_prefixes():
    kw = dict(model="llama-3.1-8b", hardware="h100-sxm", workload="chat-multiturn", rate=2.0, num_requests=300,
              engine="vllm")
    on = serve(prefix_caching=True, **kw).to_dict()
    off = serve(prefix_caching=False, **kw).to_dict()
    assert on["sim"]["cached_tokens"] > 0 and off["sim"]["cached_tokens"] == 0
    assert on["sim"]["prefill_tokens_computed"] < 0.6 * off["sim"]["prefill_tokens_computed"]
    assert on["ttft_ms"]["mean"] < off["ttft_ms"]["mean"]
    half = serve(prefix_caching=True, prefix_hit_rate=0.5, **kw).to_dict()
    assert on["sim"]["cached_tokens"] > half["sim"]["cached_tokens"] > 0


def test_cacheblend_recomputes_a_fraction_of_reused_chunks(tmp_path):
    f = tmp_path / "rag.yaml"
    f.write_text("input: {dist: fixed, value: 100}\noutput: {dist: fixed, value: 20}\nreuse_tokens: 2000\n")
    kw = dict(model="llama-3.1-8b", hardware="h100-sxm", workload=str(f), rate=1.0, num_requests=50,
              engine="vllm", prefix_caching=False)
    plain = serve(**kw).to_dict()["sim"]
    blend = serve(cacheblend=True, **kw).to_dict()["sim"]
    assert plain["prefill_tokens_computed"] == 50 * 2100
    # 15% of the reused tokens recomputed, and layer 0 of 32 (before CacheBlend's check layer) runs on all of
    # them: (1 + 31 x 0.15) / 32 = 0.1766 of the reused tokens' work
    assert blend["prefill_tokens_computed"] == pytest.approx(50 * (100 + 0.1766 * 2000), rel=0.01)


def test_prepacking_removes_prefill_padding(make_pool):
    req = load_workload("lmsys").sample(64, offline=True, seed=3)
    static = _run(make_pool("vllm", "static", max_batch=64), req)
    packed = _run(make_pool("vllm", "prepack", max_batch=64), req)
    assert packed.prefill_tokens_computed == req.input_tokens.sum()
    assert static.prefill_tokens_computed == 64 * req.input_tokens.max()
    assert packed.first_token_s.max() < static.first_token_s.max()


def test_request_that_never_fits_is_an_error(make_pool):
    pool = make_pool("vllm", kv_fraction=0.25)
    req = load_workload("fixed:100000:10").sample(1, offline=True)
    with pytest.raises(PerfModelError, match="KV"):
        _run(pool, req)


def test_timer_matches_the_step_model(make_pool):
    pool = make_pool("ideal")
    rng = np.random.default_rng(0)
    for _ in range(40):
        pt = int(rng.integers(0, 3000))
        ps = 0 if pt == 0 else int(rng.integers(1, 4))
        off = int(rng.integers(0, 2000)) if pt else 0
        pairs = pt * (off + (pt + 1) / 2)
        n = int(rng.integers(0 if pt else 1, 300))
        ctx = n * int(rng.integers(1, 4000))
        got = pool.timer.step(pt, pairs, off * ps, ps, n, ctx)
        want = direct_step_time(pool.step, pt, pairs, off * ps, ps, n, ctx)
        assert got == pytest.approx(want, rel=0.01)


def test_decode_run_is_the_sum_of_its_steps(make_pool):
    for engine in ("vllm-0.5", "sglang", "ideal"):
        t = make_pool(engine).timer
        n, ctx, k = 37, 37 * 900, 250
        steps = sum(t.step(0, 0.0, 0, 0, n, ctx + j * n) for j in range(k))
        assert t.decode_run(n, ctx, k) == pytest.approx(steps, rel=1e-9)
