"""The serving simulator's token-count KV pool for hybrid models: windowed KV and recurrent state
are amortised over the workload's own context, so a short-context workload does not over-admit."""

import pytest

from perfmodel.hardware import resolve
from perfmodel.plan import Plan
from perfmodel.serve_api import serve
from perfmodel.serving.deployment import build_pool
from perfmodel.serving.engine_profiles import ENGINES
from perfmodel.specs import load_model


def _capacity(model: str, context: float | None) -> int:
    return build_pool(model=load_model(model), system=resolve("h100-sxm"), engine=ENGINES["vllm-v1"],
                      plan=Plan(tp=4), scheduler=None, context_tokens=context).kv.capacity_tokens


def test_recurrent_state_is_counted_per_sequence_at_the_workload_context():
    # the constant state per sequence spread over 1,100 tokens costs more per token than over the
    # reference context: fewer tokens fit, so a short-context workload is not over-admitted
    assert _capacity("qwen3-next-80b-a3b", 1_100) < 0.9 * _capacity("qwen3-next-80b-a3b", None)


def test_full_attention_pool_does_not_depend_on_the_context():
    assert _capacity("llama-3.1-70b", 1_100) == _capacity("llama-3.1-70b", None)


def test_serve_sizes_a_hybrid_pool_at_its_workload():
    r = serve(model="qwen3-next-80b-a3b", hardware="h100-sxm", tp=4, workload="fixed:1000:200", concurrency=4,
              num_requests=8).to_dict()
    # fixed 1000/200: the residence-weighted mean context is 1000 + 200 / 2
    assert r["config"]["pools"]["aggregated"]["kv_capacity_tokens"] == _capacity("qwen3-next-80b-a3b", 1_100)
