"""The hardware bounds of every aggregated measured serving row (perfmodel.closed_loop_bounds), no
simulation: per measurement campaign (backend, version, checkpoint, system) the rows, the rows that
break a bound, and the largest compute load (the share of the device's fastest measured GEMM rate the
row's throughput needs, Little's law on its measured means); then every row with a compute load above
--above, and the broken rows with their figures. Backs docs/serving.md, "Rows inconsistent with the
hardware bound" and "vLLM 0.12's Llama-3.1-8B FP8 rows".

Run: PYTHONPATH=. python benchmarks/closed_loop_bounds.py [--above 0.6]   (about 5 s)
"""

from __future__ import annotations

import argparse

from perfmodel.accuracy import Case, case_bounds, cases, read_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--above", type=float, default=0.6, help="list the rows whose compute load exceeds this")
    args = ap.parse_args()
    rows = read_rows(None)
    campaigns: dict[tuple, list] = {}
    checked = []
    for c in cases(rows):
        if not isinstance(c, Case) or (b := case_bounds(c)) is None:
            continue
        r = rows[int(c.key[1:]) - 2]
        campaigns.setdefault((r["backend"], r["backend_version"] or "-", r["model"], r["system"]), []).append(b)
        checked.append((c, b))
    print(f"{'campaign':<78} {'rows':>5} {'broken':>6} {'max compute load':>17}")
    for key, bs in sorted(campaigns.items()):
        print(f"{' '.join(key):<78} {len(bs):>5} {sum(not b.consistent for b in bs):>6} "
              f"{max(b.compute_load for b in bs):>17.2f}")
    print(f"\nrows needing more than {args.above:g} of the fastest measured GEMM rate "
          "(compute load; of spec peak in brackets):")
    for c, b in sorted(checked, key=lambda cb: -cb[1].compute_load):
        if b.compute_load > args.above:
            print(f"  {c.key:>5} {c.label:<62} {b.requests_per_s:7.1f} req/s  {b.compute_load:5.2f} "
                  f"[{b.peak_compute_load:.2f}]")
    print("\nrows inconsistent with the hardware bound:")
    for c, b in checked:
        if not b.consistent:
            print(f"  {c.key:>5} {c.label}: {b.describe()}")


if __name__ == "__main__":
    main()
