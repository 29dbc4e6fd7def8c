"""FlexLLM co-serving: finetuning fills the slack and never pushes inference above its TPOT SLO."""

import pytest
from hypothesis import given, settings, strategies as st

from perfmodel.errors import PerfModelError
from perfmodel.finetune import coserve, finetune_shape, inference_load, peak_finetune_tok_s
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.resolve import resolve_model, resolve_system
from perfmodel.stepmodel import StepModel

STEP = StepModel.build(model=resolve_model("llama-3.1-8b"), system=resolve_system("h100-sxm"),
                       plan=Plan(tp=1, quant="bf16"), max_tokens=16384)


def test_finetune_shape_by_hand():
    s = finetune_shape(100, 1000)  # forward + backward of 100 tokens, each attending to ~500
    assert s.prefill_tokens == 200 and s.prefill_attn_pairs == 200 * 500 and s.prefill_seqs == 1


def test_inference_load_littles_law():
    s = inference_load(rate_req_s=20, input_tokens=300, output_tokens=300, tpot_s=0.05)
    assert s.decode_seqs == 300 and s.decode_context == 300 * 450 and s.prefill_tokens == 300


@settings(max_examples=15, derandomize=True, deadline=None)
@given(rate=st.floats(0, 20), slo_ms=st.floats(10, 100), seq_len=st.integers(128, 4096))  # KV fits
def test_finetuning_never_breaks_the_slo(rate, slo_ms, seq_len):
    slo = slo_ms / 1e3
    load = inference_load(rate_req_s=rate, input_tokens=300, output_tokens=300, tpot_s=slo)
    c = coserve(step=STEP, inference=load, tpot_slo_s=slo, seq_len=seq_len)
    if c.inference_only_s <= slo:
        assert c.iteration_s <= slo * (1 + 1e-9)
    else:
        assert c.finetune_tokens == 0


def test_more_inference_leaves_less_finetuning():
    got = [coserve(step=STEP, inference=BatchShape.decode(b, 1000) if b else BatchShape(), tpot_slo_s=0.05,
                   seq_len=1024).finetune_tok_s for b in (0, 64, 256)]
    assert got[0] > got[1] > got[2] > 0
    assert got[0] <= peak_finetune_tok_s(step=STEP, seq_len=1024) * 1.05


def test_activations_must_fit():
    with pytest.raises(PerfModelError, match="exceed the"):
        coserve(step=STEP, inference=BatchShape.decode(1000, 100_000), tpot_slo_s=0.05, seq_len=1024)
