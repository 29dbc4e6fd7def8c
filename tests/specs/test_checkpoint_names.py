"""Checkpoint names -> base architecture: each stripping rule, the quant hint, and the refusals."""

from __future__ import annotations

import pytest

from perfmodel.errors import PerfModelError, UnknownNameError
from perfmodel.specs.checkpoint_names import candidates
from perfmodel.specs.registry import load_model, resolve_checkpoint


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """No Hugging Face cache and no Hub: only the bundled presets and the rules answer."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("name, preset, hint", [
    # the organisation prefix alone: a re-upload under another org of an aliased repository
    ("someorg/DeepSeek-R1-0528", "deepseek-r1", None),
    # quantization tags, with the --quant id they name
    ("nvidia/DeepSeek-R1-0528-FP4", "deepseek-r1", "nvfp4"),
    ("nvidia/DeepSeek-R1-0528-FP4-v2", "deepseek-r1", "nvfp4"),
    ("nvidia/Qwen3-30B-A3B-NVFP4", "qwen3-30b-a3b", "nvfp4"),
    ("Qwen/Qwen3-30B-A3B-FP8", "qwen3-30b-a3b", "fp8"),
    ("RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic", "llama-3.3-70b", "fp8"),
    ("RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16", "llama-3.1-8b", "w4a16"),
    ("Qwen/Qwen3-32B-AWQ", "qwen3-32b", "w4a16"),
    ("Qwen/Qwen2.5-72B-Instruct-GPTQ-Int4", "qwen2.5-72b", "w4a16"),
    ("someorg/Mixtral-8x7B-Instruct-v0.1-W8A8", "mixtral-8x7b", "w8a8"),
    ("openai/gpt-oss-120b-MXFP4", "gpt-oss-120b", "mxfp4"),
    # variants and date codes
    ("Qwen/Qwen3-235B-A22B-Instruct-2507", "qwen3-235b-a22b", None),
    ("Qwen/Qwen3-235B-A22B-Instruct-2507-FP8", "qwen3-235b-a22b", "fp8"),
    ("Qwen/Qwen3-235B-A22B-Thinking-2507", "qwen3-235b-a22b", None),
    ("moonshotai/Kimi-K2-Thinking", "kimi-k2", None),
    # aliased re-releases with their predecessor's config.json shapes (presets/aliases.yaml)
    ("zai-org/GLM-4.7-FP8", "glm-4.6", "fp8"),
    ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "qwen3-30b-a3b", None),
    ("deepseek-ai/DeepSeek-V3.2-Speciale", "deepseek-v3.2", None),
    ("nvidia/Llama-4-Maverick-17B-128E-Instruct-FP8", "llama-4-maverick", "fp8"),
    # Llama-Nemotron NAS re-uploads reach their own per-layer presets, never Llama-3.3-70B
    ("nvidia/Llama-3_3-Nemotron-Super-49B-v1_5", "llama-3.3-nemotron-super-49b", None),
    ("nvidia/Llama-3_3-Nemotron-Super-49B-v1-FP8", "llama-3.3-nemotron-super-49b", "fp8"),
    ("nvidia/Llama-3_3-Nemotron-Super-49B-v1_5-NVFP4", "llama-3.3-nemotron-super-49b", "nvfp4"),
    ("nvidia/Llama-3_1-Nemotron-Ultra-253B-v1-FP8", "llama-3.1-nemotron-ultra-253b", "fp8"),
    # the name as given wins over any rule
    ("deepseek-ai/DeepSeek-V3-0324", "deepseek-v3", None),
    ("qwen3-8b", "qwen3-8b", None),
])
def test_checkpoint_resolves_to_its_base_architecture(name, preset, hint):
    assert resolve_checkpoint(name) == (preset, hint)
    assert load_model(name).name == preset


def test_rules_apply_in_order_and_record_what_they_stripped():
    steps = list(candidates("Qwen/Qwen3-235B-A22B-Instruct-2507-FP8"))
    assert [c.name for c in steps] == ["Qwen/Qwen3-235B-A22B-Instruct-2507-FP8", "Qwen3-235B-A22B-Instruct-2507-FP8",
                                       "Qwen3-235B-A22B-Instruct-2507", "Qwen3-235B-A22B-Instruct", "Qwen3-235B-A22B"]
    assert steps[-1].stripped == ("Qwen/", "-FP8", "-2507", "-Instruct")
    assert steps[-1].quant_hint == "fp8"


def test_stripping_stops_at_the_first_known_name():
    # 'Kimi-K2-Instruct' is an alias already: '-Instruct' is not stripped further
    preset, hint = resolve_checkpoint("nvidia/Kimi-K2-Instruct-FP4")
    assert (preset, hint) == ("kimi-k2", "nvfp4")


def test_quant_hint_becomes_the_specs_checkpoint_quant():
    assert load_model("nvidia/DeepSeek-R1-0528-FP4-v2").quant == "nvfp4"
    assert load_model("Qwen/Qwen3-30B-A3B-FP8").quant == "fp8"
    # a 16-bit tag is an unquantized checkpoint
    assert load_model("someorg/Kimi-K2-Instruct-BF16").quant is None
    # the preset's own finer id already names the tag's format: kept (Kimi-K2 ships block FP8)
    assert load_model("someorg/Kimi-K2-Instruct-FP8").quant == "fp8-block+kv=bf16"
    assert load_model("gpt-oss-120b").quant == load_model("openai/gpt-oss-120b-MXFP4").quant


@pytest.mark.parametrize("name", [
    "Qwen/Qwen3-31B",                        # no rule reaches Qwen3-32B or Qwen3-30B-A3B
    "Qwen/Qwen3-30B-A2B-FP8",                # a different MoE shape, not Qwen3-30B-A3B
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",  # a distilled Qwen2.5, never DeepSeek-R1
    "nvidia/Llama-3_3-Nemotron-Super-70B-v1",  # no such NAS model: never Llama-3.3-70B or Super-49B
    "meta-llama/Llama-3.3-8B-Instruct",      # no such size: not Llama-3.3-70B
    "zai-org/GLM-4.7-Flash",                 # MLA and 64 experts: not GLM-4.7's (GLM-4.6's) shapes
])
def test_names_no_rule_reaches_are_refused_in_one_line(name):
    with pytest.raises(PerfModelError) as exc:
        load_model(name)
    msg = str(exc.value)
    assert name in msg and "\n" not in msg
    with pytest.raises(UnknownNameError):
        resolve_checkpoint(name)


def test_refusal_suggests_close_presets():
    with pytest.raises(PerfModelError, match=r"did you mean .*'qwen3-32b'"):
        load_model("Qwen/Qwen3-33B-FP8")
    with pytest.raises(UnknownNameError, match="did you mean"):
        load_model("qwen3-33b")


def test_a_tag_is_stripped_only_at_the_end_and_never_the_whole_name():
    assert [c.name for c in candidates("FP8")] == ["FP8"]
    assert [c.name for c in candidates("Instruct-Model")] == ["Instruct-Model"]
    # 'nvfp4' is not '-fp4' with an 'nv' left behind
    assert list(candidates("x-NVFP4"))[-1].name == "x"


def test_cached_config_of_the_exact_id_beats_the_rules(tmp_path, monkeypatch):
    import json
    snap = tmp_path / "hub" / "models--acme--Qwen3-32B-FP8" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    cfg = {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
           "intermediate_size": 512, "vocab_size": 1000}
    (snap / "config.json").write_text(json.dumps(cfg))
    spec = load_model("acme/Qwen3-32B-FP8")
    assert spec.name == "acme/Qwen3-32B-FP8" and spec.hidden_size == 256
