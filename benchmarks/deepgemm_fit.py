"""Fit of `Device.block_scale_tile_overhead_k` (issue 12): the fixed work per output tile of a
block-scaled FP8 GEMM on Hopper, in K elements of its main loop.

DeepGEMM's README as released in February 2025 (hardware/catalog/SOURCES.md DEEPGEMM-README) measures
every DeepSeek-V3/R1 inference shape on H800. Its large-M rows fall with K (590 TFLOPS at K = 512,
about 1,000 at K = 1,536-2,048, 1,300-1,360 at K >= 7,168): each output tile pays a fixed cost
(pipeline fill, the CUDA-core promotion's last block, the BF16 epilogue) besides its K / 128 main-loop
blocks. `perfmodel.ops.gemm` prices a block-scaled GEMM at gemm_efficiency.fp8 x K / (K + k0) (then
the usual tile / wave utilisation and the soft roofline with memory). k0 is fitted on the six dense
rows (M = 4096) and checked on the four grouped contiguous rows and the six grouped masked rows
(256-1024 rows per group, the decode layout), held out.

Run: PYTHONPATH=. python benchmarks/deepgemm_fit.py
"""

from __future__ import annotations

import numpy as np

from perfmodel import ops as O
from perfmodel.hardware.catalog import get_device
from perfmodel.quant import get_quant

# (groups, M per group, N, K, measured TFLOPS): DeepGEMM README (Feb 2025), H800, NVCC 12.8
DENSE = [(1, 4096, 2112, 7168, 1058), (1, 4096, 24576, 1536, 990), (1, 4096, 32768, 512, 590),
         (1, 4096, 7168, 16384, 1358), (1, 4096, 4096, 7168, 1304), (1, 4096, 7168, 2048, 1025)]
GROUPED = [(4, 8192, 4096, 7168, 1297), (4, 8192, 7168, 2048, 1099), (8, 4096, 4096, 7168, 1288),
           (8, 4096, 7168, 2048, 1093)]
# The README's masked layout (decode: the tokens DeepEP's low-latency kernels deliver per expert), 256-1024
# rows per group, where the weights' traffic and the MMAs are of one size: also held out (issue 11's MoE
# rows at tens to hundreds of tokens per expert)
MASKED = [(1, 1024, 4096, 7168, 1233), (1, 1024, 7168, 2048, 925), (2, 512, 4096, 7168, 1040),
          (2, 512, 7168, 2048, 916), (4, 256, 4096, 7168, 932), (4, 256, 7168, 2048, 815)]
CANDIDATES_K = range(0, 1281, 64)


def predicted_tflops(row, dev) -> float:
    groups, m, n, k, _ = row
    op = O.gemm("fit", m, n, k, dev, get_quant("fp8-block"), groups=groups)
    return op.flops / op.time_s / 1e12


def errors(rows, k0: float) -> np.ndarray:
    dev = get_device("h800").model_copy(update={"block_scale_tile_overhead_k": k0 or None})
    return np.array([predicted_tflops(r, dev) / r[4] - 1 for r in rows])


def main() -> None:
    fit = min(CANDIDATES_K, key=lambda k0: float(np.median(np.abs(errors(DENSE, k0)))))
    catalog = get_device("h800").block_scale_tile_overhead_k
    print("| k0 (K elements) | dense rows: median / max abs error | grouped contiguous (held out): median / max "
          "| grouped masked (held out): median / max |")
    print("|---:|---:|---:|---:|")
    for k0 in sorted({0, fit, catalog}):
        d, g, m = (np.abs(errors(rows, k0)) for rows in (DENSE, GROUPED, MASKED))
        tag = " (fit)" if k0 == fit else ""
        tag += " (catalog)" if k0 == catalog else ""
        print(f"| {k0:g}{tag} | {np.median(d):.1%} / {d.max():.1%} | {np.median(g):.1%} / {g.max():.1%} "
              f"| {np.median(m):.1%} / {m.max():.1%} |")


if __name__ == "__main__":
    main()
