"""StepTimer: the memoised affine-in-context step times match the step model, including plans with
host memory (offload, sparse KV) whose step time is not affine in the context."""

from __future__ import annotations

import pytest

from perfmodel import hardware
from perfmodel import specs
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.serving.timing import StepTimer
from perfmodel.stepmodel import StepModel

MODEL, SYSTEM = specs.load_model("llama-3.1-8b"), hardware.resolve("h100-sxm")
IDEAL = get_engine("ideal")   # no host overhead: the timer's time is the device time
assert IDEAL.paged_attention_overhead == 0 and IDEAL.cpu_base_ms == 0


@pytest.mark.parametrize("placement", [dict(), dict(sparse_kv="shadowkv"), dict(sparse_kv="topk"),
                                       dict(kv_offload=0.5), dict(weights_offload=0.3, kv_offload=0.2)])
def test_steps_match_the_step_model(placement):
    sm = StepModel.build(model=MODEL, system=SYSTEM, plan=Plan(**placement))
    timer = StepTimer(sm, IDEAL)
    assert timer.local == bool(placement)
    for n, ctx in ((4, 1_000), (16, 30_000), (8, 100_000), (2, 2_500)):
        for pre in (0, 2048):
            shape = BatchShape(prefill_tokens=pre, prefill_attn_pairs=pre * (pre + 1) / 2, prefill_seqs=int(pre > 0),
                               decode_seqs=n, decode_context=n * ctx)
            assert timer.shape(shape) == pytest.approx(sm.iteration_time_s(shape), rel=0.02), (n, ctx, pre)


@pytest.mark.parametrize("placement", [dict(sparse_kv="shadowkv"), dict(kv_offload=0.5)])
def test_decode_runs_match_the_sum_of_steps(placement):
    sm = StepModel.build(model=MODEL, system=SYSTEM, plan=Plan(**placement))
    timer = StepTimer(sm, IDEAL)
    n, ctx0, k = 8, 8 * 1_500, 300            # contexts 1,500 -> 1,800 per sequence: across ShadowKV's budget
    exact = sum(sm.iteration_time_s(BatchShape.decode(n, ctx0 / n + j)) for j in range(k))
    assert timer.decode_run(n, ctx0, k) == pytest.approx(exact, rel=0.02)


def test_hidden_host_time_binds_only_past_the_device_step():
    """EngineProfile.cpu_hidden_per_seq_us (TRT-LLM's overlap scheduler): a step takes
    max(device, hidden host x sequences); zero leaves every step as it was, a small batch hides
    it, a large decode batch of a small model is host-bound, and decode runs agree with steps."""
    sm = StepModel.build(model=MODEL, system=SYSTEM, plan=Plan())
    plain = StepTimer(sm, IDEAL)
    hidden = StepTimer(sm, IDEAL.model_copy(update={"cpu_hidden_per_seq_us": 40.0}))
    zero = StepTimer(sm, IDEAL.model_copy(update={"cpu_hidden_per_seq_us": 0.0}))
    small, large = BatchShape.decode(4, 1_000), BatchShape.decode(1_024, 200)
    assert zero.shape(large) == plain.shape(large)
    assert hidden.shape(small) == plain.shape(small)                  # 0.16 ms of host behind a longer step
    assert plain.shape(large) < 1_024 * 40e-6                          # the device step is shorter than the host's
    assert hidden.shape(large) == pytest.approx(1_024 * 40e-6)
    for n, ctx in ((4, 1_000), (1_024, 200), (256, 3_000)):
        shape = BatchShape.decode(n, ctx)
        assert hidden.shape(shape) >= plain.shape(shape)
        steps = sum(hidden.shape(BatchShape.decode(n, ctx + j)) for j in range(50))
        assert hidden.decode_run(n, n * ctx, 50) == pytest.approx(steps, rel=0.02)
