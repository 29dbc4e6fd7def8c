"""The `perfmodel` command line: a thin layer that parses, calls the API and renders.

Each command group lives in its own module with a `register(app)` function. User errors
(`PerfModelError`) become one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from perfmodel.errors import PerfModelError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Analytical performance model and autotuner for LLM serving.")


def _register_all() -> None:
    for name in ("catalog", "estimate", "serve", "sweep", "bound", "tune", "export", "validate", "published",
                 "reproduce", "accuracy"):
        try:
            module = __import__(f"perfmodel.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"perfmodel.cli.{name}":
                raise
            continue
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=False)
    except PerfModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # usage errors (bad option values, missing options) are user errors too
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # click/typer usage errors
            print(f"error: {exc.format_message()}", file=sys.stderr)
            sys.exit(1)
        raise
