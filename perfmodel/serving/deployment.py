"""One pool of identical replicas: the step model of a plan under an engine profile, its KV cache,
its scheduler, and the simulation of requests routed over its replicas."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfmodel.attention_dp import group_ranks
from perfmodel.cacheblend import effective_recompute_fraction
from perfmodel.hardware.catalog import System
from perfmodel.errors import PerfModelError
from perfmodel.lora import LoraSetup, LoraStep
from perfmodel.plan import Plan
from perfmodel.serving.engine_profiles import EngineProfile
from perfmodel.serving.kv import KVConfig, build_kv
from perfmodel.serving.schedulers import Scheduler, get_scheduler
from perfmodel.serving.lockstep import simulate_group
from perfmodel.serving.replica_data import PrefixCache
from perfmodel.serving.simulator import Replica
from perfmodel.serving.timing import StepTimer
from perfmodel.stepmodel import StepModel
from perfmodel.swiftkv import SwiftKV, SwiftKVStep
from perfmodel.specs.model import ModelSpec

# Kernels one transformer layer launches in perfmodel.step's op list (attention block: norm, QKV,
# RoPE, KV write, prefill and decode attention, O projection, all-reduce; MLP block: norm, gate/up,
# SiLU-mul, down, all-reduce) and the head (embedding, norm, LM head, gather, sampling).
KERNELS_PER_LAYER = 13
HEAD_KERNELS = 5
# Host link bandwidth assumed when the catalog has none for the device (PCIe Gen4 x16 effective).
FALLBACK_HOST_BW_B_S = 20e9


@dataclass
class Pool:
    """Replicas of one plan under one engine: everything a simulation or the analytic model needs."""

    plan: Plan
    step: StepModel
    timer: StepTimer
    kv: KVConfig
    scheduler: Scheduler
    max_num_seqs: int
    token_budget: int
    prefix: PrefixCache | None
    replicas: int

    @property
    def devices(self) -> int:
        return self.plan.devices_per_replica * self.replicas


def _memory_note(step) -> str:
    """Where a device's memory went (weights, activations, runtime reserve of the usable capacity)."""
    mem = getattr(step, "memory", None)
    if mem is None:
        return ""
    return (f": weights {mem.weights_gb:.1f} GB + activations {mem.activations_gb:.1f} GB + reserved "
            f"{mem.reserved_gb:.1f} GB per device of {mem.capacity_gb:.1f} GB usable")


def build_pool(*, model: ModelSpec, system: System, engine: EngineProfile, plan: Plan, scheduler: str | None,
               kv_fraction: float | None = None, kv_layout: str | None = None, block_size: int | None = None,
               preemption: str | None = None, prefix_caching: bool | None = None, prefix_hit_rate: float = 1.0,
               cacheblend: bool = False, lora: LoraSetup | None = None,
               context_tokens: float | None = None, swiftkv: SwiftKV | None = None) -> Pool:
    """`plan.max_batch` / `plan.token_budget` override the engine's limits; `plan.replicas`
    (dp x workers) is the number of replicas. `context_tokens`: the mean context a sequence holds
    in this workload; the token-count KV pool amortises windowed KV and recurrent state over it
    (None: `perfmodel.memory.reference_context`; exact for models whose layers all attend fully).
    `swiftkv`: the SwiftKV-transformed model (prompt tokens skip the later layers, AcrossKV)."""
    fraction = kv_fraction if kv_fraction is not None else engine.kv_memory_fraction
    if not 0 < fraction <= 1:
        raise PerfModelError(f"--memory-utilization (kv_fraction) must be in (0, 1], got {fraction}")
    budget = plan.token_budget or engine.token_budget
    max_seqs = plan.max_batch or engine.max_num_seqs
    util = fraction if engine.kv_fraction_of == "total" else 1.0
    update = {"memory_utilization": util}
    if plan.nano_batches == 1 and engine.nano_batches > 1:
        update["nano_batches"] = engine.nano_batches
    sized = plan.model_copy(update=update)
    ctx = None if context_tokens is None else max(1, round(context_tokens))
    step = StepModel.build(model=model, system=system, plan=sized, max_tokens=budget, context_tokens=ctx)
    if swiftkv is not None:  # SwiftKV: prompt tokens skip the later layers (perfmodel.swiftkv)
        step = SwiftKVStep(step, swiftkv)
    if lora is not None:  # S-LoRA: adapters share the KV pool and add their branch to every step
        step = LoraStep(step, lora, max_seqs=max_seqs)
    capacity = step.kv_capacity_tokens * (fraction if engine.kv_fraction_of == "free" else 1.0)
    if preemption is not None:
        if preemption not in ("recompute", "swap"):
            raise PerfModelError(f"--preemption must be recompute or swap, got {preemption!r}")
        engine = engine.model_copy(update={"preemption": preemption})
    link = system.device.host_link
    host_bw = link.bw_per_direction_gb_s * 1e9 * link.efficiency if link else FALLBACK_HOST_BW_B_S
    kv = build_kv(engine=engine, kv_capacity_tokens=int(capacity), kv_bytes_per_token=step.kv_bytes_per_token,
                  devices=step.devices, num_layers=model.num_layers, host_bw_bytes_s=host_bw, layout=kv_layout,
                  block_tokens=block_size, memory_note=_memory_note(step))
    if kv_layout == "contiguous":  # no block tables in the attention kernel
        engine = engine.model_copy(update={"paged_attention_overhead": 0.0})
    elif engine.per_query_head_kv_reads:
        group = 1 if model.mla else model.num_heads // model.num_kv_heads
        engine = engine.model_copy(update={"paged_attention_overhead": engine.paged_attention_overhead * group})
    kernels = model.num_layers * KERNELS_PER_LAYER + HEAD_KERNELS
    timer = StepTimer(step, engine, kernels_per_step=kernels)
    caching = engine.prefix_caching if prefix_caching is None else prefix_caching
    if not 0 <= prefix_hit_rate <= 1:
        raise PerfModelError(f"--prefix-hit-rate must be in [0, 1], got {prefix_hit_rate}")
    prefix = None
    if caching or cacheblend:  # CacheBlend's layers before its check layer run on every reused token
        prefix = PrefixCache(hit_rate=prefix_hit_rate, cacheblend=cacheblend,
                             recompute_fraction=effective_recompute_fraction(model.num_layers))
    return Pool(plan=plan, step=step, timer=timer, kv=kv, scheduler=get_scheduler(scheduler or engine.scheduler),
                max_num_seqs=max_seqs, token_budget=budget, prefix=prefix, replicas=plan.replicas)


@dataclass
class PoolRun:
    arrival_s: np.ndarray          # as given; closed loop: when each request was issued
    first_token_s: np.ndarray
    finish_s: np.ndarray
    emitted: np.ndarray
    preemptions: int
    iterations: int
    area_req_s: float
    prefill_tokens_computed: int
    cached_tokens: int
    token_gap_s: np.ndarray        # time between tokens, all replicas (simulator docstring)
    token_gap_count: np.ndarray    # tokens that waited each gap


def route(n: int, replicas: int, conversation: np.ndarray | None) -> np.ndarray:
    """Round-robin, keeping a conversation's turns on one replica (its prefix cache)."""
    r = np.arange(n) % replicas
    if conversation is not None:
        r = np.where(conversation >= 0, conversation % replicas, r)
    return r


def simulate_pool(pool: Pool, *, arrival_s, input_tokens, output_tokens, prefix_tokens=None, prefix_group=None,
                  conversation=None, reuse_tokens=None, prefilled: bool = False, where=None, seed: int = 0,
                  concurrency: int | None = None) -> PoolRun:
    """Simulate requests (any order) over the pool's replicas; `where`: each request's replica
    (default `route`). `concurrency`: closed loop with that
    many clients, issuing requests in index order (`arrival_s` is ignored); the clients are split
    evenly over the replicas, each replica running its own closed loop (a client's requests stay
    on one replica: the load each replica sees is that of a balanced router). Attention-DP ranks
    that share MoE layers (`perfmodel.attention_dp.group_ranks`) run in lockstep, each iteration
    padded to the group's largest batch (`perfmodel.serving.lockstep`); other replicas run alone."""
    n = len(arrival_s)
    first, finish = np.full(n, np.nan), np.full(n, np.nan)
    issued = np.array(arrival_s, dtype=float)
    emitted = np.zeros(n, dtype=np.int64)
    totals = dict(preemptions=0, iterations=0, area_req_s=0.0, prefill_tokens_computed=0, cached_tokens=0)
    gaps, gap_counts = [np.zeros(0)], [np.zeros(0, dtype=np.int64)]
    if concurrency is not None and concurrency < 1:
        raise PerfModelError(f"--concurrency must be >= 1 client, got {concurrency}")
    replicas = pool.replicas if concurrency is None else min(pool.replicas, concurrency)
    where = route(n, replicas, conversation) if where is None else np.asarray(where)
    ranks: dict[int, tuple[np.ndarray, Replica]] = {}
    for k in range(replicas):
        idx = np.where(where == k)[0]
        if concurrency is None:
            idx = idx[np.argsort(np.asarray(arrival_s)[idx], kind="stable")]
        clients = None if concurrency is None else concurrency // replicas + (k < concurrency % replicas)
        if len(idx) == 0:
            continue
        pick = (lambda a: None if a is None else np.asarray(a)[idx])
        ranks[k] = idx, Replica(
            arrival=np.asarray(arrival_s)[idx], isl=np.asarray(input_tokens)[idx],
            osl=np.asarray(output_tokens)[idx], prefix_tokens=pick(prefix_tokens), prefix_group=pick(prefix_group),
            conversation=pick(conversation), reuse_tokens=pick(reuse_tokens), timer=pool.timer, kv=pool.kv,
            scheduler=pool.scheduler, max_num_seqs=pool.max_num_seqs, token_budget=pool.token_budget,
            prefilled=prefilled, prefix=pool.prefix, seed=seed + k, clients=clients,
            arrival_delay_s=0.0 if prefilled else pool.timer.engine.frontend_ms * 1e-3)
    size = group_ranks(pool.plan)  # attention-DP ranks that step together (perfmodel.serving.lockstep)
    for g in sorted({k // size for k in ranks}):
        members = [k for k in ranks if k // size == g]
        for k, res in zip(members, simulate_group([ranks[k][1] for k in members])):
            idx = ranks[k][0]
            first[idx], finish[idx], emitted[idx] = res.first_token_s, res.finish_s, res.emitted
            issued[idx] = res.arrival_s
            gaps.append(res.token_gap_s)
            gap_counts.append(res.token_gap_count)
            for key in totals:
                totals[key] += getattr(res, key)
    return PoolRun(arrival_s=issued, first_token_s=first, finish_s=finish, emitted=emitted,
                   token_gap_s=np.concatenate(gaps), token_gap_count=np.concatenate(gap_counts), **totals)
