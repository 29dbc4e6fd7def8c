"""Vision pipeline costs: hand-checked stages, laws (larger images never cheaper, faster resources
never slower), throughput and bottleneck."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfmodel.pipeline import build_pipeline, evaluate, parse_stages
from perfmodel.pipeline import constants as k
from perfmodel.resolve import resolve_system
from tests._hyp import examples
from hypothesis import settings

CPU_PRE = "decode@cpu,resize@cpu,normalize@cpu,h2d,dnn@gpu,d2h,postprocess@cpu"
GPU_PRE = "h2d,decode@gpu,resize@gpu,normalize@gpu,dnn@gpu,d2h,postprocess@cpu"
SYSTEM = resolve_system("l40s-8gpu")          # one L40S on a Xeon 8480 socket (56 cores, 2.0 GHz)


def _run(stages=CPU_PRE, *, w=1920, h=1080, batch=1, cores=None, system=SYSTEM, model="resnet-50"):
    p = build_pipeline(stages=parse_stages(stages), model=model, width_px=w, height_px=h, batch_size=batch,
                       cpu_cores=cores)
    return evaluate(p, system)


def _stage(result, name):
    return next(s for s in result["stages"] if s["stage"] == name)


def test_cpu_decode_hand_checked():
    # 1920 x 1080 px x 10.2 cycles/px / 2.0 GHz = 10.58 ms; its memory traffic (3.3 B/px) is far below
    # a socket's 187 GB/s, so the cycles decide
    r = _run()
    assert _stage(r, "decode@cpu")["latency_ms"] == pytest.approx(1920 * 1080 * 10.2 / 2.0e9 * 1e3, rel=1e-6)
    # 56 images on 56 cores take one wave, the 57th a second one
    assert _stage(_run(batch=56), "decode@cpu")["latency_ms"] == pytest.approx(10.575, rel=1e-3)
    assert _stage(_run(batch=57), "decode@cpu")["latency_ms"] == pytest.approx(2 * 10.575, rel=1e-3)


def test_gpu_decode_of_small_images_huffman_decodes_on_the_host():
    # DALI's mixed decoder: up to 1 MP the entropy decode runs on a host core (half of 10.2 cycles/px)
    small = _run(GPU_PRE, w=640, h=480)
    huffman = _stage(small, "decode@gpu huffman")
    assert huffman["resource"] == "cpu"
    assert huffman["latency_ms"] == pytest.approx(640 * 480 * 5.1 / 2.0e9 * 1e3, rel=1e-6)
    large = _run(GPU_PRE, w=1920, h=1080)                       # 2.07 MP: all of it on the GPU
    assert [s["stage"] for s in large["stages"]].count("decode@gpu") == 1
    assert not any(s["stage"] == "decode@gpu huffman" for s in large["stages"])


def test_copy_hand_checked():
    # the GPU path copies the JPEG: 1920 x 1080 x 2.33 bit / 8 = 0.604 MB over PCIe Gen4 at 31.5 GB/s x 0.80,
    # plus the link's 25 us latency
    r = _run(GPU_PRE)
    nbytes = 1920 * 1080 * k.JPEG_BITS_PER_PIXEL / 8
    assert _stage(r, "h2d")["latency_ms"] == pytest.approx((nbytes / (31.5e9 * 0.8) + 25e-6) * 1e3, rel=1e-6)
    # the CPU path copies the fp16 tensor: 224 x 224 x 3 x 2 B
    assert "0.30 MB" in _stage(_run(), "h2d")["detail"]


def test_dnn_flops_follow_the_layer_table():
    r = _run(batch=4)
    assert "8.18 GFLOP/image" in _stage(r, "dnn@gpu")["detail"]          # 2 x 4.09 G multiply-adds


def test_fractions_sum_to_one_and_name_the_bottleneck():
    r = _run(cores=8)
    assert sum(s["fraction"] for s in r["stages"]) == pytest.approx(1.0)
    assert r["bottleneck"] == {"resource": "cpu", "stage": "resize@cpu"}   # 12.55 vs 10.2 cycles per source px
    # 8 cores each decode (10.6 ms), resize (13.0 ms) and normalise (1.4 ms) a medium image
    cpu_ms = sum(s["busy_s"] for s in r["stages"] if s["resource"] == "cpu") * 1e3
    assert r["throughput_img_s"] == pytest.approx(1 / cpu_ms * 1e3)
    assert 0.9 < r["outside_dnn_fraction"] < 1


def test_gpu_preprocessing_moves_the_bottleneck_to_the_dnn():
    r = _run(GPU_PRE, batch=32)
    assert r["bottleneck"] == {"resource": "gpu", "stage": "dnn@gpu"}
    assert r["throughput_img_s"] > 2 * _run(batch=32)["throughput_img_s"]


def test_two_dnns_through_a_broker():
    stages = GPU_PRE + ",broker=kafka,h2d,dnn@gpu=vit-b-16"
    r = _run(stages, batch=8)
    broker = _stage(r, "broker=kafka")
    assert broker["resource"] == "broker" and broker["latency_ms"] >= 5.0          # Confluent p99 hand-off
    assert _stage(r, "dnn@gpu=vit-b-16")["latency_ms"] > _stage(r, "dnn@gpu")["latency_ms"]


def _decode_ms(result):
    return sum(s["latency_ms"] for s in result["stages"] if s["stage"].startswith("decode"))


@settings(max_examples=examples(25))
@given(w=st.integers(16, 8192), h=st.integers(16, 8192), grow=st.floats(1.0, 4.0),
       decode=st.sampled_from(["decode@cpu", "decode@gpu=host", "decode@gpu=gpu"]), batch=st.integers(1, 128))
def test_larger_images_are_never_cheaper_to_decode(w, h, grow, decode, batch):
    # with the entropy decode in one place; DALI's auto policy moves it at 1 MP (see the next test)
    stages = CPU_PRE.replace("decode@cpu", decode) if decode == "decode@cpu" else GPU_PRE.replace("decode@gpu", decode)
    small = _decode_ms(_run(stages, w=w, h=h, batch=batch))
    large = _decode_ms(_run(stages, w=int(w * grow), h=h, batch=batch))
    assert large >= small


def test_dali_auto_policy_moves_huffman_to_the_gpu_above_one_megapixel():
    # at 1000 x 1000 the host decodes the entropy and ships int16 DCT coefficients (3 B/px) over PCIe;
    # one pixel row more and the GPU decodes it: cheaper, which is why DALI switches there
    at = _run(GPU_PRE, w=1000, h=1000)
    above = _run(GPU_PRE, w=1000, h=1001)
    assert _stage(at, "decode@gpu coefficients")["detail"].startswith("3.00 MB")
    assert not any(s["stage"].startswith("decode@gpu ") for s in above["stages"])
    assert _decode_ms(above) < _decode_ms(at)


def _faster(system, factor):
    dev = system.device
    dev = dev.model_copy(update={"memory_bw_gb_s": dev.memory_bw_gb_s * factor,
                                 "peak_dense_tflops": {d: v * factor for d, v in dev.peak_dense_tflops.items()}})
    return dataclasses.replace(system, device=dev)


@settings(max_examples=examples(20))
@given(factor=st.floats(1.0, 8.0), cores=st.integers(1, 55), more=st.integers(1, 57),
       stages=st.sampled_from([CPU_PRE, GPU_PRE]), batch=st.integers(1, 64), image=st.sampled_from([(640, 480), (3840, 2160)]))
def test_a_faster_resource_is_never_slower(factor, cores, more, stages, batch, image):
    base = _run(stages, w=image[0], h=image[1], batch=batch, cores=cores)
    for better in (_run(stages, w=image[0], h=image[1], batch=batch, cores=cores, system=_faster(SYSTEM, factor)),
                   _run(stages, w=image[0], h=image[1], batch=batch, cores=min(cores + more, 112))):
        assert better["latency_ms"] <= base["latency_ms"] * (1 + 1e-9)
        assert better["throughput_img_s"] >= base["throughput_img_s"] * (1 - 1e-9)


@pytest.mark.parametrize("place", ["resize", "normalize"])
def test_moving_a_stage_to_the_gpu_never_slows_it(place):
    # an L40S streams a resize or normalise faster than one 2 GHz core does (medium image, batch 1)
    cpu = _stage(_run(), f"{place}@cpu")["latency_ms"]
    gpu_stages = "decode@cpu,h2d,resize@gpu,normalize@gpu,dnn@gpu,d2h,postprocess@cpu"
    assert _stage(_run(gpu_stages), f"{place}@gpu")["latency_ms"] < cpu


def test_more_cores_raise_cpu_bound_throughput_linearly():
    few, many = _run(batch=64, cores=8), _run(batch=64, cores=16)
    assert many["throughput_img_s"] == pytest.approx(2 * few["throughput_img_s"], rel=1e-6)
