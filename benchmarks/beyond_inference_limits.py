"""What bounds the Beyond Inference entry's throughput gain (GPU preprocessing with dynamic batching
over CPU preprocessing), through perfmodel.pipeline's public API on the entry's setup
(perfmodel/reproduce/_vision.py: one RTX 4090 on a stand-in Xeon host): the busy time per batch of
every resource on each side (CPU cores, GPU, each PCIe direction), the gain as the host cores given to
CPU preprocessing change, the floor no host can push it under (the baseline's batch-1 DNN), and the
share and gain at the RTX 4090's FP16-accumulate tensor rate and on the L40S the entry ran on before.
The paper's host CPU, batch and baseline were not readable (docs/pipeline.md).

Run: python benchmarks/beyond_inference_limits.py   (about 3 s)
"""

from __future__ import annotations

from perfmodel.reproduce._entry import Context
from perfmodel.reproduce._vision import (BATCHES, CPU_PRE, GAIN_PUBLISHED, GPU_PRE, HARDWARE, SHARE_PUBLISHED,
                                         fp16_accumulate, run_case, share_and_gain)

CORES = (8, 16, 32, 56)   # a desktop part up to the stand-in host's one socket
PREVIOUS = "l40s-8gpu"    # the AD102 data-centre card the entry used before the RTX 4090 was in the catalog


def main() -> None:
    system = Context().system(HARDWARE)
    gpu = max((run_case(system, GPU_PRE, b) for b in BATCHES), key=lambda r: r["throughput_img_s"])
    print(f"{HARDWARE}: GPU preprocessing, batch {gpu['batch_size']}: {gpu['throughput_img_s']:,.0f} img/s, bound by "
          f"{gpu['bottleneck']['resource']} ({gpu['bottleneck']['stage']})")
    for resource, ms in sorted(gpu["resource_busy_ms"].items(), key=lambda kv: -kv[1]):
        print(f"  {resource:>9}: {ms:7.3f} ms per batch ({ms / 1e3 * gpu['throughput_img_s'] / gpu['batch_size']:.0%})")
    for st in gpu["stages"]:
        print(f"    {st['stage']:<28} on {st['resource']:<9} {st['busy_s'] * 1e3:7.3f} ms  ({st['detail']})")
    print(f"CPU preprocessing, batch 1, by host cores (published gain {GAIN_PUBLISHED:g}x):")
    for cores in CORES:
        cpu = run_case(system, CPU_PRE, 1, cores)
        print(f"  {cores:>3} cores: {cpu['throughput_img_s']:7,.0f} img/s, bound by {cpu['bottleneck']['stage']:<12} "
              f"gain {gpu['throughput_img_s'] / cpu['throughput_img_s']:.2f}x")
    dnn_ms = cpu["resource_busy_ms"]["gpu"]
    print(f"  any host: the baseline's batch-1 DNN holds the GPU {dnn_ms:.3f} ms per image, so the gain is at least "
          f"{gpu['throughput_img_s'] * dnn_ms / 1e3:.2f}x")


def variants() -> None:
    print(f"share outside the DNN (published {SHARE_PUBLISHED:.0%}) and gain, host cores of one socket:")
    ctx = Context()
    for label, system in ((f"{HARDWARE}, FP32-accumulate tensor peak (the catalog)", ctx.system(HARDWARE)),
                          (f"{HARDWARE}, FP16-accumulate tensor peak", fp16_accumulate(ctx.system(HARDWARE))),
                          (f"{PREVIOUS} (the entry's GPU before)", ctx.system(PREVIOUS))):
        share, gain, best, cpu = share_and_gain(system)
        print(f"  {label}: {share:.1%} outside, {best['throughput_img_s']:,.0f} vs {cpu['throughput_img_s']:,.0f} "
              f"img/s, gain {gain:.2f}x")


if __name__ == "__main__":
    main()
    variants()
