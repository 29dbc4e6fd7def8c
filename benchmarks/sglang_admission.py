"""SGLang 0.5.6 at 512 clients: does its admission rule make requests wait?

For the SGLang 0.5.6.post2 rows of measured_serving.csv (Llama-3.1-8B fp8 on H200, C >= 448)
prints, per row: the measured mean TTFT and TPOT, the share of clients that Little's law puts in
the wait (TTFT / E2E, E2E = TTFT + mean output x TPOT, outputs uniform on [0.8, 1] x OSL), the
requests that share implies run at once, and the replica's KV pool (perfmodel's, at the sglang-0.5
profile's memory fraction) against what SGLang's PrefillAdder would hold for C running requests
(prompt + whole output each, the most it can ask; docs/serving.md, "SGLang at 512 clients").

`--max-batch N` adds the simulated mean TTFT / TPOT (closed loop, 10 C requests, as
`perfmodel accuracy` runs the row) with at most N requests running: a what-if for a running cap
below the clients, which no SGLang default sets.

Run: python benchmarks/sglang_admission.py [--max-batch 440]   (a few seconds; ~1 min with --max-batch)
"""

from __future__ import annotations

import argparse

from perfmodel.accuracy import read_rows
from perfmodel.serve_api import serve

MEAN_LENGTH = 0.9  # mean of the uniform [0.8, 1] x length the accuracy harness sends


def _serve(tp: int, isl: int, osl: int, clients: int, max_batch: int | None = None) -> dict:
    return serve(model="llama-3.1-8b", hardware="h200-sxm", quant="fp8-block", engine="sglang-0.5",
                 workload=f"random:{isl}:{osl}:0.8", concurrency=clients, num_requests=10 * clients, tp=tp,
                 max_batch=max_batch, goodput_search=False).to_dict()


def _pool_tokens(tp: int, isl: int, osl: int) -> int:
    return _serve(tp, isl, osl, 1)["config"]["pools"]["aggregated"]["kv_capacity_tokens"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-batch", type=int, default=None, help="what-if: at most this many requests running")
    cap = ap.parse_args().max_batch
    rows = [r for r in read_rows() if r["backend"] == "sglang" and r["backend_version"] == "0.5.6.post2"
            and r["mode"] == "agg" and int(r["concurrency"]) >= 448]
    rows.sort(key=lambda r: (int(r["tp"]), int(r["isl"]), int(r["osl"])))
    print(f"{'TP':>2} {'ISL/OSL':>9} {'C':>4} {'TTFT ms':>8} {'TPOT ms':>7} {'waiting':>7} {'running':>7} "
          f"{'KV pool':>9} {'C x (ISL+OSL)':>13}" + (f"  capped at {cap}: TTFT / TPOT ms" if cap else ""))
    for r in rows:
        tp, isl, osl, c = int(r["tp"]), int(r["isl"]), int(r["osl"]), int(r["concurrency"])
        ttft, tpot = float(r["ttft_ms_mean"]), float(r["tpot_ms_mean"])
        e2e = ttft + MEAN_LENGTH * osl * tpot
        share = ttft / e2e
        print(f"{tp:>2} {isl:>4}/{osl:<4} {c:>4} {ttft:>8.0f} {tpot:>7.1f} {share:>7.1%} {c * (1 - share):>7.0f} "
              f"{_pool_tokens(tp, isl, osl):>9,} {c * (isl + osl):>13,}", end="")
        if cap:
            d = _serve(tp, isl, osl, c, cap)
            print(f"  {d['ttft_ms']['mean']:>8.0f} / {d['tpot_ms']['mean']:.1f}", end="")
        print()


if __name__ == "__main__":
    main()
