"""Write tests/perfmodel/data/accuracy_ratchet.json from a full `perfmodel accuracy` run.

The ratchet holds, per group (engine, system, model, concurrency band, agg/disagg) and overall,
ceilings on the median |error| of mean TPOT and mean TTFT, and per-row ceilings for a small sample
of cheap rows that the default test suite re-runs. A ceiling is the current value plus a margin
(max(2 points, 10 %)); re-run this after a change that improves accuracy, so the ceilings only
come down.

Run: python benchmarks/accuracy_ratchet.py [REPORT.json]   (a saved `perfmodel accuracy --json`; default: run it)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from perfmodel.accuracy import report

OUT = Path(__file__).resolve().parents[1] / "tests" / "perfmodel" / "data" / "accuracy_ratchet.json"
SAMPLE = 12          # rows the fast test re-runs: the cheapest (fewest clients x tokens), spread over engines


def ceiling(x: float | None) -> float | None:
    return None if x is None else round(x + max(2.0, 0.1 * x), 1)


def group_ceilings(stats: dict) -> dict:
    return {"rows": stats["rows"], "tpot_pct": ceiling(stats["tpot_median_abs_error_pct"]),
            "ttft_pct": ceiling(stats["ttft_median_abs_error_pct"])}


def main() -> None:
    rep = json.loads(Path(sys.argv[1]).read_text()) if len(sys.argv) > 1 else report()
    rows = sorted(rep["rows"], key=lambda r: (r["key"]))
    by_engine: dict[str, list[dict]] = {}
    for r in rows:
        by_engine.setdefault(r["engine"], []).append(r)
    sample = []
    for eng, rs in sorted(by_engine.items()):
        rs = sorted(rs, key=lambda r: _cost(r["run"]))
        sample += rs[:SAMPLE // len(by_engine)]
    doc = {
        "command": "python benchmarks/accuracy_ratchet.py",
        "expressible_min": rep["expressible"],
        "overall": group_ceilings(rep["overall"]),
        "groups": {g: {v: group_ceilings(s) for v, s in vals.items()} for g, vals in rep["groups"].items()},
        "sample_rows": {r["key"]: {"run": r["run"], "tpot_pct": ceiling(abs(r["tpot_ms"]["error_pct"])),
                                   "ttft_pct": ceiling(abs(r["ttft_ms"]["error_pct"]))} for r in sample},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}: overall TPOT <= {doc['overall']['tpot_pct']}%, TTFT <= {doc['overall']['ttft_pct']}% "
          f"over {rep['expressible']} rows; {len(sample)} sample rows")


def _cost(run: str) -> float:
    """Clients x (ISL + OSL) from a row's label, '...; ISL/OSL C=N'."""
    lengths, c = run.rsplit(";", 1)[1].strip().split(" C=")
    isl, osl = lengths.split("/")
    return int(c) * (int(isl) + int(osl))


if __name__ == "__main__":
    main()
