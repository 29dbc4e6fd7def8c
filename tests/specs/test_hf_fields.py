"""Reading Hugging Face configs by their fields: per-layer kinds, recurrent mixers, windows, nested
configs, MTP and vision counts, unknown fields, and Hugging Face ids through the local cache."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from perfmodel.errors import PerfModelError
from perfmodel.specs.hf import from_hf_config
from perfmodel.specs.registry import load_model


def _preset_cfg(name: str) -> dict:
    return json.loads((resources.files("specs") / "presets" / f"{name}.json").read_text())


def _one_line(cfg: dict) -> str:
    with pytest.raises(PerfModelError) as exc:
        from_hf_config(cfg, name="x", source="cfg.json")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("cfg.json: ")
    return msg


# ---- layer kinds ------------------------------------------------------------------------------

def test_gpt_oss_alternates_sliding_and_full_with_sinks_and_biases():
    m = load_model("gpt-oss-20b")
    assert m.layer_types[:4] == ("sliding", "full", "sliding", "full")
    assert m.sliding_window == 128 and m.attention_sinks and m.qkv_bias and m.o_bias
    assert dict(((a, b), n) for a, b, n in m.layer_kinds) == {("sliding", "moe"): 12, ("full", "moe"): 12}
    h, heads, kv, d = 2880, 64, 8, 64
    qkvo = h * (heads + 2 * kv) * d + heads * d * h
    assert m.attention_params() == qkvo + (heads + 2 * kv) * d + h + heads  # + q/k/v bias, o bias, sinks


def test_qwen3_next_reads_gated_deltanet_and_gated_attention_by_hand():
    m = load_model("qwen3-next-80b-a3b")
    assert m.count_mixer("linear") == 36 and m.count_mixer("full") == 12
    assert m.layer_types[3] == "full" and m.layer_types[0] == "linear"  # full_attention_interval 4
    r = m.linear
    assert (r.kind, r.heads, r.key_heads, r.key_dim, r.value_dim, r.conv_kernel) == \
        ("gated_deltanet", 32, 16, 128, 128, 4)
    h = 2048
    qkvz, ba = h * (2 * 16 * 128 + 2 * 32 * 128), h * 2 * 32
    conv = (2 * 16 * 128 + 32 * 128) * 4
    assert m.mixer_params("linear") == qkvz + ba + conv + 2 * 32 + 128 + 32 * 128 * h
    # gated attention: q_proj emits queries and the output gate; q/k RMSNorm over head_dim
    assert m.attention_params() == h * (2 * 16 * 256 + 2 * 2 * 256) + 16 * 256 * h + 2 * 256
    # state per sequence and layer: 32 heads x 128 x 128, plus the conv window (kernel - 1 positions)
    assert r.state_elements == 32 * 128 * 128 + (2 * 16 * 128 + 32 * 128) * 3
    assert m.moe.shared_expert_gate and m.moe.shared_intermediate_size == 512


def test_nemotron_h_pattern_gives_mamba_attention_and_mlp_only_layers():
    m = load_model("nemotron-h-8b")
    kinds = {(a, b): n for a, b, n in m.layer_kinds}
    assert kinds == {("linear", "none"): 24, ("none", "dense"): 24, ("full", "none"): 4}
    assert not m.mlp_gated  # relu^2: up and down only
    h, inner, groups_state, heads = 4096, 128 * 64, 8 * 128, 128
    in_proj = h * (2 * inner + 2 * groups_state + heads)
    conv = (inner + 2 * groups_state) * 4 + (inner + 2 * groups_state)  # weights + bias
    assert m.mixer_params("linear") == in_proj + conv + 3 * heads + inner + inner * h
    assert m.layer_params("none", "dense") == 2 * h * 21504 + h
    assert m.state_bytes_per_seq(2.0) == 24 * (heads * 128 * 64 + (inner + 2 * groups_state) * 3) * 2.0


def test_llama4_chunked_attention_and_interleaved_moe():
    scout, maverick = load_model("llama-4-scout"), load_model("llama-4-maverick")
    assert scout.attention_chunk == 8192
    assert scout.layer_types[:4] == ("chunked", "chunked", "chunked", "full")  # NoPE every 4th layer is global
    assert scout.count_mlp("moe") == 48 and maverick.count_mlp("moe") == 24
    assert maverick.mlp_types[:2] == ("dense", "moe")  # interleave_moe_layer_step 2
    assert maverick.intermediate_size == 16384 and maverick.moe.expert_intermediate_size == 8192
    assert maverick.moe.shared_intermediate_size == 8192  # one shared expert of the expert width
    assert scout.vision_params > 0.5e9  # the 34-layer vision tower, counted in memory (params_stored)


def test_gemma3_nested_text_config_pattern_and_class_defaults():
    m = load_model("gemma-3-27b")
    assert m.family == "gemma3_text" and m.vocab_size == 262208 and m.tie_embeddings
    assert m.count_mixer("sliding") == 52 and m.count_mixer("full") == 10 and m.sliding_window == 1024
    assert m.layer_types[5] == "full"  # sliding_window_pattern 6
    assert 0.35e9 < m.vision_params < 0.45e9  # SigLIP-400M + projector


def test_deepseek_v32_reads_the_sparse_attention_indexer_and_mtp():
    m = load_model("deepseek-v3.2")
    assert m.dsa is not None and (m.dsa.index_n_heads, m.dsa.index_head_dim, m.dsa.index_topk) == (64, 128, 2048)
    assert m.window_of("full") == 2048  # attention reads the top-k tokens
    v31 = load_model("deepseek-v3.1")
    h = 7168
    indexer = 1536 * 64 * 128 + h * 128 + 2 * 128 + h * 64
    assert m.attention_params() - v31.attention_params() == indexer
    assert m.mtp_layers == 1 and m.params_stored > m.params_total
    # KV per token and layer: the bf16 latent plus the fp8 indexer key with its fp32 scale
    assert m.kv_layer_bytes(2.0) == v31.kv_layer_bytes(2.0) + 128 + 4


def test_mistral_sliding_window_caps_the_kv_of_a_sequence():
    cfg = _preset_cfg("mistral-7b")
    assert cfg["sliding_window"] == 4096
    windowed = from_hf_config(cfg, name="w")
    unbounded = from_hf_config({**cfg, "sliding_window": None}, name="u")
    assert windowed.kv_bytes_per_seq(30_000) == pytest.approx(unbounded.kv_bytes_per_seq(4096))
    assert unbounded.kv_bytes_per_seq(30_000) > 7 * windowed.kv_bytes_per_seq(30_000)


def test_qwen_sliding_window_off_unless_use_sliding_window():
    cfg = _preset_cfg("qwen2.5-7b")
    assert from_hf_config({**cfg, "use_sliding_window": False, "sliding_window": 4096}, name="q").layer_types is None
    on = from_hf_config({**cfg, "use_sliding_window": True, "sliding_window": 4096, "max_window_layers": 20}, name="q")
    assert on.layer_types[:21] == ("full",) * 20 + ("sliding",)


def test_minimax_lightning_layers_from_attn_type_list():
    cfg = {**_preset_cfg("mixtral-8x7b"), "model_type": "minimax", "num_hidden_layers": 8,
           "attn_type_list": [0, 0, 0, 1, 0, 0, 0, 1]}
    m = from_hf_config(cfg, name="mm")
    assert m.count_mixer("linear") == 6 and m.linear.kind == "lightning"
    assert m.linear.state_elements == 32 * 128 * 128  # heads x head_dim x head_dim


# ---- fields that matter and are not understood --------------------------------------------------

@pytest.mark.parametrize("field,value,words", [
    ("block_configs", [{"attention": {"n_heads_in_group": 8}}], "block_configs must be a list of num_hidden_layers (32)"),
    ("num_kv_shared_layers", 10, "num_kv_shared_layers"),
    ("layer_types", ["full_attention"] * 31 + ["cross_attention"], "'cross_attention'"),
    ("hybrid_override_pattern", "M*X" + "-" * 29, "['X']"),
    ("moe_layer_freq", [0, 1] * 16, "moe_layer_freq"),
])
def test_relevant_field_not_understood_is_a_one_line_error(field, value, words):
    cfg = {**_preset_cfg("llama-3.1-8b"), field: value}
    msg = _one_line(cfg)
    assert words in msg


def test_layer_types_of_the_wrong_length_is_an_error():
    msg = _one_line({**_preset_cfg("llama-3.1-8b"), "layer_types": ["full_attention"] * 3})
    assert "len(layer_types)" in msg and "(3, 32)" in msg


# ---- Hugging Face ids -----------------------------------------------------------------------------

def _cache(tmp_path, repo_id: str, cfg: dict, *, ref: bool = True):
    repo = tmp_path / "hub" / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(cfg))
    if ref:
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("abc123")


def test_hf_id_resolves_from_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    _cache(tmp_path, "someone/My-Model-7B", _preset_cfg("qwen3-8b"))
    m = load_model("someone/My-Model-7B")
    assert m.name == "someone/My-Model-7B" and m.params_total == load_model("qwen3-8b").params_total


def test_hf_id_preset_wins_over_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert load_model("openai/gpt-oss-120b").name == "gpt-oss-120b"
    assert load_model("Qwen/Qwen3-Next-80B-A3B-Instruct").name == "qwen3-next-80b-a3b"


def test_hf_id_offline_without_cache_says_to_pass_a_path(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(PerfModelError) as exc:
        load_model("nobody/not-cached-1B")
    msg = str(exc.value)
    assert "\n" not in msg and "not in the Hugging Face cache" in msg and "pass a path" in msg


def test_jamba_mamba1_attention_and_moe_periods():
    # ai21labs/Jamba-v0.1 config.json fields; HF page: "51.6B params", model card: "12B active"
    cfg = dict(model_type="jamba", hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, intermediate_size=14336, num_experts=16, num_experts_per_tok=2,
               expert_layer_period=2, expert_layer_offset=1, attn_layer_period=8, attn_layer_offset=4,
               mamba_d_state=16, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=256, vocab_size=65536,
               tie_word_embeddings=False, max_position_embeddings=262144, rms_norm_eps=1e-6)
    m = from_hf_config(cfg, name="jamba")
    kinds = {(a, b): n for a, b, n in m.layer_kinds}
    assert kinds == {("linear", "dense"): 12, ("linear", "moe"): 16, ("full", "dense"): 4}
    assert m.layer_types[4] == "full" and m.mlp_types[1] == "moe"
    assert abs(m.params_total / 51.6e9 - 1) < 0.01 and abs(m.params_active / 12e9 - 1) < 0.02
    # Mamba-1 state: d_inner x d_state + the conv window, per sequence and layer
    assert m.linear.state_elements == 8192 * 16 + 8192 * 3


def test_falcon_h1_runs_attention_and_mamba2_side_by_side():
    cfg = dict(model_type="falcon_h1", hidden_size=1024, num_hidden_layers=36, num_attention_heads=8,
               num_key_value_heads=2, head_dim=64, intermediate_size=2048, mamba_d_ssm=1536, mamba_n_heads=24,
               mamba_d_head=64, mamba_d_state=128, mamba_n_groups=1, mamba_d_conv=4, mamba_expand=2,
               vocab_size=32784, max_position_embeddings=16384, tie_word_embeddings=False)
    m = from_hf_config(cfg, name="falcon-h1")
    assert m.layer_kinds == (("parallel", "dense", 36),)
    assert m.mixer_params("parallel") == m.attention_params() + m.linear.params(1024)
    assert m.kv_bytes_per_token(2.0) == 36 * 2 * 2 * 64 * 2.0 and m.state_bytes_per_seq(2.0) > 0


def test_model_copy_recomputes_the_layer_structure():
    m = load_model("qwen3-30b-a3b")
    assert m.layer_kinds == (("full", "moe", 48),) and m.num_moe_layers == 48   # cached on the preset
    short = m.model_copy(update={"num_layers": 2, "mlp_types": m.mlp_types[:2]})
    assert short.layer_kinds == (("full", "moe", 2),) and short.num_moe_layers == 2
