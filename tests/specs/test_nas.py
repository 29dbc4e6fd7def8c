"""Heterogeneous (NAS) decoders: Llama-Nemotron `block_configs` read layer by layer, the bundled Super-49B
and Ultra-253B presets counted against their cards, and every malformed block refused in one line."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from perfmodel.errors import PerfModelError
from perfmodel.specs.hf import from_hf_config
from perfmodel.specs.hf_nas import ffn_mult_to_width
from perfmodel.specs.registry import load_model

H, HEADS, D, VOCAB = 1024, 16, 64, 32000


def _block(*, kv_group=None, attn="gqa", ffn="mlp", mult=None, width=None, **extra):
    attention = {"n_heads_in_group": kv_group, "no_op": attn == "no_op", "replace_with_linear": attn == "linear"}
    mlp = {"ffn_mult": mult, "no_op": ffn == "no_op", "replace_with_linear": ffn == "linear"}
    if width is not None:
        mlp["intermediate_size"] = width
    return {"attention": attention | extra.get("attention", {}), "ffn": mlp | extra.get("ffn", {})}


def _cfg(blocks: list[dict]) -> dict:
    return {"model_type": "nemotron-nas", "architectures": ["DeciLMForCausalLM"], "hidden_size": H,
            "num_attention_heads": HEADS, "num_hidden_layers": len(blocks), "num_key_value_heads": None,
            "intermediate_size": None, "vocab_size": VOCAB, "max_position_embeddings": 8192,
            "tie_word_embeddings": False, "hidden_act": "silu", "block_configs": blocks}


FOUR = [_block(kv_group=2, mult=1.0), _block(attn="no_op", ffn="linear"),
        _block(attn="linear", ffn="no_op"), _block(kv_group=8, width=512)]


def test_each_block_gets_its_own_mixer_kv_heads_and_mlp_width():
    m = from_hf_config(_cfg(FOUR), name="nas4")
    assert m.layer_types == ("full", "none", "projection", "full")
    assert m.mlp_types == ("dense", "projection", "none", "dense")
    assert [m.kv_heads_of(i) for i in (0, 3)] == [8, 2]           # 16 heads / n_heads_in_group
    w0 = ffn_mult_to_width(1.0, H)                                 # int(2 * 1024 / 3) = 682 -> 768
    assert w0 == 768 and [m.mlp_width_of(i) for i in (0, 3)] == [768, 512]
    assert m.kv_head_counts == (2, 8) and len(m.layer_groups) == 2
    # by hand: q, k, v, o of each GQA layer; gate/up/down; h x h for each linear replacement; a norm per block
    attn = lambda kv: H * HEADS * D * 2 + 2 * H * kv * D
    layers = (attn(8) + 3 * H * 768 + 2 * H) + (H * H + H) + (H * H + H) + (attn(2) + 3 * H * 512 + 2 * H)
    assert m.params_total == 2 * VOCAB * H + H + layers
    # KV grows with the context in the two attention layers only, each with its own KV heads
    assert m.kv_bytes_per_token(2.0) == 2 * (8 + 2) * D * 2.0


def test_the_groups_are_the_layers_of_one_shape_and_sum_to_the_model():
    m = from_hf_config(_cfg(FOUR), name="nas4")
    groups = m.layer_groups
    assert sum(g.num_layers for g in groups) == m.num_layers
    assert sorted((g.num_kv_heads, g.intermediate_size) for g in groups) == [(2, 512), (8, 768)]
    assert sum(g.count_mixer("full") for g in groups) == m.count_mixer("full") == 2


def test_a_nas_model_of_identical_blocks_counts_as_its_plain_llama():
    llama = load_model("llama-3.1-8b")
    cfg = json.loads((resources.files("specs") / "presets" / "llama-3.1-8b.json").read_text())
    cfg.update(model_type="nemotron-nas", num_key_value_heads=None, intermediate_size=None,
               block_configs=[_block(kv_group=4, width=14336)] * 32)
    nas = from_hf_config(cfg, name="nas-llama")
    assert len(nas.layer_groups) == 1
    assert (nas.num_kv_heads, nas.intermediate_size) == (llama.num_kv_heads, llama.intermediate_size)
    assert nas.params_total == llama.params_total and nas.kv_bytes_per_token() == llama.kv_bytes_per_token()


@pytest.mark.parametrize("name, layers, attention, mlp_none, widths", [
    # Super-49B-v1 config.json: 80 blocks, 31 without attention, every FFN kept, 6 ffn_mult values
    ("llama-3.3-nemotron-super-49b", 80, 49, 0, {0.5, 1.0, 1.3125, 2.625, 3.28125, 5.25}),
    # Ultra-253B-v1: 162 blocks, 98 without attention, 81 without FFN
    ("llama-3.1-nemotron-ultra-253b", 162, 64, 81,
     {0.4875, 0.975, 1.4625, 1.95, 2.4375, 2.925, 3.4125, 4.875, 27.5625, 31.40625, 36.5625, 39.0}),
])
def test_nemotron_presets_read_their_blocks(name, layers, attention, mlp_none, widths):
    m = load_model(name)
    assert m.family == "nemotron-nas" and m.num_layers == layers
    assert m.count_mixer("full") == attention and m.count_mixer("none") == layers - attention
    assert m.count_mlp("none") == mlp_none
    assert m.kv_head_counts == (8,)
    assert {m.mlp_width_of(i) for i in range(layers) if m.mlp_of(i) == "dense"} == \
        {ffn_mult_to_width(x, m.hidden_size) for x in widths}
    # KV of the attention layers only: Super keeps 49 of Llama-3.3-70B's 80 (bf16, 8 KV heads x 128)
    assert m.kv_bytes_per_token(2.0) == attention * 2 * 8 * 128 * 2.0


@pytest.mark.parametrize("change, words", [
    (lambda b: b[1]["attention"].update(window_length=4096), "block_configs[1].attention.window_length=4096"),
    (lambda b: b[0]["attention"].update(num_sink_tokens=4), "block_configs[0].attention.num_sink_tokens"),
    (lambda b: b[3]["ffn"].update(sparsify=["a"]), "block_configs[3].ffn.sparsify"),
    (lambda b: b[0]["attention"].update(n_heads_in_group=3), "n_heads_in_group=3 must be a positive divisor"),
    (lambda b: b[0]["ffn"].update(ffn_mult=None), "block_configs[0].ffn.ffn_mult=None"),
    (lambda b: b[3]["ffn"].update(intermediate_size=-5), "block_configs[3].ffn.intermediate_size=-5"),
    (lambda b: b.__setitem__(2, {"attention": None, "ffn": {}}), "block_configs[2].attention must be an object"),
    (lambda b: b.pop(), "block_configs must be a list of num_hidden_layers (4) blocks, got 3"),
])
def test_a_malformed_block_is_a_one_line_error_naming_it(change, words):
    blocks = json.loads(json.dumps(FOUR))
    change(blocks)
    cfg = _cfg(blocks)
    cfg["num_hidden_layers"] = 4
    with pytest.raises(PerfModelError) as exc:
        from_hf_config(cfg, name="x", source="cfg.json")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("cfg.json: ") and words in msg, msg
