"""Fixtures shared by the hardware tests: a valid device entry as plain data, and a YAML writer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from perfmodel import hardware


@pytest.fixture
def h100_entry() -> dict:
    """A complete, valid device entry as plain YAML data (a copy of the bundled h100-sxm)."""
    data = hardware.get_device("h100-sxm").model_dump(exclude_unset=True)
    data["id"] = "my-h100"
    data["aliases"] = []
    return data


@pytest.fixture
def write_yaml(tmp_path: Path):
    """write_yaml(data, name="mine.yaml") -> the path of `data` dumped as YAML under tmp_path."""
    def write(data: dict, name: str = "mine.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path
    return write
