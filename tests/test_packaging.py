"""The wheel exposes one top-level name, `perfmodel`, and its installed copy runs from any folder,
including one that holds a `common/` package of the user's own."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(out), str(ROOT)], check=True)
    return next(out.glob("perfmodel-*.whl"))


def test_wheel_has_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"perfmodel"}
    for data in ("perfmodel/hardware/catalog/nvidia.yaml", "perfmodel/specs/presets/llama-3.1-8b.json",
                 "perfmodel/search/export/vllm.py", "perfmodel/cli/__init__.py",
                 "perfmodel/data/published_figures.csv", "perfmodel/data/measured_serving.csv",
                 "perfmodel/diffusion/presets.yaml"):
        assert data in names


def test_installed_wheel_runs_beside_a_users_common_package(wheel, tmp_path):
    # this interpreter's dependencies, and only our wheel in front of them (PYTHONPATH precedes site-packages)
    py = sys.executable
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True)
    work = tmp_path / "elsewhere"
    (work / "common").mkdir(parents=True)
    (work / "common" / "__init__.py").write_text("raise ImportError('the user common package was imported')\n")
    (work / "hardware").mkdir()
    (work / "hardware" / "__init__.py").write_text("raise ImportError('the user hardware package was imported')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(target)}
    code = ("import perfmodel, json; from perfmodel import specs; "
            "r = perfmodel.estimate(model='meta-llama/Llama-3.1-8B', hardware='h100-sxm', batch_size=4, isl=256, osl=32);"
            "print(json.dumps({'file': perfmodel.__file__, 'hw': perfmodel.hardware.__file__, 'tpot': r.tpot_ms, "
            "'n': len(specs.preset_names())}))")
    out = subprocess.run([py, "-c", code], cwd=work, env=env, capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["file"].startswith(str(target)) and doc["hw"].startswith(str(target))  # not the source tree
    assert doc["tpot"] > 0 and doc["n"] >= 20
    cli = subprocess.run([py, "-m", "perfmodel", "models", "list", "--json"], cwd=work, env=env,
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "llama-3.1-8b" in cli.stdout
    # the public figures ship with the package: `published` runs from an install, away from shared/
    pub = subprocess.run([py, "-m", "perfmodel", "published", "--only", "17", "--json"], cwd=work, env=env,
                         capture_output=True, text=True)
    assert pub.returncode == 0, pub.stderr
    assert json.loads(pub.stdout)["rows"][0]["row"] == "17"
