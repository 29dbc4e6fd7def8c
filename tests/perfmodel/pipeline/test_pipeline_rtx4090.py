"""The vision pipeline on the GeForce RTX 4090 (the GPU one review names for Beyond Inference):
its catalog numbers, hand-checked stage costs on it, and the FP16-accumulate variant the
Beyond Inference entry reports."""

import pytest

from perfmodel.pipeline import build_pipeline, dnn_cost, evaluate, get_vision_model, parse_stages
from perfmodel.reproduce._vision import GPU_PRE, fp16_accumulate, share_and_gain
from perfmodel.resolve import resolve_system

SYSTEM = resolve_system("rtx4090-1gpu")


def _run(system=SYSTEM, batch=64):
    p = build_pipeline(stages=parse_stages(GPU_PRE), model="resnet-50", width_px=1920, height_px=1080,
                       batch_size=batch)
    return evaluate(p, system)


def _stage(result, name):
    return next(s for s in result["stages"] if s["stage"] == name)


def test_catalog_numbers_are_the_spec_sheets():
    dev = SYSTEM.device
    assert (dev.memory_bw_gb_s, dev.memory_gb, dev.compute_units) == (1008, 24, 128)
    assert dev.peak_dense_tflops["fp16"] == 165.15            # FP32 accumulate (WAREDB-4090)
    assert SYSTEM.host_cpu.id == "xeon-8480" and SYSTEM.node.cpu_sockets == 1


def test_gpu_resize_hand_checked():
    # memory-bound: 64 images read 1920 x 1080 x 3 B and write 224 x 224 x 3 B at 1,008 GB/s x 0.98,
    # plus one 3 us kernel; its 0.9 us of vector math (8 FLOP per output value at 82.58 TFLOPS) joins through
    # the soft roofline and adds under 1e-5
    nbytes = 64 * 3 * (1920 * 1080 + 224 * 224)
    expected_ms = (nbytes / (1008e9 * 0.98) + 3e-6) * 1e3
    assert _stage(_run(), "resize@gpu")["latency_ms"] == pytest.approx(expected_ms, rel=1e-5)


def test_jpeg_copy_hand_checked():
    # 64 JPEGs of 1920 x 1080 x 2.33 bit over PCIe Gen4 x16 at 31.5 GB/s x 0.80, plus 25 us
    nbytes = 64 * 1920 * 1080 * 2.33 / 8
    assert _stage(_run(), "h2d")["latency_ms"] == pytest.approx((nbytes / (31.5e9 * 0.8) + 25e-6) * 1e3, rel=1e-6)


def test_dnn_is_compute_bound_at_the_fp32_accumulate_rate():
    # ResNet-50's 8.18 GFLOP per image at 165.15 TFLOPS x 0.77 is the floor; tiles and waves add to it
    cost = dnn_cost(get_vision_model("resnet-50"), SYSTEM.device, 64)
    floor_s = cost.flops / (165.15e12 * 0.77)
    assert cost.bound == "compute" and floor_s < cost.total_s < 1.5 * floor_s
    faster = dnn_cost(get_vision_model("resnet-50"), fp16_accumulate(SYSTEM).device, 64)
    assert faster.t_compute == pytest.approx(cost.t_compute / 2, rel=1e-9)


def test_fp16_accumulate_raises_the_share_outside_the_dnn_and_the_gain():
    share, gain, best, _ = share_and_gain(SYSTEM)
    acc_share, acc_gain, acc_best, _ = share_and_gain(fp16_accumulate(SYSTEM))
    assert best["bottleneck"]["stage"] == acc_best["bottleneck"]["stage"] == "dnn@gpu"
    assert acc_share > share and acc_gain > gain
