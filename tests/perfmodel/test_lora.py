"""S-LoRA model: adapter sizes by hand, Zipf batches, MBGMV vs padded BGMV, unified paging and the
merged-copies baseline; more adapters are never cheaper."""

import pytest
from hypothesis import given, settings, strategies as st

import perfmodel
from perfmodel.errors import PerfModelError
from perfmodel.lora import LoraSetup, adapter_bytes, expected_distinct, lora_throughput, lora_time_s, miss_probability
from perfmodel.plan import Plan
from perfmodel.resolve import resolve_model, resolve_system

MODEL = resolve_model("llama-2-7b")
A100 = resolve_system("a100-sxm-80gb")
PLAN = Plan(tp=1, quant="fp16")


def test_adapter_bytes_by_hand():
    # Llama-2-7B: q, k, v, o are 4096 x 4096; rank 8 -> 8 x (4096 + 4096) x 4 targets x 32 layers x 2 B
    assert adapter_bytes(MODEL, 8) == 8 * 8192 * 4 * 32 * 2


def test_expected_distinct_uniform():
    s = LoraSetup(adapters=4, popularity=0.0)
    assert expected_distinct(s, 1).sum() == pytest.approx(1.0)
    assert expected_distinct(s, 2).sum() == pytest.approx(4 * (1 - 0.75**2))
    assert expected_distinct(s, 10_000).sum() == pytest.approx(4.0)
    assert miss_probability(LoraSetup(adapters=1), 3) == pytest.approx(0.0)


def _t(setup, kernel, tokens=64, requests=64):
    return lora_time_s(model=MODEL, device=A100.device, tp=1, tokens=tokens, requests=requests, setup=setup,
                       kernel=kernel)


def test_mbgmv_never_above_padding():
    mixed = LoraSetup(adapters=100, ranks=(64, 32, 16, 8))
    assert _t(mixed, "mbgmv") < _t(mixed, "padded")
    same = LoraSetup(adapters=100, rank=16)
    assert _t(same, "mbgmv") == pytest.approx(_t(same, "padded"))


def test_packed_copies_run_out_of_memory():
    # five merged 13.5 GB copies of Llama-2-7B leave no KV room in 0.9 x 80 GB
    r = lora_throughput(model=MODEL, system=A100, plan=PLAN, setup=LoraSetup(adapters=5), isl=256, osl=256,
                        mode="packed")
    assert not r["fits"] and r["output_tok_s"] == 0
    two = lora_throughput(model=MODEL, system=A100, plan=PLAN, setup=LoraSetup(adapters=2), isl=256, osl=256,
                          mode="packed")
    slora = lora_throughput(model=MODEL, system=A100, plan=PLAN, setup=LoraSetup(adapters=2), isl=256, osl=256)
    assert two["fits"] and slora["batch"] > two["batch"] and slora["output_tok_s"] > two["output_tok_s"]


@settings(max_examples=20, derandomize=True, deadline=None)
@given(n=st.integers(1, 3000), more=st.integers(1, 3000), rank=st.sampled_from([8, 16, 64]),
       alpha=st.floats(0, 2), batch=st.integers(1, 256))
def test_more_adapters_never_cheaper(n, more, rank, alpha, batch):
    few, many = LoraSetup(adapters=n, rank=rank, popularity=alpha), LoraSetup(adapters=n + more, rank=rank,
                                                                              popularity=alpha)
    assert _t(many, "mbgmv", batch, batch) >= _t(few, "mbgmv", batch, batch) * (1 - 1e-9)
    assert expected_distinct(many, batch).sum() >= expected_distinct(few, batch).sum() - 1e-9


@pytest.mark.parametrize("adapters", [1, 200])
def test_serving_with_adapters_is_slower(adapters):
    kw = dict(model="llama-2-7b", hardware="a100-sxm-80gb", quant="fp16", workload="fixed:256:128", offline=True,
              num_requests=300, goodput_search=False)
    base = perfmodel.serve(**kw).to_dict()["output_tok_s"]
    lora = perfmodel.serve(**kw, lora_adapters=adapters, lora_rank=(64, 32, 16, 8)).to_dict()["output_tok_s"]
    assert lora < base


def test_serving_more_adapters_not_faster():
    kw = dict(model="llama-2-7b", hardware="a100-sxm-80gb", quant="fp16", workload="fixed:256:128", offline=True,
              num_requests=300, goodput_search=False, lora_rank=64, lora_popularity=0.0)
    few, many = (perfmodel.serve(**kw, lora_adapters=n).to_dict()["output_tok_s"] for n in (2, 2000))
    assert many < few


def test_lora_needs_one_device_per_replica():
    with pytest.raises(PerfModelError, match="tp=1, pp=1"):
        perfmodel.serve(model="llama-2-7b", hardware="dgx-a100", tp=2, workload="fixed:64:8", offline=True,
                        num_requests=4, lora_adapters=3)
