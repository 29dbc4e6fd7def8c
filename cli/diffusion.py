"""`perfmodel diffusion`: text-to-image serving with ControlNet and LoRA add-ons (perfmodel.diffusion)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import HardwareOpt, JsonOpt, console, print_json, table


def register(app: typer.Typer) -> None:
    @app.command()
    def diffusion(
        model: Annotated[str, typer.Option("--model", "-m", help="Diffusion pipeline preset: sd-1.5, sdxl, "
                                           "sd3-medium, flux.1-dev.")] = "sdxl",
        hardware: HardwareOpt = "h100-sxm",
        devices: Annotated[int, typer.Option("--devices", help="GPUs of the deployment (workers and the "
                                             "ControlNet pool).")] = 1,
        steps: Annotated[Optional[int], typer.Option("--steps", help="Denoising steps (default: the "
                                                     "pipeline's).")] = None,
        resolution: Annotated[Optional[int], typer.Option("--resolution", help="Image side in pixels (default: "
                                                          "the pipeline's).")] = None,
        quant: Annotated[str, typer.Option("--quant", help="Weight and activation scheme (fp16, bf16, fp8).")] = "fp16",
        controlnets: Annotated[int, typer.Option("--controlnets", help="Most ControlNets per request (each request "
                                                 "draws 0..N).")] = 0,
        controlnet_placement: Annotated[str, typer.Option("--controlnet-placement", help="serial (on the worker's "
                                        "GPU) or parallel (on a pool of --controlnet-gpus GPUs).")] = "serial",
        controlnet_gpus: Annotated[int, typer.Option("--controlnet-gpus", help="GPUs of the ControlNet pool "
                                                     "(parallel).")] = 0,
        cfg_parallel: Annotated[bool, typer.Option("--cfg-parallel", help="Latent parallelism: the CFG pair's two "
                                                   "latents on two GPUs.")] = False,
        loras: Annotated[int, typer.Option("--loras", help="Most LoRAs per request (each request draws 0..N).")] = 0,
        lora_adapters: Annotated[int, typer.Option("--lora-adapters", help="LoRA adapters the requests pick "
                                                   "from.")] = 100,
        lora_rank: Annotated[str, typer.Option("--lora-rank", help="Adapter rank (one value here).")] = "64",
        lora_mode: Annotated[str, typer.Option("--lora-mode", help="merge (patch W once per request) or unmerged "
                                               "(x A B every step).")] = "merge",
        lora_loading: Annotated[str, typer.Option("--lora-loading", help="sync (before denoising) or async "
                                                  "(SwiftDiffusion BAL: overlaps the first --lora-async-steps).")] = "sync",
        lora_async_steps: Annotated[int, typer.Option("--lora-async-steps", help="BAL bound: steps that may run "
                                                      "before the LoRA is patched.")] = 10,
        lora_source: Annotated[str, typer.Option("--lora-source", help="disk or host (memory).")] = "disk",
        lora_loader: Annotated[str, typer.Option("--lora-loader", help="peft (diffusers' load_lora_weights: host "
                                                 "time per wrapped module) or direct (tensors patched, no "
                                                 "modules built).")] = "peft",
        lora_cache: Annotated[int, typer.Option("--lora-cache", help="Adapters kept on each worker's GPU.")] = 0,
        disk_read: Annotated[Optional[float], typer.Option("--disk-read-gb-s", help="Disk read bandwidth for "
                                                           "adapters (GB/s; default a PCIe Gen4 NVMe drive).")] = None,
        lora_popularity: Annotated[float, typer.Option("--lora-popularity", help="Zipf exponent of add-on requests "
                                                       "(0: uniform).")] = 1.0,
        rate: Annotated[float, typer.Option("--rate", help="Mean request rate (requests/s).")] = 1.0,
        offline: Annotated[bool, typer.Option("--offline", help="All requests arrive at t=0.")] = False,
        num_requests: Annotated[int, typer.Option("--num-requests", "-n", help="Requests to simulate.")] = 200,
        max_batch: Annotated[int, typer.Option("--max-batch", help="Max same-signature images per batch.")] = 1,
        seed: Annotated[int, typer.Option("--seed", help="Random seed (workload).")] = 0,
        json_out: JsonOpt = False,
    ) -> None:
        """Text-to-image serving with ControlNet and LoRA add-ons: per-request cost and a FIFO simulation."""
        from perfmodel.diffusion import (denoiser_layers, denoiser_step, deployment, load_pipeline, make_trace, service,
                                         simulate, trace_spec, weight_params)
        from perfmodel.errors import PerfModelError
        from perfmodel.quant import get_quant
        from perfmodel.resolve import resolve_system

        if not lora_rank.isdigit():
            raise PerfModelError(f"--lora-rank takes one positive integer for diffusion, got {lora_rank!r}")
        p = load_pipeline(model)
        system = resolve_system(hardware)
        q = get_quant(quant)
        disk = {} if disk_read is None else {"disk_read_gb_s": disk_read}
        dep = deployment(**disk, controlnet_placement=controlnet_placement, controlnet_gpus=controlnet_gpus,
                         cfg_parallel=cfg_parallel, lora_mode=lora_mode, lora_loading=lora_loading,
                         async_bound_steps=lora_async_steps, lora_source=lora_source, lora_loader=lora_loader,
                         lora_rank=int(lora_rank), lora_cache=lora_cache)
        spec = trace_spec(num_requests=num_requests, rate_per_s=0.0 if offline else rate, controlnets_max=controlnets,
                          loras_max=loras, lora_pool=lora_adapters, popularity=lora_popularity, seed=seed)
        steps_ = p.default_steps if steps is None else steps
        res = p.default_resolution_px if resolution is None else resolution
        one = service(p, system, q, dep, images=1, steps=steps_, resolution_px=res, controlnets=controlnets,
                      loras=loras, lora_misses=loras)  # cold: every adapter loaded
        sim = simulate(p, system, q, dep, make_trace(spec), devices=devices, steps=steps_, resolution_px=res,
                       max_batch=max_batch)
        cfg_batch = 2 if p.cfg else 1
        step = denoiser_step(p, system.device, q, batch=cfg_batch, resolution_px=res).to_dict()
        step["params_b"] = weight_params(denoiser_layers(p, batch=1, resolution_px=res)) / 1e9
        out = {"model": p.name, "hardware": system.id, "steps": steps_, "resolution_px": res, "denoiser_step": step,
               "deployment": dep.model_dump(), "workload": spec.model_dump(),
               "heaviest_request_s": one, "serving": sim}
        if json_out:
            print_json(out)
            return
        console.print(f"{p.name}: {step['params_b']:.2f} B denoiser parameters, {step['tflops']:.2f} TFLOPs and "
                      f"{step['time_ms']:.1f} ms per step at {res} px (CFG batch {cfg_batch})", highlight=False)
        rows = [[k.removesuffix("_s"), v * 1e3] for k, v in one.items() if k.endswith("_s")]
        console.print(table(f"{p.name} on {system.id}: one request with {controlnets} ControlNets, {loras} LoRAs (ms)",
                            ["part", "ms"], rows))
        lat = sim["latency_s"]
        console.print(table(f"serving {num_requests} requests on {devices} GPUs ({sim['workers']} workers)",
                            ["images/s", "images/s/GPU", "p50 s", "p90 s", "p99 s", "ControlNet pool util"],
                            [[sim["images_per_s"], sim["images_per_s_per_device"], lat["p50"], lat["p90"], lat["p99"],
                              sim["controlnet_pool_utilization"]]]))
