"""Dynamo deployments: every example plan's DynamoGraphDeployment validates against the DGD
schema (tests/search/engine_args/dynamo-dgd-v1beta1.schema.json), and each worker's arguments
parse with the engine's own argument table, carrying the plan's parallelism and GPU count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from perfmodel.plan import Plan
from perfmodel.search.export import get_exporter
from tests.search.test_export import PLANS, SGLANG, VLLM, _parse, _plan_file

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema validates the Dynamo files (pip install jsonschema)")
SCHEMA = json.loads((Path(__file__).parent / "engine_args" / "dynamo-dgd-v1beta1.schema.json").read_text())
DYNAMO_OWN = {"--disaggregation-mode"}   # dynamo.vllm's own flag, beside vLLM's engine arguments
EXAMPLES = {**PLANS,
            "dsv3_adp_ep_disagg": _plan_file([Plan(tp=1, pp=4, dp=2, ep=2, max_batch=2, token_budget=8192,
                                                   mode="prefill"),
                                              Plan(tp=1, dp=8, ep=8, max_batch=64, mode="decode")], "disaggregated",
                                             model="deepseek-v3", model_id="deepseek-ai/DeepSeek-V3", devices=16),
            "w4a16": _plan_file([Plan(tp=2, quant="w4a16", max_batch=64, token_budget=4096)], "aggregated", devices=2)}


def _worker_args(args: list[str], engine: str):
    words, i = [], 0
    while i < len(args):
        if args[i] in DYNAMO_OWN:
            i += 2
            continue
        words.append(args[i])
        i += 1
    table = VLLM if engine == "vllm" else SGLANG
    return _parse(table, words)


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
@pytest.mark.parametrize("name", EXAMPLES)
def test_dynamo_deployment_validates_and_carries_the_plan(engine, name):
    pf = EXAMPLES[name]
    ex = get_exporter(f"dynamo-{engine}").export(pf)
    dgd = yaml.safe_load(ex.files["dynamo.yaml"])
    jsonschema.validate(dgd, SCHEMA)
    comps = {c["type"]: c for c in dgd["spec"]["components"]}
    assert "frontend" in comps
    roles = ["worker"] if pf.mode == "aggregated" else ["prefill", "decode"]
    assert sorted(t for t in comps if t != "frontend") == sorted(roles)
    total_gpus = 0
    for role, pool in zip(roles, pf.pools if pf.mode == "aggregated" else [pf.pool("prefill"), pf.pool("decode")]):
        comp = comps[role]
        (container,) = comp["podTemplate"]["spec"]["containers"]
        assert container["command"] == ["python3", "-m", f"dynamo.{engine}"]
        ns = _worker_args(container["args"], engine)
        gpus = int(container["resources"]["limits"]["nvidia.com/gpu"])
        total_gpus += gpus * comp["replicas"]
        if engine == "vllm":
            assert ns.model == pf.model_id
            assert ns.tensor_parallel_size == pool.tp and ns.max_num_seqs == pool.max_batch
            assert gpus == pool.tp * pool.pp * (ns.data_parallel_size or 1)
        else:
            assert ns.model_path == pf.model_id and ns.max_running_requests >= pool.max_batch
    assert total_gpus == sum(p.tp * p.pp * p.replicas for p in pf.pools)  # replicas: dp x workers


def test_a_misspelt_field_fails_the_schema():
    dgd = yaml.safe_load(get_exporter("dynamo-vllm").export(PLANS["disagg"]).files["dynamo.yaml"])
    dgd["spec"]["components"][1]["replica"] = 2
    with pytest.raises(jsonschema.ValidationError, match="replica"):
        jsonschema.validate(dgd, SCHEMA)
