"""One decode step of an MoE model on an edge device whose memory may not hold every expert.

Per step (`batch_size` sequences, one token each), with rates from the catalog:
  memory rate   B_mem = memory_bw_gb_s x mem_bw_efficiency (unified memory: CPU and GPU share it)
  compute rate  F = fp16 peak x best-shape GEMM fraction (weights are dequantized to fp16 in the
                GEMV/GEMM, as W4A16 kernels do)
  flash rate    B_flash = node.storage.seq_read_gb_s (plane reads are MB-sized and sequential)

  non-expert    attention, router, shared experts, dense layers and the LM head, all resident:
                t = max(bytes / B_mem, 2 x params x batch / F) + KV bytes / B_mem
  experts       popularity p_i (Zipf, `perfmodel.moe.zipf_popularity`), hottest first; a token picks
                expert i with q_i = min(1, k p_i), a step reads it with a_i = 1 - (1 - q_i)^batch and
                sends it n_i = batch q_i tokens. Loaded at its level's bytes s_i (perfmodel.edgemoe
                ._matryoshka):
                  compute  c_i = max(a_i s_i / B_mem, 2 P_expert n_i / F)
                  load     io_i = a_i (1 - hit_i) s_i / B_flash, hit_i from the cache model
                and a layer takes the `_pipeline` schedule's time over (io_i, c_i).
  step          t_step = t_non_expert + moe_layers x t_layer; tokens/s = batch / t_step
  peak memory   non-expert weights + KV + the experts held: all of them when they fit the budget,
                else the budget's remainder, which the cache fills.

Left out: kernel launches, the memory traffic of flash DMA, partial hits on a lower plane of an
expert wanted at a higher level (the expert reloads whole), and prefill.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from perfmodel.edgemoe._cache import hit_rates
from perfmodel.edgemoe._matryoshka import dense_bytes, expert_bytes
from perfmodel.edgemoe._pipeline import flow_shop, johnson_order, layer_time
from perfmodel.edgemoe._setup import EdgeMoESetup
from perfmodel.errors import PerfModelError
from perfmodel.hardware.catalog import System
from perfmodel.moe import zipf_popularity
from perfmodel.resolve import resolve_model, resolve_system
from perfmodel.specs.model import ModelSpec

GB = 1e9


@dataclass(frozen=True)
class EdgeMoEStep:
    """A decode step's time and memory, with their parts (times in ms, sizes in GB)."""

    model: str
    hardware: str
    schedule: str
    cache: str
    batch_size: int
    tokens_per_s: float
    step_ms: float
    non_expert_ms: float
    expert_compute_ms: float
    expert_load_ms: float
    stall_ms: float
    johnson_step_ms: float       # the same step with the makespan-optimal load order (a lower bound)
    hit_rate: float              # share of expert reads the cache serves (by bytes)
    flash_gb_per_step: float
    mean_expert_bits: float      # over the experts a step reads
    peak_memory_gb: float
    memory_gb: dict              # non_expert, kv, experts_resident, experts_all, budget
    streams_from_flash: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _experts(model: ModelSpec, setup: EdgeMoESetup):
    m = model.moe
    p = zipf_popularity(m.num_experts, float(setup.routing_skew))
    q = np.minimum(1.0, m.experts_per_token * p)
    reads = -np.expm1(setup.batch_size * np.log1p(-np.minimum(q, 1 - 1e-15)))
    reads = np.where(q >= 1, 1.0, reads)
    tokens = setup.batch_size * q
    params = model.mlp_params(m.expert_intermediate_size)
    bits = np.array([setup.level_of_rank(i, m.num_experts) for i in range(m.num_experts)], dtype=float)
    sizes = np.array([expert_bytes(params, int(b), setup) for b in bits])
    return params, reads, tokens, bits, sizes


def edge_moe_step(model: str | ModelSpec, hardware: str | System, setup: EdgeMoESetup) -> EdgeMoEStep:
    """Time and memory of one decode step under `setup` (see the module doc)."""
    spec, system = resolve_model(model), resolve_system(hardware)
    if spec.moe is None or spec.num_moe_layers == 0:
        raise PerfModelError(f"model {spec.name!r} has no MoE layers; on-device expert loading needs an MoE model")
    dev = system.device
    mem_bw = dev.memory_bw_gb_s * GB * dev.mem_bw_efficiency
    flops = dev.peak_flops("fp16") * dev.gemm_fraction("fp16")
    layers = spec.num_moe_layers
    e_params, reads, tokens, bits, sizes = _experts(spec, setup)

    # non-expert weights: resident, read once per step
    m = spec.moe
    non_expert_params = spec.params_stored - layers * m.num_experts * e_params
    non_expert_read = spec.params_gemm_active - layers * m.experts_per_token * e_params
    resident_gb = dense_bytes(non_expert_params, setup) / GB
    kv_gb = setup.batch_size * spec.kv_bytes_per_seq(setup.context_tokens, setup.kv_bits / 8) / GB
    t_dense = max(dense_bytes(non_expert_read, setup) / mem_bw, 2 * non_expert_read * setup.batch_size / flops)
    t_dense += kv_gb * GB / mem_bw

    budget_gb = setup.memory_budget_gb if setup.memory_budget_gb is not None else dev.memory_gb
    if budget_gb > dev.memory_gb:
        raise PerfModelError(f"memory_budget_gb={budget_gb:g} is more than {dev.id!r} has ({dev.memory_gb:g} GB)")
    all_experts_gb = layers * float(sizes.sum()) / GB
    room_gb = budget_gb - resident_gb - kv_gb
    streams = room_gb < all_experts_gb
    if streams:
        need_gb = float(np.sort(sizes)[-m.experts_per_token:].sum()) / GB
        if room_gb < need_gb:
            raise PerfModelError(
                f"memory_budget_gb={budget_gb:g}: non-expert weights ({resident_gb:.2f} GB) and KV ({kv_gb:.2f} GB) "
                f"leave {room_gb:.2f} GB, less than one token's {m.experts_per_token} experts ({need_gb:.2f} GB)")
        if system.node.storage is None:
            raise PerfModelError(
                f"the experts ({all_experts_gb:.1f} GB) do not fit memory_budget_gb={budget_gb:g} and node "
                f"{system.node.id!r} has no storage (flash) in the catalog to stream them from")
    hit = hit_rates(reads, sizes, layers=layers, capacity=room_gb * GB, policy=setup.cache)
    flash_bw = system.node.storage.seq_read_gb_s * GB if system.node.storage else float("inf")

    compute_s = np.maximum(reads * sizes / mem_bw, 2 * e_params * tokens / flops)
    io_s = reads * (1 - hit) * sizes / flash_bw
    lt = layer_time(io_s, compute_s, schedule=setup.schedule)
    t_step = t_dense + layers * lt.makespan_s
    t_johnson = t_dense + layers * flow_shop(io_s, compute_s, johnson_order(io_s, compute_s))

    read_bytes = reads * sizes
    experts_held_gb = min(all_experts_gb, room_gb)
    return EdgeMoEStep(
        model=spec.name, hardware=system.id, schedule=setup.schedule, cache=setup.cache,
        batch_size=setup.batch_size, tokens_per_s=setup.batch_size / t_step, step_ms=t_step * 1e3,
        non_expert_ms=t_dense * 1e3, expert_compute_ms=layers * lt.compute_s * 1e3,
        expert_load_ms=layers * lt.io_s * 1e3, stall_ms=layers * lt.stall_s * 1e3,
        johnson_step_ms=t_johnson * 1e3,
        hit_rate=float((read_bytes * hit).sum() / read_bytes.sum()),
        flash_gb_per_step=layers * float((read_bytes * (1 - hit)).sum()) / GB,
        mean_expert_bits=float((reads * bits).sum() / reads.sum()),
        peak_memory_gb=resident_gb + kv_gb + experts_held_gb,
        memory_gb={"non_expert": resident_gb, "kv": kv_gb, "experts_resident": experts_held_gb,
                   "experts_all": all_experts_gb, "budget": budget_gb},
        streams_from_flash=streams,
    )
