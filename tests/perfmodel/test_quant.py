"""Precisions: bytes per element with their scale factors, where each scheme runs natively, and
per-component schemes reaching memory and step time."""

import pytest

from perfmodel import hardware
from perfmodel import ops as O
from perfmodel.errors import PerfModelError
from perfmodel.estimator import estimate
from perfmodel.memory import weight_bytes_per_device
from perfmodel.plan import Plan
from perfmodel.quant import device_notes, get_quant


@pytest.fixture(scope="module")
def b200():
    return hardware.resolve("b200")


def test_fp4_bits_include_their_scales():
    # NVFP4: 16 E2M1 values (16 x 4 bits) share one E4M3 scale (8 bits) -> 72 bits / 16 = 4.5
    assert get_quant("nvfp4").weight_bits == (16 * 4 + 8) / 16 == 4.5
    # MXFP4: 32 E2M1 values share one E8M0 scale -> (32 x 4 + 8) / 32 = 4.25
    assert get_quant("mxfp4").weight_bits == (32 * 4 + 8) / 32 == 4.25
    # FP8 128x128 block: one FP32 scale per 16384 weights; activations one FP32 per 128
    fb = get_quant("fp8-block")
    assert fb.weight_bits == pytest.approx(8 + 32 / 16384)
    assert fb.act_bits == pytest.approx(8.25)
    # AWQ int4, group 128: an FP16 scale and a 4-bit zero per 128 weights -> 4 + 20/128
    assert get_quant("w4a16-g128").weight_bits == pytest.approx(4 + 20 / 128)
    assert get_quant("bf16").with_kv("fp4").kv_bits == 4.5


def test_fp4_weight_bytes_of_a_gemm_hand_checked(b200):
    # 4096 x 4096 NVFP4 weights: 16,777,216 x 4.5 / 8 = 9,437,184 bytes
    op = O.gemm("g", 1, 4096, 4096, b200.device, get_quant("nvfp4"))
    assert op.weight_bytes == 9_437_184


def test_nvfp4_faster_than_fp8_on_b200_compute_bound(b200):
    m = n = k = 8192
    fp8 = O.gemm("g", m, n, k, b200.device, get_quant("fp8"))
    fp4 = O.gemm("g", m, n, k, b200.device, get_quant("nvfp4"))
    assert fp4.bound == "compute"
    util = O.gemm_utilization(m, n, k, b200.device)
    # B200 catalog: FP4 dense 9000 TFLOPS at measured fraction 0.51
    assert fp4.t_compute == pytest.approx(2 * m * n * k / (9000e12 * 0.51 * util), rel=1e-9)
    assert fp4.time_s < fp8.time_s
    assert device_notes(get_quant("nvfp4"), b200.device) == []


def test_nvfp4_on_h100_is_weight_only_and_not_faster_than_fp8(h100):
    m = n = k = 8192
    fp8 = O.gemm("g", m, n, k, h100.device, get_quant("fp8"))
    fp4 = O.gemm("g", m, n, k, h100.device, get_quant("nvfp4"))
    bf16 = O.gemm("g", m, n, k, h100.device, get_quant("bf16"))
    assert fp4.time_s > fp8.time_s
    assert fp4.t_compute > bf16.t_compute  # BF16 peak plus dequantization on CUDA cores
    assert fp4.act_bytes == bf16.act_bytes  # activations stay BF16
    # memory-bound decode still gains from the 4.5-bit weights
    dec4 = O.gemm("g", 1, n, k, h100.device, get_quant("nvfp4"))
    dec8 = O.gemm("g", 1, n, k, h100.device, get_quant("fp8"))
    assert dec4.time_s < dec8.time_s
    (note,) = device_notes(get_quant("nvfp4"), h100.device)
    assert "weight-only" in note and "h100-sxm" in note


def test_mxfp4_native_on_mi355x_weight_only_on_mi300x():
    q = get_quant("mxfp4")
    assert device_notes(q, hardware.resolve("mi355x").device) == []
    assert device_notes(q, hardware.resolve("mi300x").device)


def test_per_component_scheme_reaches_memory_and_ops(b200):
    gpt = hardware.resolve("b200")
    from perfmodel import specs

    model = specs.load_model("mixtral-8x7b")
    plan = Plan(tp=1)
    bf16 = weight_bytes_per_device(model, plan, get_quant("bf16"))
    mixed = weight_bytes_per_device(model, plan, get_quant("bf16+experts=mxfp4"))
    e = model.moe
    expert_elems = model.num_moe_layers * e.num_experts * 3 * model.hidden_size * e.expert_intermediate_size
    assert bf16 - mixed == pytest.approx(expert_elems * (2 - 4.25 / 8), rel=1e-9)
    r = estimate(model=model, hardware=gpt, batch_size=1, isl=128, osl=8, quant="bf16+experts=mxfp4")
    ops = {o.name: o for o in r.decode_ops}
    assert ops["qkv_proj"].weight_bytes == pytest.approx(
        model.hidden_size * (model.num_heads + 2 * model.num_kv_heads) * model.head_dim * 2)  # BF16, per layer
    assert r.notes == []


def test_estimate_says_when_fp4_runs_weight_only(h100):
    r = estimate(model="llama-3.1-8b", hardware="h100-sxm", batch_size=1, isl=128, osl=8, quant="nvfp4")
    assert any("weight-only" in n for n in r.notes)
    assert r.to_dict()["notes"] == r.notes


@pytest.mark.parametrize("qid,fragment", [
    ("nvfp5", "'nvfp5' is not known"),
    ("bf16+router=fp8", "component 'router'"),
    ("bf16+experts", "must be <component>=<scheme>"),
    ("w4a16-g3", "group size must be in 8..8192, got 3"),
    ("bf16+kv=fp2", "'fp2'"),
])
def test_bad_quant_ids_are_one_line_errors(qid, fragment):
    with pytest.raises(PerfModelError, match=fragment) as info:
        get_quant(qid)
    assert "\n" not in str(info.value)
