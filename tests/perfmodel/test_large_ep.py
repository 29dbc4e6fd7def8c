"""Multi-node expert parallelism as DeepSeek and SGLang deploy it (issue 12): block-scaled FP8 GEMMs at
DeepGEMM's measured rates, the DeepEP normal path's token layout copies, two-batch overlap against
its own streams, imbalance and the hierarchical dispatch across nodes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfmodel import hardware, ops as O, specs
from perfmodel import moe as M
from perfmodel import tbo
from perfmodel.hardware.catalog import get_device
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.quant import get_quant
from perfmodel.step import HEAD_OPS, scale_batch, step_ops
from perfmodel.stepmodel import StepModel

H800X4 = hardware.resolve("hgx-h800x4")
H100X4 = hardware.resolve("dgx-h100x4")
DSV3 = specs.load_model("deepseek-v3")
LAW = settings(max_examples=25, deadline=None, derandomize=True)
FP8, FP8_BLOCK = get_quant("fp8"), get_quant("fp8-block")


def _tflops(dev, m, n, k, groups=1):
    op = O.gemm("g", m, n, k, dev, FP8_BLOCK, groups=groups)
    return op.flops / op.time_s / 1e12


@pytest.mark.parametrize("row", [(1, 4096, 32768, 512, 590), (1, 4096, 7168, 16384, 1358),
                                 (8, 4096, 4096, 7168, 1288), (8, 4096, 7168, 2048, 1093)])
def test_block_scaled_fp8_runs_at_deepgemm_measured_rates(row):
    """DeepGEMM README (Feb 2025, H800): small-K shapes run far below the large-K ones."""
    groups, m, n, k, measured = row
    assert _tflops(get_device("h800"), m, n, k, groups) == pytest.approx(measured, rel=0.05)


@LAW
@given(m=st.integers(1, 65536), n=st.sampled_from([512, 2112, 4096, 7168, 24576]),
       k=st.sampled_from([128, 512, 1536, 2048, 7168, 16384]))
def test_block_scales_never_speed_a_gemm_and_cost_nothing_where_hardware_applies_them(m, n, k):
    h800 = get_device("h800")
    assert O.gemm("g", m, n, k, h800, FP8_BLOCK).t_compute >= O.gemm("g", m, n, k, h800, FP8).t_compute
    b200 = get_device("b200")  # Blackwell applies block scales in its tensor cores: no per-tile term
    assert b200.block_scale_tile_overhead_k is None
    assert O.gemm("g", m, n, k, b200, FP8_BLOCK).t_compute == O.gemm("g", m, n, k, b200, FP8).t_compute


def _ops(plan, batch, system=H800X4):
    return {op.name: op for op in step_ops(DSV3, system, FP8_BLOCK, plan, batch)}


def test_normal_kernels_copy_received_tokens_into_the_expert_layout_and_back():
    """Prefill across ranks: one copy of each received token in and one weighted sum out (ep_scatter /
    ep_gather); decode (low-latency kernels deliver the per-expert layout) and a single rank: none."""
    plan = Plan(tp=1, dp=32, ep=32, quant="fp8-block")
    pre = _ops(plan, BatchShape.prefill(4, 4096))
    h, k = DSV3.hidden_size, DSV3.moe.experts_per_token
    tokens = 4 * 4096
    rows = tokens * k  # routed rows on a rank (balanced mean; the busiest rank carries a little more)
    received = tokens * 32 * (1 - (1 - 1 / 32) ** k)
    fp8_el = 1 + 4 / 128  # fp8 and one fp32 scale per 128 elements
    assert (received + rows) * h * fp8_el <= pre["expert_permute"].act_bytes <= (received + rows * 1.05) * h * fp8_el
    # out: the experts' bf16 rows read and summed per token with the routing weights
    assert pre["expert_unpermute"].act_bytes == pytest.approx(pre["expert_permute"].act_bytes * 2 / fp8_el)
    dec = _ops(plan, BatchShape.decode(64, 4096))
    assert "expert_permute" not in dec and "expert_unpermute" not in dec
    alone = _ops(Plan(tp=8, quant="fp8-block"), BatchShape.prefill(4, 4096), system=hardware.resolve("hgx-h800"))
    assert "expert_permute" not in alone


@LAW
@given(batch=st.sampled_from([1, 4, 16, 64]), isl=st.sampled_from([512, 2048, 4096]),
       phase=st.sampled_from(["prefill", "decode"]), system=st.sampled_from([H800X4, H100X4]))
def test_tbo_is_never_faster_than_the_longer_of_its_streams(batch, isl, phase, system):
    """A layer's two halves run on one compute and one communication stream: the overlapped stage is
    never shorter than either stream's own work (compute at the SMs DeepEP leaves it) over the
    layers, however the slots line up."""
    plan = Plan(tp=1, dp=32, ep=32, quant="fp8-block", two_batch_overlap=True)
    b = BatchShape.prefill(batch, isl) if phase == "prefill" else BatchShape.decode(batch * 8, isl)
    parts = tbo.stage_parts(DSV3, system, FP8_BLOCK, plan, b)
    # the halves, as stage_parts prices them
    layer_ops = [op for op in step_ops(DSV3, system, FP8_BLOCK, plan, scale_batch(b, 0.5)) if op.name not in HEAD_OPS]
    comm = 2 * sum(op.total_s for op in layer_ops if op.kind == "comm")
    share = tbo.DEEPEP_NORMAL_SM_FRACTION if phase == "prefill" else 0.0
    compute = 2 * sum(op.total_s for op in layer_ops if op.kind != "comm") / (1 - share)
    stage = parts["overlapped_s"] + parts["fill_s"]
    assert stage >= max(compute, comm) * (1 - 1e-9)
    assert stage <= compute + comm + 1e-12


@LAW
@given(skew=st.floats(0, 2.0), batch=st.sampled_from([1, 4, 16]), tbo_on=st.booleans(),
       phase=st.sampled_from(["prefill", "decode"]))
def test_imbalance_never_speeds_a_multi_node_step(skew, batch, tbo_on, phase):
    plan = Plan(tp=1, dp=32, ep=32, quant="fp8-block", two_batch_overlap=tbo_on)
    b = BatchShape.prefill(batch, 2048) if phase == "prefill" else BatchShape.decode(batch * 16, 2048)
    sm = lambda p: StepModel.build(model=DSV3, system=H800X4, plan=p)  # noqa: E731
    skewed = sm(plan.model_copy(update={"routing_skew": skew})).iteration_time_s(b)
    assert skewed >= sm(plan).iteration_time_s(b) * (1 - 1e-12)


@LAW
@given(batch=st.sampled_from([1, 8, 64]), phase=st.sampled_from(["prefill", "decode"]),
       ep=st.sampled_from([16, 32]))
def test_hierarchical_dispatch_never_moves_more_nic_bytes_than_the_flat_one(batch, phase, ep):
    """Across nodes DeepEP sends a token once per remote node (normal) or once per remote expert
    (low-latency); the flat all-to-all would send every destination rank's copy, the remote share
    of which crosses the NIC. The dispatch's bytes (NIC + NVLink forwarding) never exceed the flat
    all-to-all's NIC bytes plus the same forwarding."""
    plan = Plan(tp=1, dp=ep, ep=ep, quant="fp8-block")
    b = BatchShape.prefill(batch, 2048) if phase == "prefill" else BatchShape.decode(batch * 16, 2048)
    d = _ops(plan, b)["moe_dispatch"]
    T = b.tokens
    el = 1 + 4 / 128
    low = phase == "decode"
    flat_copies = DSV3.moe.experts_per_token if low else M.dispatch_copies(DSV3.moe.experts_per_token, ep,
                                                                           low_latency=False)
    nodes = ep // 8
    flat_nic = T * flat_copies * DSV3.hidden_size * el * (nodes - 1) / nodes
    forward = T * flat_copies * DSV3.hidden_size * el * 7 / 8  # the in-node all-to-all over NVLink
    assert d.comm_bytes <= flat_nic + forward + 1e-6
    assert np.isfinite(d.t_comm) and d.t_comm > 0


def test_decode_all_to_all_runs_at_the_low_latency_kernels_rate():
    """DeepEP's low-latency kernels (decode) move 48 / 53 GB/s of top-k copies at EP32 on H800 + CX7,
    0.76 of the NIC for the remote share, below the normal kernels' 0.86: a decode step's NIC leg
    takes at least its bytes at 0.76, a prefill step's at 0.86; links without a low-latency figure
    fall back to their all-to-all fraction, then to their own."""
    nic = H800X4.node.nic
    assert nic.rate_efficiency("all_to_all_low_latency") == 0.76 < nic.rate_efficiency("all_to_all") == 0.86
    plain = nic.model_copy(update={"low_latency_all_to_all_efficiency": None})
    assert plain.rate_efficiency("all_to_all_low_latency") == 0.86
    bare = plain.model_copy(update={"all_to_all_efficiency": None})
    assert bare.rate_efficiency("all_to_all_low_latency") == bare.efficiency
    plan = Plan(tp=1, dp=32, ep=32, quant="fp8-block")
    h, k, el = DSV3.hidden_size, DSV3.moe.experts_per_token, 1 + 4 / 128
    seqs = 128
    d = _ops(plan, BatchShape.decode(seqs, 4096))["moe_dispatch"]
    nic_bytes = seqs * k * 3 / 4 * h * el  # one copy per remote expert, straight over RDMA
    assert d.t_comm >= nic_bytes / (50e9 * 0.76)
    p = _ops(plan, BatchShape.prefill(4, 4096))["moe_dispatch"]
    nic_copies, _ = M.scaleout_copies(k, 32, 8, low_latency=False)
    assert p.t_comm < 4 * 4096 * nic_copies * h * el / (50e9 * 0.76)


def _large_ep_benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "large_ep.py"
    spec = importlib.util.spec_from_file_location("large_ep_benchmark", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_published_large_ep_decode_deployments_within_20_percent():
    """benchmarks/large_ep.py's decode rows measured at load (DeepSeek's EP128 profile, SGLang's EP72 on
    H100, SGLang's GB200 NVL72): within the issue's 20%. DeepSeek's day-6 figure is a 24-hour production
    average (its own profile of the deployment is 1.26x it) and is printed, not held."""
    rows = [r for r in _large_ep_benchmark().decode_rows() if r["published"] and "day6" not in r["setup"]]
    assert len(rows) == 3
    for r in rows:
        delta = (r["predicted"] - r["published"]) / r["published"]
        assert abs(delta) <= 0.20, (f"{r['setup']}: published {r['published']:,.0f}, predicted "
                                    f"{r['predicted']:,.0f}, delta {delta:+.1%}, tolerance 20%")
