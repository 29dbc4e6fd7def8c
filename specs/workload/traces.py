"""Replayed traces: BurstGPT's CSV layout, read (validated row by row) and written."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfmodel.common.textfile import read_text
from perfmodel.common.errors import PerfModelError
from perfmodel.specs.workload.base import Requests
from perfmodel.specs.workload.lengths import _positive_int


BURSTGPT_COLUMNS = ("Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type")


@dataclass(frozen=True)
class TraceWorkload:
    """Rows of a trace replayed in order. `--rate` rescales the timestamps to that mean rate;
    `--offline` drops them."""

    name: str
    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    skipped: int = 0  # rows dropped (failed requests with 0 response tokens)
    source: str = ""

    @property
    def mean_input(self) -> float:
        return float(self.input_tokens.mean())

    @property
    def mean_output(self) -> float:
        return float(self.output_tokens.mean())

    def sample(self, n: int | None = None, *, rate: float | None = None, offline: bool = False,
               seed: int = 0) -> Requests:
        del seed  # a replay is deterministic
        n = len(self.arrival_s) if n is None else min(n, len(self.arrival_s))
        if n < 1:
            raise PerfModelError(f"--num-requests must be >= 1, got {n}")
        t = self.arrival_s[:n] - self.arrival_s[0]
        if offline:
            t = np.zeros(n)
        elif rate is not None and n > 1:
            span = t[-1]
            if span <= 0:
                raise PerfModelError(f"{self.name}: all {n} timestamps are equal, cannot rescale to --rate {rate}")
            t = t * ((n - 1) / span) / rate
        return Requests.build(t, self.input_tokens[:n], self.output_tokens[:n])


def read_burstgpt(path: str | Path, *, model: str | None = None, log_type: str | None = None) -> TraceWorkload:
    """A BurstGPT CSV (Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type).

    Rows with 0 response tokens are failed requests in BurstGPT and are skipped (counted in
    `skipped`); rows with 0 request tokens are skipped too. Any malformed row is an error naming
    its line."""
    p = Path(path)
    if not p.is_file():
        raise PerfModelError(f"{p}: no such file")
    with io.StringIO(read_text(p, what="a trace file"), newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise PerfModelError(f"{p} line 1: empty trace file, expected the header {', '.join(BURSTGPT_COLUMNS)}")
        header = [h.strip() for h in header]
        missing = [c for c in BURSTGPT_COLUMNS if c not in header]
        if missing:
            raise PerfModelError(f"{p} line 1: header lacks column(s) {missing}, got {header}")
        idx = {c: header.index(c) for c in BURSTGPT_COLUMNS}
        ts, isl, osl, skipped = [], [], [], 0
        for line_no, row in enumerate(reader, start=2):
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise PerfModelError(f"{p} line {line_no}: expected {len(header)} fields, got {len(row)}")
            try:
                t = float(row[idx["Timestamp"]])
            except ValueError:
                raise PerfModelError(f"{p} line {line_no}: 'Timestamp' must be a number, got {row[idx['Timestamp']]!r}") from None
            if not math.isfinite(t) or t < 0:
                raise PerfModelError(f"{p} line {line_no}: 'Timestamp' must be finite and >= 0, got {t}")
            req = _positive_int(row[idx["Request tokens"]].strip(), p, line_no, "Request tokens", allow_zero=True)
            res = _positive_int(row[idx["Response tokens"]].strip(), p, line_no, "Response tokens", allow_zero=True)
            tot = _positive_int(row[idx["Total tokens"]].strip(), p, line_no, "Total tokens", allow_zero=True)
            if tot != req + res:
                raise PerfModelError(f"{p} line {line_no}: 'Total tokens' must equal request + response tokens, "
                                     f"got {tot} != {req} + {res}")
            if (model and row[idx["Model"]] != model) or (log_type and row[idx["Log Type"]] != log_type):
                continue
            if req == 0 or res == 0:
                skipped += 1
                continue
            ts.append(t)
            isl.append(req)
            osl.append(res)
    if not ts:
        raise PerfModelError(f"{p}: no servable requests (rows with request and response tokens > 0)")
    order = np.argsort(np.asarray(ts), kind="stable")
    return TraceWorkload(name=p.name, arrival_s=np.asarray(ts)[order], input_tokens=np.asarray(isl)[order],
                         output_tokens=np.asarray(osl)[order], skipped=skipped, source=str(p))


def write_burstgpt(path: str | Path, req: Requests, *, model: str = "ChatGPT", log_type: str = "Conversation log") -> None:
    """Write requests in BurstGPT's CSV layout (integer-second timestamps, as BurstGPT has)."""
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(BURSTGPT_COLUMNS)
        for t, i, o in zip(req.arrival_s, req.input_tokens, req.output_tokens):
            w.writerow([int(round(t)), model, int(i), int(o), int(i + o), log_type])
