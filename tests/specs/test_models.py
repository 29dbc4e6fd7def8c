"""Model presets, parameter / KV counts against published figures, name resolution (a user's own
config.json: test_config_files.py)."""

from __future__ import annotations

import json
from importlib import resources

import pytest
import yaml

from perfmodel.errors import PerfModelError, UnknownNameError
from perfmodel.specs.hf import CLASS_DEFAULTS, from_hf_config, text_config
from perfmodel.specs.registry import load_model, preset_names

B = 1e9

# ---------------------------------------------------------------------------------------------
# Published parameter counts. "HF page" is the parameter count Hugging Face shows on the model
# page (summed from the safetensors headers); model-card figures are quoted as the card states.
# ---------------------------------------------------------------------------------------------
PUBLISHED_TOTAL = {
    # HF page meta-llama/Llama-2-7b-hf: "6.74B params"
    "llama-2-7b": 6.74 * B,
    # HF page meta-llama/Llama-2-70b-hf: "69B params" (68.98B summed)
    "llama-2-70b": 68.98 * B,
    # HF page meta-llama/Meta-Llama-3-8B: "8.03B params"
    "llama-3-8b": 8.03 * B,
    # HF page meta-llama/Meta-Llama-3-70B: "70.6B params" (70.55B summed)
    "llama-3-70b": 70.55 * B,
    # HF page meta-llama/Llama-3.1-8B: "8.03B params"
    "llama-3.1-8b": 8.03 * B,
    # HF page meta-llama/Llama-3.1-70B: "70.6B params" (70.55B summed)
    "llama-3.1-70b": 70.55 * B,
    # HF page meta-llama/Llama-3.3-70B-Instruct: same architecture as 3.1-70B, 70.55B
    "llama-3.3-70b": 70.55 * B,
    # HF page meta-llama/Llama-3.1-405B: "406B params" (405.85B summed)
    "llama-3.1-405b": 405.85 * B,
    # HF page mistralai/Mistral-7B-v0.1: "7.24B params"
    "mistral-7b": 7.24 * B,
    # mistral.ai/news/mixtral-of-experts: "46.7B total parameters but only uses 12.9B per token"
    "mixtral-8x7b": 46.7 * B,
    # HF page mistralai/Mixtral-8x22B-v0.1: "141B params" (140.6B summed); mistral.ai/news/mixtral-8x22b
    "mixtral-8x22b": 140.6 * B,
    # Qwen2 release blog / model card table: Qwen2-72B 72.71B, Qwen2-57B-A14B 57.41B
    "qwen2-72b": 72.7 * B,
    "qwen2-57b-a14b": 57.41 * B,
    # HF page Qwen/Qwen1.5-72B: "72.3B params"
    "qwen1.5-72b": 72.3 * B,
    # Qwen2.5 model cards: "Number of Parameters: 7.61B" / "72.7B"
    "qwen2.5-7b": 7.61 * B,
    "qwen2.5-72b": 72.7 * B,
    # Qwen3 model cards: "Number of Parameters: 8.2B" / "32.8B" / "30.5B in total" / "235B in total"
    "qwen3-8b": 8.2 * B,
    "qwen3-32b": 32.8 * B,
    "qwen3-30b-a3b": 30.5 * B,
    "qwen3-235b-a22b": 235 * B,
    # OPT paper (Zhang et al., arXiv:2205.01068) Table 1: 13B / 66B / 175B (nominal sizes)
    "opt-13b": 13 * B,
    "opt-66b": 66 * B,
    "opt-175b": 175 * B,
    # HF page deepseek-ai/deepseek-llm-67b-base: "67.4B params"
    "deepseek-67b": 67.4 * B,
    # DeepSeek-V2-Lite model card download table: "15.7B" total (arXiv:2405.04434, appendix B)
    "deepseek-v2-lite": 15.7 * B,
    # DeepSeek-V3 / R1 model cards: "671B total" (the 685B on the HF page adds the 14B MTP module)
    "deepseek-v3": 671 * B,
    "deepseek-r1": 671 * B,
    # ---- 2025 presets (issue 10) ----
    # gpt-oss model card (arXiv:2508.10925, Table 1): 116.83B / 20.91B total (expert biases, 0.04B, not counted)
    "gpt-oss-120b": 116.83 * B,
    "gpt-oss-20b": 20.91 * B,
    # Llama 4 model card (meta-llama/Llama-4-Scout-17B-16E README): "109B total" / Maverick "400B total",
    # vision tower included (params_stored)
    "llama-4-scout": 109 * B,
    "llama-4-maverick": 400 * B,
    # DeepSeek-V3.1 model card: "671B total parameters, 37B activated" (MTP module apart, as for V3)
    "deepseek-v3.1": 671 * B,
    # HF page deepseek-ai/DeepSeek-V3.2-Exp: "685B params" (safetensors: decoder + indexers + MTP, params_stored)
    "deepseek-v3.2": 685 * B,
    # Kimi-K2 model card (moonshotai/Kimi-K2-Instruct README): "Total Parameters 1T" (one significant digit;
    # the count is 1.026T, see PUBLISHED_TOLERANCE)
    "kimi-k2": 1000 * B,
    # GLM-4.5 model card / zai-org blog: "355 billion total parameters" (decoder 352.8B, 356.8B with MTP)
    "glm-4.5": 355 * B,
    # Qwen3-Next-80B-A3B model card: "80B total" (79.67B counted)
    "qwen3-next-80b-a3b": 80 * B,
    # Qwen3-Coder-480B-A35B-Instruct model card: "480B total"
    "qwen3-coder-480b-a35b": 480 * B,
    # HF page google/gemma-3-27b-it: "27.4B params" (SigLIP tower included, params_stored)
    "gemma-3-27b": 27.4 * B,
    # HF page microsoft/phi-4: "14.7B params"
    "phi-4": 14.7 * B,
    # HF page mistralai/Mistral-Small-24B-Base-2501: "23.6B params"
    "mistral-small-3": 23.6 * B,
    # HF page nvidia/Nemotron-H-8B-Base-8K: "8.1B params" (Nemotron-H paper, arXiv:2504.03624: "8B")
    "nemotron-h-8b": 8.1 * B,
    # ---- today's serving models (issue 11) ----
    # GLM-4.6 model card (huggingface.co/zai-org/GLM-4.6): 355B total, GLM-4.5's architecture (decoder 352.8B)
    "glm-4.6": 355 * B,
    # GLM-4.5 card (huggingface.co/zai-org/GLM-4.5-Air): "GLM-4.5-Air ... 106 billion total parameters" (106.85B counted)
    "glm-4.5-air": 106 * B,
    # MiniMax-M2 card (huggingface.co/MiniMaxAI/MiniMax-M2): "230 billion total parameters" (228.69B counted)
    "minimax-m2": 230 * B,
    # Qwen3 model cards (huggingface.co/Qwen/Qwen3-14B, /Qwen3-4B): "Number of Parameters: 14.8B" / "4.0B"
    "qwen3-14b": 14.8 * B,
    "qwen3-4b": 4.0 * B,
    # HF page nvidia/NVIDIA-Nemotron-Nano-9B-v2: "8.89B params" (arXiv:2508.14444: "9B")
    "nemotron-nano-9b-v2": 8.89 * B,
    # NVIDIA-Nemotron-3-Nano-30B-A3B card: "31.6B total parameters" (31.58B counted)
    "nemotron-3-nano-30b-a3b": 31.6 * B,
    # Qwen3.5-397B-A17B card: "397B total" (decoder 396.35B; the preset leaves the vision tower out)
    "qwen3.5-397b-a17b": 397 * B,
    # Llama-Nemotron NAS: HF page nvidia/Llama-3_3-Nemotron-Super-49B-v1_5 "49.9B params" (49.87B counted);
    # Llama-3.1-Nemotron-Ultra-253B-v1 card: "253B" (253.40B counted)
    "llama-3.3-nemotron-super-49b": 49.9 * B,
    "llama-3.1-nemotron-ultra-253b": 253 * B,
}

# Which count a card's total is: "params_total" (decoder, default) or "params_stored" (with the vision
# tower and MTP layers, as the HF page's safetensors sum and the multimodal cards count).
TOTAL_COUNTS = {"llama-4-scout": "params_stored", "llama-4-maverick": "params_stored",
                "deepseek-v3.2": "params_stored", "gemma-3-27b": "params_stored"}
# Totals a card rounds so coarsely that 1% cannot hold: (tolerance, why).
PUBLISHED_TOLERANCE = {"kimi-k2": 0.03,  # "1T" for 1.026T counted (the card's one digit allows +-5%)
                       # "13B" is rounded (12.85B with OPT's biases and 2,050 learned positions, which the
                       # count leaves out: 12.84B)
                       "opt-13b": 0.02}

# (published active parameters, relative tolerance). 1% unless the card rounds to two digits in a way
# that a faithful count cannot meet at 1%; those rows say why.
PUBLISHED_ACTIVE = {
    # mistral.ai/news/mixtral-of-experts: 12.9B per token
    "mixtral-8x7b": (12.9 * B, 0.01),
    # HF page mistralai/Mixtral-8x22B-v0.1 / mistral.ai/news/mixtral-8x22b: 39B active (39.1B)
    "mixtral-8x22b": (39.1 * B, 0.01),
    # Qwen3-235B-A22B model card: "22B activated"
    "qwen3-235b-a22b": (22 * B, 0.01),
    # Qwen3-30B-A3B model card: "3.3B activated". The count is 3.353B (embedding and lm_head included,
    # as the card's 30.5B total does); the card cuts 3.35 to 3.3. The count itself is pinned at 0.1% by
    # the card's non-embedding total (29.9B) in test_non_embedding_totals.
    "qwen3-30b-a3b": (3.3 * B, 0.02),
    # DeepSeek-V3 / R1 model cards: "37B activated". The count is 37.55B with the embedding table and
    # 36.63B without it; either way the card's two-digit 37B is 1-1.5% off.
    "deepseek-v3": (37 * B, 0.02),
    "deepseek-r1": (37 * B, 0.02),
    "deepseek-v3.1": (37 * B, 0.02),
    # gpt-oss model card Table 1: 5.13B / 3.61B active, counting the unembedding but not the embedding
    # lookup (ACTIVE_COUNTS); the count is 5.132B / 3.608B
    "gpt-oss-120b": (5.13 * B, 0.01),
    "gpt-oss-20b": (3.61 * B, 0.01),
    # Llama 4 model card: "17B activated" (both); the count is 17.17B / 17.19B, the card's two digits
    # round it down by 1.0-1.1%
    "llama-4-scout": (17 * B, 0.015),
    "llama-4-maverick": (17 * B, 0.015),
    # Kimi-K2 card: "Activated Parameters 32B"; 31.69B without the embedding lookup (ACTIVE_COUNTS)
    "kimi-k2": (32 * B, 0.015),
    # GLM-4.5 card: "32 billion active"; 32.08B without embedding and lm_head (ACTIVE_COUNTS)
    "glm-4.5": (32 * B, 0.01),
    # Qwen3-Coder-480B-A35B card: "35B activated"; the count is 35.48B (1.4%: two digits)
    "qwen3-coder-480b-a35b": (35 * B, 0.015),
    # Qwen3-Next-80B-A3B card: "3B activated" (one digit); 3.25B without embedding and lm_head
    # (3.87B with them): within the card's rounding (+-0.5B), not 1%
    "qwen3-next-80b-a3b": (3 * B, 0.10),
    # GLM-4.5-Air card: "12 billion active"; 12.18B without embedding and lm_head (ACTIVE_COUNTS, as GLM-4.5)
    "glm-4.5-air": (12 * B, 0.02),
    # GLM-4.6 card: "32B active", as GLM-4.5
    "glm-4.6": (32 * B, 0.01),
    # MiniMax-M2 card: "10 billion active parameters" (two digits); 9.80B without embedding and lm_head
    "minimax-m2": (10 * B, 0.025),
    # NVIDIA-Nemotron-3-Nano-30B-A3B card: "3.6B including embeddings" active (3.58B; 3.23B without the lookup)
    "nemotron-3-nano-30b-a3b": (3.6 * B, 0.01),
    # Qwen3.5-397B-A17B card: "17B activated" (two digits); the count is 17.35B with embedding and lm_head
    "qwen3.5-397b-a17b": (17 * B, 0.025),
}

# Which active count a card states (default: params_active, embeddings included).
ACTIVE_COUNTS = {"gpt-oss-120b": "without_lookup", "gpt-oss-20b": "without_lookup", "kimi-k2": "without_lookup",
                 "glm-4.5": "without_vocab", "qwen3-next-80b-a3b": "without_vocab", "glm-4.6": "without_vocab",
                 "glm-4.5-air": "without_vocab", "minimax-m2": "without_vocab"}


def active_count(m, convention: str) -> float:
    if convention == "without_lookup":
        return m.params_active - m.embedding_params()
    if convention == "without_vocab":
        return m.params_active - m.embedding_params() - m.lm_head_params()
    return m.params_active

# Non-embedding totals (without the embedding table and the lm_head), where the card states them.
PUBLISHED_NON_EMBEDDING = {
    "qwen2-72b": 70.21 * B,       # Qwen2 blog table: 70.21B non-embedding
    "qwen2-57b-a14b": 56.32 * B,  # Qwen2 blog table: 56.32B non-embedding
    "qwen2.5-7b": 6.53 * B,       # Qwen2.5-7B card: "Number of Paramaters (Non-Embedding): 6.53B"
    "qwen2.5-72b": 70.0 * B,      # Qwen2.5-72B card: 70.0B
    "qwen3-8b": 6.95 * B,         # Qwen3-8B card: 6.95B
    "qwen3-32b": 31.2 * B,        # Qwen3-32B card: 31.2B
    "qwen3-30b-a3b": 29.9 * B,    # Qwen3-30B-A3B card: 29.9B
    "qwen3-235b-a22b": 234 * B,   # Qwen3-235B-A22B card: 234B
    "qwen3-14b": 13.2 * B,        # Qwen3-14B card: 13.2B
    "qwen3-4b": 3.6 * B,          # Qwen3-4B card: 3.6B
}

MOE_PRESETS = {"mixtral-8x7b", "mixtral-8x22b", "qwen2-57b-a14b", "qwen3-30b-a3b", "qwen3-235b-a22b",
               "deepseek-v2-lite", "deepseek-v3", "deepseek-r1", "gpt-oss-20b", "gpt-oss-120b", "llama-4-scout",
               "llama-4-maverick", "deepseek-v3.1", "deepseek-v3.2", "kimi-k2", "glm-4.5", "qwen3-next-80b-a3b",
               "qwen3-coder-480b-a35b", "glm-4.6", "glm-4.5-air", "minimax-m2",
               "nemotron-3-nano-30b-a3b", "qwen3.5-397b-a17b"}

SUMMARY_KEYS = {"name", "family", "params_total_b", "params_active_b", "layers", "hidden_size", "attention",
                "heads", "kv_heads", "moe", "kv_bytes_per_token_bf16", "max_context", "layers_by_kind",
                "sliding_window", "attention_chunk", "recurrent", "state_bytes_per_seq_bf16", "mtp_layers",
                "vision_params_b"}


def rel_err(value: float, expected: float) -> float:
    return abs(value - expected) / expected


# ---- presets ----------------------------------------------------------------------------------

def test_every_expected_preset_is_bundled():
    assert set(preset_names()) == set(PUBLISHED_TOTAL)


@pytest.mark.parametrize("name", sorted(PUBLISHED_TOTAL))
def test_preset_loads_with_documented_summary(name):
    spec = load_model(name)
    assert spec.name == name
    s = spec.summary()
    assert set(s) == SUMMARY_KEYS
    assert s["name"] == name
    assert s["params_active_b"] <= s["params_total_b"]
    assert (s["moe"] is not None) == (name in MOE_PRESETS)
    assert (spec.params_active < spec.params_total) == (name in MOE_PRESETS)
    json.dumps(s)  # the CLI prints it as JSON


FIELDS_THAT_MATTER = ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                      "num_key_value_heads", "vocab_size", "max_position_embeddings", "tie_word_embeddings",
                      "torch_dtype", "rope_theta", "rms_norm_eps")


# Nemotron-3's config.json names its norm epsilon layer_norm_epsilon / norm_eps (no rms_norm_eps)
OTHER_SPELLINGS = {"rms_norm_eps": ("layer_norm_epsilon", "norm_eps")}
# Fields a preset leaves out on purpose, with why
LEFT_OUT = {"qwen3.5-397b-a17b": {"intermediate_size"}}  # every layer is MoE: the dense width is unused, and the
# sources of its text_config disagree on it


@pytest.mark.parametrize("name", sorted(PUBLISHED_TOTAL))
def test_preset_file_carries_the_config_fields_that_matter(name):
    cfg = text_config(json.loads((resources.files("specs") / "presets" / f"{name}.json").read_text()))
    # the class defaults of transformers stand for fields the published file omits (Gemma-3)
    defaults = CLASS_DEFAULTS.get(cfg["model_type"])
    missing = [k for k in FIELDS_THAT_MATTER if k not in cfg and not defaults
               and not any(a in cfg for a in OTHER_SPELLINGS.get(k, ())) and k not in LEFT_OUT.get(name, ())]
    assert not missing, f"{name}.json lacks {missing}"


def test_aliases_name_existing_presets_and_every_preset_has_hf_ids():
    table = yaml.safe_load((resources.files("specs") / "presets" / "aliases.yaml").read_text())
    assert set(table) <= set(preset_names()), set(table) - set(preset_names())
    for preset in preset_names():
        ids = table.get(preset) or []
        assert any("/" in i for i in ids), f"{preset} has no Hugging Face id in aliases.yaml"
    flat = [i.lower() for ids in table.values() for i in ids]
    assert len(flat) == len(set(flat)), "an id maps to two presets"


# ---- parameter counts -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PUBLISHED_TOTAL))
def test_params_total_matches_published(name):
    got = getattr(load_model(name), TOTAL_COUNTS.get(name, "params_total"))
    want = PUBLISHED_TOTAL[name]
    tol = PUBLISHED_TOLERANCE.get(name, 0.01)
    assert rel_err(got, want) < tol, f"{name}: {got / B:.3f}B vs published {want / B:.3f}B"


@pytest.mark.parametrize("name", sorted(PUBLISHED_ACTIVE))
def test_params_active_matches_published(name):
    want, tol = PUBLISHED_ACTIVE[name]
    got = active_count(load_model(name), ACTIVE_COUNTS.get(name, "with_embeddings"))
    assert rel_err(got, want) < tol, f"{name}: {got / B:.3f}B active vs published {want / B:.3f}B"


@pytest.mark.parametrize("name", sorted(PUBLISHED_NON_EMBEDDING))
def test_non_embedding_totals(name):
    m = load_model(name)
    got = m.params_total - m.embedding_params() - m.lm_head_params()
    want = PUBLISHED_NON_EMBEDDING[name]
    assert rel_err(got, want) < 0.01, f"{name}: {got / B:.3f}B non-embedding vs published {want / B:.3f}B"


def test_dense_models_are_fully_active():
    for name in ("llama-3.1-8b", "qwen3-32b", "deepseek-67b", "qwen1.5-72b"):
        m = load_model(name)
        assert m.params_active == m.params_total


def test_deepseek_v2_lite_active_count_by_hand():
    # DeepSeek-V2-Lite: 27 layers, h=2048, 16 heads, MLA without q LoRA (q_proj is full rank), kv_lora 512,
    # qk 128+64, v 128; layer 0 dense (10944), layers 1..26 MoE: 64 routed + 2 shared experts of 1408,
    # 6 routed per token.
    h, n, v = 2048, 16, 102400
    attn = (h * n * 192            # q_proj
            + h * (512 + 64) + 512  # kv_a_proj_with_mqa + kv_a_layernorm
            + 512 * n * (128 + 128)  # kv_b_proj
            + n * 128 * h)          # o_proj
    expert = 3 * h * 1408
    dense = 3 * h * 10944
    moe_active = h * 64 + (6 + 2) * expert
    moe_total = h * 64 + (64 + 2) * expert
    norms = 27 * 2 * h + h
    m = load_model("deepseek-v2-lite")
    assert m.params_active == 2 * v * h + 27 * attn + dense + 26 * moe_active + norms
    assert m.params_total == 2 * v * h + 27 * attn + dense + 26 * moe_total + norms
    # The card's "2.4B activated" (arXiv:2405.04434, appendix B) is reproduced by no single convention at
    # 1%: 2.66B with both vocabulary matrices, 2.45B without the embedding lookup, 2.24B without both.
    # It must at least lie in that bracket (which a wrong expert count or top-k would break).
    lo = m.params_active - m.embedding_params() - m.lm_head_params()
    assert lo < 2.4 * B < m.params_active


def test_deepseek_v3_active_count_by_hand():
    h, n, v = 7168, 128, 129280
    attn = (h * 1536 + 1536 + 1536 * n * 192       # q_a_proj + q_a_layernorm + q_b_proj
            + h * (512 + 64) + 512 + 512 * n * 256  # kv_a_proj_with_mqa + kv_a_layernorm + kv_b_proj
            + n * 128 * h)                         # o_proj
    moe_active = h * 256 + (8 + 1) * 3 * h * 2048
    dense = 3 * h * 18432
    norms = 61 * 2 * h + h
    for name in ("deepseek-v3", "deepseek-r1"):
        m = load_model(name)
        assert m.params_active == 2 * v * h + 61 * attn + 3 * dense + 58 * moe_active + norms


def test_shared_expert_counted_for_qwen2_moe():
    m = load_model("qwen2-57b-a14b")
    assert m.moe.num_shared_experts == 1 and m.moe.shared_intermediate_size == 20480
    h = 3584
    # per layer: router (h x 64) + 64 experts of 2560 + shared expert of 20480 + its sigmoid gate (h x 1)
    _, active = m.moe_layer_params()
    assert active == h * 64 + 8 * 3 * h * 2560 + 3 * h * 20480 + h
    # without the shared expert the total would miss 28 * 3 * h * 20480 = 6.2B and fail the 1% check
    cfg = json.loads((resources.files("specs") / "presets" / "qwen2-57b-a14b.json").read_text())
    cfg["shared_expert_intermediate_size"] = 0
    no_shared = from_hf_config(cfg, name="x")
    assert m.params_total - no_shared.params_total == 28 * (3 * h * 20480 + h)


def test_mla_has_leading_dense_layers():
    m = load_model("deepseek-v3")
    assert m.num_dense_layers == 3 and m.num_moe_layers == 58
    assert load_model("deepseek-v2-lite").num_dense_layers == 1


def test_qwen3_counts_qk_norm_and_qwen2_counts_qkv_bias():
    q3 = load_model("qwen3-8b")
    assert q3.qk_norm and not q3.qkv_bias
    # head_dim from the config (128), not hidden/heads: attention = q,k,v,o + q_norm,k_norm
    assert q3.attention_params() == 4096 * (32 + 16) * 128 + 32 * 128 * 4096 + 2 * 128
    q2 = load_model("qwen2-72b")
    assert q2.qkv_bias and not q2.qk_norm
    assert q2.attention_params() == 8192 * (64 + 16) * 128 + (64 + 16) * 128 + 64 * 128 * 8192
    # Qwen3-32B: 64 heads x 128 = 8192 != hidden 5120
    assert load_model("qwen3-32b").q_dim == 8192


# ---- FLOPs per token sanity -------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PUBLISHED_TOTAL))
def test_gemm_params_are_active_minus_embedding_table(name):
    m = load_model(name)
    no_lookup = m.params_active - (0 if m.tie_embeddings else m.embedding_params())  # a tied table is the lm_head
    assert m.params_gemm_active < no_lookup          # the norms are not matmuls
    assert (no_lookup - m.params_gemm_active) / no_lookup < 1e-3
    if m.moe:  # per-token matmuls touch the routed experts, not all of them
        assert m.params_gemm_active < 0.5 * m.params_total


def test_gemm_params_keep_a_tied_table_as_lm_head():
    cfg = json.loads((resources.files("specs") / "presets" / "qwen3-8b.json").read_text())
    cfg["tie_word_embeddings"] = True
    tied = from_hf_config(cfg, name="tied")
    norms = tied.num_layers * 2 * tied.hidden_size + tied.hidden_size
    # the shared table is looked up once and multiplied once: it stays in the GEMM count
    assert tied.params_gemm_active == tied.params_active - norms
    assert tied.params_total == load_model("qwen3-8b").params_total - tied.embedding_params()


# ---- KV cache ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kind,expected", [
    ("llama-3.1-8b", "gqa", 2 * 32 * 8 * 128 * 2),       # K+V x 32 layers x 8 KV heads x 128 x bf16 = 131072
    ("llama-2-70b", "gqa", 2 * 80 * 8 * 128 * 2),        # 327680
    ("llama-2-7b", "mha", 2 * 32 * 32 * 128 * 2),        # 524288
    ("qwen1.5-72b", "mha", 2 * 80 * 64 * 128 * 2),       # 2621440
    ("qwen3-235b-a22b", "gqa", 2 * 94 * 4 * 128 * 2),    # 192512
    ("deepseek-v3", "mla", 61 * (512 + 64) * 2),         # latent + rope key: 70272
    ("deepseek-r1", "mla", 61 * (512 + 64) * 2),
    ("deepseek-v2-lite", "mla", 27 * (512 + 64) * 2),    # 31104
])
def test_kv_bytes_per_token(name, kind, expected):
    m = load_model(name)
    assert m.attention == kind
    assert m.kv_bytes_per_token() == expected
    assert m.kv_bytes_per_token(1.0) == expected / 2      # fp8 KV cache
    assert m.summary()["kv_bytes_per_token_bf16"] == expected


def test_mqa_kind():
    cfg = json.loads((resources.files("specs") / "presets" / "llama-3.1-8b.json").read_text())
    cfg["num_key_value_heads"] = 1
    m = from_hf_config(cfg, name="mqa")
    assert m.attention == "mqa"
    assert m.kv_bytes_per_token() == 2 * 32 * 1 * 128 * 2


# ---- name resolution ------------------------------------------------------------------------------

@pytest.mark.parametrize("hf_id,preset", [
    ("meta-llama/Llama-3.1-70B-Instruct", "llama-3.1-70b"),
    ("meta-llama/llama-3.1-70b-instruct", "llama-3.1-70b"),
    ("META-LLAMA/LLAMA-3.1-70B-INSTRUCT", "llama-3.1-70b"),
    ("meta-llama/Llama-3.1-8B", "llama-3.1-8b"),
    ("meta-llama/Llama-2-70b-chat-hf", "llama-2-70b"),
    ("meta-llama/Meta-Llama-3-8B-Instruct", "llama-3-8b"),
    ("meta-llama/Llama-3.3-70B-Instruct", "llama-3.3-70b"),
    ("mistralai/Mistral-7B-v0.1", "mistral-7b"),
    ("mistralai/Mixtral-8x22B-Instruct-v0.1", "mixtral-8x22b"),
    ("Qwen/Qwen3-30B-A3B", "qwen3-30b-a3b"),
    ("qwen/qwen1.5-72b-chat", "qwen1.5-72b"),
    ("Qwen/Qwen2-57B-A14B-Instruct", "qwen2-57b-a14b"),
    ("deepseek-ai/DeepSeek-R1", "deepseek-r1"),
    ("deepseek-ai/deepseek-llm-67b-base", "deepseek-67b"),
    ("deepseek-ai/DeepSeek-V2-Lite-Chat", "deepseek-v2-lite"),
    ("LLAMA-3.1-405B", "llama-3.1-405b"),
])
def test_hf_ids_resolve_case_insensitively(hf_id, preset):
    assert load_model(hf_id).name == preset


def test_unknown_preset_suggests_close_names():
    with pytest.raises(PerfModelError, match="did you mean") as exc:
        load_model("llama-3.1-7Ob")
    assert isinstance(exc.value, UnknownNameError)
    assert "'llama-3.1-70b'" in str(exc.value)
    with pytest.raises(PerfModelError, match="unknown model 'gpt-17'"):
        load_model("gpt-17")



def test_opt_mlp_is_two_matrices_without_a_gate():
    # OPTDecoderLayer: fc1 (h -> ffn_dim), ReLU, fc2 (ffn_dim -> h); no gate projection
    m = load_model("opt-13b")
    assert not m.mlp_gated and m.tie_embeddings
    assert m.mlp_params(m.intermediate_size) == 2 * 5120 * 20480
