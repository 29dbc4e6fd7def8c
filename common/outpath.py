"""Where a command writes (issue 15): the path is checked before any work, and a result is written
whole or not at all (temporary names in the same folder, renamed at the end).

A path given on the command line must be non-empty and free of control characters (a newline or
an ANSI escape would reach the terminal when the path is echoed back); a folder may not be, or be
under, a file; a file's folder must exist and the file may not be a folder."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from perfmodel.common.errors import PerfModelError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def plain_text(flag: str, value: str | os.PathLike, what: str) -> str:
    """`value` as non-empty text without control characters (it will be echoed or written to a
    launch script), else a one-line error naming `flag`."""
    text = str(value)
    if not text.strip():
        raise PerfModelError(f"{flag} is empty: name {what}")
    if _CONTROL.search(text):
        raise PerfModelError(f"{flag} {text!r} contains control characters; name {what} without them")
    return text


def _no_file_above(flag: str, path: Path) -> None:
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise PerfModelError(f"{flag} {str(path)!r}: {str(p)!r} is a file, not a directory")


def out_dir(flag: str, value: str | os.PathLike, *, what: str = "a directory") -> Path:
    """A folder to create or reuse."""
    d = Path(plain_text(flag, value, what))
    _no_file_above(flag, d)
    return d


def out_file(flag: str, value: str | os.PathLike, *, suffixes: tuple[str, ...] = ()) -> Path:
    """A file to create or replace, in a folder that exists; `suffixes`: the endings allowed."""
    text = plain_text(flag, value, "a file")
    p = Path(text)
    if p.is_dir() or text.endswith(("/", os.sep)):
        raise PerfModelError(f"{flag} {text!r} is a directory; name a file")
    if suffixes and p.suffix.lower() not in suffixes:
        raise PerfModelError(f"{flag} {text!r} must end in {', '.join(suffixes)}")
    _no_file_above(flag, p.parent)
    if not p.parent.is_dir():
        raise PerfModelError(f"{flag} {text!r}: the folder {str(p.parent)!r} does not exist")
    return p


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` (same suffix, so writers that infer a format from it keep
    it), renamed over `path` when the block completes and removed when it fails."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def staged_dir(d: Path) -> Iterator[Path]:
    """A temporary folder in `d` whose files are renamed into `d` when the block completes; on a
    failure nothing of them is left (and `d` itself is removed if this created it empty)."""
    created = not d.exists()
    d.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".staged-", dir=d))
    ok = False
    try:
        yield tmp
        for p in sorted(tmp.iterdir()):
            os.replace(p, d / p.name)
        ok = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not ok and created and not any(d.iterdir()):
            d.rmdir()
