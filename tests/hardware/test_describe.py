"""`perfmodel hardware schema` and the defaults a user's file leaves to the schema: the worked
example of docs/hardware.md loads, runs, and reports the defaults it takes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from perfmodel.hardware.catalog import load_file, resolve
from perfmodel.hardware.describe import defaults_used, schema_rows, unit_of
from tests._cli import run

DOC = Path(__file__).resolve().parents[2] / "docs" / "hardware.md"


def _example(tmp_path) -> Path:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    path = tmp_path / "lab.yaml"
    path.write_text(block)
    return path


def test_schema_has_units_bounds_and_defaults(capsys):
    rows = {(r["section"], r["field"]): r for r in schema_rows()}
    assert rows[("devices", "memory_bw_gb_s")]["unit"] == "GB/s (1e9 B/s)" and rows[("devices", "memory_gb")]["required"]
    assert rows[("devices", "gemm_tile_m")]["default"] == 128 and rows[("devices", "gemm_tile_m")]["bounds"] == "> 0"
    assert rows[("link", "efficiency")]["bounds"] == "> 0, <= 1" and unit_of("latency_us") == "microseconds"
    code, out, err = run(capsys, "hardware", "schema", "--json")
    assert code == 0 and len(json.loads(out)) == len(rows)
    code, out, err = run(capsys, "hardware", "schema")
    assert code == 0 and "gemm_tile_m" in out and "sources" in out


def test_the_worked_example_loads_and_reports_its_defaults(tmp_path, capsys):
    path = _example(tmp_path)
    system = resolve(str(path))
    assert system.node.id == "lab-h100-pcie-x2" and system.device.memory_bw_gb_s == 2000
    used = defaults_used(load_file(path))
    assert "gemm_tile_m=128" in used["lab-h100-pcie"] and "attn_prefill_efficiency=0.7" in used["lab-h100-pcie"]
    assert "nic=None" in used["lab-h100-pcie-x2"]
    code, out, err = run(capsys, "hardware", "show", "--hardware", str(path), "--json")
    assert code == 0, err
    assert "gemm_tile_n=128" in json.loads(out)["defaults_used"]["lab-h100-pcie"]
    code, out, err = run(capsys, "estimate", "--model", "llama-3.1-8b", "--hardware", str(path), "--tp", "2", "-b", "8",
                         "--workload", "fixed:2048:256", "--json")
    assert code == 0, err
    assert json.loads(out)["ttft_ms"] > 0
    assert f"warning: {path}: lab-h100-pcie takes schema defaults for" in err and "gemm_tile_m=128" in err


def test_a_catalog_id_reports_nothing(capsys):
    code, out, err = run(capsys, "hardware", "show", "--hardware", "h100-sxm", "--json")
    assert code == 0 and err == "" and "defaults_used" not in json.loads(out)
