"""Regenerate the engines' argument tables that tests/search/test_export.py checks every exported
flag against (name, value type, choices, deprecation), from the engines' own argument definitions.

argparse engines (vLLM, SGLang, the SGLang router) are read from their parser objects, so run this
in a throwaway venv that holds the engine (its wheel with --no-deps plus what its argument module
imports; no GPU is needed), e.g.:

    python -m venv /tmp/engvenv
    /tmp/engvenv/bin/pip install --no-deps vllm==0.34.0 sglang==0.5.23 sglang-router==0.3.2
    /tmp/engvenv/bin/pip install <the modules the imports below ask for>   # torch (CPU), transformers, ...
    VLLM_TARGET_DEVICE=cpu /tmp/engvenv/bin/python tools/engine_args.py vllm > tests/search/engine_args/vllm.json
    /tmp/engvenv/bin/python tools/engine_args.py sglang > tests/search/engine_args/sglang.json
    /tmp/engvenv/bin/python tools/engine_args.py sglang-router > tests/search/engine_args/sglang-router.json

TensorRT-LLM has no pure-Python wheel on PyPI; `trtllm-serve` is a click command, so its table is
read from the source text of tensorrt_llm/commands/serve.py (the click decorators, by AST):

    python tools/engine_args.py trtllm --source PATH/TO/serve.py --version 1.2.0 > tests/search/engine_args/trtllm.json

A value type is found by probing the engine's own type function with sample strings, so
engine-specific parsers (vLLM's optional_type(int), human-readable ints, JSON) are classified by
what they accept: int, float, json or str.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys


def _probe(fn) -> str:
    if fn is None:
        return "str"

    def ok(text):
        try:
            fn(text)
            return True
        except Exception:
            return False
    if ok('{"a": 1}') and not ok("abc"):   # JSON first: a JSON parser also takes "1" and "1.5"
        return "json"
    if ok("1") and not ok("1.5") and not ok("abc"):
        return "int"
    if ok("1.5") and not ok("abc"):
        return "float"
    return "str"


def _sets(action, option: str):
    """What a value-less option of a boolean action stores (the engine's own __call__ decides)."""
    ns = argparse.Namespace()
    action(argparse.ArgumentParser(), ns, None, option_string=option)
    return getattr(ns, action.dest)


def from_argparse(parser: argparse.ArgumentParser) -> dict:
    args = {}
    for a in parser._actions:
        if not a.option_strings or isinstance(a, argparse._HelpAction):
            continue
        name = type(a).__name__
        help_ = str(a.help or "")
        spec: dict = {"options": list(a.option_strings),
                      "deprecated": "deprecated" in name.lower() or help_.lower().lstrip("[").startswith("deprecated")}
        if isinstance(a, argparse.BooleanOptionalAction):
            spec["kind"] = "bool"
            spec["false_options"] = [o for o in a.option_strings if _sets(a, o) is False]
        elif a.nargs == 0:
            spec["kind"] = "flag"
        else:
            spec["kind"] = "value"
            spec["type"] = _probe(a.type)
            if a.choices is not None:
                spec["choices"] = sorted(str(c) for c in a.choices)
            if a.nargs is not None:
                spec["nargs"] = a.nargs
            if isinstance(a, argparse._AppendAction):
                spec["append"] = True
        for opt in a.option_strings:
            args[opt] = spec
    return args


def vllm() -> tuple[str, str, dict]:
    import vllm as v
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return "vllm serve", v.__version__, from_argparse(make_arg_parser(FlexibleArgumentParser()))


def sglang() -> tuple[str, str, dict]:
    from sglang.srt.server_args import ServerArgs
    from sglang.version import __version__

    p = argparse.ArgumentParser()
    ServerArgs.add_cli_args(p)
    return "sglang serve", __version__, from_argparse(p)


def sglang_router() -> tuple[str, str, dict]:
    from sglang_router.router_args import RouterArgs
    from sglang_router.version import __version__

    p = argparse.ArgumentParser()
    RouterArgs.add_cli_args(p, use_router_prefix=False)
    return "python -m sglang_router.launch_router", __version__, from_argparse(p)


_CLICK_TYPES = {"int": "int", "float": "float", "str": "str", "Path": "str"}


def trtllm(source: str) -> dict:
    """`@click.option("--tp_size", type=int, ...)` decorators of the serve command, by AST."""
    tree = ast.parse(open(source).read())
    args = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.FunctionDef) and node.name == "serve"):
            continue
        for dec in node.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "option"):
                continue
            opts = [a.value for a in dec.args if isinstance(a, ast.Constant) and str(a.value).startswith("-")]
            kw = {k.arg: k.value for k in dec.keywords}
            spec: dict = {"options": opts, "deprecated": "deprecated" in ast.unparse(kw.get("help", ast.Constant(""))).lower()}
            if isinstance(kw.get("is_flag"), ast.Constant) and kw["is_flag"].value:
                spec["kind"] = "flag"
            else:
                spec["kind"] = "value"
                t = kw.get("type")
                if isinstance(t, ast.Name):
                    spec["type"] = _CLICK_TYPES.get(t.id, "str")
                elif isinstance(t, ast.Call) and (getattr(t.func, "attr", "") == "Choice"
                                                  or getattr(t.func, "id", "").endswith("Choice")
                                                  or getattr(t.func, "id", "") == "ChoiceWithAlias"):
                    choices = t.args[0] if t.args else None
                    spec["type"] = "str"
                    if isinstance(choices, (ast.List, ast.Tuple)):
                        spec["choices"] = sorted(str(e.value) for e in choices.elts if isinstance(e, ast.Constant))
                else:
                    spec["type"] = "str"
            for opt in opts:
                args[opt] = spec
    return args


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("engine", choices=["vllm", "sglang", "sglang-router", "trtllm"])
    ap.add_argument("--source", help="trtllm: path to tensorrt_llm/commands/serve.py")
    ap.add_argument("--version", help="trtllm: the version that source belongs to")
    ap.add_argument("--origin", default="", help="where the source came from (recorded in the table)")
    ns = ap.parse_args()
    if ns.engine == "trtllm":
        if not (ns.source and ns.version):
            ap.error("trtllm needs --source and --version")
        command, version, args = "trtllm-serve", ns.version, trtllm(ns.source)
        origin = ns.origin or "tensorrt_llm/commands/serve.py (click options, read by AST)"
    else:
        command, version, args = {"vllm": vllm, "sglang": sglang, "sglang-router": sglang_router}[ns.engine]()
        origin = ns.origin or "the engine's argparse parser, imported"
    json.dump({"engine": ns.engine, "version": version, "command": command, "origin": origin,
               "generated_by": "tools/engine_args.py", "args": dict(sorted(args.items()))},
              sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
