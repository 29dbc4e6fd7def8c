"""Reading a user's text file: size checked before reading, bytes decoded with a one-line error.

Every loader of user files (model configs, workloads, traces, hardware YAML, calibration
profiles, plan files, routing files, published-figure CSVs) reads through `read_text`, so a binary
file, a latin-1 or UTF-16 file, a directory or a huge file is refused in one line naming the file,
never a UnicodeDecodeError traceback or an unbounded read.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from perfmodel.common.errors import PerfModelError

# Largest user file read whole (configs, workloads, plans are kilobytes; a BurstGPT-style trace of
# ~1M requests is ~50 MB). Documented in README "Limits".
MAX_FILE_BYTES = 256 * 2**20
# Configs, workloads, hardware YAML, calibration profiles, plan files: kilobytes in practice.
MAX_CONFIG_BYTES = 16 * 2**20
_UTF16_32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_text(path: Path | str, *, what: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of the file at `path` (`what` names it in messages: "a workload file")."""
    p = Path(path)
    try:
        if not p.is_file():
            raise PerfModelError(f"{p}: no such file ({what})" if not p.exists() else f"{p}: not a file ({what})")
        size = p.stat().st_size
        if size > max_bytes:
            raise PerfModelError(f"{p}: {size:,} bytes is larger than the {max_bytes:,}-byte limit for {what}")
        data = p.read_bytes()
    except OSError as exc:
        raise PerfModelError(f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    return decode(data, where=str(p), what=what)


def decode(data: bytes, *, where: str, what: str) -> str:
    """`data` as UTF-8 text (a UTF-8 byte-order mark is dropped), else a one-line error."""
    if data.startswith(_UTF16_32_BOMS):
        raise PerfModelError(f"{where}: {what} is UTF-16/32 encoded; save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise PerfModelError(f"{where}: {what} is binary (a NUL byte at offset {nul}), expected UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PerfModelError(f"{where} line {line}: {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                             f"{exc.start}); save it as UTF-8") from None
