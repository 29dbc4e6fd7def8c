"""What bounds the Beyond Inference entry's throughput gain (GPU preprocessing with dynamic batching
over CPU preprocessing), through perfmodel.pipeline's public API on the entry's setup
(perfmodel/reproduce/_vision.py): the busy time per batch of every resource on each side (CPU cores,
GPU, each PCIe direction), and the gain as the host cores given to CPU preprocessing change. The
paper's host CPU and core count were not readable (docs/pipeline.md), so the entry keeps one socket;
this run shows how far the gain moves with that one unread number.

Run: python benchmarks/beyond_inference_limits.py   (about 3 s)
"""

from __future__ import annotations

import dataclasses

from perfmodel.pipeline import build_pipeline, evaluate, image_size, parse_stages
from perfmodel.reproduce._entry import Context
from perfmodel.reproduce._vision import BATCHES, CPU_PRE, GAIN_PUBLISHED, GPU_PRE, HARDWARE, IMAGE, MODEL

CORES = (8, 16, 32, 56, 84, 112)   # a desktop part up to both sockets of the entry's host
# The paper's GPU (themoonlight.io review: an RTX 4090 in some experiments) on the entry's host: 1,008 GB/s,
# 128 SMs, FP16 tensor 165.15 TFLOPS dense with FP32 accumulate, 330.3 with FP16 accumulate (waredb.com
# "NVIDIA GeForce RTX 4090"; Tom's Hardware spec table: 661 sparse FP16). Which rate TensorRT's FP16
# kernels reach is not known here, so both are printed.
RTX4090 = {"memory_bw_gb_s": 1008.0, "compute_units": 128}
RTX4090_FP16_TFLOPS = (165.15, 330.3)


def run(stages: str, batch: int, cores: int | None = None, system=None) -> dict:
    w, h = image_size(IMAGE)
    p = build_pipeline(stages=parse_stages(stages), model=MODEL, width_px=w, height_px=h, batch_size=batch,
                       cpu_cores=cores)
    return evaluate(p, system or Context().system(HARDWARE))


def rtx4090(fp16_tflops: float):
    system = Context().system(HARDWARE)
    dev = system.device
    peak = {**dev.peak_dense_tflops, "fp16": fp16_tflops, "bf16": fp16_tflops}
    return dataclasses.replace(system, device=dev.model_copy(update={**RTX4090, "peak_dense_tflops": peak}))


def main() -> None:
    gpu = max((run(GPU_PRE, b) for b in BATCHES), key=lambda r: r["throughput_img_s"])
    print(f"GPU preprocessing, batch {gpu['batch_size']}: {gpu['throughput_img_s']:,.0f} img/s, bound by "
          f"{gpu['bottleneck']['resource']} ({gpu['bottleneck']['stage']})")
    for resource, ms in sorted(gpu["resource_busy_ms"].items(), key=lambda kv: -kv[1]):
        print(f"  {resource:>9}: {ms:7.3f} ms per batch ({ms / 1e3 * gpu['throughput_img_s'] / gpu['batch_size']:.0%})")
    for st in gpu["stages"]:
        print(f"    {st['stage']:<28} on {st['resource']:<9} {st['busy_s'] * 1e3:7.3f} ms  ({st['detail']})")
    print(f"CPU preprocessing, batch 1, by host cores (published gain {GAIN_PUBLISHED:g}x):")
    for cores in CORES:
        cpu = run(CPU_PRE, 1, cores)
        print(f"  {cores:>3} cores: {cpu['throughput_img_s']:7,.0f} img/s, bound by {cpu['bottleneck']['stage']:<12} "
              f"gain {gpu['throughput_img_s'] / cpu['throughput_img_s']:.2f}x")




def gpu_swap() -> None:
    print("the entry's setup with RTX 4090 numbers for the GPU (host unchanged, 56 cores):")
    for tflops in RTX4090_FP16_TFLOPS:
        system = rtx4090(tflops)
        gpu = max((run(GPU_PRE, b, system=system) for b in BATCHES), key=lambda r: r["throughput_img_s"])
        cpu = run(CPU_PRE, 1, system=system)
        print(f"  FP16 {tflops:g} TFLOPS: {gpu['throughput_img_s']:,.0f} vs {cpu['throughput_img_s']:,.0f} img/s, "
              f"gain {gpu['throughput_img_s'] / cpu['throughput_img_s']:.2f}x")


if __name__ == "__main__":
    main()
    gpu_swap()
