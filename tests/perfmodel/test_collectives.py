import pytest

from perfmodel import hardware
from perfmodel.collectives import collective


def test_all_reduce_alpha_beta_on_nvswitch(h100):
    nbytes = 64 * 2**20
    op = collective("ar", "all_reduce", nbytes, 8, h100)
    expected = 15.5e-6 + 2 * 7 / 8 * nbytes / (450e9 * 0.80)
    assert op.t_comm == pytest.approx(expected, rel=1e-9)
    assert op.comm_bytes == pytest.approx(2 * 7 / 8 * nbytes)
    assert op.bound == "network"


def test_single_device_needs_no_collective(h100):
    assert collective("ar", "all_reduce", 1e9, 1, h100).time_s == 0


def test_volume_factors(h100):
    n = 1e8
    ag = collective("ag", "all_gather", n, 4, h100).comm_bytes
    a2a = collective("a2a", "all_to_all", n, 4, h100).comm_bytes
    ar = collective("ar", "all_reduce", n, 4, h100).comm_bytes
    assert ag == pytest.approx(0.75 * n) and a2a == pytest.approx(0.75 * n) and ar == pytest.approx(1.5 * n)


def test_unknown_kind_rejected(h100):
    with pytest.raises(ValueError, match="collective kind"):
        collective("x", "broadcast", 1, 2, h100)


def test_all_to_all_takes_the_links_measured_all_to_all_fraction():
    """CloudMatrix384's UB: expert all-to-alls at DeepEP-Ascend's measured normal-kernel rate
    (all_to_all_efficiency 0.54 in a node, 0.50 across the supernode), other collectives at the
    link's large-message efficiency; scalar and array group sizes agree; links without the field
    keep one efficiency for every kind."""
    import numpy as np

    from perfmodel import hardware

    cm = hardware.resolve("cloudmatrix384")
    n = 1e9
    for group, eff, a2a in ((8, 0.80, 0.54), (16, 0.78, 0.50)):
        link, _ = cm.link_for_group(group)
        alpha = collective("ar", "all_reduce", 1.0, group, cm).t_comm - 2 * (group - 1) / group / (392e9 * eff)
        t_a2a = collective("a2a", "all_to_all", n, group, cm).t_comm
        t_ag = collective("ag", "all_gather", n, group, cm).t_comm
        assert t_a2a == pytest.approx(alpha + (group - 1) / group * n / (392e9 * a2a), rel=1e-9)
        assert t_ag == pytest.approx(alpha + (group - 1) / group * n / (392e9 * eff), rel=1e-9)
        vec = collective("a2a", "all_to_all", n, np.array([group, 1]), cm).t_comm
        assert vec[0] == pytest.approx(t_a2a, rel=1e-12) and vec[1] == 0
    h100 = hardware.resolve("dgx-h100")
    link, _ = h100.link_for_group(8)
    assert link.all_to_all_efficiency is None and link.rate_efficiency("all_to_all") == link.efficiency


def test_rate_of_prices_bytes_at_another_kinds_fraction():
    """The NIC leg of an expert all-to-all moves point to point (volume 1) at the all-to-all
    kernels' measured fraction (catalog nic.all_to_all_efficiency, DEEPEP)."""
    system = hardware.resolve("dgx-h100x4")
    nic = system.node.nic
    p2p = collective("x", "p2p", 1e9, 32, system)
    a2a_rate = collective("x", "p2p", 1e9, 32, system, rate_of="all_to_all")
    assert a2a_rate.comm_bytes == p2p.comm_bytes == 1e9
    alpha = p2p.t_comm - 1e9 / (nic.bw_per_direction_gb_s * 1e9 * nic.efficiency)
    assert a2a_rate.t_comm == pytest.approx(alpha + 1e9 / (nic.bw_per_direction_gb_s * 1e9 * nic.all_to_all_efficiency))
