"""`perfmodel report` in a real headless browser: Chromium (Debian package `chromium`, installed
here when missing and we may; the test skips with the reason when it cannot) loads the page with
no console message at all (errors, uncaught exceptions, warnings) and every chart draws its SVG."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests._cli import run

pytest.importorskip("plotly", reason="perfmodel report needs plotly (pip install plotly)")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL_TIMEOUT_S = 600


def _chromium() -> str:
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=INSTALL_TIMEOUT_S)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True,
                           timeout=INSTALL_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"no Chromium and installing it failed: {exc}")
        if shutil.which("chromium"):
            return shutil.which("chromium")
    pytest.skip("no Chromium (apt-get install chromium) and this user cannot install it")


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    tune = ["tune", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--devices", "2", "--workload", "1000/200",
            "--quant", "bf16", "--max-batch", "8,32,128", "--ttft-slo", "500", "--out", str(d / "tune")]
    serve = ["serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--workload", "sharegpt", "--rate", "4",
             "--num-requests", "100", "--out", str(d / "serve")]
    from perfmodel.cli import main   # module-scoped: no capsys, so the entry point is called directly

    for argv in (tune, serve, ["report", "--tune", str(d / "tune"), "--serve", str(d / "serve"), "--out",
                               str(d / "report.html")]):
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 0, argv
    return d / "report.html"


def test_page_is_self_contained(report_page):
    text = report_page.read_text()
    assert "<script src=" not in text and "<link " not in text        # plotly.js is inlined: opens offline
    assert "vllm serve meta-llama/Llama-3.1-8B-Instruct" in text and "Pareto front" in text


def test_chromium_renders_every_chart_without_console_messages(report_page):
    browser = _chromium()
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=10000", "--dump-dom", report_page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    rendered = re.search(r'data-charts-rendered="(\d+)"', proc.stdout)
    assert rendered and int(rendered.group(1)) == 5     # Pareto, bounds, breakdown, latency CDF, latency vs load
    assert proc.stdout.count('class="main-svg"') >= 5


def test_missing_run_files_are_one_line(tmp_path, capsys):
    code, out, err = run(capsys, "report", "--tune", str(tmp_path))
    assert code == 1 and "missing plans.csv, pareto.json, best_plan.json" in err and len(err.strip().splitlines()) == 1
