import numpy as np
import pytest

from perfmodel import hardware
import perfmodel
from perfmodel import specs
from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.stepmodel import StepModel
from perfmodel.vectorized import estimate_grid, feasibility


def test_estimate_semantics(llama8b, h100):
    r = perfmodel.estimate(model="llama-3.1-8b", hardware="h100-sxm", batch_size=16, isl=1000, osl=200)
    sm = StepModel.build(model=llama8b, system=h100, plan=Plan(), max_tokens=16 * 1000)
    ttft = sm.cold_time_s(BatchShape.prefill(16, 1000))
    # TPOT: the mean of the osl - 1 decode steps at contexts isl+1 .. isl+osl-1
    steps = [sm.iteration_time_s(BatchShape.decode(16, c)) for c in range(1001, 1200)]
    assert r.ttft_ms == pytest.approx(ttft * 1e3)
    assert r.tpot_ms == pytest.approx(np.mean(steps) * 1e3, rel=1e-9)
    assert r.throughput_tok_s == pytest.approx(16 * 200 / (ttft + 199 * np.mean(steps)), rel=1e-9)
    assert r.fits and r.bound == {"prefill": "compute", "decode": "memory"}
    names = [op["name"] for op in r.breakdown["decode"]]
    assert {"qkv_proj", "attn_decode", "gate_up_proj", "lm_head", "sampling"} <= set(names)
    d = r.to_dict()
    for key in ("ttft_ms", "tpot_ms", "throughput_tok_s", "memory_per_device_gb", "fits", "bound", "breakdown"):
        assert key in d


def test_plan_that_does_not_fit_is_reported_not_raised():
    r = perfmodel.estimate(model="llama-3.1-70b", hardware="h100-sxm", batch_size=8, isl=1000, osl=100)
    assert not r.fits
    assert r.memory_per_device_gb > r.memory_capacity_gb
    assert r.memory["weights_gb"] == pytest.approx(141.1, rel=0.01)


@pytest.mark.parametrize("kw,msg", [
    (dict(isl=0), "--isl must be a positive integer"),
    (dict(osl=-3), "--osl must be a positive integer"),
    (dict(tp=3), "--tp 3 must divide"),
    (dict(quant="int3"), "--quant 'int3' is not known"),
    (dict(isl=200000), "exceeds the context length"),
])
def test_bad_input_is_a_one_line_error(kw, msg):
    args = dict(model="llama-3.1-8b", hardware="h100-sxm", batch_size=1, isl=128, osl=16) | kw
    with pytest.raises(PerfModelError, match=msg) as exc:
        perfmodel.estimate(**args)
    assert "\n" not in str(exc.value)


def test_vectorized_path_matches_scalar_path():
    rng = np.random.default_rng(0)
    for name in ("llama-3.1-70b", "mixtral-8x7b", "deepseek-v2-lite", "gpt-oss-20b", "qwen3-next-80b-a3b",
                 "nemotron-h-8b", "deepseek-v3.2", "llama-3.3-nemotron-super-49b"):
        model, system = specs.load_model(name), hardware.resolve("h100-sxm")
        n = 24
        tp = rng.choice([1, 2, 4, 8], n)
        pp = rng.choice([1, 2], n)
        ep = rng.choice([1, 2], n) if model.moe else np.ones(n, int)
        dp = np.where(tp * pp <= 4, rng.choice([1, 2], n), 1)
        b = rng.choice([1, 7, 32, 128], n)
        grid = estimate_grid(model=model, system=system, quant="fp8", tp=tp, pp=pp, ep=ep, dp=dp, batch_size=b,
                             isl=1500, osl=300)
        bad = feasibility(model, tp=tp, pp=pp, ep=ep, dp=dp, max_devices=8)
        for i in range(n):
            if any(mask[i] for mask in bad.values()):
                continue
            r = perfmodel.estimate(model=model, hardware=system, tp=int(tp[i]), pp=int(pp[i]), ep=int(ep[i]),
                                   dp=int(dp[i]), batch_size=int(b[i]), isl=1500, osl=300, quant="fp8")
            assert grid["ttft_ms"][i] == pytest.approx(r.ttft_ms, rel=1e-9)
            assert grid["tpot_ms"][i] == pytest.approx(r.tpot_ms, rel=1e-9)
            assert grid["memory_per_device_gb"][i] == pytest.approx(r.memory_per_device_gb, rel=1e-9)
            assert bool(grid["fits"][i]) == r.fits


def test_feasibility_reasons_match_check_plan():
    model = specs.load_model("mixtral-8x7b")
    tp = np.array([3, 2, 4, 2])
    ep = np.array([1, 3, 2, 4])
    bad = feasibility(model, tp=tp, pp=np.ones(4, int), ep=ep, dp=np.ones(4, int), max_devices=8)
    assert bad["tp_not_dividing_heads"].tolist() == [True, False, False, False]
    assert bad["ep_not_dividing_experts"].tolist() == [False, True, False, False]
    assert bad["ep_vs_tp"].tolist()[3]
