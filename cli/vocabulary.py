"""One CLI vocabulary: the old spellings that still work, and the options table of docs/cli.md.

Every command names an option the same way (docs/cli.md): plan fields keep their Plan names
(`--weights-offload`, `--kv-offload`, `--kv-attention`, `--memory-utilization`), `-n` is only
`--num-requests`. Older spellings are rewritten by `perfmodel.cli.main` before parsing, with a
warning on stderr, so scripts keep working; they are not shown in `--help`.
"""

from __future__ import annotations

import sys
import types
import typing

# old spelling -> the words that replace it (a flag that took no value may gain one)
DEPRECATED: dict[str, tuple[str, ...]] = {
    "--offload-weights": ("--weights-offload",),
    "--offload-kv": ("--kv-offload",),
    "--attention-on-cpu": ("--kv-attention", "cpu"),
    "--sparse-kv": ("--kv-attention",),
    "--kv-fraction": ("--memory-utilization",),
    "--verify-engine": ("--engine",),
}


def rewrite_deprecated(argv: list[str], *, warn=None) -> list[str]:
    """argv with old spellings replaced (`--old value` and `--old=value`; nothing after `--`)."""
    warn = warn or (lambda text: print(text, file=sys.stderr))
    out: list[str] = []
    for i, word in enumerate(argv):
        if word == "--":
            return out + argv[i:]
        flag, eq, value = word.partition("=")
        new = DEPRECATED.get(flag)
        if new is None:
            out.append(word)
            continue
        warn(f"warning: {flag} is deprecated, use {' '.join(new)}")
        if eq:
            out += [*new[:-1], f"{new[-1]}={value}"] if len(new) == 1 else [*new, value]
        else:
            out += list(new)
    return out


def walk(command, path: tuple[str, ...] = ()):
    """(command path, click command) of every leaf command under a click group."""
    subs = getattr(command, "commands", None)
    if subs is None:
        yield path, command
        return
    for name, sub in sorted(subs.items()):
        yield from walk(sub, (*path, name))


def _type_name(param) -> str:
    """The option's value type (int, float, text): typer >= 0.2x keeps the annotation, click its type."""
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return {"integer": "int", "text": "str"}.get(param.type.name, param.type.name)
    ann = desc.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if args and typing.get_origin(ann) in (typing.Union, types.UnionType):
        ann = args[0]
    return getattr(ann, "__name__", str(ann))


def options(app) -> list[dict]:
    """Every visible option of every command: name, short aliases, value type, command, help."""
    import typer

    root = typer.main.get_command(app)
    rows = []
    for path, command in walk(root):
        for p in command.params:
            if getattr(p, "param_type_name", "") != "option" or p.hidden:
                continue
            longs = [o for o in (*p.opts, *p.secondary_opts) if o.startswith("--")]
            shorts = sorted(o for o in p.opts if not o.startswith("--"))
            kind = "flag" if p.is_flag else _type_name(p)
            rows.append({"name": longs[0], "secondary": longs[1:], "short": shorts, "type": kind,
                         "command": " ".join(path), "help": (p.help or "").strip()})
    return rows


def markdown_table(app) -> str:
    """The options table of docs/cli.md: one row per option name, with the commands that take it."""
    by_name: dict[str, list[dict]] = {}
    for row in options(app):
        by_name.setdefault(row["name"], []).append(row)
    lines = ["| option | short | value | commands | meaning (first command's help) |", "|---|---|---|---|---|"]
    for name in sorted(by_name):
        rows = by_name[name]
        types = sorted({r["type"] for r in rows})
        shorts = sorted({s for r in rows for s in r["short"]})
        commands = ", ".join(sorted({r["command"] for r in rows}))
        help_ = rows[0]["help"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {' '.join(shorts)} | {' / '.join(types)} | {commands} | {help_} |")
    return "\n".join(lines) + "\n"

