"""Exported launch commands parse back against each engine's documented flags; YAML is valid;
plan files are versioned."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import pytest
import yaml

from perfmodel.errors import PerfModelError, UnknownNameError
from perfmodel.plan import PLAN_SCHEMA_VERSION, Plan
from perfmodel.search.export import export_formats, get_exporter
from perfmodel.search.plan_file import PlanFile, Prediction, Provenance, Workload, load_plan_file, write_plan_file

# ---- the engines' flags, from their own argument definitions ----------------------------------
# tests/search/engine_args/*.json are written by tools/engine_args.py from the engines' parsers
# (vLLM and SGLang imported, each table records its version); regenerate them for a new release.
TABLES = Path(__file__).parent / "engine_args"
VALUE_TYPES = {"int": int, "float": float, "json": json.loads, "str": str}


def engine_table(name: str) -> dict:
    return json.loads((TABLES / f"{name}.json").read_text())


def table_parser(table: dict) -> argparse.ArgumentParser:
    """An argparse parser with the engine's options, value types, choices and nargs."""
    p = argparse.ArgumentParser(exit_on_error=False, add_help=False, allow_abbrev=False)
    seen = set()
    for spec in table["args"].values():
        opts = tuple(spec["options"])
        if opts in seen:
            continue
        seen.add(opts)
        dest = next(o for o in opts if o.startswith("--")).lstrip("-").replace("-", "_")
        if spec["kind"] == "flag":
            p.add_argument(*opts, dest=dest, action="store_true")
        elif spec["kind"] == "bool":
            p.add_argument(*opts, dest=dest, action=_BoolAction, nargs=0, default=False, false_options=spec["false_options"])
        else:
            kind = VALUE_TYPES[spec["type"]]
            kw = {"type": kind, "dest": dest}
            if "choices" in spec and spec["type"] != "json":
                kw["choices"] = [kind(c) for c in spec["choices"]]
            if "nargs" in spec:
                kw["nargs"] = spec["nargs"]
            p.add_argument(*opts, action="append" if spec.get("append") else "store", **kw)
    return p


class _BoolAction(argparse.Action):
    def __init__(self, *args, false_options=(), **kw):
        self.false_options = set(false_options)
        super().__init__(*args, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, option_string not in self.false_options)


VLLM = engine_table("vllm")
SGLANG = engine_table("sglang")
SGLANG_ROUTER = engine_table("sglang-router")
# TensorRT-LLM, nvidia.github.io/TensorRT-LLM "trtllm-serve" (commands/trtllm-serve) and
# "Disaggregated Serving" (trtllm-serve disaggregated -c disagg_config.yaml).
TRTLLM = engine_table("trtllm")
# the LLM-API YAML (--extra_llm_api_options): TensorRT-LLM "LLM API" reference, by hand
TRTLLM_YAML = {
    "enable_chunked_prefill": bool, "enable_attention_dp": bool, "disable_overlap_scheduler": bool,
    "kv_cache_config": {"free_gpu_memory_fraction": float, "dtype": str, "host_cache_size": int,
                        "enable_block_reuse": bool},
    "cuda_graph_config": {"enable_padding": bool, "max_batch_size": int},
    "cache_transceiver_config": {"backend": ["DEFAULT", "UCX", "NIXL", "MPI"], "max_tokens_in_buffer": int},
    # issue 12: "Speculative Decoding" (MTPDecodingConfig, EagleDecodingConfig, NGramDecodingConfig)
    "speculative_config": {"decoding_type": ["MTP", "Eagle", "NGram"], "num_nextn_predict_layers": int,
                           "max_draft_len": int, "speculative_model_dir": str},
}
TRTLLM_DISAGG = {"hostname": str, "port": int, "backend": str,
                 "context_servers": {"num_instances": int, "urls": list},
                 "generation_servers": {"num_instances": int, "urls": list}}


def parser_for(table: dict) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False, add_help=False, allow_abbrev=False)
    for flag, kind in table.items():
        if kind is None:
            p.add_argument(flag, action="store_true")
        elif kind == "append":
            p.add_argument(flag, action="append")
        elif kind == "append+":
            p.add_argument(flag, action="append", nargs="+")
        elif kind == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction)
        elif isinstance(kind, list):
            p.add_argument(flag, choices=kind)
        else:
            p.add_argument(flag, type=kind)
    return p


def parse_command(line: str) -> tuple[str, list[str], argparse.Namespace]:
    """(program, positionals, parsed flags) of one exported command; raises on an unknown flag."""
    words = shlex.split(line.rstrip(" &"))
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)                                   # VAR=value environment prefixes
    if words[:2] == ["vllm", "serve"]:
        return "vllm", words[2:3], _parse(VLLM, words[3:])
    if words[:2] == ["sglang", "serve"]:
        return "sglang", [], _parse(SGLANG, words[2:])
    if words[:3] == ["python", "-m", "sglang_router.launch_router"]:
        return "sglang_router", [], _parse(SGLANG_ROUTER, words[3:])
    if words[:2] == ["trtllm-serve", "disaggregated"]:
        assert words[2] == "-c"
        return "trtllm_disagg", [words[3]], argparse.Namespace()
    if words[0] == "trtllm-serve":
        return "trtllm", words[1:2], _parse(TRTLLM, words[2:])
    if words == ["wait"]:
        return "wait", [], argparse.Namespace()
    raise AssertionError(f"unknown program in {line!r}")


def _parse(table, words):
    if "args" in table:       # a generated table: the engine's own definitions
        flags = [w.split("=", 1)[0] for w in words if w.startswith("-") and not _is_number(w)]
        unknown = [f for f in flags if f not in table["args"]]
        assert not unknown, f"flags not in {table['engine']} {table['version']}: {unknown}"
        deprecated = [f for f in flags if table["args"][f]["deprecated"]]
        assert not deprecated, f"deprecated in {table['engine']} {table['version']}: {deprecated}"
        return table_parser(table).parse_args(words)
    ns, rest = parser_for(table).parse_known_args(words)
    assert not rest, f"flags not in the engine's documented set: {rest}"
    return ns


def _is_number(word: str) -> bool:
    try:
        float(word)
        return True
    except ValueError:
        return False


def check_yaml(data, schema, where=""):
    assert isinstance(data, dict), where
    for k, v in data.items():
        assert k in schema, f"{where}{k} is not a documented key"
        kind = schema[k]
        if isinstance(kind, dict):
            check_yaml(v, kind, f"{where}{k}.")
        elif isinstance(kind, list):
            assert v in kind, f"{where}{k}={v!r} not in {kind}"
        elif kind is float:
            assert isinstance(v, (int, float))
        else:
            assert isinstance(v, kind), f"{where}{k}={v!r} is not {kind.__name__}"


# ---- plans to export ---------------------------------------------------------------------------
def _plan_file(pools, mode, *, model="llama-3.1-70b", model_id="meta-llama/Llama-3.1-70B-Instruct", devices=8):
    return PlanFile(model=model, model_id=model_id, hardware="h100-sxm", devices=devices, mode=mode, pools=pools,
                    workload=Workload(isl=4000, osl=500),
                    prediction=Prediction(ttft_ms=300, tpot_ms=30, e2e_ms=15000, output_tok_s=3000,
                                          output_tok_s_per_device=375, tok_s_per_user=33, goodput_tok_s_per_device=300,
                                          memory_per_device_gb=60, devices=devices, bound="memory"),
                    provenance=Provenance(version="0.1.0", catalog="h100-sxm@x", created="2026-01-01T00:00:00+00:00"))


PLANS = {
    "agg_chunked_dp": _plan_file([Plan(tp=2, pp=2, dp=2, max_batch=64, token_budget=2048, kv_dtype="fp8")], "aggregated"),
    "agg_static_fp8": _plan_file([Plan(tp=8, quant="fp8", max_batch=128)], "aggregated"),
    "agg_offload": _plan_file([Plan(tp=2, max_batch=32, token_budget=8192, weights_offload=0.5)], "aggregated", devices=2),
    "disagg": _plan_file([Plan(tp=1, pp=4, dp=1, max_batch=2, token_budget=8000, mode="prefill"),
                          Plan(tp=2, dp=2, max_batch=128, mode="decode")], "disaggregated"),
    "moe_adp_disagg": _plan_file([Plan(tp=2, dp=2, ep=4, max_batch=2, token_budget=4000, mode="prefill"),
                                  Plan(tp=1, dp=4, ep=4, max_batch=64, mode="decode")], "disaggregated",
                                 model="mixtral-8x7b", model_id="mistralai/Mixtral-8x7B-Instruct-v0.1"),
    "moe_spec_eplb_tbo": _plan_file([Plan(tp=1, dp=8, ep=8, max_batch=64, quant="fp8", spec_method="mtp", spec_tokens=2,
                                          redundant_experts=32, two_batch_overlap=True)], "aggregated",
                                    model="deepseek-v3", model_id="deepseek-ai/DeepSeek-V3", devices=8),
    "eagle3_disagg": _plan_file([Plan(tp=2, max_batch=2, token_budget=8000, mode="prefill"),
                                 Plan(tp=2, max_batch=64, mode="decode", spec_method="eagle3", spec_tokens=3)],
                                "disaggregated", devices=4),
    "ngram_agg": _plan_file([Plan(tp=8, max_batch=32, spec_method="ngram", spec_tokens=4,
                                  spec_acceptance=(0.5, 0.4, 0.3, 0.2))], "aggregated"),
    "moe_adp_workers": _plan_file([Plan(tp=2, dp=2, ep=4, max_batch=2, token_budget=4000, workers=2, mode="prefill"),
                                   Plan(tp=1, dp=4, ep=4, max_batch=64, workers=2, mode="decode")], "disaggregated",
                                  model="mixtral-8x7b", model_id="mistralai/Mixtral-8x7B-Instruct-v0.1", devices=16),
    "moe_ep_agg": _plan_file([Plan(tp=4, ep=4, dp=2, max_batch=64, token_budget=4096)], "aggregated",
                             model="mixtral-8x7b", model_id="mistralai/Mixtral-8x7B-Instruct-v0.1"),
}


def test_formats():
    assert set(export_formats()) == {"dynamo-sglang", "dynamo-vllm", "json", "sglang", "trtllm", "vllm"}
    with pytest.raises(UnknownNameError, match="unknown export format 'vllmm'"):
        get_exporter("vllmm")


@pytest.mark.parametrize("name", PLANS)
def test_vllm_commands_parse_back(name):
    pf = PLANS[name]
    ex = get_exporter("vllm").export(pf)
    servers = [parse_command(c) for c in ex.commands if c != "wait"]
    assert all(prog == "vllm" and pos == [pf.model_id] for prog, pos, _ in servers)
    if pf.mode == "aggregated":
        (_, _, ns), = servers
        pool = pf.pools[0]
        assert ns.tensor_parallel_size == pool.tp
        assert (ns.pipeline_parallel_size or 1) == pool.pp and (ns.data_parallel_size or 1) == pool.dp
        assert ns.max_num_seqs == pool.max_batch and ns.enable_expert_parallel == (pool.ep > 1)
        assert ns.enable_chunked_prefill is bool(pool.token_budget)   # static batches: --no-enable-chunked-prefill
        assert ns.gpu_memory_utilization == pool.memory_utilization
        assert (ns.cpu_offload_gb or 0) > 0 if pool.weights_offload else ns.cpu_offload_gb is None
    else:
        # an expert-parallel pool's replicas are one server per worker with --data-parallel-size;
        # others one per replica
        n = sum(p.workers if (p.dp > 1 and p.ep > 1) else p.replicas for p in pf.pools)
        assert len(servers) == n
        assert all(json.loads(ns.kv_transfer_config) == {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
                   for *_, ns in servers)
        ports = [ns.port for *_, ns in servers]
        assert len(set(ports)) == len(ports)


@pytest.mark.parametrize("name", PLANS)
def test_sglang_commands_parse_back(name):
    pf = PLANS[name]
    ex = get_exporter("sglang").export(pf)
    parsed = [parse_command(c) for c in ex.commands]
    servers = [ns for prog, _, ns in parsed if prog == "sglang"]
    assert all(ns.model_path == pf.model_id for ns in servers)
    if pf.mode == "disaggregated":
        modes = sorted(ns.disaggregation_mode for ns in servers)
        assert set(modes) == {"prefill", "decode"}
        (router,) = [ns for prog, _, ns in parsed if prog == "sglang_router"]
        assert router.pd_disaggregation and len(router.prefill) == len([m for m in modes if m == "prefill"])
        prefill_urls = [p[0] for p in router.prefill]
        decode_urls = [d[0] for d in router.decode]                 # --decode URL (nargs=1, append)
        assert {int(u.rsplit(":", 1)[1]) for u in prefill_urls + decode_urls} == {ns.port for ns in servers}
        # each prefill server has its own bootstrap port, and the router names it
        boot = [ns.disaggregation_bootstrap_port for ns in servers if ns.disaggregation_mode == "prefill"]
        assert len(set(boot)) == len(boot) and sorted(int(p[1]) for p in router.prefill) == sorted(boot)
    for pool in pf.pools:
        mine = [ns for ns in servers if (ns.disaggregation_mode or "aggregated") == pool.mode]
        if pool.ep > pool.tp:                 # attention-DP: one server over each worker's EP group
            assert len(mine) == pool.workers
            for ns in mine:
                assert ns.attn_dp_size == pool.dp and ns.tp_size == pool.tp * pool.dp
                assert ns.ep_size == pool.ep
            if pf.mode == "disaggregated":    # each worker's server on its own devices
                devices = [d for c in ex.commands if "--disaggregation-mode " + pool.mode in c
                           for d in c.split("CUDA_VISIBLE_DEVICES=")[1].split()[0].split(",")]
                assert len(devices) == len(set(devices)) == pool.devices
        elif pf.mode == "disaggregated":
            assert len(mine) == pool.dp and all(ns.tp_size == pool.tp for ns in mine)


@pytest.mark.parametrize("name", PLANS)
def test_trtllm_commands_and_yaml_parse_back(name):
    pf = PLANS[name]
    ex = get_exporter("trtllm").export(pf)
    parsed = [parse_command(c) for c in ex.commands]
    servers = [(pos, ns) for prog, pos, ns in parsed if prog == "trtllm"]
    assert servers and all(pos == [pf.model_id] for pos, _ in servers)
    for _, ns in servers:
        assert ns.extra_llm_api_options in ex.files
        check_yaml(yaml.safe_load(ex.files[ns.extra_llm_api_options]), TRTLLM_YAML)
    # the values: a pool's TP (x DP under attention-DP), PP, EP and batch reach the right servers
    by_role = {"aggregated": [], "prefill": [], "decode": []}
    for _, ns in servers:
        role = {"ctx_extra_llm_api_options.yaml": "prefill", "gen_extra_llm_api_options.yaml": "decode"}.get(
            ns.extra_llm_api_options, "aggregated")
        by_role[role].append(ns)
    for pool in pf.pools:
        mine = by_role[pool.mode]
        adp = pool.ep > pool.tp
        assert len(mine) == (pool.workers if adp else pool.replicas), pool
        for ns in mine:
            assert ns.tp_size == (pool.tp * pool.dp if adp else pool.tp) and (ns.pp_size or 1) == pool.pp
            assert (ns.ep_size or 1) == pool.ep and ns.max_batch_size == pool.max_batch
            assert ns.kv_cache_free_gpu_memory_fraction == pool.memory_utilization
    if pf.mode == "disaggregated":
        (cfg_name,) = [pos[0] for prog, pos, _ in parsed if prog == "trtllm_disagg"]
        cfg = yaml.safe_load(ex.files[cfg_name])
        check_yaml(cfg, TRTLLM_DISAGG)
        urls = cfg["context_servers"]["urls"] + cfg["generation_servers"]["urls"]
        assert {int(u.rsplit(":", 1)[1]) for u in urls} == {ns.port for _, ns in servers}
        for pool_yaml in (f for f in ex.files if f != cfg_name):
            assert "cache_transceiver_config" in yaml.safe_load(ex.files[pool_yaml])


def test_moe_and_speculative_flags():
    """Issue 12 options reach every engine: MTP / EAGLE-3 / n-gram drafts, EPLB, TBO, DeepEP."""
    pf = PLANS["moe_spec_eplb_tbo"]
    (_, _, v), = [parse_command(c) for c in get_exporter("vllm").export(pf).commands]
    assert v.speculative_config == {"method": "mtp", "num_speculative_tokens": 2}
    assert v.enable_eplb and json.loads(v.eplb_config) == {"num_redundant_experts": 32} and v.enable_dbo
    assert v.all2all_backend == "deepep_high_throughput"
    (_, _, s), = [parse_command(c) for c in get_exporter("sglang").export(pf).commands]
    assert (s.speculative_algorithm, s.speculative_num_steps, s.speculative_num_draft_tokens) == ("EAGLE", 2, 3)
    assert s.ep_num_redundant_experts == 32 and s.enable_two_batch_overlap and s.moe_a2a_backend == "deepep"
    ex = get_exporter("trtllm").export(pf)
    opts = yaml.safe_load(ex.files["extra_llm_api_options.yaml"])
    assert opts["speculative_config"] == {"decoding_type": "MTP", "num_nextn_predict_layers": 2}
    assert any("EPLB" in n for n in ex.notes)
    # EAGLE-3 on the decode pool only; n-gram carries no draft model
    ex = get_exporter("sglang").export(PLANS["eagle3_disagg"])
    algos = {ns.disaggregation_mode: ns.speculative_algorithm for prog, _, ns in map(parse_command, ex.commands)
             if prog == "sglang"}
    assert algos == {"prefill": None, "decode": "EAGLE3"}
    (_, _, v), = [parse_command(c) for c in get_exporter("vllm").export(PLANS["ngram_agg"]).commands]
    assert v.speculative_config == {"method": "ngram", "num_speculative_tokens": 4}


def test_json_export_round_trips(tmp_path):
    ex = get_exporter("json").export(PLANS["disagg"])
    path = tmp_path / "plan.json"
    path.write_text(ex.files["plan.json"])
    assert load_plan_file(path) == PLANS["disagg"]


def test_export_writes_files(tmp_path):
    ex = get_exporter("trtllm").export(PLANS["disagg"])
    paths = ex.write(tmp_path / "out")
    names = {p.name for p in paths}
    assert {"launch.sh", "disagg_config.yaml", "ctx_extra_llm_api_options.yaml"} <= names
    assert (tmp_path / "out" / "launch.sh").stat().st_mode & 0o100


def test_plan_file_versioning(tmp_path):
    p = tmp_path / "plan.json"
    write_plan_file(PLANS["agg_static_fp8"], p)
    assert load_plan_file(p).schema_version == PLAN_SCHEMA_VERSION
    data = json.loads(p.read_text())
    data["schema_version"] = PLAN_SCHEMA_VERSION + 1
    p.write_text(json.dumps(data))
    with pytest.raises(PerfModelError, match=f"schema_version {PLAN_SCHEMA_VERSION + 1}.*reads version"):
        load_plan_file(p)
    p.write_text("{not json")
    with pytest.raises(PerfModelError, match="malformed JSON"):
        load_plan_file(p)
    p.write_text(json.dumps({"kind": "something-else"}))
    with pytest.raises(PerfModelError, match="not a perfmodel plan file"):
        load_plan_file(p)
    data["schema_version"] = PLAN_SCHEMA_VERSION
    data["pools"][0]["tp"] = 0
    p.write_text(json.dumps(data))
    with pytest.raises(PerfModelError, match="pools.0.tp"):
        load_plan_file(p)


def test_unsupported_quant_is_a_one_line_error():
    pf = _plan_file([Plan(tp=8, quant="w4a4kv4", max_batch=8)], "aggregated")
    with pytest.raises(PerfModelError, match="vLLM has no quantization for --quant w4a4kv4"):
        get_exporter("vllm").export(pf)


@pytest.mark.parametrize("pool,what", [(Plan(tp=1, sparse_kv="shadowkv"), "sparse_kv=shadowkv"),
                                       (Plan(tp=1, kv_offload=0.5, attention_on_cpu=True), "attention_on_cpu")])
def test_kv_attention_the_engines_lack_is_refused(pool, what):
    pf = _plan_file([pool], "aggregated", devices=1)
    for engine in ("vllm", "sglang", "trtllm"):
        with pytest.raises(PerfModelError, match=f"{engine} cannot express .*{what}"):
            get_exporter(engine).export(pf)
    assert json.loads(get_exporter("json").export(pf).files["plan.json"])["pools"][0]["tp"] == 1
