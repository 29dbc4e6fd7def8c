"""Edge devices and node storage (issue 14 item 3)."""

import pytest

from perfmodel.common.errors import PerfModelError
from perfmodel.hardware.catalog import load_file, resolve

EDGE = ["jetson-agx-orin-64gb", "apple-m3-max"]


@pytest.mark.parametrize("name", EDGE)
def test_edge_devices_resolve_to_a_node_with_flash(name):
    system = resolve(name)
    assert system.device.id == name and system.max_devices == 1
    assert system.node.storage is not None and system.node.storage.seq_read_gb_s > 0
    # flash is one to two orders of magnitude slower than the unified memory it feeds
    assert 10 < system.device.memory_bw_gb_s / system.node.storage.seq_read_gb_s < 100


def test_jetson_numbers_match_the_data_sheet():
    dev = resolve("agx-orin").device
    assert (dev.memory_gb, dev.memory_bw_gb_s, dev.compute_units) == (64, 204.8, 16)
    assert dev.peak_dense_tflops["int8"] == pytest.approx(170 / 2, rel=0.01)  # sparse TOPS halved


_NODE = """
devices:
- id: edge-x
  name: x
  vendor: x
  kind: gpu
  peak_dense_tflops: {fp32: 1}
  memory_gb: 8
  memory_bw_gb_s: 50
  compute_units: 1
  mem_bw_efficiency: 0.8
  kernel_overhead_us: 5
  sources: {peak_dense_tflops: s, memory_gb: s, memory_bw_gb_s: s, compute_units: s, mem_bw_efficiency: s,
            kernel_overhead_us: s}
nodes:
- id: edge-x-node
  name: x
  device: edge-x
  devices_per_node: 1
  topology: single
  scaleup_domain_devices: 1
  storage: {name: ufs, seq_read_gb_s: %s}
  sources: {devices_per_node: s, scaleup_domain_devices: s%s}
"""


def test_a_storage_number_without_a_source_is_rejected(tmp_path):
    path = tmp_path / "edge.yaml"
    path.write_text(_NODE % ("2.0", ""))
    with pytest.raises(PerfModelError, match="storage.seq_read_gb_s"):
        load_file(path)
    path.write_text(_NODE % ("2.0", ", storage.seq_read_gb_s: UFS 4.0 sheet"))
    assert load_file(path).nodes[0].storage.seq_read_gb_s == 2.0


def test_a_non_positive_read_speed_names_the_field(tmp_path):
    path = tmp_path / "edge.yaml"
    path.write_text(_NODE % ("0", ", storage.seq_read_gb_s: s"))
    with pytest.raises(PerfModelError, match=r"nodes.0.storage.seq_read_gb_s=0: .*greater than 0") as exc:
        load_file(path)
    assert len(str(exc.value).splitlines()) == 1
