"""`--hardware IDxN`: N nodes of a node (or of a device's default node) that the catalog does not list
as a cluster, joined by the node's NIC; refusals in one line."""

from __future__ import annotations

import pytest

from perfmodel.errors import PerfModelError
from perfmodel.hardware.catalog import resolve


def test_id_x_n_joins_n_nodes_over_their_nic():
    s = resolve("b200x8")
    assert s.max_devices == 64 and s.cluster.num_nodes == 8 and s.cluster.scaleout == s.node.nic
    assert s.node.id == resolve("b200").node.id
    assert resolve("dgx-h100-x2").cluster.id == "dgx-h100-x2"      # a catalog id is never split


@pytest.mark.parametrize("name,match", [("b200x0", "between 1 and 1024"), ("b200x5000", "between 1 and 1024"),
                                        ("gb200x2", "has no NIC"), ("dgx-h100-x2x2", "already a cluster")])
def test_id_x_n_refusals(name, match):
    with pytest.raises(PerfModelError, match=match):
        resolve(name)
