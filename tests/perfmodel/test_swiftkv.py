"""SwiftKV transform: hand-checked prefill compute and KV fractions, and monotone in the skip."""

import pytest
from hypothesis import given, settings, strategies as st

from perfmodel.errors import PerfModelError
from perfmodel.plan import Plan
from perfmodel.resolve import resolve_model, resolve_system
from perfmodel.estimator import estimate as base_estimate
from perfmodel.swiftkv import SwiftKV, estimate, kv_fraction, parse, prefill

MODEL = resolve_model("llama-3.1-70b")
SYSTEM = resolve_system("h100-sxm")
PLAN = Plan(tp=4, quant="bf16")


def test_kv_fraction_by_hand():
    # 80 layers, 40 kept; the 40 skipped share KV in groups of 4 -> (40 + 10) / 80
    assert kv_fraction(MODEL, SwiftKV(0.5, 4)) == pytest.approx(0.625)
    assert kv_fraction(MODEL, SwiftKV(0.5)) == 1.0


def test_prefill_compute_by_hand():
    # Llama-3.1-70B layer: Q, O 8192x8192, K, V 8192x1024, MLP 3 x 8192x28672 -> K+V are 1.96% of a
    # layer's GEMM FLOPs; skipping half the layers leaves ~0.5 + 0.5 x 0.0196 (attention and the LM
    # head shift it a little)
    r = prefill(model=MODEL, system=SYSTEM, plan=PLAN, batch=4, isl=2048, swift=SwiftKV(0.5))
    assert r["kept_layers"] == r["skipped_layers"] == 40
    assert 0.50 < r["compute_fraction"] < 0.52
    assert 0.45 < r["time_fraction"] < 0.56


def test_no_skip_is_the_model():
    r = prefill(model=MODEL, system=SYSTEM, plan=PLAN, batch=2, isl=512, swift=SwiftKV(0.0))
    assert r["swiftkv_s"] == pytest.approx(r["full_s"]) and r["compute_fraction"] == pytest.approx(1.0)


@settings(max_examples=15, derandomize=True, deadline=None)
@given(a=st.floats(0, 0.9), b=st.floats(0, 0.9), isl=st.integers(64, 4096))
def test_more_skipping_never_slower(a, b, isl):
    lo, hi = sorted((a, b))
    t = [prefill(model=MODEL, system=SYSTEM, plan=PLAN, batch=1, isl=isl, swift=SwiftKV(f))["swiftkv_s"]
         for f in (lo, hi)]
    assert t[1] <= t[0] * (1 + 1e-9)


def test_bad_fraction_names_the_value():
    with pytest.raises(PerfModelError, match="skip_fraction must satisfy 0 <= f < 1, got 1.5"):
        SwiftKV(1.5)


def test_estimate_transform():
    kw = dict(model="llama-3.1-70b", hardware="h100-sxm", tp=4, batch_size=16, isl=4000, osl=128)

    base = base_estimate(**kw)
    swift = estimate(swift=SwiftKV(0.5, 4), **kw)
    assert swift.tpot_ms == pytest.approx(base.tpot_ms)            # decode runs every layer
    assert 0.45 < swift.ttft_ms / base.ttft_ms < 0.56                # the prompt skips half the layers
    assert swift.memory["kv_gb"] == pytest.approx(0.625 * base.memory["kv_gb"])
    assert swift.throughput_tok_s > base.throughput_tok_s


def test_parse():
    assert parse("0.5:4") == SwiftKV(0.5, 4) and parse("0.25") == SwiftKV(0.25, 1)
    with pytest.raises(PerfModelError, match=r"--swiftkv must be SKIP_FRACTION\[:ACROSS\].*'x:2'"):
        parse("x:2")


# ---- SwiftKVStep: the transform inside the serving simulator's iterations ----------------------
from perfmodel.iteration import BatchShape  # noqa: E402
from perfmodel.serve_api import serve  # noqa: E402
from perfmodel.stepmodel import StepModel  # noqa: E402
from perfmodel.swiftkv import SwiftKVStep  # noqa: E402

STEP = StepModel.build(model=MODEL, system=SYSTEM, plan=PLAN, max_tokens=8192)
MIXED = BatchShape.prefill(1, 1800, cached=200) + BatchShape.decode(232, 2128)


def test_a_whole_prefill_is_the_static_transform():
    # prompt tokens only: the cut model plus the skipped layers' K/V projections, as `prefill` prices it
    shape = BatchShape.prefill(4, 2048)
    r = prefill(model=MODEL, system=SYSTEM, plan=PLAN, batch=4, isl=2048, swift=SwiftKV(0.5))
    assert SwiftKVStep(STEP, SwiftKV(0.5)).cold_time_s(shape) == pytest.approx(r["swiftkv_s"])


def test_decode_tokens_run_every_layer():
    decode = BatchShape.decode(128, 2000)
    assert SwiftKVStep(STEP, SwiftKV(0.5)).iteration_time_s(decode) == pytest.approx(STEP.iteration_time_s(decode))
    assert SwiftKVStep(STEP, SwiftKV(0.0)).iteration_time_s(MIXED) == pytest.approx(STEP.iteration_time_s(MIXED))


def test_acrosskv_shrinks_the_kv_per_token_and_grows_the_pool():
    s = SwiftKVStep(STEP, SwiftKV(0.5, 4))
    assert s.kv_bytes_per_token == pytest.approx(0.625 * STEP.kv_bytes_per_token)
    assert s.kv_capacity_tokens == int(STEP.kv_capacity_tokens / 0.625)


@settings(max_examples=15, derandomize=True, deadline=None)
@given(f=st.floats(0.0, 0.9), prefill_tokens=st.integers(1, 4096), decode=st.integers(0, 256))
def test_a_mixed_step_is_never_slower_than_the_model(f, prefill_tokens, decode):
    shape = BatchShape.prefill(1, prefill_tokens) + BatchShape.decode(decode, 2000)
    assert SwiftKVStep(STEP, SwiftKV(f)).iteration_time_s(shape) <= STEP.iteration_time_s(shape) * (1 + 1e-9)


def test_served_swiftkv_beats_the_model_and_rejects_mla():
    kw = dict(model="llama-3.1-8b", hardware="h100-sxm", workload="fixed:2000:256", offline=True, num_requests=64,
              engine="vllm", goodput_search=False)
    fast, plain = (serve(**kw, swiftkv=s).to_dict()["total_tok_s"] for s in (SwiftKV(0.5), None))
    assert fast > 1.1 * plain
    mla = StepModel.build(model=resolve_model("deepseek-v2-lite"), system=SYSTEM, plan=Plan(tp=1), max_tokens=4096)
    with pytest.raises(PerfModelError, match="uses MLA"):
        SwiftKVStep(mla, SwiftKV(0.5))
