"""Exit codes and the top-level handler: usage errors exit 2 with one line and the help hint,
model/plan errors exit 1 with one line, a bug is one line naming the exception with a hint to
re-run with --debug (which shows the traceback); tables piped to a file keep one row per line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests._cli import run

ESTIMATE = ["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "-b", "4"]


@pytest.mark.parametrize("argv,needle", [
    (["estimate"], "Missing option '--model'"),
    ([*ESTIMATE, "--isl", "100", "--osl", "10", "--bogus"], "No such option: --bogus"),
    ([*ESTIMATE, "--isl", "ten", "--osl", "10"], "'--isl'"),
    (["models", "show"], "'--model'"),
    (["tune", "-n", "4", "--model", "llama-3.1-8b", "--hardware", "h100-sxm"], "No such option: -n"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert "--help" in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("argv,needle", [
    ([*ESTIMATE, "--isl", "100"], "give --isl and --osl, or --workload fixed:ISL:OSL"),
    ([*ESTIMATE, "--workload", "100/10", "--isl", "5"], "not both"),
    ([*ESTIMATE, "--workload", "100/10", "--devices", "3", "--tp", "2"], "--devices 3 must be a multiple of"),
    (["models", "show", "--model", "nope-1b"], "unknown model 'nope-1b'"),
])
def test_model_errors_exit_1_with_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err


def test_bare_command_prints_help_and_no_empty_error(capsys):
    code, out, err = run(capsys)
    assert code == 2
    assert "estimate" in out and "error" not in err


def test_a_bug_is_one_line_with_a_debug_hint(capsys, monkeypatch):
    """A defect inside a command (here: the catalog loader raising a bare KeyError, as a
    programming error would) is not a user error: one line, the exception's type, the --debug hint."""
    from perfmodel import hardware

    def broken():
        raise KeyError("devices")

    monkeypatch.setattr(hardware, "bundled", broken)
    code, out, err = run(capsys, "hardware", "list")
    assert code == 1
    lines = err.strip().splitlines()
    assert lines == ["error: internal error KeyError: 'devices'; re-run with --debug for the traceback and report it"]
    with pytest.raises(KeyError):
        run(capsys, "hardware", "list", "--debug")


def test_estimate_takes_workload_and_devices(capsys):
    code, out, err = run(capsys, *ESTIMATE, "--workload", "fixed:512:64", "--devices", "2", "--json")
    assert code == 0, err
    import json

    d = json.loads(out)
    assert d["plan"]["dp"] == 2 and d["isl"] == 512 and d["osl"] == 64
    code, out2, err = run(capsys, *ESTIMATE, "--isl", "512", "--osl", "64", "--dp", "2", "--json")
    assert code == 0 and json.loads(out2)["ttft_ms"] == d["ttft_ms"]


def test_piped_tables_keep_one_row_per_line():
    """Through a real pipe (not a terminal): a model's row is one line, grep finds it whole."""
    proc = subprocess.run([sys.executable, "-m", "perfmodel", "models", "list"], capture_output=True, text=True,
                          timeout=120, env={"COLUMNS": "40", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "llama-3.1-70b" in line]
    assert len(rows) == 1 and "80" in rows[0] and "gqa" in rows[0]


def test_busy_shows_on_a_terminal_only():
    """The serve spinner writes to a terminal stderr and nothing to a pipe (so --json and logs stay clean)."""
    import io
    import time as _time

    from perfmodel.cli._common import _Console, busy

    tty = io.StringIO()
    with busy("simulating", console_=_Console(file=tty, force_terminal=True, width=80)):
        _time.sleep(0.7)
    assert "simulating" in tty.getvalue()
    pipe = io.StringIO()
    with busy("simulating", console_=_Console(file=pipe, force_terminal=False)):
        pass
    assert pipe.getvalue() == ""
