"""Closed-loop concurrency on the real step model: at most C requests in flight, each client's next
request issued at a completion, throughput up and per-user speed down with C until saturation,
and at C = 1 exactly one prefill and one decode step per token."""

from __future__ import annotations

import numpy as np
import pytest

from perfmodel.errors import PerfModelError
from perfmodel.serve_api import serve
from perfmodel.serving.deployment import simulate_pool
from perfmodel.specs.workload import load_workload


def _closed(pool, req, c):
    return simulate_pool(pool, arrival_s=req.arrival_s, input_tokens=req.input_tokens,
                         output_tokens=req.output_tokens, concurrency=c)


def _in_flight_max(arrival, finish) -> int:
    """Most requests issued and not finished at any instant (finishes before issues at a tie: a
    client's next request leaves the moment its previous one completes)."""
    events = sorted([(t, 1) for t in arrival] + [(t, -1) for t in finish], key=lambda e: (e[0], e[1]))
    level = peak = 0
    for _, d in events:
        level += d
        peak = max(peak, level)
    return peak


@pytest.mark.parametrize("engine,c,replicas", [("vllm", 8, 1), ("sglang", 24, 1), ("trtllm", 5, 2)])
def test_never_more_than_c_in_flight_and_next_issued_at_a_completion(make_pool, engine, c, replicas):
    pool = make_pool(engine, dp=replicas)
    req = load_workload("sharegpt").sample(300, offline=True, seed=3)
    run = _closed(pool, req, c)
    assert np.isfinite(run.finish_s).all()
    assert _in_flight_max(run.arrival_s, run.finish_s) == c
    if replicas == 1:  # request C + k leaves at the k-th completion
        assert np.array_equal(run.arrival_s[c:], np.sort(run.finish_s)[:len(req) - c])
    assert (run.arrival_s[:c] == 0).all()


def test_throughput_rises_and_per_user_speed_falls_until_saturation():
    out, per_user = [], []
    for c in (1, 4, 16, 64, 256):
        d = serve(model="llama-3.1-8b", hardware="h100-sxm", workload="fixed:1024:256", concurrency=c,
                  num_requests=max(4 * c, 32), warmup=c, engine="vllm").to_dict()
        out.append(d["output_tok_s_per_device"])
        per_user.append(d["tok_s_per_user"])
    assert all(b > a for a, b in zip(out, out[1:])), out
    assert all(b < a for a, b in zip(per_user, per_user[1:])), per_user
    # saturation: the last doubling of clients gains less than the first
    assert out[-1] / out[-2] < out[1] / out[0]


def test_one_client_is_one_prefill_then_one_decode_step_per_token(make_pool):
    isl, osl = 1000, 64
    pool = make_pool("vllm")
    req = load_workload(f"fixed:{isl}:{osl}").sample(5, offline=True)
    run = _closed(pool, req, 1)
    prefill_s = pool.timer.step(isl, isl * (isl + 1) / 2, 0, 1, 0, 0)
    decode_s = pool.timer.decode_run(1, isl + 1, osl - 1)
    ttft = run.first_token_s - run.arrival_s
    tpot = (run.finish_s - run.first_token_s) / (osl - 1)
    assert ttft == pytest.approx(np.full(5, prefill_s), rel=1e-9)
    assert tpot == pytest.approx(np.full(5, decode_s / (osl - 1)), rel=1e-9)
    # the host overhead is part of it: an engine with none is faster by at least its cost
    ideal = make_pool("ideal")
    assert pool.timer.step(0, 0.0, 0, 0, 1, isl) > ideal.timer.step(0, 0.0, 0, 0, 1, isl)


def test_warmup_is_left_out_and_metrics_are_reported():
    kw = dict(model="llama-3.1-8b", hardware="h100-sxm", workload="fixed:2048:128", concurrency=16, engine="vllm")
    cold = serve(num_requests=16, **kw).to_dict()
    warm = serve(num_requests=16, warmup=16, **kw).to_dict()
    assert warm["config"]["requests"] == 16 and warm["config"]["warmup_requests"] == 16
    # the first wave arrives all at once: its TTFT queues behind 15 prefills; later waves stagger
    assert warm["ttft_ms"]["mean"] < cold["ttft_ms"]["mean"]
    for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
        assert set(warm[key]) == {"mean", "p50", "p90", "p99"}
    assert warm["itl_ms"]["mean"] == pytest.approx(warm["tpot_ms"]["mean"], rel=1e-9)  # equal lengths
    assert warm["tok_s_per_user"] == pytest.approx(1e3 / warm["tpot_ms"]["mean"], rel=0.05)


@pytest.mark.parametrize("prefill_dp,decode_dp", [(1, 1), (3, 2)])
def test_disaggregated_closed_loop_keeps_c_in_flight(prefill_dp, decode_dp):
    r = serve(model="llama-3.1-8b", hardware="h100-sxm", workload="sharegpt", concurrency=8, num_requests=80,
              scheduler="disagg", prefill_tp=1, decode_tp=1, prefill_dp=prefill_dp, decode_dp=decode_dp)
    t = r.timeline
    assert np.isfinite(t.finish_s).all() and (t.first_token_s >= t.arrival_s).all()
    assert _in_flight_max(t.arrival_s, t.finish_s) == 8
    # each later request is issued at one of the first 72 completions (pools co-simulated step by step
    # may record two completions microseconds apart in either order)
    assert np.array_equal(np.sort(t.arrival_s[8:]), np.sort(t.finish_s)[:72])


def test_disaggregated_closed_loop_one_client_is_prefill_transfer_then_decode():
    """C = 1: nothing queues, so each request's TTFT is one prefill and its TPOT the decode steps."""
    kw = dict(model="llama-3.1-8b", hardware="h100-sxm", workload="fixed:1000:64", num_requests=4,
              scheduler="disagg", prefill_tp=1, decode_tp=1)
    closed = serve(concurrency=1, **kw).to_dict()
    sparse = serve(rate=0.001, **kw).to_dict()   # open loop so sparse that nothing queues either
    assert closed["ttft_ms"]["mean"] == pytest.approx(sparse["ttft_ms"]["mean"], rel=1e-9)
    assert closed["tpot_ms"]["mean"] == pytest.approx(sparse["tpot_ms"]["mean"], rel=1e-9)


@pytest.mark.parametrize("kw,match", [
    (dict(concurrency=0), "--concurrency must be >= 1"),
    (dict(concurrency=4, rate=2.0), "give one of --offline, --rate and --concurrency"),
    (dict(concurrency=4, warmup=-1), "--warmup must be >= 0"),
    (dict(rate=2.0, warmup=3), "--warmup 3 needs --concurrency"),
])
def test_bad_closed_loop_options_are_named(kw, match):
    with pytest.raises(PerfModelError, match=match):
        serve(model="llama-3.1-8b", hardware="h100-sxm", workload="fixed:128:16", num_requests=8, **kw)
