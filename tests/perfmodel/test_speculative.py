"""Speculative decoding (perfmodel.speculative, issue 12): MTP, EAGLE-3, n-gram."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfmodel import hardware, specs
from perfmodel import speculative as SP
from perfmodel.errors import PerfModelError
from perfmodel.estimator import estimate
from perfmodel.plan import Plan

H200 = hardware.resolve("hgx-h200")
DSV3 = specs.load_model("deepseek-v3")
LLAMA = specs.load_model("llama-3.1-8b")
LAW = settings(max_examples=30, deadline=None, derandomize=True)


def _est(model, plan, batch=16, isl=1024, osl=128, hw=H200):
    return estimate(model=model, hardware=hw, batch_size=batch, isl=isl, osl=osl, plan=plan)


def test_expected_tokens_per_round():
    assert SP.expected_tokens(()) == 1
    assert SP.expected_tokens((0.85,)) == pytest.approx(1.85)
    assert SP.expected_tokens((0.8, 0.5)) == pytest.approx(1 + 0.8 + 0.4)
    assert SP.expected_tokens((0.0, 1.0, 1.0)) == 1


def test_acceptance_zero_gives_no_gain_and_the_verification_overhead():
    base = _est(DSV3, Plan(tp=8, ep=8, quant="fp8"))
    spec = _est(DSV3, Plan(tp=8, ep=8, quant="fp8", spec_method="mtp", spec_tokens=2, spec_acceptance=(0.0, 0.0)))
    assert spec.tokens_per_step == 1
    assert spec.tpot_ms > base.tpot_ms
    names = {op.name for op in spec.decode_ops}
    assert {"mtp_eh_proj", "draft_lm_head"} <= names
    # overhead = drafting + the k extra query tokens in the verify step, nothing else
    verify_and_draft = sum(op.total_s for op in spec.decode_ops) * 1e3
    assert spec.tpot_ms == pytest.approx(verify_and_draft, rel=0.02)


def test_mtp_default_acceptance_speeds_up_decode_and_costs_memory():
    base = _est(DSV3, Plan(tp=8, ep=8, quant="fp8"))
    mtp = _est(DSV3, Plan(tp=8, ep=8, quant="fp8", spec_method="mtp"))
    assert mtp.tokens_per_step == pytest.approx(1.85)  # DeepSeek-V3 report: 85-90% second-token acceptance
    assert mtp.tpot_ms < base.tpot_ms
    assert mtp.ttft_ms == pytest.approx(base.ttft_ms)
    assert mtp.memory["weights_gb"] > base.memory["weights_gb"]
    assert mtp.memory["kv_gb"] == pytest.approx(base.memory["kv_gb"] * 62 / 61)


def test_ngram_has_no_device_draft_cost_and_needs_a_rate():
    with pytest.raises(PerfModelError, match="spec-acceptance"):
        _est(LLAMA, Plan(spec_method="ngram", spec_tokens=3))
    ng = _est(LLAMA, Plan(spec_method="ngram", spec_tokens=3, spec_acceptance=(0.5, 0.5, 0.5)))
    assert not any(op.name.startswith("draft") for op in ng.decode_ops)
    assert ng.memory["weights_gb"] == pytest.approx(_est(LLAMA, Plan()).memory["weights_gb"])


def test_plan_rejects_bad_acceptance():
    with pytest.raises(ValueError, match="spec_tokens"):
        Plan(spec_method="mtp", spec_tokens=2, spec_acceptance=(0.8,))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Plan(spec_method="mtp", spec_acceptance=(1.2,))
    with pytest.raises(ValueError, match="needs spec_method"):
        Plan(spec_acceptance=(0.5,))


@LAW
@given(method=st.sampled_from(["mtp", "eagle3", "ngram"]), k=st.integers(1, 4),
       a=st.floats(0, 1), batch=st.sampled_from([1, 8, 64]))
def test_speculative_bound_laws(method, k, a, batch):
    """TPOT x tokens per round >= plain decode step (verifying k + 1 tokens is never cheaper than
    1), and TPOT never above the verify round itself (>= 1 token per round)."""
    model = LLAMA
    plain = _est(model, Plan(), batch=batch, osl=64)
    spec = _est(model, Plan(spec_method=method, spec_tokens=k, spec_acceptance=(a,) * k), batch=batch, osl=64)
    round_ms = spec.tpot_ms * spec.tokens_per_step
    assert round_ms >= plain.tpot_ms * (1 - 1e-9)
    assert spec.tpot_ms <= round_ms * (1 + 1e-9)
    assert 1 <= spec.tokens_per_step <= k + 1
