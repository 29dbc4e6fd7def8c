"""Costs of heterogeneous (NAS) models: each group of layers of one shape costs with its own KV heads
and MLP width, a model of identical blocks costs exactly as its plain counterpart, linear replacements
cost one h x h GEMM, and every layer's KV heads constrain TP."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

import perfmodel
from perfmodel import hardware, specs
from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.memory import kv_bytes_per_token_device, memory_breakdown
from perfmodel.plan import Plan, check_plan
from perfmodel.quant import get_quant
from perfmodel.specs.hf import from_hf_config
from perfmodel.stepmodel import StepModel
from perfmodel.vectorized import feasibility


def _block(kv_group=None, width=None, attn="gqa", ffn="mlp"):
    return {"attention": {"n_heads_in_group": kv_group, "no_op": attn == "no_op", "replace_with_linear": attn == "linear"},
            "ffn": {"intermediate_size": width, "no_op": ffn == "no_op", "replace_with_linear": ffn == "linear"}}


def _nas_like(preset: str, blocks: list[dict], **fields):
    cfg = json.loads((resources.files("specs") / "presets" / f"{preset}.json").read_text())
    cfg.update(model_type="nemotron-nas", num_key_value_heads=None, intermediate_size=None,
               num_hidden_layers=len(blocks), block_configs=blocks, **fields)
    return from_hf_config(cfg, name=f"nas-{preset}")


def test_identical_blocks_cost_exactly_as_the_plain_model():
    kw = dict(hardware="h100-sxm", batch_size=16, isl=1024, osl=128, tp=2)
    plain = perfmodel.estimate(model="llama-3.1-8b", **kw)
    nas = perfmodel.estimate(model=_nas_like("llama-3.1-8b", [_block(4, 14336)] * 32), **kw)
    for key in ("ttft_ms", "tpot_ms", "memory_per_device_gb"):
        assert getattr(nas, key) == pytest.approx(getattr(plain, key), rel=1e-12)


def test_step_time_is_the_sum_of_the_groups_layers():
    """Half the layers with 2 KV heads and a narrow MLP: the decode step lies strictly between the
    all-wide and all-narrow models, at the mean of their layer times (the LM head is shared)."""
    system = hardware.resolve("h100-sxm")
    wide, narrow = _block(4, 14336), _block(16, 4096)
    models = {k: _nas_like("llama-3.1-8b", b) for k, b in
              {"wide": [wide] * 32, "narrow": [narrow] * 32, "mixed": [wide, narrow] * 16}.items()}
    b = BatchShape.decode(64, 4096)
    t = {k: StepModel.build(model=m, system=system, plan=Plan()).iteration_time_s(b) for k, m in models.items()}
    assert t["narrow"] < t["mixed"] < t["wide"]
    assert t["mixed"] == pytest.approx((t["wide"] + t["narrow"]) / 2, rel=1e-9)
    assert len(models["mixed"].layer_groups) == 2


def test_linear_replacements_cost_one_hidden_square_gemm_each():
    m = _nas_like("llama-3.1-8b", [_block(4, 14336), _block(attn="linear", ffn="linear"), _block(attn="no_op", ffn="no_op")])
    sm = StepModel.build(model=m, system=hardware.resolve("h100-sxm"), plan=Plan(tp=2))
    ops = {op.name: op for op in sm.ops(BatchShape.decode(8, 100))}
    h = m.hidden_size
    for name in ("mixer_linear", "mlp_linear"):
        assert ops[name].count == 1 and ops[name].flops == pytest.approx(2 * 8 * h * h / 2)
    assert ops["qkv_proj"].count == 1 and ops["gate_up_proj"].count == 1   # the one full layer
    # weights (bf16): the one full layer, two h x h halves, embedding and head over TP 2; the 4 norms
    # (2 of the full layer, 1 per linear replacement) on every rank
    norms = 4 * h
    mem = memory_breakdown(m, sm.system, sm.plan, get_quant("bf16"), max_tokens=8)
    assert mem.weights_gb * 1e9 == pytest.approx((m.params_total - h - norms) * 2.0 / 2 + norms * 2.0, rel=1e-12)


@pytest.mark.parametrize("name", ["llama-3.3-nemotron-super-49b", "llama-3.1-nemotron-ultra-253b"])
def test_nemotron_weights_and_kv_follow_their_blocks(name):
    m = specs.load_model(name)
    system = hardware.resolve("h200-sxm")
    for tp in (1, 8):
        plan = Plan(tp=tp)
        mem = memory_breakdown(m, system, plan, get_quant("bf16"), max_tokens=1)
        # every layer's own weights: the decoder's parameters (less the final norm), split over TP
        assert mem.weights_gb * 1e9 == pytest.approx((m.params_total - m.hidden_size) * 2.0 / tp, rel=1e-3)
        # KV only in the attention layers: 8 KV heads of 128, split over TP
        assert kv_bytes_per_token_device(m, plan, get_quant("bf16")) == \
            m.count_mixer("full") * 2 * (8 / tp) * 128 * 2.0


def test_every_layers_kv_heads_constrain_tp():
    # 24 heads; a layer with 8 KV heads (groups of 3) and one with 3 (groups of 8): TP 8 cannot split the 3
    m = _nas_like("llama-3.1-8b", [_block(8, 14336), _block(3, 14336)], num_attention_heads=24, head_dim=128)
    assert m.kv_head_counts == (3, 8)
    with pytest.raises(PerfModelError, match=r"KV heads \(3\)"):
        check_plan(Plan(tp=8), m)
    check_plan(Plan(tp=1), m)
    bad = feasibility(m, tp=np.array([1, 8]), pp=np.ones(2, int), ep=np.ones(2, int), dp=np.ones(2, int), max_devices=8)
    assert bad["tp_vs_kv_heads"].tolist() == [False, True]
