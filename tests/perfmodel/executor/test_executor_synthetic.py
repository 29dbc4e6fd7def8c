"""The synthetic model: reduced specs, real runs on tiny shapes, KV cache, routing, op names."""

import pytest

from perfmodel import specs
from perfmodel.errors import PerfModelError
from perfmodel.executor.synthetic import Routing, reduce_spec

torch = pytest.importorskip("torch")

from perfmodel.executor.synthetic import SyntheticModel  # noqa: E402


def _tiny(name, **kw):
    return reduce_spec(specs.load_model(name), layers=2, width_divisor=kw.pop("div", 8), vocab=512, max_experts=4, **kw)


def test_reduce_spec_keeps_head_dims_and_validates():
    spec = reduce_spec(specs.load_model("llama-3.1-8b"), layers=2, width_divisor=4, vocab=8192)
    assert (spec.num_layers, spec.hidden_size, spec.num_heads, spec.num_kv_heads, spec.head_dim) == (2, 1024, 8, 2, 128)
    assert spec.intermediate_size == 14336 // 4 and spec.vocab_size == 8192 and spec.name.endswith("-reduced")
    ds = _tiny("deepseek-v3")
    assert ds.mla.qk_rope_head_dim == 64 and ds.moe.num_experts == 4 and ds.moe.first_dense_layers <= 1
    with pytest.raises(PerfModelError, match="num_heads % width_divisor"):
        reduce_spec(specs.load_model("llama-3.1-8b"), width_divisor=3)


@pytest.mark.parametrize("name", ["llama-3.1-8b", "mixtral-8x7b", "deepseek-v3"])
def test_prefill_then_decode_runs_and_fills_the_kv_cache(name):
    spec = _tiny(name)
    model = SyntheticModel(spec, backend="cpu", quant="fp32", max_batch=3, max_context=64)
    out = model.prefill(3, 16)
    assert out.shape == (3,) and out.dtype == torch.int64
    attn = model.layers[0].attn
    cache = attn.k_cache if hasattr(attn, "k_cache") else attn.cache
    assert cache[:3, :, :16].abs().sum() > 0 and cache[:3, :, 16:].abs().sum() == 0
    assert model.decode(2, 20).shape == (2,)          # writes position 19
    assert cache[:2, :, 19].abs().sum() > 0
    assert model.prefill(1, 8, cached=16).shape == (1,)  # chunked prefill over cached tokens
    with pytest.raises(PerfModelError, match="KV cache size"):
        model.decode(4, 10)


def test_recorded_ops_carry_the_cost_model_names():
    from perfmodel import hardware
    from perfmodel.iteration import BatchShape
    from perfmodel.plan import Plan
    from perfmodel.stepmodel import StepModel

    spec = _tiny("llama-3.1-8b", div=4)
    model = SyntheticModel(spec, backend="cpu", quant="fp32", max_batch=2, max_context=32)
    model.recorder.start()
    model.decode(2, 16)
    measured = set(model.recorder.stop())
    predicted = {op.name for op in StepModel.build(model=spec, system=hardware.resolve("h100-sxm"),
                                                   plan=Plan(quant="fp32")).ops(BatchShape.decode(2, 16))
                 if op.kind != "comm" and op.total_s > 0}
    assert predicted == measured, predicted ^ measured


@pytest.mark.parametrize("kind", ["balanced", "uniform", "zipf", "router"])
def test_routing_distributions(kind):
    spec = _tiny("mixtral-8x7b")
    model = SyntheticModel(spec, backend="cpu", quant="fp32", max_batch=2, max_context=64, routing=Routing(kind=kind))
    moe = model.layers[0].mlp
    if kind != "router":
        ids = moe._assignment(64)
        assert ids.shape == (64, spec.moe.experts_per_token)
        assert all(len(set(row.tolist())) == spec.moe.experts_per_token for row in ids)  # distinct experts
        counts = torch.bincount(ids.flatten(), minlength=spec.moe.num_experts)
        if kind == "balanced":
            assert counts.max() - counts.min() <= 1
        if kind == "zipf":
            assert counts[0] > counts[-1]
    assert model.prefill(2, 32).shape == (2,)
