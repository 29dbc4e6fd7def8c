"""Disaggregated pools as deployed: per-pool TP / EP / attention-DP / workers, KV transfer over the
link the placement implies, the router's placement and pools sized for a target concurrency."""

from __future__ import annotations

import numpy as np
import pytest

from perfmodel import hardware, serve, specs
from perfmodel.errors import PerfModelError
from perfmodel.plan import Plan
from perfmodel.serving import disagg
from perfmodel.serving.deployment import build_pool
from perfmodel.serving.engine_profiles import get_engine

MOE = "qwen3-30b-a3b"


def pools(system_id: str, *, prefill: dict, decode: dict):
    model, system = specs.load_model(MOE), hardware.resolve(system_id)
    eng = get_engine("sglang")
    pre = build_pool(model=model, system=system, engine=eng, plan=Plan(mode="prefill", quant="fp8", **prefill),
                     scheduler="prefill_first")
    dec = build_pool(model=model, system=system, engine=eng, plan=Plan(mode="decode", quant="fp8", **decode),
                     scheduler="decode_only")
    return system, pre, dec


def test_attention_dp_ep_decode_pool_memory_and_replicas():
    _, _, ep1 = pools("dgx-h100", prefill={"tp": 1}, decode={"tp": 1, "dp": 4})
    _, _, ep4 = pools("dgx-h100", prefill={"tp": 1}, decode={"tp": 1, "dp": 4, "ep": 4, "workers": 2})
    assert ep4.replicas == 8 and ep4.devices == 8 and ep4.plan.devices == 8
    # experts split four ways: less weight memory per device, so more KV per replica
    assert ep4.step.memory.weights_gb < 0.5 * ep1.step.memory.weights_gb
    assert ep4.kv.capacity_tokens > ep1.kv.capacity_tokens


def test_kv_transfer_time_on_the_link():
    tokens = np.array([1000.0, 4000.0])
    # one node: NVLink between the prefill and the decode replica
    system, pre, dec = pools("dgx-h100", prefill={"tp": 2}, decode={"tp": 2, "workers": 2})
    pl = disagg.place(system, pre, dec)
    nv, _ = system.link_for_group(2)
    expect = nv.latency_us * 1e-6 + tokens * pre.step.kv_bytes_per_token / (nv.bw_per_direction_gb_s * 1e9
                                                                           * nv.efficiency * 2)
    assert np.allclose(pl.transfer_s([0, 0], [1, 1], tokens), expect)
    # two nodes, prefill filling node 0 and decode node 1: every transfer crosses InfiniBand
    system2, pre2, dec2 = pools("dgx-h100-x2", prefill={"tp": 2, "workers": 4}, decode={"tp": 2, "workers": 4})
    pl2 = disagg.place(system2, pre2, dec2)
    ib, topo = system2.link_for_group(16)
    assert topo == "scaleout" and set(np.unique(pl2.tier(np.arange(4), np.arange(4)))) == {2}
    slow = pl2.transfer_s([0, 0], [0, 0], tokens)
    assert np.allclose(slow, ib.latency_us * 1e-6 + tokens * pre2.step.kv_bytes_per_token
                       / (ib.bw_per_direction_gb_s * 1e9 * ib.efficiency * 2))
    assert (slow > pl.transfer_s([0, 0], [1, 1], tokens)).all()


def test_local_router_keeps_kv_inside_the_node():
    # prefill on devices 0-3 (node 0); decode replicas on 4, 6 (node 0) and 8..14 (node 1)
    system, pre, dec = pools("dgx-h100-x2", prefill={"tp": 2, "workers": 2}, decode={"tp": 2, "workers": 6})
    pl = disagg.place(system, pre, dec)
    p = np.arange(12) % 2
    rr, local = pl.route_decode(p, policy="round_robin"), pl.route_decode(p, policy="local")
    assert np.bincount(rr, minlength=6).tolist() == [2] * 6
    assert set(local) == {0, 1} and (pl.tier(p, local) == 0).all()
    assert pl.mean_transfer_s(2000, policy="local") < pl.mean_transfer_s(2000, policy="round_robin")
    with pytest.raises(PerfModelError, match="--router must be one of round_robin, local, got 'nearest'"):
        pl.route_decode(p, policy="nearest")


def test_pools_that_do_not_fit_the_system_are_refused():
    system, pre, dec = pools("dgx-h100", prefill={"tp": 4, "workers": 2}, decode={"tp": 2})
    with pytest.raises(PerfModelError, match="need 10 devices but 'h100-sxm' has 8"):
        disagg.place(system, pre, dec)


def test_sizing_for_a_target_concurrency():
    system, pre, dec = pools("dgx-h100-x2", prefill={"tp": 1}, decode={"tp": 1, "dp": 4, "ep": 4})
    kw = dict(mean_input=2000, mean_output=500, decode_context=2250)
    small = disagg.size_for_concurrency(system, pre, dec, concurrency=64, **kw)
    big = disagg.size_for_concurrency(system, pre, dec, concurrency=4096, **kw)
    assert small["decode_workers"] == 1 and small["decode_batch_per_replica"] == 16
    # every decode replica holds its share within its limit, with one worker fewer it would not
    per_worker = 4 * big["decode_batch_limit"]
    assert big["decode_workers"] * per_worker >= 4096 > (big["decode_workers"] - 1) * per_worker
    assert big["prefill_workers"] > small["prefill_workers"]
    assert big["prefill_utilization"] <= disagg.PREFILL_UTILIZATION + 1e-9
    assert big["prefill_utilization"] > 0.5 * disagg.PREFILL_UTILIZATION or big["prefill_workers"] == 1


def test_simulated_disagg_with_attention_dp_decode_matches_its_parts():
    """One request at a time: TTFT = one prefill + the KV transfer, TPOT = one decode step."""
    r = serve(model=MOE, hardware="dgx-h100-x2", workload="fixed:2000:64", rate=0.2, num_requests=20,
              scheduler="disagg", engine="sglang", quant="fp8", prefill_tp=2, prefill_workers=2, decode_tp=1,
              decode_dp=4, decode_ep=4, decode_workers=2, goodput_search=False).to_dict()
    c = r["config"]
    assert r["devices"] == 12 and c["pools"]["decode"]["replicas"] == 8 and c["pools"]["decode"]["attention_dp"]
    transfer = c["kv_transfer"]["mean_ms"]
    # half the transfers stay on NVLink, half cross InfiniBand (round-robin over both nodes' replicas)
    assert c["kv_transfer"]["transfers_by_tier"] == {"node": 0.5, "scaleout": 0.5}
    assert r["ttft_ms"]["mean"] == pytest.approx(c["pools"]["prefill"]["prefill_ms"] + transfer, rel=0.02)
    assert r["tpot_ms"]["p50"] == pytest.approx(c["pools"]["decode"]["decode_step_ms"]["1"], rel=0.05)
    assert r["analytic"]["at_rate"]["ttft_ms"] == pytest.approx(r["ttft_ms"]["mean"], rel=0.05)


def test_serve_sizes_the_pools():
    r = serve(model=MOE, hardware="dgx-h100-x2", workload="fixed:2000:200", offline=True, num_requests=50,
              scheduler="disagg", engine="sglang", quant="fp8", prefill_tp=1, decode_tp=1, decode_dp=4,
              decode_ep=4, size_for_concurrency=2000, simulate=False).to_dict()
    z = r["config"]["sized_for"]
    pools_ = r["config"]["pools"]
    assert pools_["prefill"]["workers"] == z["prefill_workers"] and pools_["decode"]["workers"] == z["decode_workers"]
    assert r["devices"] == z["prefill_workers"] + 4 * z["decode_workers"]


def test_scaleup_domain_across_nodes_uses_its_link():
    """CloudMatrix384: 48 nodes in one UB domain; a decode worker on the next node receives the KV
    over UB, not over the RDMA NICs (as an NVL72 rack carries it over NVLink)."""
    model, system = specs.load_model(MOE), hardware.resolve("cloudmatrix384")
    eng = get_engine("vllm")
    pre = build_pool(model=model, system=system, engine=eng, plan=Plan(tp=8, mode="prefill"), scheduler="prefill_first")
    dec = build_pool(model=model, system=system, engine=eng, plan=Plan(tp=8, mode="decode"), scheduler="decode_only")
    pl = disagg.place(system, pre, dec)
    assert pl.tier([0], [0]).tolist() == [1] and "scaleout" not in pl.links
    ub = system.cluster.scaleup_link
    assert pl.links["domain"][0] == ub
    t = pl.transfer_s([0], [0], [1000.0])[0]
    assert t == pytest.approx(ub.latency_us * 1e-6 + 1000 * pre.step.kv_bytes_per_token
                              / (ub.bw_per_direction_gb_s * 1e9 * ub.efficiency * 8))
