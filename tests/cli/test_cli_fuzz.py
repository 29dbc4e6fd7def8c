"""Every command and every option of the CLI with hostile values (issue 15).

The commands and options are read from the typer app itself, so a command added later is walked
too. Each option of each command gets hostile values of its kind (numbers: nan, inf, -1, 0, 1e300,
a 30-digit integer; text and paths: empty, ",", newline and ANSI escapes, a directory,
/etc/passwd, a binary file, UTF-16 JSON, 5,000-deep JSON and YAML, a YAML anchor bomb), added to
an invocation that is otherwise cheap and valid (BASE). The values are dealt to the options in a
fixed rotation (every value reaches every kind of option; PERFMODEL_FUZZ_ALL=1 tries them all).

Each case must: exit 0, 1 or 2; on an error end with one `error: ...` line and no other error
line; print no traceback, no "internal error" (an unexpected exception is a bug), no escape
character and no line of an arbitrary file; finish within CASE_TIMEOUT_S; and, when it fails,
leave nothing behind in its working folder or the files folder (nothing half-written)."""

from __future__ import annotations

import hashlib
import os
import signal
import time

import pytest
import typer

from perfmodel.cli import app
from tests._cli import run

CASE_TIMEOUT_S = 20.0
ALL = os.environ.get("PERFMODEL_FUZZ_ALL", "") not in ("", "0")
PER_OPTION = 3          # hostile values per option (ALL: every value of its kind)

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
FILES: dict[str, bytes] = {
    "binary.bin": bytes(range(256)) * 4,
    "utf16.json": '{"hidden_size": 4096}'.encode("utf-16"),
    "deep.json": b"[" * 5000 + b"]" * 5000,
    "deep.yaml": b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "bomb.yaml": BOMB.encode(),
}
NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e300", "1e-300", "123456789012345678901234567890", "-0"]
TEXTS = ["", ",", "x\n\x1b[31mred", "{dir}", "/etc/passwd", "{dir}/binary.bin", "{dir}/utf16.json",
         "{dir}/deep.json", "{dir}/deep.yaml", "{dir}/bomb.yaml", "{dir}/missing/x.json", "nan", "-1"]

# A cheap, valid invocation per command (outputs go under the case's own working folder).
BASE: dict[str, list[str]] = {
    "estimate": ["-m", "llama-3.1-8b", "-H", "h100-sxm", "-b", "1", "--isl", "100", "--osl", "10"],
    "serve": ["-m", "llama-3.1-8b", "-H", "h100-sxm", "-w", "fixed:100:10", "-n", "8", "--rate", "1"],
    "sweep": ["-m", "llama-3.1-8b", "-H", "h100-sxm", "-w", "fixed:100:10", "-p", "tp=1", "-c", "1,2"],
    "bound": ["-m", "llama-3.1-8b", "-H", "h100-sxm", "-w", "fixed:100:10"],
    "tune": ["-m", "llama-3.1-8b", "-H", "h100-sxm", "--devices", "1", "-w", "1000/200", "--mode", "aggregated",
             "--quant", "bf16", "--max-batch", "8", "--token-budget", "2048", "--tp", "1", "--trials", "4"],
    "export": ["{dir}/plan.json"],
    "validate": ["--device", "cuda"],           # refused at once here (no GPU): the options are checked first
    "published": ["--only", "1"],
    "accuracy": ["--only", "r2"],
    "reproduce": ["SwiftKV"],
    "report": ["--tune", "{dir}/tuned"],
    "hardware show": ["h100-sxm"],
    "models show": ["llama-3.1-8b"],
}
# A command without a BASE entry (added after this test was written) gets its required options
# from these, by option name; anything else is left to the command's defaults.
GUESS = {"model": "llama-3.1-8b", "hardware": "h100-sxm", "workload": "fixed:100:10", "batch_size": "1",
         "plan": "tp=1", "devices": "1", "tune": "{dir}/tuned", "name": "llama-3.1-8b", "names": "swiftkv"}


class Hung(BaseException):
    """Raised by the alarm inside a case that ran past CASE_TIMEOUT_S (not an Exception, so the
    CLI's own handler cannot turn it into an error line)."""


def _walk(cmd, path=()):
    if hasattr(cmd, "commands"):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, (*path, name))
    else:
        yield " ".join(path), cmd


def _kind(param) -> str:
    ann = param.type_descriptor.annotation
    if ann is bool:
        return "flag"
    return "number" if ann in (int, float) else "text"


def _base(name: str, cmd) -> list[str]:
    if name in BASE:
        return list(BASE[name])
    out: list[str] = []
    for p in cmd.params:
        if p.required and p.name in GUESS:
            out += [GUESS[p.name]] if not p.opts[0].startswith("-") else [p.opts[0], GUESS[p.name]]
    return out


def _pick(values: list[str], key: str) -> list[str]:
    if ALL:
        return values
    start = int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(values)
    return [values[(start + i) % len(values)] for i in range(PER_OPTION)]


def _cases():
    out = []
    for name, cmd in _walk(typer.main.get_command(app)):
        base = _base(name, cmd)
        for p in cmd.params:
            kind = _kind(p)
            if kind == "flag":
                continue
            values = NUMBERS if kind == "number" else TEXTS
            opt = p.opts[0]
            for v in _pick(values, f"{name} {opt}"):
                if opt.startswith("-"):
                    argv = [*name.split(), *base, opt, v]
                else:       # an argument: the hostile value takes the place of the base's (listed first)
                    rest = base[1:] if base and not base[0].startswith("-") else base
                    argv = [*name.split(), v, *rest]
                out.append(pytest.param(argv, id=f"{name}:{opt}={v!r}"[:80]))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The hostile files, a real plan file and a real tune output folder."""
    from perfmodel.search.tune import tune

    d = tmp_path_factory.mktemp("fuzz")
    for name, body in FILES.items():
        (d / name).write_bytes(body)
    tune(model="llama-3.1-8b", hardware="h100-sxm", devices=1, workload="1000/200",
         space={"quant": "bf16", "modes": "aggregated", "max_batch": [8], "token_budget": [2048]}, out=d / "tuned")
    (d / "plan.json").write_bytes((d / "tuned" / "best_plan.json").read_bytes())
    return d


def _listing(folder) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_the_walk_covers_every_command_and_option():
    names = {n for n, _ in _walk(typer.main.get_command(app))}
    assert {"estimate", "serve", "tune", "export", "validate", "hardware show", "models list"} <= names
    options = {(c.values[0][0], c.values[0][-2]) for c in CASES}
    assert ("tune", "--routing") in options and ("serve", "--rate") in options
    assert len(CASES) >= 3 * 150


@pytest.mark.parametrize("argv", CASES)
def test_hostile_value(argv, files, tmp_path, monkeypatch, capsys):
    argv = [a.replace("{dir}", str(files)) for a in argv]
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _listing(files)

    def alarm(*_):
        raise Hung(f"{argv} ran past {CASE_TIMEOUT_S} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
    t0 = time.perf_counter()
    try:
        code, out, err = run(capsys, *argv)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    wall = time.perf_counter() - t0
    assert code in (0, 1, 2), (code, err[-2000:])
    assert "Traceback" not in out + err and "internal error" not in err, err[-2000:]
    assert "\x1b" not in out + err, err[-500:]
    assert "root:x:0:0" not in out + err
    if code != 0:
        lines = err.rstrip("\n").splitlines()
        assert lines and lines[-1].startswith("error: "), err[-2000:]
        assert sum(line.startswith("error") for line in lines) == 1, err[-2000:]
        assert len(lines[-1]) < 1000, lines[-1][:300]
        assert not any(work.iterdir()), sorted(p.name for p in work.rglob("*"))
        assert _listing(files) == before
    assert wall < CASE_TIMEOUT_S
