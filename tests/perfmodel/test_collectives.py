import pytest

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
