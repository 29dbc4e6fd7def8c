"""Hardware bounds of a measured closed loop (perfmodel.closed_loop_bounds), checked by hand.

Llama-3.1-8B FP8 on one H200 (141 GB, 4.8 TB/s, FP8 1979 TFLOPS dense):
  weights: 32 layers x (4096 x 6144 qkv + 4096 x 4096 o + 3 x 4096 x 14336 MLP) x 1 B
           + 32 x 2 x 4096 x 2 B norms + 2 x 128256 x 4096 x 2 B embedding and LM head = 9.081 GB
  KV (FP8): 2 (K, V) x 8 heads x 128 x 32 layers x 1 B = 65,536 B per token
"""

from __future__ import annotations

import pytest

from perfmodel.accuracy import Case, Outcome, summarize
from perfmodel.closed_loop_bounds import loop_bounds

W_8B = 9.081e9
KV_8B = 65_536.0
H200 = dict(model="llama-3.1-8b", hardware="h200-sxm", quant="fp8")


def test_a_reachable_row_and_its_figures():
    # 100 clients, 1000 / 101 tokens, TTFT 100 ms, TPOT 10 ms: E2E = 0.1 + 100 x 0.01 = 1.1 s,
    # X = 100 / 1.1 = 90.9 requests/s, N_dec = 90.9 x 100 x 0.01 = 90.9 sequences decoding
    b = loop_bounds(**H200, isl=1000, osl=101, concurrency=100, ttft_ms=100, tpot_ms=10)
    assert b.consistent and b.violations == ()
    assert b.requests_per_s == pytest.approx(100 / 1.1)
    assert b.decoding_sequences == pytest.approx(100 / 1.1)
    # (141e9 - 9.081e9) / (1000 x 65,536) = 2013 prompts fit; 100 clients never queue for KV
    assert b.sequences_that_fit == pytest.approx((141e9 - W_8B) / (1000 * KV_8B), rel=1e-3)
    assert b.ttft_bound_ms == 0.0
    # (9.081e9 + 90.9 x 1000 x 65,536) / 4.8e12 = 3.13 ms
    assert b.tpot_bound_ms == pytest.approx((W_8B + 100 / 1.1 * 1000 * KV_8B) / 4.8e12 * 1e3, rel=1e-3)


def test_a_step_faster_than_reading_the_weights_breaks_the_bandwidth_bound():
    # TPOT 1 ms at 100-token prompts: E2E = 0.1 + 0.1 = 0.2 s, X = 500/s, N_dec = 500 x 100 x 0.001 = 50;
    # a step reads 9.081e9 + 50 x 100 x 65,536 = 9.41e9 B: 1.96 ms at 4.8 TB/s > 1 ms
    b = loop_bounds(**H200, isl=100, osl=101, concurrency=100, ttft_ms=100, tpot_ms=1)
    assert b.violations == ("bandwidth",)
    assert b.tpot_bound_ms == pytest.approx((W_8B + 50 * 100 * KV_8B) / 4.8e12 * 1e3, rel=1e-3)
    # its 500 requests/s x 200 tokens x 2 x 7.5e9 FLOPs stay under the 1979 TFLOPS peak
    assert b.peak_compute_load < 1
    assert "TPOT >= 1.96 ms" in b.describe()


def test_the_kv_queue_bound_is_littles_law_at_the_sequences_that_fit():
    # 100k-token prompts: 6.55 GB of KV each, (141e9 - 9.081e9) / 6.5536e9 = 20.1 fit. With TPOT 10 ms
    # and 101 output tokens, 100 clients need TTFT >= 100 x 0.01 x (100 / 20.1 - 1) = 3.97 s
    kw = dict(H200, isl=100_000, osl=101, concurrency=100, tpot_ms=10)
    fit = (141e9 - W_8B) / (100_000 * KV_8B)
    bound_ms = 1000 * 100 * 0.01 * (100 / fit - 1)
    below = loop_bounds(**kw, ttft_ms=0.99 * bound_ms)
    above = loop_bounds(**kw, ttft_ms=1.01 * bound_ms)
    assert below.ttft_bound_ms == pytest.approx(bound_ms, rel=1e-3)
    assert "kv_capacity" in below.violations and "kv_capacity" not in above.violations
    # at the bound itself the loop holds exactly the sequences that fit
    at = loop_bounds(**kw, ttft_ms=bound_ms)
    assert at.decoding_sequences == pytest.approx(at.sequences_that_fit, rel=1e-3)


def test_the_nvfp4_rows_at_416_clients_are_out_of_reach():
    """CSV line 3: TRT-LLM, Qwen3-32B NVFP4 TP2 on B200, 15000/500 tokens (mean 13,500 / 450 on
    InferenceMAX's [0.8, 1] spread), 416 clients, measured TTFT 719 ms, TPOT 13.66 ms.
    E2E = 0.719 + 449 x 0.01366 = 6.85 s, X = 60.7/s, N_dec = 60.7 x 449 x 0.01366 = 372.
    KV per device at TP2, FP8: 2 x 8 x 128 x 64 / 2 = 65,536 B per token, 13,500 tokens = 0.885 GB;
    two B200s (180 GB each, about 10.6 GB of weights each) hold about (180 - 10.6) / 0.885 = 191."""
    b = loop_bounds(model="qwen3-32b", hardware="b200", quant="nvfp4", tp=2, isl=13_500, osl=450,
                    concurrency=416, ttft_ms=719.276, tpot_ms=13.6562)
    assert b.decoding_sequences == pytest.approx(372, rel=0.01)
    assert b.sequences_that_fit == pytest.approx(191, rel=0.02)
    assert set(b.violations) == {"kv_capacity", "bandwidth", "compute"}
    assert b.ttft_bound_ms > 5 * 719           # the queue: 449 x 13.66 ms x (416 / 191 - 1) = 7.2 s
    assert b.tpot_bound_ms > 3 * 13.66         # 372 x 0.885 GB at 7.7 TB/s = 43 ms


def _outcome(key: str, err: float, **bounds_kw) -> Outcome:
    case = Case(key, {"engine": "vllm", "system": "h200_sxm", "model": "m", "band": "65-256", "mode": "agg"},
                {}, bounds_kw["ttft_ms"], bounds_kw["tpot_ms"])
    return Outcome(case, 1.0, 1.0, errors={"ttft": err, "tpot": err}, bounds=loop_bounds(**H200, **bounds_kw))


def test_inconsistent_rows_stay_listed_but_leave_the_medians():
    ok = [_outcome(f"r{i}", e, isl=1000, osl=101, concurrency=100, ttft_ms=100, tpot_ms=10)
          for i, e in ((2, 0.1), (3, 0.2), (4, -0.3))]
    bad = _outcome("r5", 9.0, isl=100, osl=101, concurrency=100, ttft_ms=100, tpot_ms=1)
    s = summarize(ok + [bad])
    assert not bad.consistent and all(o.consistent for o in ok)
    assert s["overall"]["rows"] == 3 and s["overall"]["tpot_median_abs_error_pct"] == pytest.approx(20)
    assert s["overall_all_rows"]["rows"] == 4 and s["overall_all_rows"]["tpot_median_abs_error_pct"] == pytest.approx(25)
    assert s["groups"]["engine"]["vllm"]["rows"] == 3
