"""Leaf-spine collectives: hand-checked loads, spraying never worse than ECMP, minimal splitting
reaches spraying's link loads."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from perfmodel.errors import PerfModelError
from perfmodel.leafspine import LeafSpine, collective_time, link_loads, phase_time_s

TWO = LeafSpine(leaves=2, spines=2, hosts_per_leaf=2, host_gb_s=1.0, uplink_gb_s=1.0)


def test_two_flows_by_hand():
    flows = [(0, 2, 1e9), (1, 3, 1e9)]  # both from leaf 0 to leaf 1
    spray = link_loads(TWO, flows, "spray")
    assert np.allclose(spray["up"][0], [1e9, 1e9]) and phase_time_s(TWO, spray)["time_s"] == pytest.approx(1.0)
    split = link_loads(TWO, flows, "split")
    assert np.allclose(split["up"][0], [1e9, 1e9]) and int(split["cuts"]) == 0  # whole flows fill each share
    single = link_loads(TWO, flows, "single")
    assert np.allclose(sorted(single["up"][0]), [1e9, 1e9])
    # ECMP: both flows on one spine in half of the draws -> 2 s, else 1 s
    times = [phase_time_s(TWO, link_loads(TWO, flows, "ecmp", seed=s))["time_s"] for s in range(64)]
    assert set(np.round(times, 9)) == {1.0, 2.0}


def test_oversubscription():
    assert LeafSpine(leaves=4, spines=2, hosts_per_leaf=8, host_gb_s=50, uplink_gb_s=100).oversubscription == 2.0


flows_st = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11), st.floats(1e3, 1e9)), min_size=1, max_size=40)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(flows=flows_st, spines=st.integers(1, 5), seed=st.integers(0, 1000))
def test_spraying_never_worse_than_ecmp(flows, spines, seed):
    fab = LeafSpine(leaves=3, spines=spines, hosts_per_leaf=4, host_gb_s=50, uplink_gb_s=25)
    flows = [(a, b, x) for a, b, x in flows if a != b]
    spray = phase_time_s(fab, link_loads(fab, flows, "spray"))["time_s"]
    for routing in ("ecmp", "single", "split"):
        assert spray <= phase_time_s(fab, link_loads(fab, flows, routing, seed=seed))["time_s"] * (1 + 1e-9)
    split = link_loads(fab, flows, "split")
    ideal = link_loads(fab, flows, "spray")
    assert np.allclose(split["up"], ideal["up"]) and np.allclose(split["down"], ideal["down"])


def test_all_to_all_ecmp_slower_ring_not():
    fab = LeafSpine(leaves=8, spines=8, hosts_per_leaf=8, host_gb_s=40, uplink_gb_s=40)
    a2a = {r: collective_time(fab, kind="all_to_all", nbytes=1e9, routing=r)["time_s"] for r in ("ecmp", "spray")}
    ring = {r: collective_time(fab, kind="all_reduce", nbytes=1e9, routing=r)["time_s"] for r in ("ecmp", "spray")}
    assert a2a["ecmp"] > 1.1 * a2a["spray"]
    assert ring["ecmp"] == pytest.approx(ring["spray"])  # one flow per leaf pair: the NIC binds


def test_bad_fabric_names_the_field():
    with pytest.raises(PerfModelError, match="spines must be >= 1, got 0"):
        LeafSpine(leaves=2, spines=0, hosts_per_leaf=2, host_gb_s=1, uplink_gb_s=1)
    with pytest.raises(PerfModelError, match="routing must be one of"):
        link_loads(TWO, [(0, 2, 1.0)], "hash")
