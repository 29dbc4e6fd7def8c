"""Issue 16's export findings, each checked by value: the example plans (dense, MoE EP +
attention-DP, disaggregated, fp8, w4a16, offload) export commands whose flags parse with the
engines' argument definitions (tests/search/test_export.py) and carry the plan's numbers."""

from __future__ import annotations

import json
import shlex

import pytest

from perfmodel.plan import Plan
from perfmodel.search.export import get_exporter
from perfmodel.search.plan_file import write_plan_file
from perfmodel.search.problem import serving_model_id
from tests._cli import run
from tests.search.test_export import _plan_file, parse_command

GIB = 1024 ** 3
DSV3 = dict(model="deepseek-v3", model_id="deepseek-ai/DeepSeek-V3", devices=16)


def _servers(ex, program):
    out = []
    for line in ex.commands:
        prog, pos, ns = parse_command(line)
        if prog == program:
            env = dict(w.split("=", 1) for w in shlex.split(line.rstrip(" &")) if "=" in w and not w.startswith("-")
                       and w.split("=", 1)[0].isupper())
            out.append((pos, ns, env))
    return out


def test_dp_ep_pools_are_one_vllm_server_each():
    """DeepSeek-V3 on 16 GPUs, disaggregated: an 8-way attention-DP + EP8 decode pool is one vLLM
    server over 8 GPUs with --data-parallel-size 8 --enable-expert-parallel (not 8 single-GPU
    servers that would each hold the whole model); the DP 2 x PP 4 EP prefill pool likewise."""
    pf = _plan_file([Plan(tp=1, pp=4, dp=2, ep=2, max_batch=2, token_budget=8192, mode="prefill"),
                     Plan(tp=1, dp=8, ep=8, max_batch=64, mode="decode")], "disaggregated", **DSV3)
    servers = _servers(get_exporter("vllm").export(pf), "vllm")
    assert len(servers) == 2
    (_, pre, pre_env), (_, dec, dec_env) = sorted(servers, key=lambda s: s[1].port)
    assert (dec.tensor_parallel_size, dec.data_parallel_size, dec.enable_expert_parallel) == (1, 8, True)
    assert len(dec_env["CUDA_VISIBLE_DEVICES"].split(",")) == 8
    assert (pre.tensor_parallel_size, pre.pipeline_parallel_size, pre.data_parallel_size) == (1, 4, 2)
    assert len(pre_env["CUDA_VISIBLE_DEVICES"].split(",")) == 8
    assert set(pre_env["CUDA_VISIBLE_DEVICES"].split(",")).isdisjoint(dec_env["CUDA_VISIBLE_DEVICES"].split(","))
    assert pre_env["VLLM_NIXL_SIDE_CHANNEL_PORT"] != dec_env["VLLM_NIXL_SIDE_CHANNEL_PORT"]


def test_sglang_prefill_servers_have_their_own_bootstrap_ports():
    pf = _plan_file([Plan(tp=2, dp=2, max_batch=4, token_budget=8192, mode="prefill"),
                     Plan(tp=4, max_batch=128, mode="decode")], "disaggregated")
    ex = get_exporter("sglang").export(pf)
    assert all(c.startswith("CUDA_VISIBLE_DEVICES=") and " sglang serve " in c for c in ex.commands[:-1])
    prefill = [ns for _, ns, _ in _servers(ex, "sglang") if ns.disaggregation_mode == "prefill"]
    assert sorted(ns.disaggregation_bootstrap_port for ns in prefill) == [8998, 8999]
    _, _, router = parse_command(ex.commands[-1])
    assert [p[1] for p in router.prefill] == ["8998", "8999"]


def test_weight_offload_is_gib_and_an_int_for_sglang():
    """Llama-3.1-70B bf16 on TP2, half the weights in host memory: ~70.6e9 params x 2 bytes / 2
    devices / 2 = 35.3e9 bytes = 32.9 GiB per device (not 35.3 'GB'); SGLang parses an int."""
    pf = _plan_file([Plan(tp=2, max_batch=32, token_budget=8192, weights_offload=0.5)], "aggregated", devices=2)
    expected_gib = 70.55e9 * 2 / 2 * 0.5 / GIB
    (_, v, _), = _servers(get_exporter("vllm").export(pf), "vllm")
    assert v.cpu_offload_gb == pytest.approx(expected_gib, abs=0.6)
    (_, s, _), = _servers(get_exporter("sglang").export(pf), "sglang")
    assert isinstance(s.cpu_offload_gb, int) and s.cpu_offload_gb in (33, 34)


def test_kv_offload_emits_vllm_kv_offloading_flags():
    pf = _plan_file([Plan(tp=2, max_batch=32, token_budget=8192, kv_offload=0.5)], "aggregated", devices=2)
    ex = get_exporter("vllm").export(pf)
    (_, v, _), = _servers(ex, "vllm")
    assert v.kv_offloading_backend == "native" and v.kv_offloading_size > 0
    (_, s, _), = _servers(get_exporter("sglang").export(pf), "sglang")
    assert s.enable_hierarchical_cache and s.hicache_size > 0


@pytest.mark.parametrize("quant", ["fp8", "w4a16", "w8a8"])
def test_quantized_plans_name_a_quantized_checkpoint(quant, tmp_path, capsys):
    """No `--quantization fp8` of a bf16 checkpoint: vLLM reads the scheme from the checkpoint; the
    export says the model id must be a checkpoint in that scheme, and --model-id supplies it."""
    pf = _plan_file([Plan(tp=4, quant=quant, max_batch=64, token_budget=4096)], "aggregated", devices=4)
    ex = get_exporter("vllm").export(pf)
    (_, v, _), = _servers(ex, "vllm")
    assert v.quantization is None and v.dtype == "auto"
    assert any(f"must be a {quant} checkpoint" in n and "--model-id" in n for n in ex.notes)
    path = tmp_path / "plan.json"
    write_plan_file(pf, path)
    code, out, err = run(capsys, "export", str(path), "--format", "vllm", "--model-id", f"org/Llama-{quant}", "--json")
    assert code == 0, err
    assert f"vllm serve org/Llama-{quant} " in json.loads(out)["commands"][0]


def test_static_batch_plans_turn_chunked_prefill_off():
    pf = _plan_file([Plan(tp=8, max_batch=128)], "aggregated")
    (_, v, _), = _servers(get_exporter("vllm").export(pf), "vllm")
    assert v.enable_chunked_prefill is False and v.max_num_batched_tokens == 128 * pf.workload.isl
    (_, s, _), = _servers(get_exporter("sglang").export(pf), "sglang")
    assert s.chunked_prefill_size == -1


def test_fields_without_a_flag_are_listed_in_the_notes():
    pf = _plan_file([Plan(tp=4, ep=4, dp=2, max_batch=64, token_budget=4096, nano_batches=2, expert_locality=0.7)],
                    "aggregated", model="mixtral-8x7b", model_id="mistralai/Mixtral-8x7B-Instruct-v0.1")
    pf = pf.model_copy(update={"expert_placement": "balanced"})
    for engine in ("vllm", "sglang", "trtllm"):
        notes = " ".join(get_exporter(engine).export(pf).notes)
        assert "nano_batches=2" in notes and "expert_placement=balanced" in notes, engine
        assert "expert_locality=0.7" in notes, engine


def test_model_id_comes_from_the_configs_name_or_path(tmp_path):
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"_name_or_path": "org/My-Llama-8B", "model_type": "llama"}))
    assert serving_model_id(str(d / "config.json"), "my-llama") == "org/My-Llama-8B"
    (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert serving_model_id(str(d / "config.json"), "my-llama") == str(d.resolve())


@pytest.mark.parametrize("line,error", [
    ("sglang serve --model-path m --cpu-offload-gb 32.9", "invalid int value"),       # SGLang parses an int
    ("sglang serve --model-path m --tp-size 8 --dp-size 8 --enable-dp-attention", "deprecated"),
    ("vllm serve m --no-enable-chunked-prefill", "flags not in vllm 0.34.0"),          # 0.34: --disable-chunked-prefill
    ("vllm serve m --quantization fp8 --dtype bf16", "invalid choice"),
    ("trtllm-serve m --tp_size two", "invalid int value"),
])
def test_the_engine_tables_catch_what_would_not_launch(line, error):
    with pytest.raises((AssertionError, Exception), match=error):
        parse_command(line)


def test_tables_name_their_engine_version():
    from tests.search.test_export import SGLANG, SGLANG_ROUTER, TRTLLM, VLLM

    for table in (VLLM, SGLANG, SGLANG_ROUTER, TRTLLM):
        assert table["version"] and table["generated_by"] == "tools/engine_args.py" and len(table["args"]) > 20
