"""Hand-computed roofline cases for the operator cost functions."""

import math

import numpy as np
import pytest

from perfmodel import ops as O
from perfmodel.quant import get_quant

BF16 = get_quant("bf16")


def test_large_gemm_is_compute_bound_at_measured_efficiency(h100):
    dev = h100.device
    m, n, k = 8192, 8192, 8192  # 64 x 32 tiles of 128x256 = 2048 tiles = 15.5 waves on 132 SMs
    op = O.gemm("g", m, n, k, dev, BF16)
    flops = 2 * m * n * k
    assert op.flops == flops
    util = O.gemm_utilization(m, n, k, dev)
    expected_tc = flops / (989.4e12 * 0.87 * util)
    assert op.t_compute == pytest.approx(expected_tc, rel=1e-9)
    assert 0.9 < util <= 1.0
    assert op.bound == "compute"
    soft = (op.t_compute**2 + op.t_memory**2) ** 0.5
    assert op.time_s == pytest.approx(soft + 2.5e-6, rel=1e-9)
    assert op.time_s == pytest.approx(expected_tc, rel=0.01)  # far from the ridge: the roofline


def test_soft_roofline_at_the_ridge(h100):
    op = O.OpCost("x", "gemm", t_compute=1e-3, t_memory=1e-3)
    assert op.time_s == pytest.approx(2**0.5 * 1e-3)
    far = O.OpCost("x", "gemm", t_compute=1e-3, t_memory=1e-5)
    assert far.time_s == pytest.approx(1e-3, rel=1e-4)


def test_decode_gemv_is_memory_bound_on_weights(h100):
    dev = h100.device
    op = O.gemm("g", 1, 14336 * 2, 4096, dev, BF16)
    weight_bytes = 14336 * 2 * 4096 * 2
    assert op.weight_bytes == weight_bytes
    expected_tm = (weight_bytes + (4096 * 2 + 14336 * 2 * 2)) / (3350e9 * 0.946)  # catalog: RRZE GH200 triad
    assert op.t_memory == pytest.approx(expected_tm, rel=1e-9)
    assert op.bound == "memory"


def test_wave_quantization_penalises_one_extra_tile(h100):
    dev = h100.device
    # 132 tiles of 128x256 fill one wave exactly; one more row of tiles needs a second wave.
    full = O.gemm_utilization(128 * 132, 256, 4096, dev)
    over = O.gemm_utilization(128 * 132 + 1, 256, 4096, dev)
    assert full == pytest.approx(1.0)
    assert over < 0.99


def test_weight_only_quant_reads_fewer_bytes_but_pays_dequant(h100):
    dev = h100.device
    w4 = get_quant("w4a16")
    dec16 = O.gemm("g", 1, 8192, 8192, dev, BF16)
    dec4 = O.gemm("g", 1, 8192, 8192, dev, w4)
    assert dec4.weight_bytes == pytest.approx(dec16.weight_bytes / 4)
    assert dec4.time_s < dec16.time_s
    pre16 = O.gemm("g", 8192, 8192, 8192, dev, BF16)
    pre4 = O.gemm("g", 8192, 8192, 8192, dev, w4)
    assert pre4.t_compute > pre16.t_compute  # dequantization on CUDA cores per M tile


def test_fp8_gemm_uses_fp8_peak(h100):
    dev = h100.device
    fp8 = get_quant("fp8")
    op = O.gemm("g", 8192, 8192, 8192, dev, fp8)
    util = O.gemm_utilization(8192, 8192, 8192, dev)
    assert op.t_compute == pytest.approx(2 * 8192**3 / (1978.9e12 * 0.77 * util), rel=1e-9)


def test_decode_attention_reads_whole_kv(h100):
    dev = h100.device
    # 8 sequences x 2000 tokens, 8 KV heads x 128 dims (K+V), bf16
    op = O.attention_decode("a", 8, 16000, 32, 128, 128, 2 * 8 * 128, dev, BF16)
    assert op.kv_bytes == 16000 * 2 * 8 * 128 * 2
    assert op.bound == "memory"
    assert op.flops == 2 * 16000 * 32 * 256


def test_prefill_attention_flops_causal(h100):
    dev = h100.device
    s = 4096
    pairs = s * (s + 1) / 2
    op = O.attention_prefill("a", pairs, s, 0, 32, 128, 128, 2 * 8 * 128, dev, BF16)
    assert op.flops == pytest.approx(4 * pairs * 32 * 128)
    assert op.bound == "compute"


def test_elementwise_is_memory_bound(h100):
    op = O.elementwise("norm", 1e6, h100.device, reads=2, writes=1)
    assert op.act_bytes == 3 * 2e6
    assert op.bound == "memory"


def test_functions_accept_arrays(h100):
    m = np.array([1, 64, 4096])
    op = O.gemm("g", m, 4096, 4096, h100.device, BF16)
    scalar = [O.gemm("g", int(x), 4096, 4096, h100.device, BF16).time_s for x in m]
    assert np.allclose(op.time_s, scalar)
    assert list(op.bound) == [O.gemm("g", int(x), 4096, 4096, h100.device, BF16).bound for x in m]


def test_zero_token_gemm_costs_nothing(h100):
    op = O.gemm("g", 0, 4096, 4096, h100.device, BF16)
    assert op.time_s == 0 and op.weight_bytes == 0


def test_ceil_div():
    assert O.ceil_div(7, 2) == 4 and O.ceil_div(8, 2) == 4
    assert math.isclose(O.ceil_div(7.5, 2), 4)
