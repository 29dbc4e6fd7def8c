"""Offload: zero fractions reproduce the on-device model; predictions stay under the host bounds;
MoE-Lens / MoE-Lightning and ShadowKV behave as published."""

import dataclasses
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests._hyp import examples

from perfmodel import hardware
from perfmodel import specs
from perfmodel import bounds as B
from perfmodel import offload as OF
from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.quant import get_quant
from perfmodel.step import iteration_time
from perfmodel.stepmodel import StepModel

A40_YAML = str(Path(__file__).parents[2] / "perfmodel" / "reproduce" / "setups" / "moe_lens_a40.yaml")


@settings(max_examples=examples(40))
@given(name=st.sampled_from(["llama-3.1-8b", "mixtral-8x7b", "deepseek-v2-lite"]), tp=st.sampled_from([1, 2, 4]),
       pp=st.sampled_from([1, 2]), decode=st.integers(0, 1024), ctx=st.integers(1, 8192), prefill=st.integers(0, 4096))
def test_zero_fractions_give_the_on_device_prediction(name, tp, pp, decode, ctx, prefill):
    model, system = specs.load_model(name), hardware.resolve("dgx-h100")
    plan = Plan(tp=tp, pp=pp, weights_offload=0.0, kv_offload=0.0, activations_offload=0.0)
    sm = StepModel.build(model=model, system=system, plan=plan)
    b = BatchShape.decode(decode, ctx) + (BatchShape.prefill(1, prefill) if prefill else BatchShape())
    assume(b.tokens > 0)
    on_device = iteration_time(model, system, sm.quant, plan, b)
    assert OF.iteration_time(sm, b) == on_device
    assert OF.iteration_time(sm, b, cold=True) == iteration_time(model, system, sm.quant, plan, b, cold=True)
    assert sm.iteration_time_s(b) == on_device
    assert sm.kv_capacity_tokens == int(sm.memory.kv_capacity_tokens)


def test_zero_fractions_give_the_same_bounds_and_prediction():
    kw = dict(model="llama-2-70b", system="dgx-a100", isl=1024, osl=512)
    a = B.compute_bounds(plan=Plan(tp=8), **kw)
    b = B.compute_bounds(plan=Plan(tp=8, kv_offload=0.0, weights_offload=0.0), **kw)
    assert a.to_dict()["bounds"] == b.to_dict()["bounds"]
    assert B.predict(plan=Plan(tp=8), **kw).tok_s_per_device == B.predict(plan=Plan(tp=8, kv_offload=0.0), **kw).tok_s_per_device


def test_offload_moves_capacity_and_time():
    model, system = specs.load_model("llama-3.1-70b"), hardware.resolve("dgx-h100")
    base = StepModel.build(model=model, system=system, plan=Plan(tp=4))
    kv = StepModel.build(model=model, system=system, plan=Plan(tp=4, kv_offload=0.5))
    assert kv.kv_capacity_tokens > 1.9 * base.kv_capacity_tokens
    w = StepModel.build(model=model, system=system, plan=Plan(tp=4, weights_offload=0.5))
    assert w.kv_capacity_tokens > base.kv_capacity_tokens
    b = BatchShape.decode(64, 2048)
    # streaming half the weights over PCIe each step is slower than reading them from HBM
    assert w.iteration_time_s(b) > 5 * base.iteration_time_s(b)
    cpu = StepModel.build(model=model, system=system, plan=Plan(tp=4, kv_offload=0.5, attention_on_cpu=True))
    parts = OF.step_parts(cpu, b)
    assert parts["cpu"] > 0 and set(parts) == {"gpu", "h2d", "d2h", "cpu", "dram"}


def test_offload_needs_a_host_cpu():
    system = dataclasses.replace(hardware.resolve("dgx-h100"), host_cpu=None)
    with pytest.raises(PerfModelError, match="needs a host CPU"):
        B.compute_bounds(model="llama-3.1-8b", system=system, plan=Plan(kv_offload=0.5), isl=512, osl=64)


def test_attention_on_cpu_needs_host_kv():
    with pytest.raises(Exception, match="attention_on_cpu needs kv_offload"):
        Plan(attention_on_cpu=True)


@st.composite
def offloaded(draw):
    name = draw(st.sampled_from(["llama-3.1-8b", "llama-2-70b", "mixtral-8x7b", "qwen3-30b-a3b"]))
    tp = draw(st.sampled_from([1, 2, 4, 8]))
    sparse = draw(st.sampled_from([None, None, None, "shadowkv", "topk", "a2ats"]))
    kf = 0.0 if sparse else draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]))
    isl = draw(st.integers(16, 4096)) if not sparse else draw(st.sampled_from([512, 4096, 32_000, 100_000]))
    return name, dict(tp=tp, weights_offload=draw(st.sampled_from([0.0, 0.1, 0.5, 0.9])), kv_offload=kf,
                      activations_offload=draw(st.sampled_from([0.0, 0.5])), sparse_kv=sparse,
                      attention_on_cpu=kf > 0 and draw(st.booleans()), nano_batches=draw(st.integers(1, 3))), \
        isl, draw(st.integers(1, 1024)), draw(st.floats(0.05, 1.0))


@settings(max_examples=examples(60))
@given(offloaded())
def test_offloaded_predictions_never_exceed_their_bound(case):
    name, kw, isl, osl, load = case
    try:
        plan = Plan(**kw)
        b = B.compute_bounds(model=name, system="dgx-h100", plan=plan, isl=isl, osl=osl)
        assume(b.max_concurrency * load >= 1)
        pred = B.predict(model=name, system="dgx-h100", plan=plan, isl=isl, osl=osl,
                         concurrency=b.max_concurrency * load, bounds=b)
    except PerfModelError:
        assume(False)
        return
    B.assert_within(b, pred.tok_s_per_device, tokens="total", what="offloaded prediction")


# ---- MoE-Lens / MoE-Lightning ------------------------------------------------------------
@pytest.mark.parametrize("tflops,published", [(150, 19.2e3), (181, 23.2e3), (312, 40.0e3)])
def test_moe_lens_table2_saturation_tokens(tflops, published):
    """MoE-Lens Table 2 (A40, L40, A100; Mixtral 8x7B): n* = (C_GPU / B)(N_e / N_k), B = 31.25 GB/s."""
    model = specs.load_model("mixtral-8x7b")
    s = OF.HybridSetup(name="t2", model=model, gpu_flops=tflops * 1e12, gpu_bw=1e12, gpu_memory=24e9,
                       b_io=31.25e9, cpu_bw=150e9, kv_host=70e9)
    assert OF.moe_lens_stage1(s, 98, 256)["n_star_tokens"] == pytest.approx(published, rel=0.02)


@pytest.fixture(scope="module")
def a40():
    return hardware.resolve(A40_YAML)


@pytest.mark.parametrize("kv_gb", [70, 210])
def test_moe_lens_beats_moe_lightning_by_several_x(a40, kv_gb):
    """MoE-Lens: 4.6x on average over MoE-Lightning (up to 25.5x); Lightning's GPU is 16.5% busy."""
    model = specs.load_model("mixtral-8x7b")
    s = OF.HybridSetup.from_devices("a40", model, a40.device, a40.host_cpu, gpu_memory_gb=24, kv_host_gb=kv_gb,
                                    b_io_gb_s=19.5)
    ratios, utils = [], []
    for g in (64, 128, 256):
        lens, light = OF.moe_lens_stage1(s, 98, g), OF.moe_lightning(s, 98, g)
        ratios.append(lens["output_tok_s"] / light["output_tok_s"])
        utils.append(light["gpu_utilization_decode"])
        assert light["decode_bound"] == "cpu->gpu link"
    assert all(r > 1.5 for r in ratios)
    assert 2 < sum(ratios) / len(ratios) < 10           # same order as 4.6x
    assert all(0.03 < u < 0.4 for u in utils)           # same order as 16.5%


@settings(max_examples=examples(30), derandomize=True)
@given(kv_gb=st.sampled_from([70, 210]), p=st.sampled_from([98, 512, 926]), g=st.sampled_from([32, 64, 128, 256]),
       used=st.floats(0.2, 0.9), more=st.floats(1.0, 2.0))
def test_moe_lightning_never_slower_with_more_cpu_memory(a40, kv_gb, p, g, used, more):
    """Its policy picks the best N among the sequences that fit: more memory for KV never lowers throughput."""
    model = specs.load_model("mixtral-8x7b")
    s = OF.HybridSetup.from_devices("a40", model, a40.device, a40.host_cpu, gpu_memory_gb=24, kv_host_gb=kv_gb,
                                    b_io_gb_s=19.5)
    small = OF.moe_lightning(s, p, g, cpu_memory_used=used)["output_tok_s"]
    large = OF.moe_lightning(s, p, g, cpu_memory_used=min(1.0, used * more))["output_tok_s"]
    assert large >= small * (1 - 1e-9)


def test_moe_lightning_plan_share_of_cpu_memory_counts_its_weights(a40):
    """Hand-checked: MoE-Lens Table 1's 35.0% of 265 GB on (926, 128), counted as MoE-Lightning's solver counts
    it (optimizer.py solve_lp). Mixtral-8x7B: 93.406 GB of bf16 weights, 24 GB pinned beside two 2.919 GB
    layers: (24 - 5.838) / 93.406 = 0.1944 pinned, 75.244 GB streamed + 2 x 2.351 GB staging = 79.946 GB; the
    92.75 GB share leaves 12.804 GB; a request holds 1054 x 131,072 B of KV + 926 x 4096 x 2 B of hidden
    states = 145.74 MB: 87.85 requests."""
    model = specs.load_model("mixtral-8x7b")
    s = OF.HybridSetup.from_devices("a40", model, a40.device, a40.host_cpu, gpu_memory_gb=24, kv_host_gb=70,
                                    b_io_gb_s=19.5)
    assert s.kv_per_token == 131_072 and s.weights == pytest.approx(93.406e9, rel=1e-4)
    n = OF.lightning_max_requests(s, 926, 128, cpu_memory_used=0.35, cpu_memory_gb=265)
    assert n == pytest.approx(87.85, rel=2e-3)
    # link-bound decode: its policy runs every request that fits
    assert OF.moe_lightning(s, 926, 128, cpu_memory_used=0.35, cpu_memory_gb=265)["n_seqs"] == pytest.approx(n)
    # the KV budget given to MoE-Lens does not enter the baseline's plan
    s210 = dataclasses.replace(s, kv_host=210e9)
    assert OF.lightning_max_requests(s210, 926, 128, cpu_memory_used=0.35, cpu_memory_gb=265) == pytest.approx(n)
    with pytest.raises(PerfModelError, match="cpu_memory_used=0.3 of cpu_memory_gb=265 leaves .* 79.9 GB"):
        OF.lightning_max_requests(s, 926, 128, cpu_memory_used=0.3, cpu_memory_gb=265)


@settings(max_examples=examples(20), derandomize=True)
@given(p=st.sampled_from([98, 512, 926]), g=st.sampled_from([32, 64, 128, 256]), used=st.floats(0.4, 0.9),
       more=st.floats(1.0, 1.5))
def test_moe_lightning_never_slower_with_a_larger_plan_share_of_cpu_memory(a40, p, g, used, more):
    model = specs.load_model("mixtral-8x7b")
    s = OF.HybridSetup.from_devices("a40", model, a40.device, a40.host_cpu, gpu_memory_gb=24, kv_host_gb=70,
                                    b_io_gb_s=19.5)
    small = OF.moe_lightning(s, p, g, cpu_memory_used=used, cpu_memory_gb=265)["output_tok_s"]
    large = OF.moe_lightning(s, p, g, cpu_memory_used=min(1.0, used * more), cpu_memory_gb=265)["output_tok_s"]
    assert large >= small * (1 - 1e-9)


def test_moe_lens_bound_matches_the_plan_bound(a40):
    """The tool's host-link bound for a CPU-attention plan is MoE-Lens's stage-1 bound."""
    model = specs.load_model("mixtral-8x7b")
    plan = Plan(quant="fp16", weights_offload=0.85, kv_offload=1.0, attention_on_cpu=True, memory_utilization=0.5)
    b = B.compute_bounds(model=model, system=a40, plan=plan, isl=98, osl=256)
    assert b.binding in ("host_link", "cpu_memory_capacity")
    pred = B.predict(model=model, system=a40, plan=plan, isl=98, osl=256, bounds=b)
    assert 0.9 < pred.tok_s_per_device / b.limit_tok_s_per_device <= 1.0


# ---- ShadowKV / top-K ------------------------------------------------------------------------
def test_shadowkv_and_topk_at_long_context():
    model, system, q = specs.load_model("llama-3.1-8b"), hardware.resolve("a100-sxm-80gb"), get_quant("bf16")
    full = OF.full_attention_decode(model, system, q, batch=8, context=128_000)
    sk = OF.shadowkv_decode(model, system, q, batch=8, context=128_000)
    tk = OF.topk_retrieval_decode(model, system, q, batch=8, context=128_000)
    # ShadowKV keeps ~1/6 of the KV on the GPU (paper: up to 6x larger batch)
    assert 4 < full.gpu_kv_bytes_per_token / sk.gpu_kv_bytes_per_token < 8
    assert sk.step_s < full.step_s and tk.step_s < full.step_s
    assert tk.gpu_kv_bytes_per_token < sk.gpu_kv_bytes_per_token
    # without a cache of recently used tokens, fetching top-K KV over PCIe loses to HBM
    cold = OF.topk_retrieval_decode(model, system, q, batch=8, context=128_000, hit_rate=0.0)
    assert cold.step_s > full.step_s and cold.parts["host_link"] > cold.parts["gpu"]
    assert set(sk.to_dict()) >= {"step_ms", "gpu_ms", "host_link_ms"}
    # at a short context the sparse budget covers everything and buys nothing
    short = OF.shadowkv_decode(model, system, q, batch=8, context=1024)
    assert short.step_s >= OF.full_attention_decode(model, system, q, batch=8, context=1024).step_s * 0.5


def test_sparse_kv_as_a_plan_option():
    """--sparse-kv: the device keeps the method's share of the KV (more sequences fit), decode
    attention at long context gets cheaper, the unselected values cross the host link."""
    model, system = specs.load_model("llama-3.1-8b"), hardware.resolve("h100-sxm")
    q = get_quant("bf16")
    dense = StepModel.build(model=model, system=system, plan=Plan())
    batch = BatchShape.decode(4, 120_000)
    for name, fn in (("shadowkv", OF.shadowkv_decode), ("topk", OF.topk_retrieval_decode)):
        sm = StepModel.build(model=model, system=system, plan=Plan(sparse_kv=name))
        alone = fn(model, system, q, batch=4, context=120_000)
        assert OF.kv_bytes_per_token(sm) == pytest.approx((alone.gpu_kv_bytes_per_token, alone.host_kv_bytes_per_token))
        assert sm.kv_capacity_tokens > 4 * dense.kv_capacity_tokens   # (host memory binds before the device)
        parts = OF.step_parts(sm, batch)
        # the sparse attention replaces the dense one; the link carries the fetched tokens
        assert parts["gpu"] < dense.iteration_time_s(batch)
        assert parts["gpu"] > alone.parts["gpu"]
        assert parts["h2d"] == pytest.approx(alone.parts["host_link"], rel=1e-9)
        assert sm.iteration_time_s(batch) == pytest.approx(max(parts.values()))
    # prefill stays dense: same prefill time with or without
    pre = BatchShape.prefill(1, 8192)
    assert StepModel.build(model=model, system=system, plan=Plan(sparse_kv="shadowkv")).cold_time_s(pre) \
        == pytest.approx(dense.cold_time_s(pre), rel=0.05)


def test_sparse_kv_rules():
    with pytest.raises(Exception, match="sparse_kv=shadowkv places the KV cache itself"):
        Plan(sparse_kv="shadowkv", kv_offload=0.5)
    with pytest.raises(PerfModelError, match="MLA"):
        StepModel.build(model=specs.load_model("deepseek-v2-lite"), system=hardware.resolve("h100-sxm"),
                        plan=Plan(sparse_kv="topk"))


def test_hierarchical_roofline():
    # decode attention (~1 FLOP/byte) on an A100 behind PCIe: below P1, so compute it on the CPU
    tp = OF.turning_points(gpu_peak=290e12, gpu_bw=1.77e12, cpu_peak=5e12, cpu_bw=150e9, link_bw=25e9,
                           intensity_gpu=1.0, intensity_cpu=1.0)
    assert tp["P1"] > 1.0 and tp["P2"] > tp["P1"]
    assert OF.attainable_performance(peak=290e12, bw_local=1.77e12, intensity_local=1.0, bw_cross=25e9,
                                     intensity_cross=1.0) == 25e9
