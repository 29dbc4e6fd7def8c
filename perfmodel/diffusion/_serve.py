"""A seeded text-to-image request trace with add-on popularity, and a FIFO serving simulation:
one queue, workers that take the oldest request and batch with it the queued requests of the same
signature (same ControlNets and LoRAs: one merged model serves them all), an LRU adapter cache
per worker. Reports latency percentiles, images/s and ControlNet-pool utilisation."""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perfmodel.diffusion._request import Deployment, service
from perfmodel.diffusion._spec import PipelineSpec
from perfmodel.errors import PerfModelError, pydantic_message
from perfmodel.hardware.catalog import System
from perfmodel.quant import Quant


MAX_BATCH = 1024  # images per batch (a bound on user input, far above what one GPU holds at 512 px)


class TraceSpec(BaseModel):
    """Requests: Poisson arrivals at `rate_per_s` (0: all at t=0), each with 0..controlnets_max
    ControlNets and 0..loras_max LoRAs (uniform counts), drawn Zipf(popularity) from pools."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_requests: int = Field(gt=0, le=200_000)  # serve's limit (README, Limits)
    rate_per_s: float = Field(ge=0, le=1e6)
    controlnets_max: int = Field(default=0, ge=0, le=8)
    controlnet_pool: int = Field(default=8, gt=0, le=4096)
    loras_max: int = Field(default=0, ge=0, le=8)
    lora_pool: int = Field(default=100, gt=0, le=1_000_000)
    popularity: float = Field(default=1.0, ge=0, le=100, description="Zipf exponent of add-on popularity (0: uniform)")
    seed: int = Field(default=0, ge=0, le=2**63 - 1)


def trace_spec(**fields) -> TraceSpec:
    try:
        spec = TraceSpec(**fields)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source="diffusion workload")) from None
    if spec.controlnets_max > spec.controlnet_pool:
        raise PerfModelError(f"controlnets_max ({spec.controlnets_max}) must be <= controlnet_pool "
                             f"({spec.controlnet_pool})")
    if spec.loras_max > spec.lora_pool:
        raise PerfModelError(f"loras_max ({spec.loras_max}) must be <= lora_pool ({spec.lora_pool})")
    return spec


@dataclass(frozen=True, slots=True)
class Request:
    arrival_s: float
    controlnets: tuple[int, ...]
    loras: tuple[int, ...]


def _pick(rng, pool: int, count: int, exponent: float) -> tuple[int, ...]:
    weights = 1.0 / np.arange(1, pool + 1) ** exponent
    return tuple(sorted(rng.choice(pool, size=count, replace=False, p=weights / weights.sum()).tolist()))


def make_trace(spec: TraceSpec) -> list[Request]:
    rng = np.random.default_rng(spec.seed)
    n = spec.num_requests
    arrivals = np.zeros(n) if spec.rate_per_s == 0 else np.cumsum(rng.exponential(1 / spec.rate_per_s, n))
    out = []
    for t in arrivals:
        ncn = int(rng.integers(0, spec.controlnets_max + 1))
        nlo = int(rng.integers(0, spec.loras_max + 1))
        out.append(Request(float(t), _pick(rng, spec.controlnet_pool, ncn, spec.popularity),
                           _pick(rng, spec.lora_pool, nlo, spec.popularity)))
    return out


def simulate(p: PipelineSpec, system: System, q: Quant, dep: Deployment, trace: list[Request], *, devices: int,
             steps: int, resolution_px: int, max_batch: int = 1) -> dict:
    """Serve `trace` on `devices` GPUs: (devices - controlnet_gpus) / gpus_per_worker workers."""
    if not 1 <= max_batch <= MAX_BATCH:
        raise PerfModelError(f"max_batch must be in [1, {MAX_BATCH}], got {max_batch}")
    pool = dep.controlnet_gpus if dep.controlnet_placement == "parallel" else 0
    workers = (devices - pool) // dep.gpus_per_worker
    if workers < 1:
        raise PerfModelError(f"devices ({devices}) leave no worker: {pool} ControlNet GPUs and "
                             f"{dep.gpus_per_worker} GPUs per worker")
    if devices > system.max_devices:
        raise PerfModelError(f"devices ({devices}) exceed the {system.max_devices} of {system.id!r}")
    memo: dict[tuple, dict] = {}

    def cost(images, ncn, nlo, misses):
        key = (images, ncn, nlo, misses)
        if key not in memo:
            memo[key] = service(p, system, q, dep, images=images, steps=steps, resolution_px=resolution_px,
                                controlnets=ncn, loras=nlo, lora_misses=misses)
        return memo[key]

    free = [(0.0, w) for w in range(workers)]
    caches = [OrderedDict() for _ in range(workers)]
    queue = list(range(len(trace)))  # FIFO by arrival (the trace is sorted)
    latency = np.zeros(len(trace))
    cn_gpu_s = worker_gpu_s = 0.0
    head = 0
    done = [False] * len(trace)
    end = 0.0
    while head < len(queue):
        t_free, w = heapq.heappop(free)
        i = queue[head]
        start = max(t_free, trace[i].arrival_s)
        sig = (trace[i].controlnets, trace[i].loras)
        batch = [i]
        j = head + 1
        while len(batch) < max_batch and j < len(queue) and trace[queue[j]].arrival_s <= start:
            k = queue[j]
            if not done[k] and (trace[k].controlnets, trace[k].loras) == sig:
                batch.append(k)
            j += 1
        cache = caches[w]
        misses = 0
        for lo in sig[1]:
            if lo in cache:
                cache.move_to_end(lo)
            else:
                misses += 1
                if dep.lora_cache:
                    cache[lo] = True
                    if len(cache) > dep.lora_cache:
                        cache.popitem(last=False)
        c = cost(len(batch), len(sig[0]), len(sig[1]), misses)
        finish = start + c["total_s"]
        for k in batch:
            done[k] = True
            latency[k] = finish - trace[k].arrival_s
        cn_gpu_s += c["controlnet_gpu_s"]
        worker_gpu_s += c["worker_gpu_s"]
        end = max(end, finish)
        while head < len(queue) and done[queue[head]]:
            head += 1
        heapq.heappush(free, (finish, w))
    span = end - trace[0].arrival_s
    # The simulation lets remote ControlNets start at once; a pool busier than its GPUs allow
    # stretches the run to the pool's own busy time (its throughput bound) and the latencies above
    # are then optimistic ("controlnet_pool_saturated").
    pool_span = cn_gpu_s / pool if pool else 0.0
    bound_span = max(span, pool_span)
    return {
        "requests": len(trace), "workers": workers, "devices": devices, "controlnet_gpus": pool,
        "latency_s": {"mean": float(latency.mean()), "p50": float(np.percentile(latency, 50)),
                      "p90": float(np.percentile(latency, 90)), "p99": float(np.percentile(latency, 99))},
        "images_per_s": len(trace) / bound_span, "images_per_s_per_device": len(trace) / bound_span / devices,
        "controlnet_pool_utilization": pool_span / span if pool else None,
        "controlnet_pool_saturated": pool_span > span,
        "worker_utilization": worker_gpu_s / (workers * dep.gpus_per_worker * span),
    }
