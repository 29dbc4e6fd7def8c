"""Beyond Inference (AbouElhamayed et al., DAC'24, arXiv:2403.12981): the share of a vision request's
end-to-end latency outside the DNN, and the throughput gain of its optimised serving, through
perfmodel.pipeline."""

from __future__ import annotations

from perfmodel.pipeline import build_pipeline, evaluate, image_size, parse_stages
from perfmodel.reproduce._entry import Context, Entry, computed, judge

SRC = "Beyond Inference arXiv:2403.12981 abstract; sciencestack.ai TL;DR; themoonlight.io review (setup)"
HARDWARE = "l40s-8gpu"    # the paper ran an RTX 4090 (AD102); the L40S is the catalog's AD102 part
MODEL = "resnet-50"       # the paper's image-classification task; its exact network was not read
IMAGE = "medium"          # 1920x1080: our 'medium'; the paper's pixel counts were not read
BATCHES = (1, 8, 32, 64)  # Triton dynamic batching: the batch it formed was not read; 'up to' takes the max
GPU_PRE = "h2d,decode@gpu,resize@gpu,normalize@gpu,dnn@gpu,d2h,postprocess@cpu"     # DALI in Triton
CPU_PRE = "decode@cpu,resize@cpu,normalize@cpu,h2d,dnn@gpu,d2h,postprocess@cpu"     # Python/PIL preprocessing
SHARE_PUBLISHED = 0.56
GAIN_PUBLISHED = 2.25


def _run(ctx: Context, stages: str, batch: int) -> dict:
    w, h = image_size(IMAGE)
    p = build_pipeline(stages=parse_stages(stages), model=MODEL, width_px=w, height_px=h, batch_size=batch)
    return evaluate(p, ctx.system(HARDWARE))


def beyond_inference(ctx: Context) -> Entry:
    gpu = {b: _run(ctx, GPU_PRE, b) for b in BATCHES}
    share = max(r["outside_dnn_fraction"] for r in gpu.values())
    cpu = _run(ctx, CPU_PRE, 1)
    cpu_share, baseline = cpu["outside_dnn_fraction"], cpu["throughput_img_s"]
    best = max(gpu.values(), key=lambda r: r["throughput_img_s"])
    gain = best["throughput_img_s"] / baseline
    gain_status, gain_note = judge("ratio", GAIN_PUBLISHED, gain)
    detail = (f"{cpu_share:.0%} outside the DNN with CPU preprocessing, the published 56% lies between the two "
              f"placements; the status judges the share only: the 2.25x throughput gain is {gain_status} "
              f"({gain:.2f}x, {gain_note}; bottleneck {best['bottleneck']['stage']})")
    why = ("the paper's image sizes, batch, host CPU and preprocessing placement were not read (the setup is our "
           "choice), and GPU Huffman decoding of large images is priced as parallel vector work (a lower bound)")
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
                         "image sizes, batch, host CPU, baseline": "our choice (not read)",
                         "stage costs": "perfmodel/pipeline/constants.py"}}
    return computed(seed="Beyond Inference", claim="up to 56% of end-to-end latency outside the DNN for a medium "
                    "image (and 2.25x better throughput than prior work)", setup=setup, published=SHARE_PUBLISHED,
                    predicted=share, unit="fraction of latency outside the DNN, GPU preprocessing", kind="ratio",
                    source=SRC, why=why, detail=detail)
