"""Step-level checks: FLOPs per token, memory sharding, laws the model must obey."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._hyp import examples

from perfmodel import hardware
from perfmodel import specs
from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.stepmodel import StepModel

GEMM_KINDS = {"gemm"}


def _gemm_flops_per_token(model, plan, tokens=4096):
    sm = StepModel.build(model=model, system=hardware.resolve("h100-sxm"), plan=plan)
    # decode with tiny context so attention FLOPs are negligible; every GEMM sees `tokens` rows
    ops = sm.ops(BatchShape(decode_seqs=tokens, decode_context=tokens))
    return sum(op.flops * op.count for op in ops if op.kind == "gemm") / tokens


@pytest.mark.parametrize("name", ["llama-3.1-8b", "llama-2-7b", "qwen2-72b", "mixtral-8x7b", "qwen3-30b-a3b",
                                  "deepseek-v2-lite"])
def test_gemm_flops_per_token_close_to_twice_active_params(name):
    model = specs.load_model(name)
    tp = 8 if model.params_total > 40e9 else 1  # tp <= kv heads: no replicated K/V projections
    plan = Plan(tp=tp, ep=1)
    per_device = _gemm_flops_per_token(model, plan)
    # attention/dense GEMMs are split tp ways; the router and MLA down-projections are replicated
    total = per_device * tp
    expected = 2 * model.params_gemm_active
    assert total == pytest.approx(expected, rel=0.06)


def test_mla_decode_uses_absorbed_form():
    model = specs.load_model("deepseek-v2-lite")
    sm = StepModel.build(model=model, system=hardware.resolve("h100-sxm"), plan=Plan())
    names = {op.name: op for op in sm.ops(BatchShape.decode(8, 2048))}
    assert names["mla_absorb"].flops > 0
    assert names["kv_b_proj"].time_s == 0  # no per-context up-projection in decode
    kv_per_token_layer = (512 + 64) * 2
    assert names["attn_decode"].kv_bytes == pytest.approx(8 * 2048 * kv_per_token_layer)


def test_weights_per_device_shrink_with_tp(llama8b, h100):
    w = [StepModel.build(model=llama8b, system=h100, plan=Plan(tp=t)).memory.weights_gb for t in (1, 2, 4, 8)]
    assert w == sorted(w, reverse=True)
    assert w[0] == pytest.approx(llama8b.params_total * 2 / 1e9, rel=0.01)


def test_mla_kv_not_split_by_tp(h100):
    model = specs.load_model("deepseek-v2-lite")
    kv = [StepModel.build(model=model, system=h100, plan=Plan(tp=t)).memory.kv_bytes_per_token_device
          for t in (1, 2, 4)]
    assert kv[0] == kv[1] == kv[2] == pytest.approx(27 * 576 * 2)


def test_gqa_kv_split_by_tp_until_heads_replicate(llama8b, h100):
    kv = {t: StepModel.build(model=llama8b, system=h100, plan=Plan(tp=t)).memory.kv_bytes_per_token_device
          for t in (1, 2, 8)}
    assert kv[1] == 131072 and kv[2] == 65536 and kv[8] == 16384


def test_pipeline_cold_start_costs_more_than_steady_state(llama8b, h100):
    sm = StepModel.build(model=llama8b, system=h100, plan=Plan(pp=2))
    b = BatchShape.prefill(4, 1024)
    assert sm.cold_time_s(b) > sm.iteration_time_s(b)


def test_plan_rules_are_enforced(llama8b, h100):
    with pytest.raises(PerfModelError, match="must divide the number of attention heads"):
        StepModel.build(model=llama8b, system=h100, plan=Plan(tp=3))
    with pytest.raises(PerfModelError, match="dense"):
        StepModel.build(model=llama8b, system=h100, plan=Plan(ep=2))
    with pytest.raises(PerfModelError, match="devices"):
        StepModel.build(model=llama8b, system=h100, plan=Plan(tp=8, dp=2))


# full attention (GQA, MoE, MLA) and the per-layer kinds: sliding window + sinks (gpt-oss), Gated DeltaNet +
# gated attention (Qwen3-Next), Mamba-2 / attention / MLP-only layers (Nemotron-H), chunked attention +
# interleaved MoE (Llama-4 Maverick), MLA + DSA indexer (DeepSeek-V3.2)
MODELS = ["llama-3.1-8b", "mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v2-lite", "gpt-oss-20b", "qwen3-next-80b-a3b",
          "nemotron-h-8b", "llama-4-maverick", "deepseek-v3.2"]


@settings(max_examples=examples(40))
@given(name=st.sampled_from(MODELS), tp=st.sampled_from([1, 2, 4, 8]), batch=st.integers(1, 256),
       ctx=st.integers(1, 8192), new=st.integers(1, 4096))
def test_larger_batch_never_shortens_a_step(name, tp, batch, ctx, new):
    model = specs.load_model(name)
    sm = StepModel.build(model=model, system=hardware.resolve("h100-sxm"), plan=Plan(tp=tp))
    d1 = sm.iteration_time_s(BatchShape.decode(batch, ctx))
    d2 = sm.iteration_time_s(BatchShape.decode(batch + 1, ctx))
    assert d2 >= d1 * (1 - 1e-9)
    p1 = sm.iteration_time_s(BatchShape.prefill(1, new))
    p2 = sm.iteration_time_s(BatchShape.prefill(2, new))
    assert p2 >= p1 * (1 - 1e-9)


@settings(max_examples=examples(40))
@given(name=st.sampled_from(MODELS), tp=st.sampled_from([1, 2, 4]), batch=st.integers(1, 128),
       scale=st.floats(1.0, 4.0), which=st.sampled_from(["bf16", "fp8", "memory", "link"]))
def test_more_flops_or_bandwidth_is_never_slower(name, tp, batch, scale, which):
    model = specs.load_model(name)
    base = hardware.resolve("h100-sxm")
    dev = base.device
    if which in ("bf16", "fp8"):
        peaks = dict(dev.peak_dense_tflops)
        peaks[which] *= scale
        faster = dev.model_copy(update={"peak_dense_tflops": peaks})
    elif which == "memory":
        faster = dev.model_copy(update={"memory_bw_gb_s": dev.memory_bw_gb_s * scale})
    else:
        link = dev.scaleup_link.model_copy(update={"bw_per_direction_gb_s": dev.scaleup_link.bw_per_direction_gb_s * scale})
        faster = dev.model_copy(update={"scaleup_link": link})
    fast_sys = hardware.System(device=faster, node=base.node)
    for quant in ("bf16", "fp8"):
        plan = Plan(tp=tp, quant=quant)
        slow = StepModel.build(model=model, system=base, plan=plan)
        fast = StepModel.build(model=model, system=fast_sys, plan=plan)
        for b in (BatchShape.decode(batch, 1000), BatchShape.prefill(batch, 512)):
            assert fast.iteration_time_s(b) <= slow.iteration_time_s(b) * (1 + 1e-9)
