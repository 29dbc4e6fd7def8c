"""One CLI vocabulary: every command's options are walked through click's introspection; the same
name means the same value type everywhere, a short alias names one option, old spellings are not
shown, and docs/cli.md holds the table the CLI generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfmodel.cli import app
from perfmodel.cli.tune import FIXING
from perfmodel.cli.vocabulary import DEPRECATED, markdown_table, options, rewrite_deprecated
from tests._cli import run

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
# tune's plan-fixing options and sweep's client counts take comma lists of the values the other
# commands take one of
LIST_FLAGS = {("tune", flag) for flag, _ in FIXING.values()} | {("sweep", "--concurrency")}
# the same name must not stand for two things; these pairs were dialects of one concept (issue 16)
SYNONYMS = [{"--weights-offload", "--offload-weights"}, {"--kv-offload", "--offload-kv"},
            {"--kv-attention", "--attention-on-cpu", "--sparse-kv"}, {"--memory-utilization", "--kv-fraction"}]


def _norm(row: dict) -> str:
    kind = {"Path": "str"}.get(row["type"], row["type"])
    return "list" if (row["command"], row["name"]) in LIST_FLAGS else kind


@pytest.fixture(scope="module")
def rows():
    return options(app)


def test_a_name_has_one_value_type(rows):
    kinds: dict[str, set[str]] = {}
    for r in rows:
        kinds.setdefault(r["name"], set()).add(_norm(r))
    mixed = {name: k - {"list"} for name, k in kinds.items() if len(k - {"list"}) > 1}
    assert mixed == {}


def test_a_short_alias_names_one_option(rows):
    owner: dict[str, set[str]] = {}
    for r in rows:
        for s in r["short"]:
            owner.setdefault(s, set()).add(r["name"])
    assert {s: names for s, names in owner.items() if len(names) > 1} == {}
    assert owner["-n"] == {"--num-requests"} and owner["-m"] == {"--model"} and owner["-w"] == {"--workload"}


def test_no_command_shows_an_old_spelling(rows):
    names = {r["name"] for r in rows} | {s for r in rows for s in r["secondary"]}
    assert names.isdisjoint(DEPRECATED)
    for group in SYNONYMS:
        assert len(group & names) == 1, group


def test_model_and_hardware_commands_share_the_options(rows):
    by_cmd: dict[str, set[str]] = {}
    for r in rows:
        by_cmd.setdefault(r["command"], set()).add(r["name"])
    plan = {"--model", "--hardware", "--workload", "--devices", "--tp", "--pp", "--ep", "--dp", "--quant",
            "--kv-dtype", "--nano-batches", "--weights-offload", "--kv-offload", "--kv-attention",
            "--memory-utilization", "--calibration", "--json"}
    for command in ("estimate", "serve", "bound", "tune"):
        assert plan <= by_cmd[command], (command, plan - by_cmd[command])
    assert "--model" in by_cmd["models show"] and "--hardware" in by_cmd["hardware show"]


def test_docs_hold_the_generated_table():
    text = DOCS.read_text()
    table = markdown_table(app)
    assert table in text, "docs/cli.md is stale: regenerate with `.venv/bin/python tools/cli_table.py --write`"


@pytest.mark.parametrize("argv,expected", [
    (["tune", "--offload-kv", "0,0.5"], ["tune", "--kv-offload", "0,0.5"]),
    (["serve", "--kv-fraction=0.8"], ["serve", "--memory-utilization=0.8"]),
    (["bound", "--attention-on-cpu", "--json"], ["bound", "--kv-attention", "cpu", "--json"]),
    (["estimate", "--sparse-kv", "topk"], ["estimate", "--kv-attention", "topk"]),
    (["serve", "--", "--kv-fraction"], ["serve", "--", "--kv-fraction"]),
])
def test_old_spellings_are_rewritten_with_a_warning(argv, expected):
    warnings = []
    assert rewrite_deprecated(argv, warn=warnings.append) == expected
    assert len(warnings) == (0 if argv[1] == "--" else 1)


def test_an_old_spelling_still_runs(capsys):
    code, out, err = run(capsys, "estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "-b", "4",
                         "--workload", "fixed:512:64", "--kv-offload", "0.5", "--attention-on-cpu", "--json")
    assert code == 0, err
    assert "warning: --attention-on-cpu is deprecated, use --kv-attention cpu" in err
    assert '"attention_on_cpu": true' in out
