"""CacheBlend's blend step (perfmodel.cacheblend): the check layer's full-token work, the host cost
both iterations pay, the KV load it pipelines with one layer ahead, and the loading controller's
ratio, checked by hand on Mistral-7B."""

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from perfmodel.cacheblend import blend_ttft, controller_recompute_fraction, effective_recompute_fraction
from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.resolve import resolve_model, resolve_system
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.stepmodel import StepModel

SYSTEM = resolve_system("a100-sxm-80gb")
STEP = StepModel.build(model=resolve_model("mistral-7b"), system=SYSTEM, plan=Plan(tp=1, quant="fp16"),
                       max_tokens=4096)
IDEAL, VLLM = get_engine("ideal"), get_engine("vllm-0.5")
N, L = 4096, 32


def _layer_and_once(batch: BatchShape) -> tuple[float, float]:
    """(one layer's time, the once-per-step ops' time) of a step."""
    once = sum(o.time_s for o in STEP.ops(batch) if o.count == 1)
    return (STEP.cold_time_s(batch) - once) / L, once


def test_effective_fraction_by_hand():
    # layer 0 of 32 on every reused token, the other 31 on 15% of them
    assert effective_recompute_fraction(32) == pytest.approx((1 + 31 * 0.15) / 32)
    assert effective_recompute_fraction(32, recompute_fraction=1.0) == 1.0
    assert effective_recompute_fraction(32, check_layer=0) == pytest.approx(0.15)


def test_recompute_everything_is_the_full_prefill():
    b = blend_ttft(STEP, IDEAL, prompt_tokens=2048, recompute_fraction=1.0, check_layer=0)
    assert b.recompute_s == pytest.approx(b.full_prefill_s) and b.recomputed_tokens == 2048


def test_the_check_layers_work_by_hand():
    k = round(0.15 * N)                                   # 614 recomputed tokens
    full_layer, _ = _layer_and_once(BatchShape.prefill(1, N))
    sel_layer, sel_once = _layer_and_once(BatchShape.prefill(1, k, cached=N - k))
    b = {c: blend_ttft(STEP, IDEAL, prompt_tokens=N, check_layer=c) for c in (0, 1, 2)}
    assert b[1].recomputed_tokens == k
    # each layer moved before the check runs on every token instead of the selected ones
    assert b[2].recompute_s - b[1].recompute_s == pytest.approx(full_layer - sel_layer)
    assert b[1].recompute_s - b[0].recompute_s == pytest.approx(full_layer - sel_layer)
    # check layer 0: only its norm and Q/K/V projection (+ RoPE) see every token; Mistral-7B's QKV GEMM is
    # 4096 x 6144 of a layer's ~218M weights (11%), so it adds a few percent of a full layer
    extra = b[0].recompute_s - (L * sel_layer + sel_once)
    assert 0.05 * full_layer < extra < 0.2 * full_layer


def test_host_cost_is_paid_once_by_each_iteration():
    ideal, vllm = (blend_ttft(STEP, e, prompt_tokens=N) for e in (IDEAL, VLLM))
    assert vllm.host_s == pytest.approx((3.9 + 36.0 / 1000) / 1000)    # vllm-0.5: 3.9 ms + 36 us x 1 seq
    assert vllm.full_ttft_s - ideal.full_ttft_s == pytest.approx(vllm.host_s)
    assert vllm.blend_ttft_s - ideal.blend_ttft_s == pytest.approx(vllm.host_s)
    assert vllm.speedup < ideal.speedup  # a fixed cost weighs more on the short blend step


def test_a_slow_host_link_makes_the_kv_load_bind():
    link = SYSTEM.device.host_link
    slow_link = link.model_copy(update={"bw_per_direction_gb_s": link.bw_per_direction_gb_s / 20})
    slow = dataclasses.replace(SYSTEM, device=SYSTEM.device.model_copy(update={"host_link": slow_link}))
    step = StepModel.build(model=STEP.model, system=slow, plan=STEP.plan, max_tokens=N)
    fast, b = blend_ttft(STEP, IDEAL, prompt_tokens=N), blend_ttft(step, IDEAL, prompt_tokens=N)
    # every reused token's KV (128 KiB: 32 layers x 8 KV heads x 128 x K and V x 2 bytes) for layers 1..31
    assert fast.kv_load_s == pytest.approx(N * 131072 * 31 / 32 / (link.bw_per_direction_gb_s * 1e9 * link.efficiency))
    assert b.kv_load_s == pytest.approx(20 * fast.kv_load_s) and b.kv_load_s > b.recompute_s
    # fast link: each layer's fetch hides under the previous layer's compute, the blend is the recompute
    assert fast.pipeline_s == pytest.approx(fast.recompute_s)
    # slow link: layer i+1's fetch starts with layer i's compute, so the loop is the loads, then the last layer
    sel_layer, sel_once = _layer_and_once(BatchShape.prefill(1, b.recomputed_tokens, cached=N - b.recomputed_tokens))
    assert b.pipeline_s == pytest.approx(b.kv_load_s + sel_layer + sel_once)
    assert b.blend_ttft_s == pytest.approx(b.pipeline_s)


def test_a_shared_ssd_reads_the_whole_replicas_kv_and_each_gpu_its_own_link():
    ssd = blend_ttft(STEP, IDEAL, prompt_tokens=N, storage_read_gb_s=4.8)  # CacheBlend s7.1's NVMe SSD
    assert ssd.kv_load_s == pytest.approx(N * 131072 * 31 / 32 / 4.8e9)  # 81 ms
    tp2 = StepModel.build(model=STEP.model, system=SYSTEM, plan=Plan(tp=2, quant="fp16"), max_tokens=N)
    one, two = (blend_ttft(s, IDEAL, prompt_tokens=N) for s in (STEP, tp2))
    assert two.kv_load_s == pytest.approx(one.kv_load_s / 2)  # each GPU loads its half over its own link
    two_ssd = blend_ttft(tp2, IDEAL, prompt_tokens=N, storage_read_gb_s=4.8)
    assert two_ssd.kv_load_s == pytest.approx(ssd.kv_load_s)  # one SSD serves both


def test_loading_controller_by_hand():
    # CacheBlend s5.1: r such that r x Prefill = load delay, at least r* = 15%, at most everything
    assert controller_recompute_fraction(full_prefill_s=1.0, kv_load_s=0.1) == 0.15
    assert controller_recompute_fraction(full_prefill_s=1.0, kv_load_s=0.3) == pytest.approx(0.3)
    assert controller_recompute_fraction(full_prefill_s=1.0, kv_load_s=2.0) == 1.0
    with pytest.raises(PerfModelError, match="full_prefill_s > 0"):
        controller_recompute_fraction(full_prefill_s=0.0, kv_load_s=0.1)


@pytest.mark.parametrize("knob,lo_hi,slower_with", [
    ("recompute_fraction", (0.02, 1.0), "more"),   # recomputing more is never faster
    ("storage_read_gb_s", (0.1, 100.0), "less"),   # a faster store is never slower
])
@settings(max_examples=15, derandomize=True, deadline=None)
@given(u=st.floats(0.0, 1.0), v=st.floats(0.0, 1.0), n=st.integers(256, 4096))
def test_blend_ttft_is_monotone(knob, lo_hi, slower_with, u, v, n):
    lo, hi = (lo_hi[0] + w * (lo_hi[1] - lo_hi[0]) for w in sorted((u, v)))
    t_lo, t_hi = (blend_ttft(STEP, VLLM, prompt_tokens=n, **{knob: x}).blend_ttft_s for x in (lo, hi))
    fast, slow = (t_lo, t_hi) if slower_with == "more" else (t_hi, t_lo)
    assert fast <= slow * (1 + 1e-9)


W8 = StepModel.build(model=STEP.model, system=SYSTEM, plan=Plan(tp=1, quant="w8a16"), max_tokens=N)


def test_dequantize_then_gemm_by_hand():
    """vLLM 0.4's GPTQ / AWQ at prefill sizes: each forward dequantizes every layer's weights to FP16
    (read 1 byte, write 2 per weight at 8 bits), then runs FP16 GEMMs."""
    dev = SYSTEM.device
    # Mistral-7B's linears per layer: QKV 4096 x 6144, O 4096 x 4096, gate+up 4096 x 28672, down 14336 x 4096
    weights = 4096 * 6144 + 4096 * 4096 + 4096 * 28672 + 14336 * 4096   # 218.1M
    pass_s = weights * 3 / (dev.memory_bw_gb_s * 1e9 * dev.mem_bw_efficiency)  # ~0.33 ms on an A100
    overhead_s = 4 * dev.kernel_overhead_us * 1e-6                       # one kernel per linear
    plain, dq = (blend_ttft(W8, IDEAL, prompt_tokens=N, dequant_min_tokens=t) for t in (None, 25))
    per_layer = dq.dequant_s / L
    assert pass_s + overhead_s <= per_layer <= 1.02 * pass_s + overhead_s
    # the full prefill is the FP16 model's plus one pass per layer, the same pass the blend pays
    fp16 = blend_ttft(STEP, IDEAL, prompt_tokens=N)
    assert dq.full_prefill_s == pytest.approx(fp16.full_prefill_s + L * per_layer)
    assert dq.recompute_s == pytest.approx(fp16.recompute_s + L * per_layer)
    # a fixed cost in both steps weighs more on the short blend step; the fused path has no such pass
    assert plain.dequant_s == 0.0 and dq.speedup < plain.speedup


def test_dequantization_only_at_its_token_threshold_and_only_for_quantized_weights():
    k = round(0.15 * N)   # 614 recomputed tokens
    dq = blend_ttft(W8, IDEAL, prompt_tokens=N, dequant_min_tokens=25)
    only_full = blend_ttft(W8, IDEAL, prompt_tokens=N, dequant_min_tokens=k + 1)   # the blend stays fused
    plain = blend_ttft(W8, IDEAL, prompt_tokens=N)
    # only layer 0, which runs on every token, takes the full forward's FP16 path in the blend
    assert only_full.dequant_s == pytest.approx(dq.dequant_s / L)
    assert only_full.full_prefill_s == pytest.approx(dq.full_prefill_s)
    # the blend's layers after the check layer take the fused path, as without the option: only the
    # every-token work (layer 0, the check layer's Q/K/V) differs from it, by at most a full layer's change
    per_layer = dq.dequant_s / L
    full_change = abs(dq.full_prefill_s - plain.full_prefill_s) / L
    assert abs(only_full.recompute_s - plain.recompute_s) <= 2 * full_change
    assert dq.recompute_s - only_full.recompute_s > (L - 2) * 0.5 * per_layer
    # 16-bit weights: nothing to dequantize
    assert blend_ttft(STEP, IDEAL, prompt_tokens=N, dequant_min_tokens=25) == blend_ttft(STEP, IDEAL, prompt_tokens=N)


@pytest.mark.parametrize("kw,match", [({"recompute_fraction": 0.0}, "recompute_fraction must be in"),
                                      ({"dequant_min_tokens": 0}, "dequant_min_tokens must be >= 1"),
                                      ({"check_layer": 32}, "check_layer must be in"),
                                      ({"prompt_tokens": 0}, "prompt_tokens must be"),
                                      ({"storage_read_gb_s": 0.0}, "storage_read_gb_s must be > 0")])
def test_bad_input_names_the_rule(kw, match):
    with pytest.raises(PerfModelError, match=match):
        blend_ttft(STEP, IDEAL, **({"prompt_tokens": N} | kw))
