"""A simulated serving run as data: one row per request, and a Chrome / Perfetto trace of the
timeline (open trace.json in ui.perfetto.dev or chrome://tracing).

Trace layout (Chrome Trace Event Format, timestamps in microseconds): each request is a track
row ("lane") chosen so no two requests on a lane overlap; a request is two complete ("X") events,
`wait+prefill` from arrival to its first token and `decode` from the first token to its last;
a counter ("C") track counts the requests in the system.
"""

from __future__ import annotations

import csv
import heapq
import math
from pathlib import Path

import numpy as np

from perfmodel.serving.metrics import Timeline

US_PER_S = 1e6
MS_PER_S = 1e3


def request_rows(t: Timeline) -> list[dict]:
    """Per request: times (s), token counts, TTFT / TPOT / end-to-end (ms; TPOT empty for one token)."""
    ttft, tpot, e2e = t.ttft_s * MS_PER_S, t.tpot_s * MS_PER_S, t.e2e_s * MS_PER_S
    return [{"request": i, "arrival_s": float(t.arrival_s[i]), "first_token_s": float(t.first_token_s[i]),
             "finish_s": float(t.finish_s[i]), "input_tokens": int(t.input_tokens[i]),
             "output_tokens": int(t.output_tokens[i]), "ttft_ms": float(ttft[i]),
             "tpot_ms": None if math.isnan(tpot[i]) else float(tpot[i]), "e2e_ms": float(e2e[i])}
            for i in range(len(t.arrival_s))]


def write_requests_csv(t: Timeline, path: str | Path) -> Path:
    rows = request_rows(t)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["request"])
        w.writeheader()
        w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return Path(path)


def _lanes(start: np.ndarray, end: np.ndarray) -> list[int]:
    """Interval partitioning: the fewest rows such that no two requests on a row overlap."""
    order = np.argsort(start, kind="stable")
    free: list[tuple[float, int]] = []   # (end time, lane)
    lanes = [0] * len(start)
    count = 0
    for i in order:
        if free and free[0][0] <= start[i]:
            _, lane = heapq.heappop(free)
        else:
            lane, count = count, count + 1
        lanes[i] = lane
        heapq.heappush(free, (float(end[i]), lane))
    return lanes


def chrome_trace(t: Timeline, *, title: str = "perfmodel serve (simulated)") -> dict:
    """The timeline as a Chrome Trace Event Format document."""
    us = lambda s: float(s) * US_PER_S  # noqa: E731
    events: list[dict] = [{"ph": "M", "pid": 1, "name": "process_name", "args": {"name": title}}]
    for i, lane in enumerate(_lanes(t.arrival_s, t.finish_s)):
        args = {"request": i, "input_tokens": int(t.input_tokens[i]), "output_tokens": int(t.output_tokens[i])}
        events.append({"ph": "X", "pid": 1, "tid": lane, "name": "wait+prefill", "cat": "request",
                       "ts": us(t.arrival_s[i]), "dur": us(t.first_token_s[i] - t.arrival_s[i]), "args": args})
        events.append({"ph": "X", "pid": 1, "tid": lane, "name": "decode", "cat": "request",
                       "ts": us(t.first_token_s[i]), "dur": us(t.finish_s[i] - t.first_token_s[i]), "args": args})
    changes = sorted([(float(a), 1) for a in t.arrival_s] + [(float(f), -1) for f in t.finish_s])
    in_system = 0
    for time_s, step in changes:
        in_system += step
        events.append({"ph": "C", "pid": 1, "name": "requests in system", "ts": us(time_s),
                       "args": {"requests": in_system}})
    return {"traceEvents": events, "displayTimeUnit": "ms"}
