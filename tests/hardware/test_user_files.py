"""Users' own hardware YAML files: loaded, resolved by path, validated with one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from perfmodel.errors import PerfModelError
from perfmodel.hardware.catalog import load_file, resolve


@pytest.fixture
def user_file(h100_entry, write_yaml) -> Path:
    """A user's YAML file: one device (a 96 GB H100) and a two-GPU node of it."""
    dev = h100_entry
    dev["memory_gb"] = 96
    node = {"id": "my-box", "name": "two of mine", "device": "my-h100", "devices_per_node": 2,
            "topology": "nvswitch", "scaleup_domain_devices": 2, "host_cpu": "xeon-8480",
            "sources": {"devices_per_node": "my lab", "scaleup_domain_devices": "my lab"}}
    return write_yaml({"devices": [dev], "nodes": [node]})


def test_user_yaml_loads_via_load_file(user_file):
    cat = load_file(user_file)
    assert [d.id for d in cat.devices] == ["my-h100"]
    assert [n.id for n in cat.nodes] == ["my-box"]


def test_user_yaml_resolves_by_path(user_file):
    system = resolve(str(user_file))
    assert system.node.id == "my-box"
    assert system.device.id == "my-h100" and system.device.memory_gb == 96
    assert system.host_cpu is not None and system.host_cpu.id == "xeon-8480"
    assert system.link_for_group(2)[1] == "nvswitch"
    with pytest.raises(PerfModelError):
        system.link_for_group(3)


def test_a_file_with_several_setups_resolves_the_entry_named(user_file, write_yaml):
    data = yaml.safe_load(user_file.read_text())
    second = dict(data["nodes"][0], id="my-pair", name="two of them", devices_per_node=2)
    data["nodes"].append(second)
    path = str(write_yaml(data))
    assert resolve(path).node.id == "my-box"  # the first entry by default
    pair = resolve(path, entry="my-pair")
    assert pair.node.id == "my-pair" and pair.node.devices_per_node == 2 and pair.device.id == "my-h100"
    with pytest.raises(PerfModelError, match="my-trio"):
        resolve(path, entry="my-trio")


def test_user_entry_overrides_a_bundled_entry_with_the_same_id(h100_entry, write_yaml):
    dev = h100_entry
    dev["id"] = "h100-sxm"
    dev["memory_gb"] = 94
    system = resolve(str(write_yaml({"devices": [dev]})))
    assert system.device.memory_gb == 94
    assert system.node.id == "dgx-h100"  # the bundled default node of that device id


def test_user_node_with_unknown_host_cpu_is_rejected(user_file, write_yaml):
    path = user_file
    data = yaml.safe_load(path.read_text())
    data["nodes"][0]["host_cpu"] = "pentium-4"
    with pytest.raises(PerfModelError, match="pentium-4"):
        resolve(str(write_yaml(data)))


def test_user_node_whose_host_cpu_is_a_gpu_is_rejected(user_file, write_yaml):
    data = yaml.safe_load(user_file.read_text())
    data["nodes"][0]["host_cpu"] = "h100-sxm"
    with pytest.raises(PerfModelError, match="not a cpu"):
        resolve(str(write_yaml(data)))


def test_user_file_with_a_name_used_twice_is_rejected(user_file, write_yaml):
    data = yaml.safe_load(user_file.read_text())
    data["nodes"][0]["aliases"] = ["my-h100"]
    with pytest.raises(PerfModelError, match="my-h100"):
        resolve(str(write_yaml(data)))


def test_malformed_yaml_gives_a_one_line_error_with_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("devices:\n  - id: x\n    name: [unclosed\n    vendor: y\n")
    with pytest.raises(PerfModelError) as err:
        load_file(path)
    msg = str(err.value)
    assert "malformed YAML" in msg and re.search(r"line \d+", msg)
    assert "\n" not in msg


def test_unknown_key_gives_a_one_line_error_naming_the_key(h100_entry, write_yaml):
    data = h100_entry
    data["hbm_stacks"] = 5
    with pytest.raises(PerfModelError) as err:
        resolve(str(write_yaml({"devices": [data]})))
    msg = str(err.value)
    assert "hbm_stacks" in msg and "\n" not in msg


def test_missing_file_is_a_perfmodel_error(tmp_path):
    with pytest.raises(PerfModelError, match="no such file"):
        resolve(str(tmp_path / "nope.yaml"))
