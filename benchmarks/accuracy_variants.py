"""What-if runs of `perfmodel accuracy`: the same measured rows with one assumption changed, next to
the model as shipped, median |error| of mean TPOT and mean TTFT per measurement campaign (backend,
version, system, checkpoint). They back two statements in the README and perfmodel/quant.py:

  --kv-dtype bf16 --precision fp4   NVFP4 checkpoints with a 16-bit KV cache instead of FP8
  --length-ratio 1                  every request exactly ISL / OSL tokens (clients in lockstep)
                                    instead of InferenceMAX's [0.8, 1] x ISL/OSL
  --documented-clients              each campaign's own request lengths (`accuracy.length_ratio`:
                                    equal lengths on AIConfigurator's eval grid, the 0.8 spread else)
  --frontend-ms X                   every engine profile's per-request front-end latency set to X ms
                                    (the latency a client waits between its requests; docs/serving.md)

Run: python benchmarks/accuracy_variants.py [--kv-dtype D] [--length-ratio R] [--documented-clients]
     [--frontend-ms X] [--precision P]
(all rows: about 2 x 2.5 min on a 2-core machine; --precision fp4: 2 x 20 s)
"""

from __future__ import annotations

import argparse
import collections
import statistics

import perfmodel.accuracy as A
from perfmodel.serving.engine_profiles import ENGINES


def run(rows: list[dict], *, kv_dtype: str | None, length_ratio: float | None,
        documented_clients: bool = False, frontend_ms: float | None = None) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for i, r in enumerate(rows, start=2):
        c = A.case_from_row(f"r{i}", r, documented_clients=documented_clients)
        if not isinstance(c, A.Case):
            continue
        if kv_dtype:
            c.kwargs["kv_dtype"] = kv_dtype
        if length_ratio is not None:
            c.kwargs["workload"] = c.kwargs["workload"].rsplit(":", 1)[0] + f":{length_ratio:g}"
        if frontend_ms is not None:
            c.kwargs["engine"] = ENGINES[c.kwargs["engine"]].model_copy(update={"frontend_ms": frontend_ms})
        o = A.run_case(c)
        if o.errors:
            camp = f"{r['backend']} {r['backend_version'] or '-'} {r['system']} {r['model'].split('/')[-1]}"
            out[camp].append((abs(o.errors["tpot"]), abs(o.errors["ttft"])))
            out["all"].append((abs(o.errors["tpot"]), abs(o.errors["ttft"])))
    return out


def _median_pct(xs: list[tuple[float, float]], j: int) -> float:
    return 100 * statistics.median(x[j] for x in xs) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kv-dtype", default=None, help="KV dtype for every row (e.g. bf16)")
    ap.add_argument("--length-ratio", type=float, default=None, help="shortest request / ISL, OSL (1: equal lengths)")
    ap.add_argument("--documented-clients", action="store_true",
                    help="each campaign's request lengths (equal on AIConfigurator's eval grid)")
    ap.add_argument("--frontend-ms", type=float, default=None, help="front-end latency of every engine profile, ms")
    ap.add_argument("--precision", default=None, help="only rows of this precision column (e.g. fp4)")
    a = ap.parse_args()
    rows = [r for r in A.read_rows(None) if a.precision is None or r["precision"] == a.precision]
    base = run(rows, kv_dtype=None, length_ratio=None)
    var = run(rows, kv_dtype=a.kv_dtype, length_ratio=a.length_ratio, documented_clients=a.documented_clients,
              frontend_ms=a.frontend_ms)
    print(f"variant: kv_dtype={a.kv_dtype}, length_ratio={a.length_ratio}, documented_clients={a.documented_clients}, "
          f"frontend_ms={a.frontend_ms}; "
          f"median |error| TPOT / TTFT, % "
          f"(as shipped -> variant)")
    for camp in sorted(base, key=lambda k: (k != "all", k)):
        b, v = base[camp], var.get(camp, [])
        print(f"  {camp:58s} {len(b):4d} rows  TPOT {_median_pct(b, 0):6.1f} -> {_median_pct(v, 0):6.1f}   "
              f"TTFT {_median_pct(b, 1):6.1f} -> {_median_pct(v, 1):6.1f}   ({len(v)} rows)")


if __name__ == "__main__":
    main()
