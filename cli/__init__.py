"""The `perfmodel` command line: a thin layer that parses, calls the API and renders.

Each command group lives in its own module with a `register(app)` function. `main` is the one
place that maps exceptions to exit codes (docs/cli.md, "Exit codes"):

- 0: success; 1: a model or plan error (`PerfModelError`: bad value, plan does not fit, no plan
  meets the SLOs), one line on stderr; 2: a usage error (unknown option, missing option, a value
  of the wrong type), one line plus the `--help` hint, as click does; 130: interrupted.
- Anything else is a bug: one line naming the exception and a hint to re-run with `--debug`
  (or PERFMODEL_DEBUG=1), which shows the traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from perfmodel.cli.vocabulary import rewrite_deprecated
from perfmodel.errors import PerfModelError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEBUG_FLAG = "--debug"

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Analytical performance model and autotuner for LLM serving.")


@app.callback()
def _root(debug: Annotated[bool, typer.Option(DEBUG_FLAG, help="Show the Python traceback of an error "
                                                                  "(also PERFMODEL_DEBUG=1).")] = False) -> None:
    """Analytical performance model and autotuner for LLM serving."""


def _register_all() -> None:
    for name in ("catalog", "estimate", "serve", "sweep", "bound", "tune", "export", "validate", "published",
                 "reproduce", "accuracy", "report", "edge", "diffusion", "pipeline"):
        try:
            module = __import__(f"perfmodel.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"perfmodel.cli.{name}":
                raise
            continue
        module.register(app)


_register_all()


def _split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """`--debug` may stand anywhere before a `--`; it is a root option, so it moves to the front."""
    end = argv.index("--") if "--" in argv else len(argv)
    debug = DEBUG_FLAG in argv[:end]
    rest = [a for i, a in enumerate(argv) if not (i < end and a == DEBUG_FLAG)]
    return rest, debug or os.environ.get("PERFMODEL_DEBUG", "") not in ("", "0")


def _usage_line(exc: Exception) -> str:
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"error: {exc.format_message()}{hint}"


def _fail(code: int, line: str) -> None:
    print(line, file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    argv, debug = _split_debug(rewrite_deprecated(list(sys.argv[1:] if argv is None else argv)))
    try:
        app(args=([DEBUG_FLAG] if debug else []) + argv, standalone_mode=False, prog_name="perfmodel")
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail(EXIT_INTERRUPTED, "aborted")
    except KeyboardInterrupt:
        _fail(EXIT_INTERRUPTED, "interrupted")
    except PerfModelError as exc:
        if debug:
            raise
        _fail(EXIT_ERROR, f"error: {exc}")
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":   # bare `perfmodel` / a bare group: help, click's exit 2
            text = exc.format_message()
            if text.strip():
                print(text)
            sys.exit(EXIT_USAGE)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # click usage errors (typer vendors click)
            _fail(exc.exit_code, _usage_line(exc))
        if debug:
            raise
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else "(no message)"
        _fail(EXIT_ERROR, f"error: internal error {type(exc).__name__}: {what}; re-run with {DEBUG_FLAG} "
                          "for the traceback and report it")
