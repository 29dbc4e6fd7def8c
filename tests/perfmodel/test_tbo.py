"""Two-batch overlap (perfmodel.tbo, issue 12): never slower than its stated overheads allow."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfmodel import hardware, specs
from perfmodel import tbo
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.step import scale_batch
from perfmodel.stepmodel import StepModel

H200 = hardware.resolve("hgx-h200")
DSV3 = specs.load_model("deepseek-v3")
LLAMA = specs.load_model("llama-3.1-8b")
LAW = settings(max_examples=30, deadline=None, derandomize=True)


def _sm(model, plan):
    return StepModel.build(model=model, system=H200, plan=plan)


@LAW
@given(batch=st.sampled_from([1, 16, 128, 1024]), phase=st.sampled_from(["prefill", "decode"]),
       layout=st.sampled_from([(1, 8, 8, 1), (8, 1, 8, 1), (4, 2, 8, 1), (2, 1, 1, 1), (1, 4, 4, 2), (4, 1, 4, 2)]))
def test_tbo_bounds(batch, phase, layout):
    """max(2C, 2N) per layer <= TBO stage <= the two halves back to back (smaller GEMMs, second weight
    read, the SMs DeepEP's normal kernels hold): TBO costs at most its stated overheads."""
    tp, dp, ep, pp = layout
    plan = Plan(tp=tp, dp=dp, ep=ep, pp=pp, quant="fp8", two_batch_overlap=True)
    sm = _sm(DSV3, plan)
    b = BatchShape.prefill(batch, 256) if phase == "prefill" else BatchShape.decode(batch, 2048)
    micro = scale_batch(b, 1 / pp)
    parts = tbo.stage_parts(DSV3, H200, sm.quant, plan, micro)
    stage = parts["overlapped_s"] + parts["fill_s"] + parts["head_s"]
    assert parts["overlapped_s"] + parts["head_s"] <= stage <= parts["sequential_s"] * (1 + 1e-9)
    assert sm.iteration_time_s(b) == pytest.approx(stage * pp)


def test_tbo_hides_communication_in_large_ep_prefill():
    plan = Plan(tp=1, dp=8, ep=8, quant="fp8")
    b = BatchShape.prefill(8, 4096)
    plain = _sm(DSV3, plan).cold_time_s(b)
    assert _sm(DSV3, plan.model_copy(update={"two_batch_overlap": True})).cold_time_s(b) < plain


def test_tbo_without_communication_is_never_faster():
    """One device: nothing to hide, only the halves' smaller GEMMs and second weight read."""
    for b in (BatchShape.decode(64, 1024), BatchShape.prefill(4, 1024)):
        plain = _sm(LLAMA, Plan()).iteration_time_s(b)
        assert _sm(LLAMA, Plan(two_batch_overlap=True)).iteration_time_s(b) >= plain


def test_tbo_excludes_nano_batches():
    with pytest.raises(ValueError, match="two_batch_overlap"):
        Plan(two_batch_overlap=True, nano_batches=2)
