"""Beyond Inference (AbouElhamayed et al., DAC'24, arXiv:2403.12981): the share of a vision request's
end-to-end latency outside the DNN, and the throughput gain of its optimised serving, through
perfmodel.pipeline."""

from __future__ import annotations

from perfmodel.pipeline import build_pipeline, evaluate, image_size, parse_stages
from perfmodel.reproduce._entry import Context, Entry, computed, judge

SRC = "Beyond Inference arXiv:2403.12981 abstract; sciencestack.ai TL;DR; themoonlight.io review (setup)"
# What the stored copies say of the 2.25x (sciencestack.ai TL;DR of arXiv:2403.12981): "substantial
# throughput gains (up to 2.25x) when adopting optimized serving and in-memory brokers like Redis".
# The paper's body (its image sizes, batch, host CPU, its baseline's placement) is not in the stored
# copies: arxiv.org/html/2403.12981v1 and the reviews come back as their opening pages only.
GAIN_READING = "the TL;DR ties the 2.25x to optimized serving with an in-memory broker (Redis), not read further"
HARDWARE = "l40s-8gpu"    # the paper ran an RTX 4090 (AD102); the L40S is the catalog's AD102 part
MODEL = "resnet-50"       # the paper's image-classification task; its exact network was not read
IMAGE = "medium"          # 1920x1080: our 'medium'; the paper's pixel counts were not read
BATCHES = (1, 8, 32, 64)  # Triton dynamic batching: the batch it formed was not read; 'up to' takes the max
GPU_PRE = "h2d,decode@gpu,resize@gpu,normalize@gpu,dnn@gpu,d2h,postprocess@cpu"     # DALI in Triton
CPU_PRE = "decode@cpu,resize@cpu,normalize@cpu,h2d,dnn@gpu,d2h,postprocess@cpu"     # Python/PIL preprocessing
FEW_CORES = 16            # a desktop host's cores, for the sensitivity in the note (an RTX 4090 sits in one)
SHARE_PUBLISHED = 0.56
GAIN_PUBLISHED = 2.25


def _run(ctx: Context, stages: str, batch: int, cores: int | None = None) -> dict:
    w, h = image_size(IMAGE)
    p = build_pipeline(stages=parse_stages(stages), model=MODEL, width_px=w, height_px=h, batch_size=batch,
                       cpu_cores=cores)
    return evaluate(p, ctx.system(HARDWARE))


def beyond_inference(ctx: Context) -> Entry:
    gpu = {b: _run(ctx, GPU_PRE, b) for b in BATCHES}
    share = max(r["outside_dnn_fraction"] for r in gpu.values())
    cpu = _run(ctx, CPU_PRE, 1)
    cpu_share, baseline = cpu["outside_dnn_fraction"], cpu["throughput_img_s"]
    best = max(gpu.values(), key=lambda r: r["throughput_img_s"])
    gain = best["throughput_img_s"] / baseline
    gain_status, gain_note = judge("ratio", GAIN_PUBLISHED, gain)
    system = ctx.system(HARDWARE)
    all_cores = system.host_cpu.compute_units * system.node.cpu_sockets
    by_cores = {c: best["throughput_img_s"] / _run(ctx, CPU_PRE, 1, c)["throughput_img_s"]
                for c in (FEW_CORES, all_cores)}
    detail = (f"{cpu_share:.0%} outside the DNN with CPU preprocessing, the published 56% lies between the two "
              f"placements; the status judges the share only: the 2.25x throughput gain is {gain_status} "
              f"({gain:.2f}x, {gain_note}; bottleneck {best['bottleneck']['stage']})")
    why = ("the gain is the GPU's DNN capacity over the host's preprocessing capacity, so it moves with the host "
           f"cores the paper's body would give ({by_cores[all_cores]:.2f}x with all {all_cores} cores of the node, "
           f"{by_cores[FEW_CORES]:.1f}x with {FEW_CORES}: benchmarks/beyond_inference_limits.py); the paper's image sizes, batch, host CPU and baseline placement "
           f"were not readable (the setup is our choice); {GAIN_READING}; GPU Huffman decoding of large images is "
           "priced as parallel vector work (a lower bound)")
    if gain_status == "missed":
        detail += f"; {why}"
        why = ""
    setup = {"model": f"{MODEL} (TensorRT fp16)",
             "hardware": f"1x {HARDWARE} GPU, {cpu['cpu_cores']} cores of its host {cpu['host_cpu']} (one socket)",
             "workload": f"{IMAGE} JPEG {image_size(IMAGE)[0]}x{image_size(IMAGE)[1]}, batch {min(BATCHES)}-"
                         f"{max(BATCHES)} (the largest share decides 'up to')",
             "pipeline": GPU_PRE,
             "baseline": f"{CPU_PRE} at batch 1 (CPU preprocessing, no batching): our reading of 'prior work'",
             "sources": {"claims": SRC, "GPU": "themoonlight.io review: RTX 4090, Triton, TensorRT, dynamic batching",
                         "image sizes, batch, host CPU, baseline": "our choice: the stored copies of the paper hold "
                                                                    "its abstract and opening only",
                         "2.25x": "sciencestack.ai TL;DR: optimized serving and in-memory brokers like Redis",
                         "stage costs": "perfmodel/pipeline/constants.py"}}
    return computed(seed="Beyond Inference", claim="up to 56% of end-to-end latency outside the DNN for a medium "
                    "image (and 2.25x better throughput than prior work)", setup=setup, published=SHARE_PUBLISHED,
                    predicted=share, unit="fraction of latency outside the DNN, GPU preprocessing", kind="ratio",
                    source=SRC, why=why, detail=detail)
