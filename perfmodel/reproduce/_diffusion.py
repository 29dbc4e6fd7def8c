"""SwiftDiffusion's headline through perfmodel.diffusion: latency and throughput of SDXL with
ControlNet and LoRA add-ons, SwiftDiffusion's workflow against diffusers' single-GPU one."""

from __future__ import annotations


from perfmodel.diffusion import deployment, load_pipeline, make_trace, service, simulate, trace_spec
from perfmodel.quant import get_quant
from perfmodel.reproduce._entry import Context, Entry, computed, judge

SRC = "SwiftDiffusion arXiv:2407.02031 v1 abstract"
SRC_V2 = "arXiv:2407.02031 v2 abstract (sotaverified.org, zhuanzhi.ai listings)"
HARDWARE = "hgx-h800"        # arXiv:2407.02031 v2 abstract: SDXL served on H800 GPUs
DEVICES = 8                  # our choice: one HGX node
STEPS = 50                   # diffusers StableDiffusionXLPipeline default (the paper's step count not read)
RESOLUTION_PX = 1024         # SDXL's native resolution (unet sample_size 128 x 8)
CONTROLNETS = (0, 1, 2, 3)   # our choice: up to 3 ControlNets and 2 LoRAs per request ("up to" = the heaviest)
LORAS = (0, 1, 2)
LORA_RANK = 64               # our choice: a common SDXL LoRA rank (146 MB of fp16 attention adapters)
BAL_STEPS = 10               # our choice: BAL's bound k (the paper's value not read), 20% of the steps
PUBLISHED_LATENCY_X = 5.0    # SRC: "reduces serving latency by up to 5x"
PUBLISHED_THROUGHPUT_X = 2.0  # SRC: "improves serving throughput by up to 2x"
V2_LATENCY_X = 7.8           # SRC_V2: "up to 7.8x latency reduction"
V2_THROUGHPUT_X = 1.6        # SRC_V2: "1.6x throughput improvement"
REQUESTS = 200               # offline trace for the throughput comparison


def _deployments(pool: int):
    base = deployment()  # diffusers: sync PEFT LoRA load + merge, ControlNets serial, CFG pair on one GPU
    swift = deployment(controlnet_placement="parallel", controlnet_gpus=pool, cfg_parallel=True,
                       lora_loading="async", async_bound_steps=BAL_STEPS, lora_loader="direct")
    return base, swift


def swiftdiffusion(ctx: Context) -> Entry:
    system = ctx.system(HARDWARE)
    p, q = load_pipeline("sdxl"), get_quant("fp16")
    base, swift = _deployments(max(CONTROLNETS))
    ratios = {}
    for ncn in CONTROLNETS:
        for nlo in LORAS:
            kw = dict(images=1, steps=STEPS, resolution_px=RESOLUTION_PX, controlnets=ncn, loras=nlo, lora_misses=nlo)
            ratios[(ncn, nlo)] = service(p, system, q, base, **kw)["total_s"] / service(p, system, q, swift, **kw)["total_s"]
    worst = max(ratios, key=ratios.get)
    trace = make_trace(trace_spec(num_requests=REQUESTS, rate_per_s=0, controlnets_max=max(CONTROLNETS),
                                  loras_max=max(LORAS), seed=0))
    run = dict(devices=DEVICES, steps=STEPS, resolution_px=RESOLUTION_PX)
    base_tput = simulate(p, system, q, base, trace, **run)["images_per_s"]
    best = {}
    for pool in (1, 2, 3):  # SwiftDiffusion sizes its ControlNet service on its own: the best pool
        for cfg_parallel in (False, True):
            dep = deployment(controlnet_placement="parallel", controlnet_gpus=pool, cfg_parallel=cfg_parallel,
                             lora_loading="async", async_bound_steps=BAL_STEPS, lora_loader="direct")
            best[(pool, cfg_parallel)] = simulate(p, system, q, dep, trace, **run)["images_per_s"] / base_tput
    top = max(best, key=best.get)
    setup = {"model": "sdxl (stable-diffusion-xl-base-1.0 config.json)", "hardware": f"{DEVICES}x h800 ({HARDWARE})",
             "precision": "fp16",
             "workload": f"{RESOLUTION_PX}x{RESOLUTION_PX}, {STEPS} steps, CFG; 0-{max(CONTROLNETS)} ControlNets and "
                         f"0-{max(LORAS)} rank-{LORA_RANK} LoRAs per request (LoRAs read from NVMe, no adapter cache, "
                         "ControlNets resident); "
                         "throughput: "
                         f"{REQUESTS} requests at t=0, Zipf(1) add-on popularity",
             "baseline": "diffusers workflow: LoRA loaded through load_lora_weights (PEFT backend: 2.17 ms of host "
                         "time per wrapped module, 1.22 s per SDXL adapter) and merged before denoising, ControlNets "
                         "serial on the GPU, CFG pair batched on one GPU",
             "swiftdiffusion": "ControlNet pool on other GPUs, latent parallelism, BAL: adapter tensors read and "
                               "patched directly (no PEFT modules) while the first steps run",
             "sources": {"claim": SRC, "hardware": "arXiv:2407.02031 v2 abstract (H800)", "v2 figures": SRC_V2,
                         "steps": "diffusers default", "PEFT load time": "huggingface/diffusers#9297 (1.216 s, "
                         "one SDXL LoRA); perfmodel/diffusion/_lora.py", "add-on counts, rank, BAL bound, trace": "our choice"}}
    # Two claims, one entry: the headline is the claim that decides the status (a miss, if either misses).
    lat = (PUBLISHED_LATENCY_X, ratios[worst], f"x latency reduction ({worst[0]} ControlNets, {worst[1]} LoRAs)")
    tput = (PUBLISHED_THROUGHPUT_X, best[top], f"x throughput (ControlNet pool {top[0]} GPU(s), latent parallelism "
                                               f"{'on' if top[1] else 'off'}, same {DEVICES} GPUs)")
    tput_missed = judge("ratio", *tput[:2])[0] == "missed"
    head, other = (tput, lat) if tput_missed else (lat, tput)
    other_status, other_verdict = judge("ratio", *other[:2])
    detail = f"other claim: {other[1]:.2f}{other[2]} vs published {other[0]:g}x, {other_status} ({other_verdict})"
    if tput_missed:
        why = ("the model counts GPU-seconds, and moving ControlNets to other GPUs or overlapping LoRA loading saves "
               "few; the rest of the 2x rests on what it does not model (ControlNet output caching and sharing, "
               "kernel tuning)")
    else:
        why = ""
        detail += ("; the throughput gain is diffusers' PEFT loading time (host-bound, the GPU idle) freed from the "
                   "workers, both sides priced with the same efficient kernels: at eager diffusers' measured SDXL "
                   "speed (2x the model's time, docs/diffusion.md) the freed time weighs less: 1.32x "
                   "(benchmarks/swiftdiffusion_slower_kernels.py); "
                   f"v2 of the paper reports {V2_LATENCY_X:g}x and {V2_THROUGHPUT_X:g}x")
    return computed(seed="SwiftDiffusion", claim="up to 5x lower serving latency and up to 2x throughput than "
                    "state-of-the-art text-to-image serving (add-on ControlNets and LoRAs)", setup=setup,
                    published=head[0], predicted=head[1], unit=head[2], kind="ratio", source=SRC, why=why,
                    detail=detail)
