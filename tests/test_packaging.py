"""A non-editable install finds the bundled specs and catalog from any working directory."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_install_from_temp_dir(tmp_path):
    wheel_dir = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheel_dir), str(ROOT)], check=True)
    wheel = next(wheel_dir.glob("perfmodel-*.whl"))
    env_dir = tmp_path / "venv"
    # reuse this interpreter's site-packages for dependencies; install only our wheel
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    py = env_dir / "bin" / "python"
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(target)}
    code = ("import perfmodel, json, hardware, specs; r = perfmodel.estimate(model='meta-llama/Llama-3.1-8B', "
            "hardware='h100-sxm', batch_size=4, isl=256, osl=32); "
            "print(json.dumps({'file': perfmodel.__file__, 'tpot': r.tpot_ms, 'n': len(specs.preset_names())}))")
    out = subprocess.run([str(py), "-c", code], cwd=work, env=env, capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["file"].startswith(str(target))  # not the source tree
    assert doc["tpot"] > 0 and doc["n"] >= 20
