"""CloudMatrix384 (CloudMatrix-Infer, arXiv:2506.12708) rows 57-59 of
shared/reference/published_figures.csv, each as a static estimate with its setup (issue 12). The
setups and their sources live with the `perfmodel reproduce CloudMatrix384` entry
(perfmodel/reproduce/_moe.py); in short, DeepSeek-R1 W8A8 on the `cloudmatrix384` cluster:

  57        prefill: 16 NPUs, attention DP16 x EP16 (EP32 in dies), 4 prompts of 4,096 tokens per
            NPU in one step, no routing skew (the figure assumes perfect expert balance), the step
            run serially; tok/s/NPU = 16,384 / TTFT.
  57 (TBO)  the same with two-batch overlap, the model's form of the paper's micro-batch pipeline.
  58 / 59   decode: 160 NPUs, attention DP160 x EP160 with 64 EPLB slots (EP320 in dies), 4,096 in /
            256 out, MTP with one draft token at 70% acceptance, batch 96 / 8 per NPU; tok/s/NPU =
            batch / TPOT, TPOT under 50 / 15 ms.

The UB all-to-all runs at DeepEP-Ascend's measured normal-kernel rate (catalog
`all_to_all_efficiency`, hardware/catalog/SOURCES.md DEEPEP-ASCEND).

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
