"""Expert load imbalance, EPLB redundant experts, small-batch MoE decode and DeepEP dispatch
(perfmodel.moe, issue 12)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfmodel import hardware, specs
from perfmodel import moe as M
from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.stepmodel import StepModel

H200 = hardware.resolve("hgx-h200")
DSV3 = specs.load_model("deepseek-v3")
MIXTRAL = specs.load_model("mixtral-8x7b")
LAW = settings(max_examples=40, deadline=None, derandomize=True)


def _step(model, plan, batch, system=H200):
    return StepModel.build(model=model, system=system, plan=plan).iteration_time_s(batch)


def _moe_ms(model, plan, batch, system=H200):
    ops = StepModel.build(model=model, system=system, plan=plan).ops(batch)
    return {op.name: op for op in ops}


def test_zero_skew_is_uniform_routing_and_balanced_in_the_limit():
    assert M.busiest_share(256, 8, skew=0.0) == pytest.approx(1 / 8)
    # batch noise vanishes relative to the mean as tokens grow: the balanced load
    big = 1e9
    assert M.busiest_load(big, 256, 8, skew=0.0) / (big / 8) == pytest.approx(1.0, abs=1e-3)


def test_skew_raises_the_busiest_rank_above_the_mean():
    shares = [M.busiest_share(256, 32, skew=s) for s in (0.0, 0.5, 1.0, 1.5)]
    assert shares == sorted(shares) and shares[-1] > 1.5 / 32


def test_eplb_removes_static_skew_down_to_the_hottest_replica():
    # Zipf 1 over 256 experts: hottest expert p1 = 1/H_256 ~ 0.164 > 1/ep at ep 32
    p = M.zipf_popularity(256, 1.0)
    assert M.busiest_share(256, 32, skew=1.0, redundant=32) == pytest.approx(max(p[32], p[0] / 2))
    assert M.busiest_share(256, 32, skew=1.0, redundant=32) < M.busiest_share(256, 32, skew=1.0)


@LAW
@given(skew=st.floats(0, 3), ep=st.sampled_from([2, 4, 8, 16, 32, 64]), redundant=st.integers(0, 64),
       tokens=st.floats(1, 1e6))
def test_busiest_load_bounds(skew, ep, redundant, tokens):
    """Never below the mean, never above all tokens, never raised by EPLB."""
    load = M.busiest_load(tokens, 256, ep, skew=skew, redundant=redundant)
    assert tokens / ep * (1 - 1e-9) <= load <= tokens * (1 + 1e-9) + 3 * tokens ** 0.5
    assert load <= M.busiest_load(tokens, 256, ep, skew=skew) * (1 + 1e-9)


@LAW
@given(skew=st.floats(0, 2.5), batch=st.sampled_from([1, 8, 64, 512]),
       phase=st.sampled_from(["prefill", "decode"]))
def test_imbalance_never_makes_a_step_faster(skew, batch, phase):
    plan = Plan(tp=1, dp=8, ep=8, quant="fp8")
    b = BatchShape.prefill(batch, 512) if phase == "prefill" else BatchShape.decode(batch, 2048)
    base = _step(DSV3, plan, b)
    assert _step(DSV3, plan.model_copy(update={"routing_skew": skew}), b) >= base * (1 - 1e-9)


@LAW
@given(skew=st.floats(0, 2.5), redundant=st.sampled_from([8, 16, 32, 64]), batch=st.sampled_from([16, 256, 2048]))
def test_redundant_experts_never_slow_the_step_and_cost_memory(skew, redundant, batch):
    plan = Plan(tp=1, dp=8, ep=8, quant="fp8", routing_skew=skew)
    eplb = plan.model_copy(update={"redundant_experts": redundant})
    b = BatchShape.prefill(batch, 256)
    assert _step(DSV3, eplb, b) <= _step(DSV3, plan, b) * (1 + 1e-9)
    w0 = StepModel.build(model=DSV3, system=H200, plan=plan).memory.weights_gb
    w1 = StepModel.build(model=DSV3, system=H200, plan=eplb).memory.weights_gb
    e = DSV3.moe
    slot_gb = DSV3.num_moe_layers * 3 * DSV3.hidden_size * e.expert_intermediate_size * 1.0 / 1e9  # fp8 experts
    assert w1 - w0 == pytest.approx(redundant / 8 * slot_gb, rel=1e-6)


def test_redundant_experts_need_equal_slots_per_rank():
    with pytest.raises(PerfModelError, match="experts plus redundant experts"):
        StepModel.build(model=DSV3, system=H200, plan=Plan(dp=8, ep=8, redundant_experts=7))
    with pytest.raises(PerfModelError, match="dense"):
        StepModel.build(model=specs.load_model("llama-3.1-8b"), system=H200, plan=Plan(redundant_experts=8))


def test_batch_one_decode_reads_only_touched_experts():
    """DeepSeek-V3 batch 1 (issue 12: TPOT was 80-95% too high): one token picks 8 of 256 experts,
    so the busiest of 8 ranks reads a few experts' weights, not all 32 of its experts' tiles."""
    ops = _moe_ms(DSV3, Plan(tp=8, ep=8, quant="fp8"), BatchShape.decode(1, 2048))
    expert_bytes = 2 * DSV3.hidden_size * DSV3.moe.expert_intermediate_size  # gate+up, fp8
    touched = ops["expert_gate_up"].weight_bytes / expert_bytes
    assert 1 <= touched <= 4
    assert ops["expert_gate_up"].bound == "memory"


def test_touched_experts_limits():
    assert M.touched_experts(1.0, 32) == pytest.approx(1.0)
    assert M.touched_experts(1e5, 32) == pytest.approx(32)
    assert M.touched_experts(10.0, 32) < 10


def test_deepep_normal_dedups_per_rank_low_latency_sends_per_expert():
    assert M.dispatch_copies(8, 8, low_latency=True) == 8
    assert 1 < M.dispatch_copies(8, 8, low_latency=False) < 8
    plan = Plan(tp=1, dp=8, ep=8, quant="fp8")
    dec = _moe_ms(DSV3, plan, BatchShape.decode(64, 2048))["moe_dispatch"]
    h = DSV3.hidden_size
    # low-latency fp8 dispatch: 64 tokens x 8 copies x h x (1 B + 4 B / 128), all-to-all factor 7/8
    assert dec.comm_bytes == pytest.approx(64 * 8 * h * (1 + 4 / 128) * 7 / 8)
    pre = _moe_ms(DSV3, plan, BatchShape.prefill(1, 64))["moe_dispatch"]
    assert pre.comm_bytes < dec.comm_bytes


def test_internode_dispatch_crosses_the_nic_once_per_remote_node():
    # EP32 over four 8-GPU nodes, top-8: 3 (1 - (3/4)^8) = 2.70 NIC copies per token (DeepEP
    # internode normal kernels) instead of 32 (1 - (31/32)^8) x 31/32 = 6.94 flat; low-latency: 8 x 3/4
    nic, nodes = M.scaleout_copies(8, 32, 8, low_latency=False)
    assert nodes == 4 and nic == pytest.approx(3 * (1 - 0.75 ** 8))
    assert M.scaleout_copies(8, 32, 8, low_latency=True)[0] == pytest.approx(6.0)
    assert M.scaleout_copies(8, 8, 8, low_latency=False) == (0.0, 1.0)   # one node: the flat all-to-all
    assert M.scaleout_copies(8, 32, None, low_latency=False)[0] == 0.0   # PCIe node: no fabric to forward
    h800x4 = hardware.resolve("hgx-h800x4")
    assert M.scaleup_devices(h800x4) == 8 and M.scaleup_devices(hardware.resolve("gb200-nvl72")) == 72
    plan = Plan(tp=1, dp=32, ep=32, quant="fp8")
    ops = _moe_ms(DSV3, plan, BatchShape.prefill(1, 4096), system=h800x4)
    d, h = ops["moe_dispatch"], DSV3.hidden_size
    nic_bytes = 4096 * nic * h * (1 + 4 / 128)
    # at DeepEP's measured internode rate (catalog nic.all_to_all_efficiency, DEEPEP), not the NCCL fraction
    rate = h800x4.node.nic.bw_per_direction_gb_s * 1e9 * h800x4.node.nic.rate_efficiency("all_to_all")
    assert h800x4.node.nic.rate_efficiency("all_to_all") != h800x4.node.nic.efficiency
    assert d.t_comm >= nic_bytes / rate                 # the NIC part binds (NVLink forwarding runs alongside)
    assert d.t_comm < nic_bytes / rate * 1.05 + 1e-3
    flat_bytes = 4096 * M.dispatch_copies(8, 32, low_latency=False) * h * (1 + 4 / 128) * 31 / 32
    assert d.t_comm < flat_bytes / rate


@LAW
@given(ep=st.sampled_from([16, 32, 64, 128]), k=st.integers(1, 9), ll=st.booleans())
def test_nic_copies_never_exceed_the_flat_all_to_all(ep, k, ll):
    nic, nodes = M.scaleout_copies(k, ep, 8, low_latency=ll)
    flat = (k if ll else M.dispatch_copies(k, ep, low_latency=False)) * (ep - 1) / ep
    assert 0 < nic <= flat + 1e-12 and nodes == ep // 8


@LAW
@given(lo=st.floats(0.0, 1.0), hi=st.floats(0.0, 1.0), batch=st.sampled_from([1, 64, 512]),
       phase=st.sampled_from(["prefill", "decode"]))
def test_speculative_moe_locality_only_trims_the_all_to_all(lo, hi, batch, phase):
    """Speculative MoE (Plan.expert_locality): more activations on their own rank never slow the
    step; the uniform share 1/ep (or less) is the placement-agnostic step; only the dispatch and
    combine change, in proportion to the non-local share (and, in prefill, the copy of the tokens
    a rank receives into the experts' layout and back)."""
    lo, hi = sorted((max(lo, 1e-3), max(hi, 1e-3)))
    plan = Plan(tp=1, dp=8, ep=8, quant="fp8")
    b = BatchShape.prefill(batch, 512) if phase == "prefill" else BatchShape.decode(batch, 2048)
    at = lambda x: plan.model_copy(update={"expert_locality": x})  # noqa: E731
    assert _step(DSV3, at(hi), b) <= _step(DSV3, at(lo), b) * (1 + 1e-12)
    assert _step(DSV3, at(min(lo, 1 / 8)), b) == pytest.approx(_step(DSV3, plan, b), rel=1e-12)
    base, local = _moe_ms(DSV3, plan, b), _moe_ms(DSV3, at(hi), b)
    assert {n for n in base if base[n].total_s != local[n].total_s} <= {"moe_dispatch", "moe_combine",
                                                                         "expert_permute", "expert_unpermute"}
    assert M.remote_share(hi, 8) == pytest.approx((1 - max(hi, 1 / 8)) / (7 / 8))
    np.testing.assert_allclose(M.remote_share(hi, np.array([1, 8])), [0.0, M.remote_share(hi, 8)])


@LAW
@given(skew=st.floats(0, 2.0), batch=st.sampled_from([1, 4, 16]), isl=st.sampled_from([512, 4096]))
def test_prefill_under_attention_dp_is_set_by_the_busiest_rank(skew, batch, isl):
    """Mixtral DP8 x EP8 (one expert per rank): a prefill step's expert GEMMs carry the busiest
    rank's routed tokens (all 8 ranks' prompts, top-2, `busiest_load`), as decode steps do; with no
    skew and thousands of tokens that is the mean within the batch noise."""
    plan = Plan(tp=1, dp=8, ep=8, quant="fp8", routing_skew=skew)
    ops = _moe_ms(MIXTRAL, plan, BatchShape.prefill(batch, isl))
    routed = batch * isl * 8 * 2                     # tokens of the 8 ranks, 2 experts each
    load = M.busiest_load(routed, 8, 8, skew=skew)
    h, w = MIXTRAL.hidden_size, MIXTRAL.moe.expert_intermediate_size
    assert ops["expert_gate_up"].flops == pytest.approx(2 * load * 2 * w * h, rel=1e-9)
    assert ops["expert_down"].flops == pytest.approx(2 * load * w * h, rel=1e-9)
    assert load >= routed / 8 and (skew > 0 or load <= routed / 8 * (1 + 3 / (routed / 8) ** 0.5))
