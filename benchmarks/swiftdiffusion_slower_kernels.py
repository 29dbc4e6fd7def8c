"""What-if for the SwiftDiffusion entry: how its two ratios move when the GPU work is slower and the
host work (diffusers' PEFT loading) is not. The model prices SDXL at half eager diffusers' measured
latency (docs/diffusion.md, "Accuracy against measured runs"); this run halves the H800's peak FLOPs
and memory bandwidth, so every GPU cost takes about twice the model's time, and prints both ratios
next to the entry as shipped. It backs the sensitivity statement in docs/diffusion.md.

Run: python benchmarks/swiftdiffusion_slower_kernels.py [--slowdown 2.0]   (about 10 s)
"""

from __future__ import annotations

import argparse
import dataclasses

from perfmodel.reproduce import reproduce
from perfmodel.reproduce._diffusion import HARDWARE
from perfmodel.resolve import resolve_system


def slower(factor: float):
    system = resolve_system(HARDWARE)
    dev = system.device
    update = {"peak_dense_tflops": {k: v / factor for k, v in dev.peak_dense_tflops.items()},
              "memory_bw_gb_s": dev.memory_bw_gb_s / factor}
    return dataclasses.replace(system, device=dev.model_copy(update=update))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slowdown", type=float, default=2.0, help="GPU time multiplier (peak FLOPs and bandwidth / x)")
    args = ap.parse_args()
    for label, systems in (("as shipped", None), (f"GPU {args.slowdown:g}x slower", {HARDWARE: slower(args.slowdown)})):
        e = reproduce(["SwiftDiffusion"], systems=systems)[0]
        print(f"{label:>18}: {e.predicted:.2f}{e.unit} [{e.status}]; {e.note.split('; ')[1]}")


if __name__ == "__main__":
    main()
