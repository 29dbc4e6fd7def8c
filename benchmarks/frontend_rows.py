"""Compare saved `perfmodel accuracy --json` reports on the rows the front end matters for (issue 11):
per measurement campaign (backend, version, whether the simulator models its clients) the median
|error| of mean TTFT and mean TPOT and the rows within 20% of the measured TTFT, and per engine the
TTFT error at 1-8 clients (median |error| and median signed error), split into rows whose clients
the simulator models (`accuracy.clients_modeled`) and the genai-perf grid rows it does not.

Run: perfmodel accuracy --json > before.json   (about 3 min; again after a change: after.json)
     PYTHONPATH=. python benchmarks/frontend_rows.py before.json [after.json ...]
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
from pathlib import Path

import perfmodel.accuracy as A

LOW_CLIENTS = 8
WITHIN_PCT = 20.0


def groups(report: dict, rows: list[dict]) -> tuple[dict, dict]:
    """(campaign -> [(ttft %, tpot %)], engine / modelled -> [ttft %] at <= LOW_CLIENTS clients)."""
    camp: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    low: dict[str, list[float]] = collections.defaultdict(list)
    for r in report["rows"]:
        if not r.get("consistent", True):                   # measured faster than the hardware allows:
            continue                                        # out of the report's medians too
        raw = rows[int(r["key"][1:]) - 2]                   # key rN: CSV line N
        modelled = "modelled" if A.clients_modeled(raw) else "genai-perf grid"
        name = f"{raw['backend']} {raw['backend_version'] or '-'} ({modelled})"
        ttft, tpot = r["ttft_ms"]["error_pct"], r["tpot_ms"]["error_pct"]
        camp[name].append((ttft, tpot))
        if int(raw["concurrency"]) <= LOW_CLIENTS:
            low[f"{raw['backend']} ({modelled})"].append(ttft)
    return camp, low


def _med(xs: list[float]) -> float:
    return statistics.median(abs(x) for x in xs)


def main() -> None:
    paths = sys.argv[1:]
    if not paths:
        sys.exit(__doc__)
    rows = A.read_rows(None)
    reports = [json.loads(Path(p).read_text()) for p in paths]
    for p, rep in zip(paths, reports):
        o = rep["overall"]
        within = sum(1 for r in rep["rows"]
                     if r.get("consistent", True) and abs(r["ttft_ms"]["error_pct"]) <= WITHIN_PCT)
        print(f"{p}: {o['rows']} rows, median |error| TTFT {o['ttft_median_abs_error_pct']:.1f}%, "
              f"TPOT {o['tpot_median_abs_error_pct']:.1f}%, {within} rows within {WITHIN_PCT:g}% (TTFT)")
    parts = [groups(rep, rows) for rep in reports]
    print(f"\nper campaign: rows, median |error| TTFT / TPOT, rows within {WITHIN_PCT:g}% (TTFT); "
          "one column per report")
    for name in sorted(parts[0][0]):
        cells = []
        for camp, _ in parts:
            xs = camp.get(name, [])
            n20 = sum(1 for t, _ in xs if abs(t) <= WITHIN_PCT)
            cells.append(f"{_med([t for t, _ in xs]):6.1f}% / {_med([u for _, u in xs]):5.1f}%  {n20:3d}"
                         if xs else "-")
        print(f"  {name:42s} {len(parts[0][0][name]):4d}  " + "  |  ".join(cells))
    print(f"\nTTFT at 1-{LOW_CLIENTS} clients: rows, median |error|, median signed error; one column per report")
    for name in sorted(parts[0][1]):
        cells = []
        for _, low in parts:
            xs = low.get(name, [])
            cells.append(f"{_med(xs):6.1f}% {statistics.median(xs):+7.1f}%" if xs else "-")
        print(f"  {name:42s} {len(parts[0][1][name]):4d}  " + "  |  ".join(cells))


if __name__ == "__main__":
    main()
