"""A user's own config.json: loaded from a file or a directory by its fields, and every malformed one
refused in one line naming the file and the field."""

from __future__ import annotations

import json
from importlib import resources

import pytest

import perfmodel
from perfmodel.errors import PerfModelError
from perfmodel.specs.registry import load_model


def _write(path, cfg: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2))
    return path


def _preset_cfg(name="llama-3.1-8b") -> dict:
    return json.loads((resources.files("specs") / "presets" / f"{name}.json").read_text())


def test_load_config_json_file_and_directory(tmp_path):
    f = _write(tmp_path / "my-model" / "config.json", _preset_cfg("qwen3-30b-a3b"))
    by_file = load_model(str(f))
    by_dir = load_model(str(f.parent))
    ref = load_model("qwen3-30b-a3b")
    for m in (by_file, by_dir):
        assert m.name == "my-model"
        assert m.params_total == ref.params_total and m.params_active == ref.params_active
    other = _write(tmp_path / "elsewhere.json", _preset_cfg("llama-2-7b"))
    assert load_model(str(other)).attention == "mha"


def _one_line_error(path) -> str:
    with pytest.raises(PerfModelError) as exc:
        load_model(str(path))
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(path) in msg
    return msg


def test_unknown_model_type_loads_by_its_fields(tmp_path):
    cfg = _preset_cfg()
    cfg["model_type"] = "some_new_llama"
    m = load_model(str(_write(tmp_path / "config.json", cfg)))
    assert m.params_total == load_model("llama-3.1-8b").params_total


def test_encoder_decoder_is_refused(tmp_path):
    cfg = _preset_cfg()
    cfg["is_encoder_decoder"] = True
    msg = _one_line_error(_write(tmp_path / "config.json", cfg))
    assert "is_encoder_decoder" in msg and "not supported" in msg


def test_missing_hidden_size(tmp_path):
    cfg = _preset_cfg()
    del cfg["hidden_size"]
    msg = _one_line_error(_write(tmp_path / "config.json", cfg))
    assert "'hidden_size'" in msg


def test_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n  "model_type": "llama",\n  "hidden_size": 4096,,\n}\n')
    msg = _one_line_error(path)
    assert "malformed JSON" in msg and "line 3" in msg


def test_heads_not_divisible_by_kv_heads(tmp_path):
    cfg = _preset_cfg()
    cfg["num_key_value_heads"] = 6
    msg = _one_line_error(_write(tmp_path / "config.json", cfg))
    assert "num_attention_heads=32" in msg and "num_key_value_heads=6" in msg


def test_missing_file(tmp_path):
    msg = _one_line_error(tmp_path / "nope.json")
    assert "no such file" in msg


# ---- this year's checkpoints, by their config.json layout ----------------------------------------

# Qwen/Qwen3-VL-4B-Instruct config.json (as copied into DiffSynth-Studio's Wan MLLM encoder): the decoder nested
# in text_config, a DeepStack vision tower; HF page: 4.44B parameters (Qwen3-4B's 4.02B decoder + the tower)
QWEN3_VL_4B = {
    "architectures": ["Qwen3VLForConditionalGeneration"], "image_token_id": 151655, "model_type": "qwen3_vl",
    "text_config": {"attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 151643, "dtype": "bfloat16",
                    "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 2560,
                    "initializer_range": 0.02, "intermediate_size": 9728, "max_position_embeddings": 262144,
                    "model_type": "qwen3_vl_text", "num_attention_heads": 32, "num_hidden_layers": 36,
                    "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
                    "rope_scaling": {"mrope_interleaved": True, "mrope_section": [24, 20, 20], "rope_type": "default"},
                    "rope_theta": 5000000, "tie_word_embeddings": True, "use_cache": True, "vocab_size": 151936},
    "tie_word_embeddings": True, "transformers_version": "4.57.0.dev0", "video_token_id": 151656,
    "vision_config": {"deepstack_visual_indexes": [5, 11, 17], "depth": 24, "hidden_act": "gelu_pytorch_tanh",
                      "hidden_size": 1024, "in_channels": 3, "initializer_range": 0.02, "intermediate_size": 4096,
                      "model_type": "qwen3_vl", "num_heads": 16, "num_position_embeddings": 2304, "out_hidden_size": 2560,
                      "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2},
    "vision_end_token_id": 151653, "vision_start_token_id": 151652}


def test_qwen3_vl_reads_text_config_and_counts_the_deepstack_mergers(tmp_path):
    m = load_model(str(_write(tmp_path / "qwen3-vl-4b" / "config.json", QWEN3_VL_4B)))
    assert m.params_total == load_model("qwen3-4b").params_total     # the decoder is Qwen3-4B's
    assert m.tie_embeddings and m.qk_norm and m.max_context == 262144
    # the tower with its 3 DeepStack mergers: 4.44B in all as the HF page counts (without them: 4.36B)
    assert m.params_stored / 1e9 == pytest.approx(4.44, abs=0.01)


def test_kimi_k25_nests_kimi_k2_under_text_config_with_a_moonvit_tower(tmp_path):
    """Kimi-K2.5 (model_type kimi_k25): K2's DeepSeek-V3 decoder in text_config, MoonViT sizes named vt_*
    (card: K2's 1T architecture plus a ~0.4B vision encoder)."""
    k2 = _preset_cfg("kimi-k2")
    cfg = {"architectures": ["KimiK25ForConditionalGeneration"], "model_type": "kimi_k25", "tie_word_embeddings": False,
           "text_config": {**k2, "model_type": "kimi_k2"},
           "vision_config": {"vt_num_hidden_layers": 27, "vt_num_attention_heads": 16, "vt_hidden_size": 1152,
                             "vt_intermediate_size": 4304, "patch_size": 14, "merge_kernel_size": [2, 2],
                             "mm_hidden_size": 1152, "text_hidden_size": 7168, "mm_projector_type": "patchmerger"}}
    m = load_model(str(_write(tmp_path / "kimi-k2.5" / "config.json", cfg)))
    ref = load_model("kimi-k2")
    assert (m.params_total, m.params_active, m.mla, m.quant) == (ref.params_total, ref.params_active, ref.mla, ref.quant)
    assert 0.35e9 < m.vision_params < 0.45e9


def test_glm45v_nests_the_air_decoder_with_its_attention_bias_rule(tmp_path):
    air = _preset_cfg("glm-4.5-air")
    cfg = {"architectures": ["Glm4vMoeForConditionalGeneration"], "model_type": "glm4v_moe", "tie_word_embeddings": False,
           "text_config": {**air, "model_type": "glm4v_moe_text", "num_local_experts": air["n_routed_experts"],
                           "rope_scaling": {"rope_type": "default", "mrope_section": [8, 12, 12]}},
           "vision_config": {"model_type": "glm4v_moe", "depth": 24, "hidden_act": "silu", "hidden_size": 1536,
                             "image_size": 336, "intermediate_size": 10944, "num_heads": 12, "out_hidden_size": 4096,
                             "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}}
    m = load_model(str(_write(tmp_path / "glm-4.5v" / "config.json", cfg)))
    ref = load_model("glm-4.5-air")
    assert m.params_total == ref.params_total and m.qkv_bias and not m.o_bias and m.vision_params > 1e9


# Checkpoints whose configs spell experts and biases their own way: each config is the checkpoint's decoder
# fields (copies in public test fixtures); checked are the MoE structure read from those fields and the
# card's headline total (cards round to two digits: 5%)
@pytest.mark.parametrize("name, cfg, card_total_b, moe", [
    # baidu/ERNIE-4.5-21B-A3B: moe_num_experts / moe_k / moe_layer_start_index; "21B total, 3B activated"
    ("ernie-4.5-21b-a3b", {"architectures": ["Ernie4_5_MoeForCausalLM"], "model_type": "ernie4_5_moe", "hidden_size": 2560,
                           "intermediate_size": 12288, "moe_intermediate_size": 1536, "num_hidden_layers": 28,
                           "num_attention_heads": 20, "num_key_value_heads": 4, "head_dim": 128, "moe_num_experts": 64,
                           "moe_num_shared_experts": 2, "moe_k": 6, "moe_layer_start_index": 1, "moe_layer_end_index": 27,
                           "moe_layer_interval": 1, "vocab_size": 103424, "tie_word_embeddings": True},
     21, (27, 64, 6, 2 * 1536)),
    # tencent/Hunyuan-A13B-Instruct: per-layer lists moe_topk / moe_intermediate_size / num_shared_expert;
    # card "80B total, 13B active"
    ("hunyuan-a13b", {"architectures": ["HunYuanMoEV1ForCausalLM"], "model_type": "hunyuan_v1_moe", "hidden_size": 4096,
                      "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
                      "intermediate_size": 3072, "vocab_size": 128167, "num_experts": 64, "use_cla": False,
                      "moe_intermediate_size": [3072] * 32, "moe_topk": [8] * 32, "num_shared_expert": [1] * 32},
     80, (32, 64, 8, 3072)),
    # zai-org/GLM-4.7-Flash (glm4_moe_lite): MLA with 64 experts; "30B-A3B"
    ("glm-4.7-flash", {"architectures": ["Glm4MoeLiteForCausalLM"], "model_type": "glm4_moe_lite", "num_hidden_layers": 47,
                       "hidden_size": 2048, "num_attention_heads": 20, "num_key_value_heads": 20, "head_dim": 64,
                       "intermediate_size": 10240, "vocab_size": 154880, "n_routed_experts": 64, "n_shared_experts": 1,
                       "num_experts_per_tok": 4, "moe_intermediate_size": 1536, "first_k_dense_replace": 1,
                       "kv_lora_rank": 512, "q_lora_rank": 768, "qk_nope_head_dim": 192, "qk_rope_head_dim": 64,
                       "v_head_dim": 256, "tie_word_embeddings": False}, 30, (46, 64, 4, 1536)),
    # ByteDance-Seed/Seed-OSS-36B-Instruct: q/k/v biases without an o_proj bias (attention_out_bias); "36B"
    ("seed-oss-36b", {"model_type": "seed_oss", "hidden_size": 5120, "num_hidden_layers": 64, "intermediate_size": 27648,
                      "num_attention_heads": 80, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 155136,
                      "max_position_embeddings": 524288, "tie_word_embeddings": False, "attention_bias": True,
                      "attention_out_bias": False}, 36, None),
])
def test_this_years_moe_and_dense_checkpoints_load_by_their_fields(tmp_path, name, cfg, card_total_b, moe):
    """Each loads and estimates without a special case."""
    m = load_model(str(_write(tmp_path / name / "config.json", cfg)))
    r = perfmodel.estimate(model=m, hardware="h200-sxm", batch_size=4, isl=512, osl=64, tp=4)
    assert r.fits and r.tpot_ms > 0
    assert m.params_total / 1e9 == pytest.approx(card_total_b, rel=0.05)
    if moe is None:
        assert m.moe is None and m.qkv_bias and not m.o_bias
    else:   # (MoE layers, experts, selected per token, shared-expert width)
        e = m.moe
        assert (m.num_moe_layers, e.num_experts, e.experts_per_token, e.shared_intermediate_size) == moe


# google/gemma-3-270m config.json (newer transformers export: `_sliding_window_pattern`, no layer_types);
# HF page: 268M parameters, 170M of them the 262K-token embedding
GEMMA3_270M = {"model_type": "gemma3_text", "hidden_size": 640, "vocab_size": 262144, "num_hidden_layers": 18,
               "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "intermediate_size": 2048,
               "_sliding_window_pattern": 6, "rope_local_base_freq": 10000.0, "rope_theta": 1000000.0,
               "sliding_window": 512, "max_position_embeddings": 32768, "query_pre_attn_scalar": 256}


def test_gemma3_small_reads_the_underscored_window_period(tmp_path):
    m = load_model(str(_write(tmp_path / "gemma-3-270m" / "config.json", GEMMA3_270M)))
    assert m.params_total / 1e6 == pytest.approx(268, abs=0.5) and m.tie_embeddings
    assert m.count_mixer("full") == 3 and m.count_mixer("sliding") == 15 and m.sliding_window == 512
    # the period is the config's own, not the class default of 6
    every_third = load_model(str(_write(tmp_path / "g3" / "config.json", {**GEMMA3_270M, "_sliding_window_pattern": 3})))
    assert every_third.count_mixer("full") == 6


@pytest.mark.parametrize("field, value, words", [
    # google/gemma-3n-E4B: AltUp streams and per-layer embeddings (MatFormer) are not a plain decoder
    ("altup_num_inputs", 4, "altup_num_inputs=4"),
    # tencent/Hunyuan-Large: cross-layer attention shares each KV between cla_share_factor layers
    ("use_cla", True, "use_cla=True"),
])
def test_structure_the_model_does_not_express_is_a_one_line_error(tmp_path, field, value, words):
    text = {**_preset_cfg(), "model_type": "gemma3n_text" if field == "altup_num_inputs" else "hunyuan_v1_moe", field: value}
    cfg = {"model_type": "gemma3n", "text_config": text} if field == "altup_num_inputs" else text
    msg = _one_line_error(_write(tmp_path / "config.json", cfg))
    assert words in msg and "not supported" in msg
