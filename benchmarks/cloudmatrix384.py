"""CloudMatrix384 (CloudMatrix-Infer, arXiv:2506.12708) rows 57-59 of
shared/reference/published_figures.csv, each as a static estimate with its setup (issue 12). The
setups and their sources live with the `perfmodel reproduce CloudMatrix384` entry
(perfmodel/reproduce/_moe.py).

Run: python benchmarks/cloudmatrix384.py  (prints a markdown table)
"""

from __future__ import annotations

from perfmodel.reproduce._entry import Context
from perfmodel.reproduce._moe import cloudmatrix_rows


def rows():
    return cloudmatrix_rows(Context())


def main() -> None:
    print("| row | setup | metric | predicted | published | error | TPOT ms | fits / meets SLO |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for x in rows():
        err = (x["predicted"] - x["published"]) / x["published"] * 100
        tpot = "" if x["tpot_ms"] is None else f"{x['tpot_ms']:.1f}"
        print(f"| {x['row']} | {x['setup']} | {x['metric']} | {x['predicted']:,.0f} | {x['published']:,} "
              f"| {err:+.1f}% | {tpot} | {'yes' if x['fits'] else 'NO'} |")


if __name__ == "__main__":
    main()
