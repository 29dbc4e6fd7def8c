"""A user's own config.json: loaded from a file or a directory by its fields, and every malformed one
refused in one line naming the file and the field."""

from __future__ import annotations

import json
from importlib import resources

import pytest

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
