"""Microbenchmarks run on CPU and every one maps onto a cost-model operator prediction."""

import pytest

import specs
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


def test_cpu_microbenchmarks_and_their_predictions():
    from hardware.local import detect_local_cpu

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
