"""MoETuner on Mixtral-8x7B: the committed routing profile, the ILP placement against the default
one through the step model, and the entry registered from the search layer."""

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from perfmodel.estimator import estimate
from perfmodel.errors import PerfModelError
from perfmodel.plan import Plan
from perfmodel.reproduce import SEEDS, Context, judge, register, reproduce
from perfmodel.search import moetuner as mt
from perfmodel.search.routing import generate

ROOT = Path(__file__).resolve().parents[2]


def _builder():
    spec = importlib.util.spec_from_file_location("moetuner_routing", ROOT / "benchmarks" / "moetuner_routing.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_profile_is_consistent():
    p = mt.load_profile()
    assert (p.layers, p.experts, p.top_k, p.tokens) == (32, 8, 2, 88)
    assert (p.counts.sum(axis=1) == p.tokens * p.top_k).all()           # every token picks top_k experts a layer
    assert (p.transitions.sum(axis=(1, 2)) == p.tokens * p.top_k ** 2).all()
    # a layer-l expert a pairs with each of the token's top_k layer-(l+1) experts, and the other way round
    assert (p.transitions.sum(axis=2) == p.top_k * p.counts[:-1]).all()
    assert (p.transitions.sum(axis=1) == p.top_k * p.counts[1:]).all()


def test_profile_file_is_what_the_script_builds_from_the_transcription():
    b = _builder()
    built = b.profile([b.read_transcription(f) for f in b.TRANSCRIPTIONS])
    p = mt.load_profile()
    assert np.array_equal(built.counts, p.counts) and np.array_equal(built.transitions, p.transitions)


def test_script_reads_the_raw_trace_format(tmp_path):
    b = _builder()
    rows = "".join(f"input_ids: tensor([[1, 2]], device='cuda:0') \nLayer {layer} topk_ids: tensor([[5, 1],\n"
                   f"        [{layer % 8}, {(layer + 1) % 8}]], device='cuda:0', dtype=torch.int32)\n"
                   f"input_ids: tensor([[9]], device='cuda:0') \nLayer {layer} topk_ids: tensor([[3, 4]], "
                   "device='cuda:0', dtype=torch.int32)\n" for layer in range(32))
    path = tmp_path / "trace.txt"
    path.write_text(rows)
    choice = b.read_trace(path)
    assert choice.shape == (32, 2, 2)                          # the prompt blocks only, not the decode step
    assert choice[3].tolist() == [[5, 1], [3, 4]]


def test_placement_figures_hand_checked():
    # 2 layers, 4 experts on 2 ranks; layer 0 loads 6,2,1,1 and every token goes a -> a
    counts = np.array([[6, 2, 1, 1], [6, 2, 1, 1]])
    trans = np.diag([6, 2, 1, 1])[None]
    p = dataclasses.replace(generate("uniform", layers=2, experts=4, top_k=1, tokens=10), counts=counts,
                            transitions=trans)
    contiguous = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    assert mt.placement_figures(p, contiguous, 2) == pytest.approx((0.8, 1.0))
    mixed = np.array([[0, 1, 0, 1], [1, 0, 1, 0]])                 # balanced 7/3, but every token moves
    assert mt.placement_figures(p, mixed, 2) == pytest.approx((0.7, 0.0))


def _ttft(share: float, local: float, batch: int = 8) -> float:
    plan = Plan(tp=mt.TP, dp=mt.DP, ep=mt.EP, expert_load_share=share, expert_locality=local)
    return estimate(model=mt.MODEL, hardware=mt.HARDWARE, batch_size=batch, isl=256, osl=2, plan=plan).ttft_ms


def test_ilp_is_not_slower_on_the_mtbench_profile():
    runs = mt.step_times(Context())
    d, m = runs["default"], runs["moetuner"]
    assert m["load_share"] < d["load_share"] and m["ttft_ms"] < d["ttft_ms"] and m["e2e_ms"] <= d["e2e_ms"]


@settings(max_examples=8, deadline=None, derandomize=True)
@given(kind=st.sampled_from(["uniform", "zipf", "correlated"]), seed=st.integers(0, 10_000))
def test_ilp_placement_never_makes_the_step_slower(kind, seed):
    p = generate(kind, layers=3, experts=8, top_k=2, tokens=128, seed=seed)
    figs = {name: mt.placement_figures(p, devices, mt.EP) for name, devices in mt.placements(p).items()}
    assert _ttft(*figs["moetuner"]) <= _ttft(*figs["default"]) * (1 + 1e-9)


def test_measured_load_share_prices_the_busiest_rank():
    assert _ttft(0.4, None) > _ttft(0.3, None) > _ttft(0.25, None) == pytest.approx(_ttft(0.1, None))  # >= 1/ep
    with pytest.raises(ValueError, match="expert_load_share"):
        Plan(tp=2, dp=4, ep=4, expert_load_share=0.3, routing_skew=1.0)


def test_entry_is_registered_and_judged():
    register("MoETuner", mt.moetuner)
    register("MoETuner", mt.moetuner)                                  # idempotent
    with pytest.raises(PerfModelError, match="already computed"):
        register("NanoFlow", mt.moetuner)
    e = reproduce(["moetuner"])[0]
    assert e.kind == "ratio" and e.published == pytest.approx(1.093) and e.predicted > 1
    assert e.status == judge("ratio", e.published, e.predicted)[0]
    assert "MTBench" in e.note and "not the paper's task" in e.note
    assert SEEDS["MoETuner"] is mt.moetuner


def test_entry_moves_with_the_hardware():
    ctx = Context()
    system = ctx.system(mt.HARDWARE)
    peak = {k: v * 0.5 for k, v in system.device.peak_dense_tflops.items()}    # half the tensor rate
    slow = dataclasses.replace(system, device=system.device.model_copy(update={"peak_dense_tflops": peak}))
    base = mt.moetuner(ctx).predicted
    moved = mt.moetuner(Context(systems={mt.HARDWARE: slow})).predicted
    assert abs(moved / base - 1) > 0.005, (base, moved)  # +0.9% at half the tensor rate
