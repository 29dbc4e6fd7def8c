"""`perfmodel reproduce "Speculative MoE"`: the paper's local activation rates (25% -> 62%) on the
step model's DeepEP dispatch, hand-checked, and the entry moves with the device's compute."""

import dataclasses

import pytest

from perfmodel.estimator import estimate
from perfmodel.moe import remote_share
from perfmodel.plan import Plan
from perfmodel.reproduce import Context, judge, reproduce
from perfmodel.reproduce._specmoe import (EP, HARDWARE, MODELS, PROMPT_TOKENS, PUBLISHED_COMM_SHARE, VANILLA_LAR,
                                          layer_ratio)


def test_lar_gain_cuts_the_remote_volume_by_hand():
    # non-local shares 1 - 0.25 = 0.75 and 1 - 0.62 = 0.38: the volume falls to 0.38 / 0.75 = 0.507 (-49%,
    # the summaries' 49%); Qwen3's 0.68: 0.32 / 0.75 = 0.427 (-57%)
    assert remote_share(0.62, EP) / remote_share(VANILLA_LAR, EP) == pytest.approx(0.38 / 0.75)
    assert remote_share(0.68, EP) / remote_share(VANILLA_LAR, EP) == pytest.approx(0.32 / 0.75)


def test_dispatch_bytes_follow_the_non_local_share():
    system = Context().system(HARDWARE)
    sent = {}
    for lar in (VANILLA_LAR, 0.62):
        r = estimate(model="deepseek-v2-lite", hardware=system, batch_size=1, isl=PROMPT_TOKENS, osl=2,
                     plan=Plan(tp=1, dp=EP, ep=EP, expert_locality=lar))
        sent[lar] = next(op.comm_bytes for op in r.prefill_ops if op.name == "moe_dispatch")
    assert sent[0.62] / sent[VANILLA_LAR] == pytest.approx(0.38 / 0.75)


def test_layer_ratio_is_bounded_by_the_communication_share():
    # only dispatch and combine shrink, and their fixed latency does not: 1 - share x cut <= ratio < 1
    ctx = Context()
    for model, (lar, _) in MODELS.items():
        ratio, base_ms, sem_ms, share = layer_ratio(ctx, model)
        cut = 1 - remote_share(lar, EP) / remote_share(VANILLA_LAR, EP)
        assert 1 - share * cut - 1e-9 <= ratio < 1
        assert sem_ms < base_ms


def test_entry_states_the_share_the_claim_needs():
    e = reproduce(["Speculative MoE"])[0]
    assert e.published == 0.582 and e.status == judge("ratio", 0.582, e.predicted)[0]
    assert e.predicted == pytest.approx(layer_ratio(Context(), "deepseek-v2-lite")[0])
    # 0.418 / 0.493 = 85% of the layer; 0.592 x 0.493 = 29% -> 0.71x
    assert "all-to-all is 85% of it" in e.note and "cut 29% (0.71x" in e.note
    assert 1 - PUBLISHED_COMM_SHARE * (1 - 0.38 / 0.75) == pytest.approx(0.708, abs=1e-3)
    assert e.setup["sources"]["local activation rates, server"].startswith("summaries of Sem-MoE")


def test_faster_experts_make_the_locality_gain_larger():
    # a 4x dense rate shrinks the expert GEMMs, so the all-to-all is a larger share and the cut deepens
    system = Context().system(HARDWARE)
    dev = system.device
    fast = dataclasses.replace(system, device=dev.model_copy(
        update={"peak_dense_tflops": {k: 4 * v for k, v in dev.peak_dense_tflops.items()}}))
    base = reproduce(["Speculative MoE"])[0].predicted
    moved = reproduce(["Speculative MoE"], systems={HARDWARE: fast})[0].predicted
    assert moved < base - 0.01
