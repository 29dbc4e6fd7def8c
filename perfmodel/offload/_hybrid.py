"""Hierarchical roofline, MoE-Lens's stage-1 bound and MoE-Lightning's CGOPipe throughput for an
explicit CPU-GPU setup (one GPU, one host; the papers' setting).

MoE-Lens (Yuan et al., arXiv 2504.09345) s5.2: T_max = min(PME(p, g) x M / delta, T_GPU), with M
the KV capacity in tokens (host memory), delta = ModelSize / B_IO the time to stream the weights
once and T_GPU the GPU's own limit (here NanoFlow's Compute / (2 P_active)). s5.1: the GPU
saturates only above n* = (C_GPU / B_IO)(N_e / N_k) tokens per pass. s5.3 (eq. 5, secondary
source): CPU DRAM must serve the KV reads of CPU attention plus the weight DMA.

MoE-Lightning (Cao et al., ASPLOS'25) s4.1-4.2: CGOPipe runs decode with attention on the CPU,
QKV/O + experts on the GPU, weights paged over PCIe; per layer T = max(comm_cpu->gpu, T_cpu,
T_gpu) (eq. 12-14). Its request batching (App. A.2, Alg. 2) reserves each request's full
p + g tokens of KV, prefill runs on the GPU before decode (no overlap of the two), and MoE-Lens
measured that its policies use only 35-56% of CPU memory (MoE-Lens Table 1): that measured share
is an input here (`cpu_memory_used`), not derived: of the KV host memory, or with `cpu_memory_gb` of
the whole CPU memory with the weights counted as its solver counts them (`lightning_max_requests`).
The policy search picks the number of sequences N that maximises generated tokens per second
(methods.md s3.3 [R]: normalise by N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfmodel.hardware.schema import Device
from perfmodel.errors import PerfModelError
from perfmodel.limits import pme
from perfmodel.specs.model import ModelSpec

# MoE-Lens Table 1: MoE-Lightning's execution plans use 35.0-56.2% of the CPU memory (midpoint 0.456).
LIGHTNING_CPU_MEMORY_USED = (0.350, 0.562)


def attainable_performance(*, peak: float, bw_local: float, intensity_local: float,
                           bw_cross: float | None = None, intensity_cross: float | None = None) -> float:
    """MoE-Lightning eq. 7 (eq. 8 without a cross-level fetch): min(P_peak, B I, B_cross I_cross)."""
    perf = min(peak, bw_local * intensity_local)
    if bw_cross is not None and intensity_cross is not None:
        perf = min(perf, bw_cross * intensity_cross)
    return perf


def turning_points(*, gpu_peak: float, gpu_bw: float, cpu_peak: float, cpu_bw: float, link_bw: float,
                   intensity_gpu: float, intensity_cpu: float) -> dict[str, float]:
    """MoE-Lightning eqs. 9-10: the cross-level intensities (FLOPs per byte moved over the link)
    below which moving the data to the GPU does not pay (P1) and below which GPU work is bound by
    the link (P2), for a task with local intensities on the GPU and on the CPU."""
    return {"P1": min(cpu_peak, cpu_bw * intensity_cpu) / link_bw,
            "P2": min(gpu_peak, gpu_bw * intensity_gpu) / link_bw}


@dataclass(frozen=True)
class HybridSetup:
    """One GPU with its host, as in the MoE-Lens / MoE-Lightning experiments (all rates achievable)."""

    name: str
    model: ModelSpec
    gpu_flops: float          # FLOP/s, dense GEMM
    gpu_bw: float             # B/s, device memory
    gpu_memory: float         # bytes usable for pinned weights and buffers
    b_io: float               # B/s, CPU -> GPU (measured copy rate)
    cpu_bw: float             # B/s, CPU DRAM
    kv_host: float            # bytes of CPU memory given to the KV cache
    weight_bytes: float = 2.0
    kv_bytes: float = 2.0

    @classmethod
    def from_devices(cls, name: str, model: ModelSpec, gpu: Device, cpu: Device, *, gpu_memory_gb: float,
                     kv_host_gb: float, b_io_gb_s: float, cpu_bw_gb_s: float | None = None) -> "HybridSetup":
        return cls(name=name, model=model, gpu_flops=gpu.peak_flops("fp16") * gpu.gemm_fraction("fp16"),
                   gpu_bw=gpu.memory_bw_gb_s * 1e9 * gpu.mem_bw_efficiency, gpu_memory=gpu_memory_gb * 1e9,
                   b_io=b_io_gb_s * 1e9,
                   cpu_bw=(cpu_bw_gb_s * 1e9) if cpu_bw_gb_s else cpu.memory_bw_gb_s * 1e9 * cpu.mem_bw_efficiency,
                   kv_host=kv_host_gb * 1e9)

    # --- sizes ---------------------------------------------------------------------------
    @property
    def weights(self) -> float:
        return self.model.params_total * self.weight_bytes

    @property
    def kv_per_token(self) -> float:
        return self.model.kv_bytes_per_token(self.kv_bytes)

    @property
    def kv_capacity_tokens(self) -> float:
        return self.kv_host / self.kv_per_token

    @property
    def pinned_fraction(self) -> float:
        """Weights kept on the GPU: what fits beside a double buffer of two streamed layers."""
        buffers = 2 * self.weights / self.model.num_layers
        return float(np.clip((self.gpu_memory - buffers) / self.weights, 0.0, 1.0))

    @property
    def streamed(self) -> float:
        return (1 - self.pinned_fraction) * self.weights

    @property
    def t_gpu(self) -> float:
        """The GPU's own limit, tokens/s: NanoFlow eq. 5 with this GPU's GEMM rate."""
        return self.gpu_flops / (2.0 * self.model.params_gemm_active)


def moe_lens_stage1(s: HybridSetup, p: int, g: int) -> dict:
    """MoE-Lens eq. 4 (tokens counted as prefill + decode, as PME counts them)."""
    m = s.kv_capacity_tokens
    delta = s.streamed / s.b_io if s.streamed > 0 else s.weights / s.gpu_bw
    t_kv = pme(p, g) * m / delta
    # eq. 5: per pass the CPU DRAM serves the weight DMA plus the resident KV that CPU attention reads
    t_dram = pme(p, g) * m / ((s.streamed + m * s.kv_per_token) / s.cpu_bw)
    t_max = min(t_kv, s.t_gpu)
    e = s.model.moe
    n_star = s.gpu_flops / s.b_io * (e.num_experts / e.experts_per_token) if e else s.gpu_flops / s.b_io
    return {"tok_s": t_max, "output_tok_s": t_max * g / (p + g), "pme": pme(p, g), "kv_capacity_tokens": m,
            "delta_s": delta, "capacity_bound_tok_s": t_kv, "gpu_bound_tok_s": s.t_gpu, "dram_bound_tok_s": t_dram,
            "regime": "cpu-memory-capacity" if t_kv < s.t_gpu else "gpu", "n_star_tokens": n_star}


def _lightning_times(s: HybridSetup, p: int, g: int, n: np.ndarray) -> dict[str, np.ndarray]:
    L = s.model.num_layers
    w_layer = s.weights / L
    comm = (1 - s.pinned_fraction) * w_layer / s.b_io
    kv_layer = s.kv_per_token / L
    p_layer = s.model.params_gemm_active / L
    t_cpu = n * (p + g / 2) * kv_layer / s.cpu_bw                      # CPU attention streams the KV
    t_gpu = 2.0 * n * p_layer / s.gpu_flops + w_layer / s.gpu_bw        # QKV/O + experts on the GPU
    t_layer = np.maximum(np.maximum(comm, t_cpu), t_gpu)              # eq. 12
    t_pre = L * np.maximum(comm, 2.0 * n * p * p_layer / s.gpu_flops)  # prefill on the GPU, weights streamed
    total = t_pre + (g - 1) * L * t_layer
    return {"t_layer": t_layer, "t_cpu": t_cpu, "t_gpu": t_gpu, "comm": comm + 0 * n, "t_prefill": t_pre,
            "output_tok_s": n * g / total}


def lightning_max_requests(s: HybridSetup, p: int, g: int, *, cpu_memory_used: float,
                           cpu_memory_gb: float | None = None) -> float:
    """Requests MoE-Lightning's plan holds at once.

    Without `cpu_memory_gb`, `cpu_memory_used` is the share of the KV host memory (s.kv_host) its
    plan fills, each request reserving p + g tokens of KV (App. A.2, Alg. 2). With it, the share is
    of that whole CPU memory, counted as its policy solver counts it (caoshiyi/artifacts
    fastmoe/backend/optimizer.py, solve_lp: cpu_home = host-resident weights + each request's
    (s + n) tokens of KV + its s prompt tokens of hidden states; cpu_w = two layers of pinned
    staging for the streamed weights); MoE-Lens Table 1 gives that share of 265 GB."""
    if not 0 < cpu_memory_used <= 1:
        raise PerfModelError(f"cpu_memory_used must be in (0, 1], got {cpu_memory_used}")
    if cpu_memory_gb is None:
        return cpu_memory_used * s.kv_capacity_tokens / (p + g)
    weights = s.streamed * (1 + 2 / s.model.num_layers)        # resident + two layers of pinned staging
    per_request = (p + g) * s.kv_per_token + p * s.model.hidden_size * s.weight_bytes  # KV + prompt hidden states
    free = cpu_memory_used * cpu_memory_gb * 1e9 - weights
    if free < per_request:
        raise PerfModelError(f"{s.name}: cpu_memory_used={cpu_memory_used:g} of cpu_memory_gb={cpu_memory_gb:g} "
                             f"leaves {free / 1e9:.1f} GB beside {weights / 1e9:.1f} GB of host weights and staging; "
                             f"one request of {p}+{g} tokens needs {per_request / 1e9:.3f} GB")
    return free / per_request


def moe_lightning(s: HybridSetup, p: int, g: int, *, cpu_memory_used: float = float(np.mean(LIGHTNING_CPU_MEMORY_USED)),
                  cpu_memory_gb: float | None = None) -> dict:
    """MoE-Lightning's throughput: CGOPipe per-layer time (eq. 12) at the N its policy picks, with
    each request reserving p + g tokens of KV in the share of CPU memory its policies use (of the KV
    host memory, or of `cpu_memory_gb` with the weights counted: lightning_max_requests)."""
    n_max = lightning_max_requests(s, p, g, cpu_memory_used=cpu_memory_used, cpu_memory_gb=cpu_memory_gb)
    if n_max < 1:
        raise PerfModelError(f"{s.name}: not one request of {p}+{g} tokens fits in the KV share")
    n = np.unique(np.concatenate([np.geomspace(1, n_max, 200), [n_max]]))
    t = _lightning_times(s, p, g, n)
    i = int(np.argmax(t["output_tok_s"]))
    out = {k: float(v[i]) for k, v in t.items()}
    out["n_seqs"] = float(n[i])
    out["tok_s"] = out["output_tok_s"] * (p + g) / g
    out["gpu_utilization_decode"] = out["t_gpu"] / out["t_layer"]
    parts = {"cpu->gpu link": out["comm"], "cpu attention": out["t_cpu"], "gpu": out["t_gpu"]}
    out["decode_bound"] = max(parts, key=parts.get)
    out["cpu_memory_used"] = cpu_memory_used
    return out
