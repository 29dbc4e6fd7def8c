"""MoE-Lens stage-1 bound vs MoE-Lightning's CGOPipe throughput in the MoE-Lens setup (docs/bounds.md).

Run: python benchmarks/moe_lens_vs_lightning.py  (prints a markdown table)
"""

from __future__ import annotations

from perfmodel.reproduce._entry import Context
from perfmodel.reproduce._offload import moe_lens_rows


def rows():
    """The setups and their figures live with the `perfmodel reproduce` entry (perfmodel/reproduce/_offload.py)."""
    return moe_lens_rows(Context())


def main() -> None:
    out = list(rows())
    print("| KV (GB) | p | g | Lightning CPU memory use | MoE-Lens bound (gen tok/s) | regime | MoE-Lightning (gen tok/s) | "
          "ratio (range) | Lightning decode bound | Lightning GPU util (decode) | Lightning link busy (prefill) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in out:
        print(f"| {r['kv_gb']} | {r['p']} | {r['g']} | {r['lightning_memory_used']:.1%} | {r['lens']:.0f} | "
              f"{r['lens_regime']} | {r['lightning']:.0f} | "
              f"{r['ratio']:.1f}x ({r['ratio_range'][0]:.1f}-{r['ratio_range'][1]:.1f}) | {r['lightning_bound']} | "
              f"{r['lightning_gpu_util']:.1%} | {r['lightning_prefill_link_busy']:.1%} |")
    mean = sum(r["ratio"] for r in out) / len(out)
    print(f"\nmean ratio {mean:.2f}x over {len(out)} setups; n* = {out[0]['n_star']:.0f} tokens; "
          f"pinned weight fraction {out[0]['pinned']:.2f}")


if __name__ == "__main__":
    main()
