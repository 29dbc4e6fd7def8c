"""Microbenchmarks run on CPU and every one maps onto a cost-model operator prediction."""

import pytest

from perfmodel import specs
from perfmodel.executor.microbench import MicroConfig, model_gemm_shapes, run_all
from perfmodel.executor.predict import MICRO_KINDS, micro_cost
from perfmodel.executor.synthetic import reduce_spec
from perfmodel.quant import get_quant

pytest.importorskip("torch")


def test_model_gemm_shapes_cover_every_weight():
    spec = specs.load_model("llama-3.1-8b")
    names = {n for n, _, _ in model_gemm_shapes(spec)}
    assert names == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj", "lm_head"}
    mla = {n for n, _, _ in model_gemm_shapes(specs.load_model("deepseek-v3"))}
    assert {"q_a_proj", "q_b_proj", "kv_a_proj", "expert_gate_up", "expert_down"} <= mla
    # a NAS model streams one MLP per distinct width (Super-49B: 6 ffn_mult values)
    nas = specs.load_model("llama-3.3-nemotron-super-49b")
    widths = {k for n, _, k in model_gemm_shapes(nas) if n == "down_proj"}
    assert widths == {g.intermediate_size for g in nas.layer_groups} and len(widths) == 6


def test_cpu_microbenchmarks_and_their_predictions():
    from perfmodel.hardware.local import detect_local_cpu

    spec = reduce_spec(specs.load_model("llama-3.1-8b"), layers=1, width_divisor=8, vocab=1024)
    cfg = MicroConfig(backend="cpu", quant="fp32", cache_mb=1.0, warmup=1, repeats=2, gemm_m=(1, 16),
                      attn_prefill=((1, 64),), attn_decode=((2, 128),), copy_mb=8.0)
    micros = run_all(cfg, spec)
    kinds = {m.kind for m in micros}
    assert kinds == {"gemm", "attn_prefill", "attn_decode", "copy", "small_op"}
    assert len([m for m in micros if m.kind == "gemm"]) == 2 * len(model_gemm_shapes(spec))
    dev, q = detect_local_cpu(), get_quant("fp32")
    for m in micros:
        assert m.timing.median_s > 0 and m.timing.n == 2
        assert m.kind in MICRO_KINDS and micro_cost(m, dev, q).time_s > 0
    small = next(m for m in micros if m.kind == "small_op")
    assert small.timing.median_s < 1e-3  # per tiny kernel, not per loop of them


def test_link_overrides_from_copies_and_all_reduce():
    from perfmodel import hardware
    from perfmodel.calibration import apply_to_device, Calibration, SCHEMA_VERSION
    from perfmodel.executor.microbench import Micro
    from perfmodel.executor.predict import link_overrides
    from perfmodel.executor.timing import Timing

    dev = hardware.resolve("h100-sxm").device
    mib = 2**20

    def micro(kind, nbytes, secs, **extra):
        return Micro(kind, {"bytes": nbytes, **extra}, Timing.of([secs]))

    lat = 10e-6
    micros = [micro("h2d", mib, lat + mib / 40e9), micro("h2d", 256 * mib, lat + 256 * mib / 40e9),
              micro("all_reduce", mib, 20e-6, devices=8),
              micro("all_reduce", 128 * mib, 20e-6 + 1.75 * 128 * mib / 350e9, devices=8)]
    out = link_overrides(micros, dev)
    assert out["host_link"]["efficiency"] == pytest.approx(40 / 63, rel=0.02)
    assert out["scaleup_link"]["efficiency"] == pytest.approx(350 / 450, rel=0.02)
    cal = Calibration(schema_version=SCHEMA_VERSION, device_id=dev.id, device_name=dev.name, created="2025-01-01",
                      overrides=out)
    assert apply_to_device(dev, cal).host_link.efficiency == out["host_link"]["efficiency"]
    assert link_overrides([], dev) == {}
