"""Costs and memory per layer kind: hand-checked FLOPs and bytes on small cases, windows that stop
the growth of step time and KV, recurrent state instead of KV, hybrid concurrency."""

from __future__ import annotations

import json
from importlib import resources

import pytest

import perfmodel
from perfmodel import hardware
from perfmodel import bounds as B
from perfmodel import ops as O
from perfmodel import specs
from perfmodel.iteration import BatchShape
from perfmodel.limits import max_concurrency, plan_sizes
from perfmodel.memory import memory_breakdown
from perfmodel.plan import Plan
from perfmodel.quant import get_quant
from perfmodel.specs.hf import from_hf_config
from perfmodel.step import step_ops, window_pairs, windowed
from perfmodel.stepmodel import StepModel


def _cfg(name: str) -> dict:
    return json.loads((resources.files("specs") / "presets" / f"{name}.json").read_text())


def _ops(model, batch, *, tp=1, system="h100-sxm"):
    sm = StepModel.build(model=model, system=hardware.resolve(system), plan=Plan(tp=tp))
    return sm, {(op.name, op.count): op for op in sm.ops(batch)}


def _named(ops: dict, name: str) -> list:
    return [op for (n, _), op in ops.items() if n == name]


# ---- hand-checked work on small cases -------------------------------------------------------------

def test_window_pairs_match_brute_force():
    def brute(new, cached, w):
        return sum(min(x, w) for x in range(cached + 1, cached + new + 1))
    for new, cached, w in [(10, 0, 4), (5, 3, 4), (7, 10, 4), (100, 50, 1000), (0, 5, 3), (1, 4095, 4096)]:
        assert window_pairs(new, cached, w) == brute(new, cached, w)


def test_windowed_batch_caps_decode_context_and_prefill_pairs():
    b = BatchShape.prefill(2, 10, cached=3) + BatchShape.decode(4, 10_000)
    w = windowed(b, 4)
    assert w.decode_context == 4 * 4 and w.decode_seqs == 4
    assert w.prefill_kv_read == 2 * 3 and w.prefill_tokens == 20
    assert w.prefill_attn_pairs == 2 * sum(min(x, 4) for x in range(4, 14))


def test_sliding_decode_attention_reads_one_window_of_kv(h100):
    mistral = specs.load_model("mistral-7b")            # every layer: 4096-token window, 8 KV heads of 128
    _, ops = _ops(mistral, BatchShape.decode(4, 10_000))
    (attn,) = _named(ops, "attn_decode")
    assert attn.count == 32
    assert attn.kv_bytes == 4 * 4096 * (2 * 8 * 128) * 2.0     # 4 sequences x window x K+V x bf16
    assert attn.flops == 2.0 * 4 * 4096 * 32 * (128 + 128)


def test_recurrent_scan_work_by_hand(h100):
    dev, q = h100.device, get_quant("bf16")
    # decode: one recurrent step per sequence, 6 dk dv FLOPs per head; state read and written once
    dec = O.recurrent_scan("s", 8, 8, 32, 128, 128, 64, dev, q, decode=True)
    state = 32 * 128 * 128
    assert dec.flops == 6.0 * 8 * state
    assert dec.kv_bytes == 2.0 * 8 * state * 2.0
    assert dec.act_bytes == 8 * 32 * (2 * 128 + 2 * 128) * 2.0
    # prefill: chunk-local attention C (dk + dv) + 6 dk dv per token and head; fp32 chunk states
    pre = O.recurrent_scan("s", 1024, 2, 32, 128, 128, 64, dev, q, decode=False)
    assert pre.flops == 1024 * 32 * (64 * 256 + 6.0 * 128 * 128)
    assert pre.kv_bytes == (1024 / 64 + 2) * state * 4.0


def test_dsa_indexer_scores_the_whole_context_attention_reads_top_k():
    v32 = specs.load_model("deepseek-v3.2")
    sm = StepModel.build(model=v32, system=hardware.resolve("h200"), plan=Plan(tp=8, quant="fp8"))
    ops = {op.name: op for op in sm.ops(BatchShape.decode(2, 50_000))}
    idx, attn = ops["indexer_decode"], ops["attn_decode"]
    assert idx.flops == 2.0 * 2 * 50_000 * 64 * 128
    assert idx.kv_bytes == 2 * 50_000 * (128 + 4)            # fp8 key + fp32 scale per token
    assert attn.kv_bytes == 2 * 2048 * (512 + 64) * sm.quant.kv_bytes  # the top-k tokens' latents


def test_linear_layers_have_no_kv_but_a_state_per_sequence():
    nem = specs.load_model("nemotron-h-8b")
    q = get_quant("bf16")
    plan = Plan(tp=2)
    mem = memory_breakdown(nem, hardware.resolve("h100-sxm"), plan, q, max_tokens=0)
    # KV: only the 4 attention layers, 8 KV heads split by TP 2
    assert mem.kv_bytes_per_token_device == 4 * 2 * (8 / 2) * 128 * 2.0
    state = 128 * 128 * 64 + (8192 + 2 * 8 * 128) * 3
    assert mem.state_bytes_per_seq_device == 24 * state / 2 * 2.0
    assert mem.kv_bytes_per_seq(1000) == pytest.approx(1000 * mem.kv_bytes_per_token_device
                                                       + mem.state_bytes_per_seq_device)


# ---- growth with context only where the layer kind grows --------------------------------------------

def test_sliding_window_decode_time_and_kv_stop_growing_past_the_window():
    cfg = _cfg("mistral-7b")
    windowed_model = from_hf_config(cfg, name="w")
    full_model = from_hf_config({**cfg, "sliding_window": None}, name="f")
    kw = dict(hardware="h100-sxm", batch_size=8, osl=64)
    w = [perfmodel.estimate(model=windowed_model, isl=isl, **kw) for isl in (8_000, 16_000, 30_000)]
    f = [perfmodel.estimate(model=full_model, isl=isl, **kw) for isl in (8_000, 16_000, 30_000)]
    assert w[0].tpot_ms == pytest.approx(w[2].tpot_ms, rel=1e-9)
    assert w[0].memory["kv_gb"] == pytest.approx(w[2].memory["kv_gb"], rel=1e-9)
    assert f[2].tpot_ms > 1.5 * f[0].tpot_ms and f[2].memory["kv_gb"] > 3 * f[0].memory["kv_gb"]
    assert w[2].tpot_ms < 0.5 * f[2].tpot_ms and w[2].memory_per_device_gb < f[2].memory_per_device_gb
    # under the window both read the same KV
    a = perfmodel.estimate(model=windowed_model, isl=2000, **kw)
    b = perfmodel.estimate(model=full_model, isl=2000, **kw)
    assert a.tpot_ms == pytest.approx(b.tpot_ms, rel=1e-9)


def test_recurrent_layers_cost_the_same_at_any_context():
    nem = specs.load_model("nemotron-h-8b")
    _, short = _ops(nem, BatchShape.decode(8, 1_000))
    _, long = _ops(nem, BatchShape.decode(8, 8_000))
    for name in ("linear_in_proj", "linear_scan_decode", "linear_gate_norm"):
        (s,), (lg,) = _named(short, name), _named(long, name)
        assert s.time_s == lg.time_s
    (s,), (lg,) = _named(short, "attn_decode"), _named(long, "attn_decode")
    assert lg.kv_bytes == 8 * s.kv_bytes


@pytest.mark.parametrize("name,all_full", [
    ("qwen3-next-80b-a3b", {"full_attention_interval": 1}),   # every layer full attention, same shapes
    ("gemma-3-27b", {"sliding_window_pattern": 1}),
])
def test_hybrid_holds_several_times_the_sequences_of_full_attention(name, all_full):
    cfg = _cfg(name)
    if "text_config" in cfg:
        cfg = {**cfg, "text_config": {**cfg["text_config"], **all_full}}
    else:
        cfg = {**cfg, **all_full}
    hybrid, full = specs.load_model(name), from_hf_config(cfg, name="full")
    assert full.count_mixer("full") == full.num_layers
    assert abs(full.params_total - hybrid.params_total) / hybrid.params_total < 0.05  # "of the same size"
    system, plan, q = hardware.resolve("dgx-h100"), Plan(tp=4), get_quant("bf16")
    isl, osl = 8192, 1024
    ctx = isl + osl / 2
    c_h = max_concurrency(plan_sizes(hybrid, system, plan, q, context_tokens=ctx), isl, osl)
    c_f = max_concurrency(plan_sizes(full, system, plan, q, context_tokens=ctx), isl, osl)
    assert c_h > 3 * c_f


def test_bounds_see_the_hybrid_kv_capacity():
    full = from_hf_config({**_cfg("qwen3-next-80b-a3b"), "full_attention_interval": 1}, name="full")
    kw = dict(system="dgx-h100", plan=Plan(tp=4), isl=8192, osl=1024)
    b_h = B.compute_bounds(model="qwen3-next-80b-a3b", **kw)
    b_f = B.compute_bounds(model=full, **kw)
    assert b_h.max_concurrency > 3 * b_f.max_concurrency
    assert b_h.bounds["kv_capacity"].tok_s_per_device > b_f.bounds["kv_capacity"].tok_s_per_device


def test_mtp_weights_in_memory_when_drafting_and_vision_always():
    q = get_quant("fp8")
    v31 = specs.load_model("deepseek-v3.1")
    system = hardware.resolve("h200")
    plain = memory_breakdown(v31, system, Plan(tp=8, quant="fp8"), q, max_tokens=0).weights_gb
    no_mtp = memory_breakdown(v31.model_copy(update={"mtp_layers": 0}), system, Plan(tp=8, quant="fp8"), q,
                              max_tokens=0).weights_gb
    assert plain == no_mtp  # engines skip the MTP weights unless they draft with them
    drafting = memory_breakdown(v31, system, Plan(tp=8, quant="fp8", spec_method="mtp"), q, max_tokens=0).weights_gb
    # the MTP module (perfmodel.speculative.draft_memory) is the checkpoint's MTP layer, TP-split
    assert drafting - plain == pytest.approx(v31.mtp_params * q.weight_bytes / 8 / 1e9, rel=0.02)
    scout = specs.load_model("llama-4-scout")
    extra = memory_breakdown(scout, system, Plan(tp=8), get_quant("bf16"), max_tokens=0).weights_gb \
        - memory_breakdown(scout.model_copy(update={"vision_params": 0}), system, Plan(tp=8), get_quant("bf16"),
                           max_tokens=0).weights_gb
    assert extra == pytest.approx(scout.vision_params * 2.0 / 8 / 1e9)


def test_step_ops_count_every_layer_once_per_block():
    m = specs.load_model("nemotron-h-8b")
    ops = step_ops(m, hardware.resolve("h100-sxm"), get_quant("bf16"), Plan(), BatchShape.decode(4, 100))
    counts = {}
    for op in ops:
        counts[op.name] = counts.get(op.name, 0) + op.count
    assert counts["linear_in_proj"] == 24 and counts["qkv_proj"] == 4 and counts["gate_up_proj"] == 24
    assert counts["norm"] == 28 and counts["post_norm"] == 24
