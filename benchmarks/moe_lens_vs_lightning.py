"""MoE-Lens stage-1 bound vs MoE-Lightning's CGOPipe throughput in the MoE-Lens setup (docs/bounds.md).

Run: python benchmarks/moe_lens_vs_lightning.py  (prints a markdown table)
"""

from __future__ import annotations

from pathlib import Path

from perfmodel import hardware
from perfmodel import specs
from perfmodel.offload import HybridSetup, moe_lens_stage1, moe_lightning
from perfmodel.offload._hybrid import LIGHTNING_CPU_MEMORY_USED

YAML = Path(__file__).parent / "hardware" / "moe_lens_a40.yaml"
B_IO_GB_S = 19.5          # MoE-Lens s5.5 (secondary): measured 1 GB CPU->GPU copy
GPU_MEMORY_GB = 24        # MoE-Lens (secondary): the A40 restricted to 16-24 GB
WORKLOADS = [(98, 32), (98, 64), (98, 128), (98, 256), (512, 256), (1024, 128)]


def rows():
    system = hardware.resolve(str(YAML))
    model = specs.load_model("mixtral-8x7b")
    for kv_gb in (70, 210):
        s = HybridSetup.from_devices(f"A40 + Xeon 8380, {kv_gb} GB KV", model, system.device, system.host_cpu,
                                     gpu_memory_gb=GPU_MEMORY_GB, kv_host_gb=kv_gb, b_io_gb_s=B_IO_GB_S)
        for p, g in WORKLOADS:
            lens = moe_lens_stage1(s, p, g)
            lo, mid, hi = (moe_lightning(s, p, g, cpu_memory_used=u)
                           for u in (LIGHTNING_CPU_MEMORY_USED[1], sum(LIGHTNING_CPU_MEMORY_USED) / 2,
                                     LIGHTNING_CPU_MEMORY_USED[0]))
            yield {"kv_gb": kv_gb, "p": p, "g": g, "lens": lens["output_tok_s"], "lens_regime": lens["regime"],
                   "lightning": mid["output_tok_s"], "ratio": lens["output_tok_s"] / mid["output_tok_s"],
                   "ratio_range": (lens["output_tok_s"] / lo["output_tok_s"], lens["output_tok_s"] / hi["output_tok_s"]),
                   "lightning_gpu_util": mid["gpu_utilization_decode"], "lightning_bound": mid["decode_bound"],
                   "n_star": lens["n_star_tokens"], "pinned": s.pinned_fraction}


def main() -> None:
    out = list(rows())
    print("| KV (GB) | p | g | MoE-Lens bound (gen tok/s) | regime | MoE-Lightning (gen tok/s) | ratio (range) | "
          "Lightning decode bound | Lightning GPU util |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in out:
        print(f"| {r['kv_gb']} | {r['p']} | {r['g']} | {r['lens']:.0f} | {r['lens_regime']} | {r['lightning']:.0f} | "
              f"{r['ratio']:.1f}x ({r['ratio_range'][0]:.1f}-{r['ratio_range'][1]:.1f}) | {r['lightning_bound']} | "
              f"{r['lightning_gpu_util']:.1%} |")
    mean = sum(r["ratio"] for r in out) / len(out)
    print(f"\nmean ratio {mean:.2f}x over {len(out)} setups; n* = {out[0]['n_star']:.0f} tokens; "
          f"pinned weight fraction {out[0]['pinned']:.2f}")


if __name__ == "__main__":
    main()
