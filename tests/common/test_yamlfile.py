"""YAML mappings from user files: one-line errors naming the file and the line."""

import pytest

from perfmodel.common.errors import PerfModelError
from perfmodel.common.yamlfile import load_mapping


def test_a_mapping_is_returned():
    assert load_mapping("w.yaml", "name: x\nrate: 2\n", what="a workload file") == {"name": "x", "rate": 2}


def test_malformed_yaml_names_the_file_and_line():
    with pytest.raises(PerfModelError, match=r"^w\.yaml: line 2 malformed YAML"):
        load_mapping("w.yaml", "a: 1\nb: : 2\n", what="a workload file")


@pytest.mark.parametrize("text,kind", [("- 1\n- 2\n", "list"), ("3\n", "int"), ("", "NoneType")])
def test_anything_but_a_mapping_is_refused_by_kind(text, kind):
    with pytest.raises(PerfModelError, match=f"w.yaml: a workload file must be a mapping, got {kind}$"):
        load_mapping("w.yaml", text, what="a workload file")
