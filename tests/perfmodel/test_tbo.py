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
    """EP32 over four nodes (the DeepSeek / SGLang prefill setup): the all-to-all crosses the NICs
    and hiding it outweighs the SMs DeepEP holds. Inside one NVLink node (EP8) the all-to-all is
    a small share of the step and the overlap barely pays for those SMs."""
    plan = Plan(tp=1, dp=32, ep=32, quant="fp8-block")
    b = BatchShape.prefill(4, 4096)
    four_nodes = hardware.resolve("hgx-h200x4")
    sm = lambda p: StepModel.build(model=DSV3, system=four_nodes, plan=p)  # noqa: E731
    plain = sm(plan).cold_time_s(b)
    assert sm(plan.model_copy(update={"two_batch_overlap": True})).cold_time_s(b) < plain / 1.2
    one_node = Plan(tp=1, dp=8, ep=8, quant="fp8")
    assert _sm(DSV3, one_node.model_copy(update={"two_batch_overlap": True})).cold_time_s(b) == \
        pytest.approx(_sm(DSV3, one_node).cold_time_s(b), rel=0.05)


def test_tbo_without_communication_is_never_faster():
    """One device: nothing to hide, only the halves' smaller GEMMs and second weight read."""
    for b in (BatchShape.decode(64, 1024), BatchShape.prefill(4, 1024)):
        plain = _sm(LLAMA, Plan()).iteration_time_s(b)
        assert _sm(LLAMA, Plan(two_batch_overlap=True)).iteration_time_s(b) >= plain


def test_tbo_excludes_nano_batches():
    with pytest.raises(ValueError, match="two_batch_overlap"):
        Plan(two_batch_overlap=True, nano_batches=2)


DUR = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)


@LAW
@given(att=DUR, d=DUR, e=DUR, cb=DUR, sh=DUR)
def test_schedule_period_bounds(att, d, e, cb, sh):
    """The two-stream list schedule (SGLang's operation order) keeps each stream's own work as a
    floor, max(2C, 2N), and the two halves back to back, 2 (C + N), as a ceiling, per layer."""
    p = {"att": att, "d": d, "e": e, "cb": cb, "sh": sh}
    c, n = att + e + sh, d + cb
    period, fill = tbo.overlap_period_s(p)
    assert max(2 * c, 2 * n) * (1 - 1e-9) <= period <= 2 * (c + n) * (1 + 1e-9) + 1e-12
    assert fill >= 0
    for layers in (1, 3, 8):
        assert max(2 * c, 2 * n) * layers * (1 - 1e-9) <= tbo.schedule_s(p, layers) <= 2 * (c + n) * layers * (1 + 1e-9) + 1e-12


def test_schedule_pairs_slots_not_totals():
    """Equal totals, unequal slots: compute and communication each 2 x 10 per layer, but the
    combine (8) is longer than the experts (2) it hides behind, so the period exceeds max(2C, 2N)."""
    balanced = {"att": 5.0, "d": 5.0, "e": 5.0, "cb": 5.0, "sh": 0.0}
    skewed = {"att": 8.0, "d": 2.0, "e": 2.0, "cb": 8.0, "sh": 0.0}
    assert tbo.overlap_period_s(balanced)[0] == pytest.approx(20.0)
    assert tbo.overlap_period_s(skewed)[0] > 20.0 + 1.0
