"""Integer programs: proven optimal and equal to brute force on small instances."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._hyp import examples

from perfmodel.errors import PerfModelError
from perfmodel.search.ilp import expert_placement as EP
from perfmodel.search.ilp import nanoflow as NF
from perfmodel.search.ilp import offload as OF
from perfmodel.search.ilp import pools as PO
from perfmodel.search.ilp import prepack as PP
from perfmodel.search.routing import RoutingProfile, generate, load_routing, read_routing

SOLVERS = ["cbc", "highs"]


# ---- MoETuner expert placement -----------------------------------------------------------------
def _brute_balance(load, clusters):
    experts = len(load)
    per = experts // clusters
    mean = load.sum() / clusters
    best = np.inf
    for labels in itertools.product(range(clusters), repeat=experts):
        if labels[0] != 0 or any(labels.count(c) != per for c in range(clusters)):
            continue
        t = np.bincount(labels, weights=load, minlength=clusters)
        best = min(best, np.abs(t - mean).sum())
    return best


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", range(4))
def test_balance_matches_brute_force(solver, seed):
    rng = np.random.default_rng(seed)
    load = rng.integers(1, 60, size=8).astype(float)
    assign, obj, res = EP.balance_layer(load, 4, solver=solver)
    assert res.optimal
    assert obj == pytest.approx(_brute_balance(load, 4))
    assert sorted(np.bincount(assign, minlength=4).tolist()) == [2, 2, 2, 2]
    t = np.bincount(assign, weights=load, minlength=4)
    assert np.abs(t - load.sum() / 4).sum() == pytest.approx(obj)


@pytest.mark.parametrize("solver", SOLVERS)
def test_balance_with_a_hot_expert_needs_the_solver(solver):
    load = np.array([90, 5, 7, 9, 11, 13, 2, 3], dtype=float)     # the hot expert exceeds the mean
    assign, obj, res = EP.balance_layer(load, 4, solver=solver)
    assert res.solver != "bound" and res.optimal
    assert obj == pytest.approx(_brute_balance(load, 4))


def _brute_assign(traffic, prev, bw):
    g = len(prev)
    cluster_on = np.empty(g, dtype=int)
    cluster_on[prev] = np.arange(g)
    best = np.inf
    for perm in itertools.permutations(range(g)):          # perm[c] = device of layer-(l+1) cluster c
        m = max(traffic[cluster_on[g1], c] / bw[g1, perm[c]] for g1 in range(g) for c in range(g) if perm[c] != g1)
        best = min(best, m)
    return best


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", range(3))
def test_assignment_matches_brute_force(solver, seed):
    rng = np.random.default_rng(seed)
    traffic = rng.integers(0, 100, size=(4, 4)).astype(float)
    prev = rng.permutation(4)
    bw = np.ones((4, 4)) if seed == 0 else np.where(np.arange(4)[:, None] // 2 == np.arange(4)[None, :] // 2, 4.0, 1.0)
    dev, obj, res = EP.assign_layer(traffic, prev, bw, solver=solver)
    assert res.optimal and obj == pytest.approx(_brute_assign(traffic, prev, bw))
    assert sorted(dev.tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize("kind", ["uniform", "zipf", "correlated"])
def test_place_experts_end_to_end(kind):
    prof = generate(kind, layers=4, experts=16, top_k=2, tokens=512, seed=1)
    pl = EP.place_experts(prof, 4)
    assert pl.optimal
    assert pl.devices.shape == (4, 16)
    for layer in range(4):
        assert np.bincount(pl.devices[layer], minlength=4).tolist() == [4, 4, 4, 4]
    contiguous = [np.arange(16) // 4] * 4
    from perfmodel.search.routing import imbalance

    assert pl.imbalance(prof.counts) <= imbalance(prof.counts, contiguous, 4) + 1e-9
    # stage 2 never does worse than keeping stage-1 cluster c on device c
    for layer in range(3):
        keep = EP.tail_traffic(prof.transitions[layer], prof_cluster(pl, layer), prof_cluster(pl, layer + 1), 4)
        mine = EP.tail_traffic(prof.transitions[layer], pl.devices[layer], pl.devices[layer + 1], 4)
        assert mine <= keep + 1e-9


def prof_cluster(pl, layer):
    return pl.clusters[layer]


# ---- routing profiles --------------------------------------------------------------------------
def test_generators_are_seeded_and_consistent():
    a = generate("correlated", layers=3, experts=8, top_k=2, tokens=256, seed=5)
    b = generate("correlated", layers=3, experts=8, top_k=2, tokens=256, seed=5)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.counts.sum(axis=1).tolist() == [512, 512, 512]            # tokens x top_k per layer
    assert a.transitions.sum() == 256 * 4 * 2                            # k x k pairs per token per layer pair
    np.testing.assert_array_equal(a.transitions[0].sum(axis=1), a.counts[0] * 2)


def test_skew_orders_the_generators():
    u = generate("uniform", layers=4, experts=32, top_k=2, seed=0)
    z = generate("zipf", layers=4, experts=32, top_k=2, seed=0, skew=1.0)
    assert (z.counts.max(axis=1) / z.counts.mean(axis=1)).mean() > (u.counts.max(axis=1) / u.counts.mean(axis=1)).mean()
    c = generate("correlated", layers=4, experts=32, top_k=1, seed=0, rho=0.9)
    # with rho 0.9 most tokens follow one successor per expert: each row's top transition dominates
    share = c.transitions[0].max(axis=1).sum() / c.transitions[0].sum()
    assert share > 0.8


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_routing_file_round_trip(tmp_path, suffix):
    prof = generate("zipf", layers=3, experts=8, top_k=2, tokens=128, seed=2)
    path = tmp_path / f"r{suffix}"
    prof.save(path)
    back = read_routing(path)
    np.testing.assert_array_equal(back.counts, prof.counts)
    np.testing.assert_array_equal(back.transitions, prof.transitions)
    assert back.top_k == 2


def test_bad_routing_files(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"format": "perfmodel.routing/v1", "counts": [[1, 2], [3]]}))
    with pytest.raises(PerfModelError, match="counts"):
        read_routing(p)
    p.write_text(json.dumps({"format": "other"}))
    with pytest.raises(PerfModelError, match="not a routing profile"):
        read_routing(p)
    p.write_text(json.dumps({"format": "perfmodel.routing/v1", "counts": [[1, -2]]}))
    with pytest.raises(PerfModelError, match="negative"):
        read_routing(p)
    with pytest.raises(PerfModelError, match="mixture-of-experts"):
        from perfmodel.specs.registry import load_model

        load_routing("zipf:1.0", load_model("llama-3.1-8b"))


def test_routing_profile_drives_placement_in_tune():
    from perfmodel.search.problem import build_problem

    pr = build_problem(model="mixtral-8x7b", hardware="h100-sxm", devices=8, workload="1000/100",
                       routing="zipf:1.2", space={"expert_placement": ["contiguous", "balanced"], "ep": [4],
                                                   "tp": [4], "quant": "bf16", "kv_dtype": [None]})
    assert pr.expert_imbalance[(1, 4)] < pr.expert_imbalance[(0, 4)]


# ---- NanoFlow ----------------------------------------------------------------------------------
def _tiny_instance():
    # compute, memory, network ops with durations linear in tokens plus a fixed cost
    coef = [(2.0, 1.0), (1.0, 3.0), (0.5, 2.0)]
    classes = ["compute", "memory", "network"]
    sizes = [128, 256, 384, 512]
    durations = {t: [a * t / 128 + b for a, b in coef] for t in sizes}
    return NF.Instance(names=["gemm", "attn", "allreduce"], classes=classes, durations=durations, batch=512)


@pytest.mark.parametrize("solver", SOLVERS)
def test_nanoflow_stage_one_matches_brute_force(solver):
    inst = _tiny_instance()
    one = NF.stage_one(inst, 2, solver=solver)
    assert one.optimal
    assert one.makespan == pytest.approx(NF.brute_stage_one(inst, 2), rel=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_nanoflow_stage_two_matches_brute_force(solver):
    inst = NF.Instance(names=["gemm", "attn"], classes=["compute", "memory"],
                       durations={128: [2.0, 3.0], 256: [3.5, 5.0]}, batch=256)
    one = NF.stage_one(inst, 2, solver=solver)
    shares = (0.4, 0.6, 1.0)
    two = NF.stage_two(inst, one, shares=shares, solver=solver)
    assert two.solve.optimal
    assert two.makespan == pytest.approx(NF.brute_stage_two(inst, one, shares), rel=1e-6)
    # interference makes stage II no faster than stage I's full-speed overlap
    assert two.makespan >= one.makespan - 1e-9


def test_nanoflow_from_the_cost_model():
    from perfmodel.plan import Plan
    from perfmodel.resolve import resolve_model, resolve_system

    inst = NF.Instance.from_plan(model=resolve_model("llama-3.1-8b"), system=resolve_system("h100-sxm"),
                                 plan=Plan(tp=2), batch=512, decode_fraction=0.75)
    assert set(inst.classes) <= set(NF.CLASSES) and len(inst.names) >= 3
    sched = NF.nano_schedule(inst, 2, shares=(0.5, 1.0))
    assert sched.optimal and sched.stage2.makespan > 0


# ---- FlexGen offload LP ------------------------------------------------------------------------
def _hw(**kw):
    base = dict(gpu_mem_gb=24, cpu_mem_gb=200, disk_gb=2000, ctog_gb_s=12, gtoc_gb_s=12, dtoc_gb_s=2, ctod_gb_s=2,
                gpu_tflops=100, gpu_bw_gb_s=900, cpu_bw_gb_s=100)
    base.update(kw)
    return OF.OffloadHardware(**base)


@pytest.mark.parametrize("solver", SOLVERS)
def test_offload_lp_is_at_least_as_good_as_any_grid_point(solver):
    from perfmodel.specs.registry import load_model

    model = load_model("llama-2-7b")
    hw = _hw(gpu_mem_gb=8)
    pol = OF.offload_lp(model, hw, prompt=256, gen=16, gbs=4, num_gb=2, solver=solver)
    assert pol is not None and pol.solve.optimal
    f = pol.fractions
    for a in "wch":
        assert f[f"{a}_g"] + f[f"{a}_c"] + f[f"{a}_d"] == pytest.approx(1)
    grid = _grid_best(model, hw, 256, 16, 4, 2)
    assert pol.seconds_per_block / 8 <= grid + 1e-9
    assert grid <= pol.seconds_per_block / 8 * 1.05        # a 1/20 grid lands within 5% of the vertex


def _grid_best(model, hw, s, n, gbs, ngb, step=0.05):
    """Evaluate the LP's objective on a grid of fractions (activations on GPU or CPU, never disk)."""
    L, W, K, H, ft = OF._sizes(model, 2.0, 2.0)
    bls = gbs * ngb
    S, C = s * bls, s + n / 2
    g = np.arange(0, 1 + 1e-9, step)
    wg, wc, cg, cc, hg = np.meshgrid(g, g, g, g, np.arange(0, 1 + 1e-9, 0.25), indexing="ij")
    ok = (wg + wc <= 1 + 1e-9) & (cg + cc <= 1 + 1e-9)
    wd, cd, hc = 1 - wg - wc, 1 - cg - cc, 1 - hg
    GB = 1e9
    bw = {k: getattr(hw, f"{k}_gb_s") * GB for k in ("ctog", "gtoc", "dtoc", "ctod", "gpu_bw", "cpu_bw")}
    flops = hw.gpu_tflops * 1e12
    attn = 4.0 * model.num_heads * model.head_dim * s / 2
    t_pre = np.maximum.reduce([(W * (wc + wd) + H * S * hc) / bw["ctog"], (K * S * (cc + cd) + H * S * hc) / bw["gtoc"],
                               W * wd / bw["dtoc"], K * S * cd / bw["ctod"], np.full_like(wg, S * (ft + attn) / flops)])
    t_gen = np.maximum.reduce([(W * (wc + wd) + H * bls * hc) / bw["ctog"], (K * bls * (cc + cd) + H * bls * hc) / bw["gtoc"],
                               (W * wd + K * bls * C * cd) / bw["dtoc"], K * bls * cd / bw["ctod"],
                               bls * ft / flops + K * bls * C * cg / bw["gpu_bw"] + K * bls * C * (cc + cd) / bw["cpu_bw"],
                               (W + K * bls * C * cg) / bw["gpu_bw"]])
    kv = bls * (s + n)
    ok &= L * (W * wg + K * kv * cg + H * S * hg) + 2 * W * (wc + wd) <= OF.CAPACITY_MARGIN * hw.gpu_mem_gb * GB
    ok &= L * (W * wc + K * kv * cc + H * S * hc) <= OF.CAPACITY_MARGIN * hw.cpu_mem_gb * GB
    ok &= L * (W * wd + K * kv * cd) <= hw.disk_gb * GB
    obj = (t_pre * L + t_gen * (n - 1) * L) / bls
    return float(obj[ok].min())


def test_offload_policy_search_prefers_gpu_when_it_fits():
    from perfmodel.specs.registry import load_model

    pol = OF.search_policy(load_model("llama-3.1-8b"), _hw(gpu_mem_gb=80), prompt=512, gen=32)
    assert pol.fractions["w_g"] == pytest.approx(1.0)
    small = OF.search_policy(load_model("llama-3.1-70b"), _hw(gpu_mem_gb=24), prompt=512, gen=32)
    assert small.fractions["w_g"] < 1.0


def test_offload_that_cannot_fit_is_an_error():
    from perfmodel.specs.registry import load_model

    with pytest.raises(PerfModelError, match="no offload policy fits"):
        OF.search_policy(load_model("llama-3.1-405b"), _hw(gpu_mem_gb=8, cpu_mem_gb=8, disk_gb=8), prompt=128, gen=8,
                         gbs_values=(1,), num_gb_values=(1,))


# ---- pools (DistServe) -------------------------------------------------------------------------
@settings(max_examples=examples(25))
@given(st.integers(0, 10_000))
def test_pools_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    pre = PO.Candidates(devices=rng.choice([1, 2, 4], 4), capacity=rng.uniform(0.5, 5, 4), cls=rng.choice([1, 2], 4))
    dec = PO.Candidates(devices=rng.choice([1, 2, 4], 3), capacity=rng.uniform(0.5, 5, 3), cls=rng.choice([1, 2], 3))
    for n in (3, 6):
        bf = PO.brute_force(pre, dec, devices=n)
        sol = PO.max_rate(pre, dec, n, solver="cbc")
        assert (bf is None) == (sol is None)
        if bf:
            assert sol.optimal and sol.rate == pytest.approx(bf[0], rel=1e-7)
    rate = float(rng.uniform(1, 6))
    bf = PO.brute_force(pre, dec, rate=rate, max_devices=10)
    sol = PO.min_devices_for_rate(pre, dec, rate, max_devices=10, solver="cbc")
    assert (bf is None) == (sol is None)
    if bf:
        assert sol.devices == bf[1] and sol.rate >= rate - 1e-9


def test_aggregated_pool_is_one_pool():
    agg = PO.Candidates(devices=[2, 4], capacity=[1.0, 2.5])
    sol = PO.max_rate(agg, None, 8)
    assert sol.rate == pytest.approx(5.0)          # two replicas of the 4-device config
    assert PO.brute_force(agg, None, devices=8)[0] == pytest.approx(5.0)


# ---- Prepacking ----------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", range(5))
def test_prepack_matches_brute_force(solver, seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(50, 700, size=9).tolist()
    pk = PP.pack_prompts(lengths, 1000, solver=solver)
    assert pk.optimal and pk.count == PP.brute_force_rows(lengths, 1000)
    assert sorted(i for r in pk.rows for i in r) == list(range(9))
    assert max(pk.lengths) <= 1000


def test_prepack_needs_the_solver_when_ffd_is_not_optimal():
    # FFD packs these into 3 rows; 2 rows are possible: [8, 2, 2], [3, 3, 3, 3]
    lengths = [3, 8, 3, 2, 3, 2, 3]
    assert len(PP.first_fit_decreasing(lengths, 12)) == 3
    pk = PP.pack_prompts(lengths, 12)
    assert pk.count == 2 and pk.solve is not None and pk.optimal


def test_prepack_rejects_prompts_longer_than_a_row():
    with pytest.raises(PerfModelError, match="longer than the row capacity"):
        PP.pack_prompts([10, 2000], 1000)


_ = RoutingProfile
