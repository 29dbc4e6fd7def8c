"""FlexGen's offload policy: what fraction of weights, KV cache and activations lives on GPU, CPU
and disk (Sheng et al., ICML'23, s4.2-4.3; methods.md s7), a linear program per block size.

A block is `num_gb` GPU batches of `gbs` sequences (block size bls = gbs x num_gb), each with a
prompt of s tokens and n generated tokens, run layer by layer (zig-zag). Per layer:
W = weight bytes, K = KV bytes per token, H = hidden-state bytes per token; L layers.

  variables   w_g, w_c, w_d; c_g, c_c, c_d; h_g, h_c, h_d in [0, 1]   (weights, KV, activations)
              T_pre, T_gen >= 0                                       (per-layer prefill / decode time)
  objective   min (T_pre L + T_gen (n - 1) L) / bls                    (time per generated sequence)
  constraints w_g + w_c + w_d = 1,  c_g + c_c + c_d = 1,  h_g + h_c + h_d = 1,  h_d = 0
              (FlexGen's code keeps activations off disk)
              T_pre >= each of ctog_p, gtoc_p, dtoc_p, ctod_p, comp_p   (the paper's perfect overlap:
              T_gen >= each of ctog_g, gtoc_g, dtoc_g, ctod_g, comp_g,   a stage takes its slowest part)
              hbm_g
              with, in bytes / bandwidth (S = s bls tokens in prefill, C = s + n/2 mean context):
                ctog_p = (W (w_c + w_d) + H S (h_c + h_d)) / b_ctog     weights and activations up
                gtoc_p = (K S (c_c + c_d) + H S (h_c + h_d)) / b_gtoc   new KV and activations down
                dtoc_p = W w_d / b_dtoc,   ctod_p = K S c_d / b_ctod
                comp_p = S flops_per_token / gpu_flops + S s attention / gpu_flops
                ctog_g = (W (w_c + w_d) + H bls (h_c + h_d)) / b_ctog
                gtoc_g = (K bls (c_c + c_d) + H bls (h_c + h_d)) / b_gtoc
                dtoc_g = (W w_d + K bls C c_d) / b_dtoc,   ctod_g = K bls c_d / b_ctod
                comp_g = bls flops_per_token / gpu_flops + K bls C c_g / gpu_bw + K bls C (c_c + c_d) / cpu_bw
                (decode attention on the KV's CPU share runs on the CPU: FlexGen's delegation)
                hbm_g  = (W + K bls C c_g) / gpu_bw   (every weight and the GPU's KV share is read from
                device memory once per decode step; FlexGen's compute term omits it [R])
              GPU:  L (W w_g + K bls (s + n) c_g + H bls s h_g) + 2 W (w_c + w_d) <= alpha gpu_mem
              CPU:  L (W w_c + K bls (s + n) c_c + H bls s h_c) <= alpha cpu_mem
              disk: L (W w_d + K bls (s + n) c_d) <= disk
              (2 W (w_c + w_d): double-buffered weights of the layer in flight; alpha = 0.8 as in
              FlexGen's released cost model)
`search_policy` enumerates gbs and num_gb (FlexGen: a few powers of two) and keeps the fastest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pulp

from perfmodel.hardware.catalog import System
from perfmodel.errors import PerfModelError
from perfmodel.search.ilp._solver import Solve, solve, var
from perfmodel.specs.model import ModelSpec

GB = 1e9
CAPACITY_MARGIN = 0.8          # FlexGen cost_model.py applies alpha = 0.8 to memory capacities
# Host defaults when the catalog has no CPU entry for the node [assumptions, named]:
CPU_MEM_BW_GB_S = 300.0        # one Sapphire Rapids socket, 8 x DDR5-4800 = 307 GB/s peak
DISK_BW_GB_S = 3.0             # a data-center NVMe SSD, sequential
DISK_GB = 4000.0


@dataclass(frozen=True)
class OffloadHardware:
    gpu_mem_gb: float
    cpu_mem_gb: float
    disk_gb: float
    ctog_gb_s: float
    gtoc_gb_s: float
    dtoc_gb_s: float
    ctod_gb_s: float
    gpu_tflops: float
    gpu_bw_gb_s: float
    cpu_bw_gb_s: float

    @staticmethod
    def from_system(system: System, *, disk_gb: float = DISK_GB, disk_gb_s: float = DISK_BW_GB_S) -> "OffloadHardware":
        dev, node = system.device, system.node
        link = dev.host_link
        if link is None:
            raise PerfModelError(f"{dev.id} has no host link in the catalog; offload needs its bandwidth")
        pcie = link.bw_per_direction_gb_s * link.efficiency
        host = (node.host_memory_gb or 0.0) / node.devices_per_node
        cpu_bw = system.host_cpu.memory_bw_gb_s * system.host_cpu.mem_bw_efficiency if system.host_cpu else CPU_MEM_BW_GB_S
        return OffloadHardware(
            gpu_mem_gb=dev.memory_gb, cpu_mem_gb=host, disk_gb=disk_gb, ctog_gb_s=pcie, gtoc_gb_s=pcie,
            dtoc_gb_s=disk_gb_s, ctod_gb_s=disk_gb_s,
            gpu_tflops=dev.peak_flops("bf16") / 1e12 * dev.gemm_fraction("bf16"),
            gpu_bw_gb_s=dev.memory_bw_gb_s * dev.mem_bw_efficiency, cpu_bw_gb_s=cpu_bw / node.devices_per_node)


@dataclass
class OffloadPolicy:
    gbs: int
    num_gb: int
    fractions: dict[str, float]        # w_g, w_c, w_d, c_g, c_c, c_d, h_g, h_c, h_d
    t_pre_s: float                     # per layer
    t_gen_s: float                     # per layer and token
    seconds_per_block: float
    throughput_tok_s: float            # generated tokens/s
    solve: Solve

    @property
    def bls(self) -> int:
        return self.gbs * self.num_gb


def _sizes(model: ModelSpec, weight_bytes: float, kv_bytes: float):
    L = model.num_layers
    params_layer = (model.params_total - model.vocab_size * model.hidden_size * (1 if model.tie_embeddings else 2)) / L
    W = params_layer * weight_bytes
    K = model.kv_bytes_per_token(kv_bytes) / L
    H = model.hidden_size * 2.0
    flops_token = 2.0 * model.params_active / L      # per layer, dense GEMMs (2 FLOPs per MAC)
    return L, W, K, H, flops_token


def offload_lp(model: ModelSpec, hw: OffloadHardware, *, prompt: int, gen: int, gbs: int, num_gb: int,
               weight_bytes: float = 2.0, kv_bytes: float = 2.0, solver: str = "auto") -> OffloadPolicy | None:
    """Solve the LP for one block size; None when no placement fits."""
    L, W, K, H, ft = _sizes(model, weight_bytes, kv_bytes)
    bls = gbs * num_gb
    s, n = float(prompt), float(gen)
    S = s * bls
    C = s + n / 2
    attn_flops_pre = 4.0 * model.num_heads * model.head_dim * s / 2   # causal QK^T and PV per token
    prob = pulp.LpProblem("flexgen_offload", pulp.LpMinimize)
    v = {k: var(prob, k, low=0, up=1) for k in ("w_g", "w_c", "w_d", "c_g", "c_c", "c_d", "h_g", "h_c", "h_d")}
    t_pre = var(prob, "T_pre", low=0)
    t_gen = var(prob, "T_gen", low=0)
    prob += (t_pre * L + t_gen * (n - 1) * L) * (1.0 / bls)
    for a in ("w", "c", "h"):
        prob += v[f"{a}_g"] + v[f"{a}_c"] + v[f"{a}_d"] == 1
    prob += v["h_d"] == 0
    bw = {k: getattr(hw, f"{k}_gb_s") * GB for k in ("ctog", "gtoc", "dtoc", "ctod", "gpu_bw", "cpu_bw")}
    flops = hw.gpu_tflops * 1e12
    w_off = v["w_c"] + v["w_d"]
    c_off = v["c_c"] + v["c_d"]
    h_off = v["h_c"] + v["h_d"]
    pre = {
        "ctog": (W * w_off + H * S * h_off) * (1 / bw["ctog"]),
        "gtoc": (K * S * c_off + H * S * h_off) * (1 / bw["gtoc"]),
        "dtoc": (W * v["w_d"]) * (1 / bw["dtoc"]),
        "ctod": (K * S * v["c_d"]) * (1 / bw["ctod"]),
    }
    comp_pre = S * (ft + attn_flops_pre) / flops
    gen_terms = {
        "ctog": (W * w_off + H * bls * h_off) * (1 / bw["ctog"]),
        "gtoc": (K * bls * c_off + H * bls * h_off) * (1 / bw["gtoc"]),
        "dtoc": (W * v["w_d"] + K * bls * C * v["c_d"]) * (1 / bw["dtoc"]),
        "ctod": (K * bls * v["c_d"]) * (1 / bw["ctod"]),
        "comp": bls * ft / flops + (K * bls * C / bw["gpu_bw"]) * v["c_g"] + (K * bls * C / bw["cpu_bw"]) * c_off,
        "hbm": (W * 1.0 + K * bls * C * v["c_g"]) * (1 / bw["gpu_bw"]),
    }
    for term in pre.values():
        prob += t_pre >= term
    prob += t_pre >= comp_pre
    for term in gen_terms.values():
        prob += t_gen >= term
    kv_tokens = bls * (s + n)
    prob += L * (W * v["w_g"] + K * kv_tokens * v["c_g"] + H * S * v["h_g"]) + 2 * W * w_off <= \
        CAPACITY_MARGIN * hw.gpu_mem_gb * GB
    prob += L * (W * v["w_c"] + K * kv_tokens * v["c_c"] + H * S * v["h_c"]) <= CAPACITY_MARGIN * hw.cpu_mem_gb * GB
    prob += L * (W * v["w_d"] + K * kv_tokens * v["c_d"]) <= hw.disk_gb * GB
    res = solve(prob, solver=solver)
    if res.status != "optimal":
        return None
    tp, tg = float(t_pre.value()), float(t_gen.value())
    block = tp * L + tg * (n - 1) * L
    return OffloadPolicy(gbs=gbs, num_gb=num_gb, fractions={k: float(x.value()) for k, x in v.items()},
                         t_pre_s=tp, t_gen_s=tg, seconds_per_block=block, throughput_tok_s=bls * n / block, solve=res)


def search_policy(model: ModelSpec, hw: OffloadHardware, *, prompt: int, gen: int,
                  gbs_values=(1, 2, 4, 8, 16, 32, 64), num_gb_values=(1, 2, 4, 8, 16, 32),
                  solver: str = "auto", **kw) -> OffloadPolicy:
    """FlexGen's outer enumeration of (gbs, num_gb): the block size with the highest throughput."""
    t0 = time.perf_counter()
    best = None
    for gbs in gbs_values:
        for ngb in num_gb_values:
            pol = offload_lp(model, hw, prompt=prompt, gen=gen, gbs=gbs, num_gb=ngb, solver=solver, **kw)
            if pol is not None and (best is None or pol.throughput_tok_s > best.throughput_tok_s):
                best = pol
    if best is None:
        raise PerfModelError("no offload policy fits: the model exceeds GPU + CPU + disk capacity")
    best.solve.seconds = time.perf_counter() - t0
    return best
