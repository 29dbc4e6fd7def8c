"""Checkpoint quantization configs (config.json `quantization_config`, ModelOpt
`hf_quant_config.json`) read into a --quant id. Each config below is shaped as the published
checkpoint ships it (fields and values as in the named model's files)."""

import json

import pytest

from perfmodel.common.errors import PerfModelError
from perfmodel.specs import load_model
from perfmodel.specs.quantization import parse_hf_quant_config, parse_quantization, quant_id


def qid(qc, **extra):
    return quant_id({"model_type": "x", "quantization_config": qc, **extra})


def test_deepseek_v3_block_fp8():  # deepseek-ai/DeepSeek-V3.1 config.json
    assert qid({"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                "weight_block_size": [128, 128]}) == "fp8-block+kv=bf16"


def test_per_tensor_fp8_keeps_16_bit_kv():
    assert qid({"quant_method": "fp8", "activation_scheme": "static"}) == "fp8+kv=bf16"


def test_gpt_oss_mxfp4_experts_only():  # openai/gpt-oss-120b config.json
    qc = {"modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                     "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"}
    assert qid(qc) == "bf16+experts=mxfp4+kv=bf16"


def test_awq_and_gptq_group_size():  # Qwen2.5-*-Instruct-AWQ / -GPTQ-Int4 config.json
    assert qid({"bits": 4, "group_size": 128, "modules_to_not_convert": None, "quant_method": "awq",
                "version": "gemm", "zero_point": True}) == "w4a16-g128+kv=bf16"
    assert qid({"bits": 4, "group_size": 128, "desc_act": False, "quant_method": "gptq", "sym": True,
                "true_sequential": True}) == "w4a16-g128+kv=bf16"
    assert qid({"bits": 8, "group_size": -1, "quant_method": "gptq"}) == "w8a16+kv=bf16"


def test_modelopt_nvfp4_sibling_file():  # nvidia/DeepSeek-R1-FP4 hf_quant_config.json
    doc = {"producer": {"name": "modelopt", "version": "0.23.0"},
           "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": "FP8", "group_size": 16,
                            "exclude_modules": ["lm_head", "model.layers.*.self_attn*", "model.layers.61*"]}}
    assert parse_hf_quant_config(doc).quant_id == "nvfp4+attention=bf16+kv=fp8"


def test_modelopt_fp8_in_config_json():  # nvidia/Llama-3.1-8B-Instruct-FP8 (newer exports)
    qc = {"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": None,
          "exclude_modules": ["lm_head"]}
    assert qid(qc) == "fp8+kv=bf16"


def test_compressed_tensors_nvfp4():  # RedHatAI/*-NVFP4 (llm-compressor) config.json
    group = {"targets": ["Linear"],
             "weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16,
                         "symmetric": True, "dynamic": False},
             "input_activations": {"num_bits": 4, "type": "float", "strategy": "tensor_group",
                                   "group_size": 16, "dynamic": "local"}}
    qc = {"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized",
          "config_groups": {"group_0": group}, "ignore": ["lm_head", "re:.*mlp.gate$"], "kv_cache_scheme": None}
    assert qid(qc) == "nvfp4+kv=bf16"


def test_compressed_tensors_fp8_with_fp8_kv_and_experts_only_group():
    fp8 = {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"},
           "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": True}}
    w4 = {"targets": ["re:.*mlp.experts.*"],
          "weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 32}}
    qc = {"quant_method": "compressed-tensors", "format": "float-quantized",
          "config_groups": {"group_0": {"targets": ["Linear"], **fp8}, "group_1": w4},
          "ignore": ["lm_head"], "kv_cache_scheme": {"num_bits": 8, "type": "float", "strategy": "tensor"}}
    assert qid(qc) == "fp8+experts=w4a16-g32+kv=fp8"


def test_nested_text_config():  # Llama-4 / Gemma-3 style: quantization inside text_config
    cfg = {"model_type": "llama4", "text_config": {"quantization_config": {"quant_method": "fp8"}}}
    assert quant_id(cfg) == "fp8+kv=bf16"


def test_unquantized_is_none():
    assert parse_quantization({"model_type": "llama"}) is None


def test_unknown_method_is_one_line_error():
    with pytest.raises(PerfModelError, match="quant_method 'hqq' is not supported") as info:
        qid({"quant_method": "hqq", "nbits": 4})
    assert "\n" not in str(info.value)


def test_every_parsed_id_is_a_valid_quant():
    from perfmodel.quant import get_quant

    for q in ("fp8-block+kv=bf16", "bf16+experts=mxfp4+kv=bf16", "nvfp4+attention=bf16+kv=fp8",
              "fp8+experts=w4a16-g32+kv=fp8", "w4a16-g128+kv=bf16", "w4.5a16+kv=bf16"):
        get_quant(q)


def test_deepseek_fp8_config_sets_default_quant_and_fits_8x_h200(tmp_path):
    from perfmodel.estimator import estimate
    from importlib import resources

    cfg = json.loads((resources.files("perfmodel.specs") / "presets" / "deepseek-v3.json").read_text())
    cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                  "weight_block_size": [128, 128]}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    spec = load_model(str(tmp_path / "config.json"))
    assert spec.quant == "fp8-block+kv=bf16"
    r = estimate(model=spec, hardware="hgx-h200", tp=8, batch_size=8, isl=1024, osl=256)
    assert r.plan.quant == spec.quant and r.fits
    assert 671e9 < r.memory["weights_gb"] * 8e9 < 700e9  # ~1 byte per weight, embeddings/head in bf16
    assert not estimate(model=spec, hardware="hgx-h200", tp=8, batch_size=8, isl=1024, osl=256, quant="bf16").fits


def test_modelopt_sibling_file_wins(tmp_path):
    from importlib import resources

    (tmp_path / "config.json").write_text(
        (resources.files("perfmodel.specs") / "presets" / "llama-3.1-8b.json").read_text())
    (tmp_path / "hf_quant_config.json").write_text(json.dumps(
        {"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": None}}))
    assert load_model(str(tmp_path)).quant == "nvfp4+kv=bf16"
