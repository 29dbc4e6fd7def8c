"""Operator cost functions. Each is pure: shapes + device in, an `OpCost` with its parts out.

Every formula works on Python numbers and on numpy arrays alike (the vectorized search path calls
the same functions with arrays), so the scalar and vectorized paths cannot drift apart.

Time model per kernel:  time = max(t_compute, t_memory, t_comm) + t_overhead
  t_compute = FLOPs / (peak[dtype] * achievable fraction * wave/tile utilisation) + vector-core work
  t_memory  = bytes moved / (peak bandwidth * achievable fraction)
  t_overhead = the device's fixed per-kernel cost (launch, prologue, tail)
This is the roofline (Williams et al., CACM 2009) with measured achievable fractions instead of
peaks and tile/wave quantization for GEMMs (NVIDIA "Matrix Multiplication Background" guide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from perfmodel.hardware.schema import Device
from perfmodel.quant import Quant

US = 1e-6
# A kernel overlaps its memory traffic with its math imperfectly: near the ridge point both units
# are busy and measured GEMMs run 1.3-1.5x slower than max(compute, memory) (e.g. cuBLAS on A100
# at M=128, N=K=8192 reaches ~170 of the ~256 TFLOPS that roofline allows). We combine the two
# times as an L-p norm, (t_c^p + t_m^p)^(1/p): equal to the roofline far from the ridge, 2^(1/p)
# above it at the ridge. p = 2 gives 1.41x at the ridge (assumption within that measured range;
# the executor's calibration refits the efficiencies around it).
ROOFLINE_P = 2.0


def vmax(a, b):
    """max() for numbers, np.maximum for arrays (keeps the scalar path fast)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a if a >= b else b
    return np.maximum(a, b)


def vmin(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a if a <= b else b
    return np.minimum(a, b)


def ceil_div(a, b):
    """ceil(a / b): exact for Python ints; the ceiling of the correctly rounded quotient otherwise
    (numpy's float floor-division is several times slower than a division and a ceil)."""
    if isinstance(a, int) and isinstance(b, int):
        return -(-a // b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(math.ceil(a / b))
    return np.ceil(np.true_divide(a, b))


def floor_div(a, b):
    """floor(a / b), by the rules of `ceil_div`."""
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(math.floor(a / b))
    return np.floor(np.true_divide(a, b))


def present(x):
    """1.0 where there is work, else 0.0 (absent work reads no weights and launches nothing)."""
    if isinstance(x, (int, float)):
        return 1.0 if x > 0 else 0.0
    return (np.asarray(x) > 0) * 1.0


@dataclass(slots=True)
class OpCost:
    """One operator on one device: work, bytes and the three candidate times (seconds)."""

    name: str
    kind: str                 # gemm | attention | elementwise | comm | sample
    flops: float = 0.0
    weight_bytes: float = 0.0
    act_bytes: float = 0.0
    kv_bytes: float = 0.0
    comm_bytes: float = 0.0
    t_compute: float = 0.0
    t_memory: float = 0.0
    t_comm: float = 0.0
    t_overhead: float = 0.0
    count: float = 1.0        # how many times it runs per step (e.g. number of layers)

    @property
    def bytes(self):
        return self.weight_bytes + self.act_bytes + self.kv_bytes

    @property
    def time_s(self):
        """Time of one instance: soft roofline of compute and memory, network, fixed overhead."""
        c, m = self.t_compute, self.t_memory
        local = (c**ROOFLINE_P + m**ROOFLINE_P) ** (1 / ROOFLINE_P)
        return vmax(local, self.t_comm) + self.t_overhead

    @property
    def total_s(self):
        return self.time_s * self.count

    @property
    def bound(self):
        c, m, n = self.t_compute, self.t_memory, self.t_comm
        if isinstance(c, (int, float)) and isinstance(m, (int, float)) and isinstance(n, (int, float)):
            if n >= c and n >= m and n > 0:
                return "network"
            if c == 0 and m == 0:
                return "overhead"
            return "compute" if c >= m else "memory"
        return np.where((n >= c) & (n >= m) & (n > 0), "network", np.where(c >= m, "compute", "memory"))

    def scaled(self, count) -> "OpCost":
        return OpCost(self.name, self.kind, self.flops, self.weight_bytes, self.act_bytes, self.kv_bytes,
                      self.comm_bytes, self.t_compute, self.t_memory, self.t_comm, self.t_overhead, count)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "kind": self.kind, "count": self.count,
            "time_ms": self.total_s * 1e3, "flops": self.flops * self.count,
            "bytes": self.bytes * self.count, "weight_bytes": self.weight_bytes * self.count,
            "kv_bytes": self.kv_bytes * self.count, "comm_bytes": self.comm_bytes * self.count,
            "compute_ms": self.t_compute * self.count * 1e3, "memory_ms": self.t_memory * self.count * 1e3,
            "comm_ms": self.t_comm * self.count * 1e3, "overhead_ms": self.t_overhead * self.count * 1e3,
            "bound": self.bound,
        }


# ------------------------------------------------------------------------------------------
# Efficiency pieces
# ------------------------------------------------------------------------------------------
# Tile shapes a GEMM library picks from, with their throughput relative to the largest tile
# (smaller tiles reuse less data per load; CUTLASS profiler sweeps show ~5-15% per halving).
_TILE_OPTIONS = ((1, 1, 1.0), (1, 2, 0.95), (2, 2, 0.85))
# cuBLAS/CUTLASS split the K dimension when too few output tiles exist to fill the device;
# a K slice below this many elements is not worth a split (its reduction costs more than it saves).
_MIN_SPLIT_K = 256


def gemm_utilization(m, n, k, dev: Device, groups=1):
    """Fraction of the device's GEMM throughput `groups` (m x k) @ (k x n) problems in one kernel
    can use: M/N padding to the tile, wave quantization over the compute units, split-K when
    output tiles are too few to fill the device."""
    if any(isinstance(x, np.ndarray) for x in (m, n, k, groups)):
        return _gemm_utilization_grid(m, n, k, dev, groups)
    sms = dev.compute_units
    best = 0.0
    for dm, dn, rel in _TILE_OPTIONS:
        tm, tn = max(dev.gemm_tile_m // dm, 16), max(dev.gemm_tile_n // dn, 16)
        tiles_m, tiles_n = ceil_div(m, tm) * groups, ceil_div(n, tn)
        pad = (m * groups * n) / vmax(tiles_m * tm * tiles_n * tn, 1)
        tiles = tiles_m * tiles_n
        split = vmax(vmin(floor_div(sms, vmax(tiles, 1)), floor_div(k, _MIN_SPLIT_K)), 1)
        work = tiles * split
        waves = ceil_div(work, sms)
        util = pad * work / (vmax(waves, 1) * sms) * rel
        best = vmax(best, util)
    return best


def _gemm_utilization_grid(m, n, k, dev: Device, groups):
    """`gemm_utilization` over numpy arrays: the tile options on a leading axis, the same
    operations in the same order, so the numbers are those of the loop (the search's cold path
    calls it thousands of times)."""
    sms = dev.compute_units
    tm = np.array([[max(dev.gemm_tile_m // dm, 16)] for dm, _, _ in _TILE_OPTIONS])
    tn = np.array([[max(dev.gemm_tile_n // dn, 16)] for _, dn, _ in _TILE_OPTIONS])
    rel = np.array([[r] for _, _, r in _TILE_OPTIONS])
    m, n, k, groups = (np.asarray(x) for x in (m, n, k, groups))
    tiles_m, tiles_n = np.ceil(np.true_divide(m, tm)) * groups, np.ceil(np.true_divide(n, tn))
    pad = (m * groups * n) / np.maximum(tiles_m * tm * tiles_n * tn, 1)
    tiles = tiles_m * tiles_n
    split = np.maximum(np.minimum(np.floor(np.true_divide(sms, np.maximum(tiles, 1))),
                                  np.floor(np.true_divide(k, _MIN_SPLIT_K))), 1)
    work = tiles * split
    waves = np.ceil(np.true_divide(work, sms))
    util = pad * work / (np.maximum(waves, 1) * sms) * rel
    return np.maximum(util.max(axis=0), 0.0)


def _vector_flops(dev: Device) -> float:
    """Non-tensor (CUDA-core / vector) FLOP/s, used for dequantization and elementwise math."""
    return dev.peak_flops("fp32")


def _mem_rate(dev: Device) -> float:
    return dev.memory_bw_gb_s * 1e9 * dev.mem_bw_efficiency


def _overhead(dev: Device, kernels=1.0):
    return dev.kernel_overhead_us * US * kernels


# ------------------------------------------------------------------------------------------
# Operators
# ------------------------------------------------------------------------------------------
def gemm(name: str, m, n, k, dev: Device, q: Quant, *, groups=1, weight_groups=None,
         weight_quantized: bool = True) -> OpCost:
    """`groups` independent (m x k) @ (k x n) products in one kernel (grouped GEMM for experts).

    m: tokens per group; n, k: weight shape per group. weight_groups: how many distinct weight
    matrices are read (experts that received tokens); defaults to `groups`.
    """
    wg = groups if weight_groups is None else weight_groups
    wbytes = q.weight_bytes if weight_quantized else q.base_bytes
    if weight_quantized:  # FP4/FP6 without their tensor cores: weight-only through BF16
        dtype, abytes, dequant_ops = q.gemm_path(dev)
    else:
        dtype, abytes, dequant_ops = q.base_dtype, q.base_bytes, 0.0
    live = present(m)
    flops = 2.0 * m * n * k * groups
    weight_b = n * k * wg * wbytes * live
    act_b = (m * k * abytes + m * n * q.base_bytes) * groups  # outputs in the base dtype
    util = gemm_utilization(m, n, k, dev, groups)
    rate = dev.peak_flops(dtype) * dev.gemm_fraction(dtype) * util
    t_c = flops / vmax(rate, 1.0)
    k0 = dev.block_scale_tile_overhead_k
    if weight_quantized and k0 and q.block_scaled:
        # Block-scaled FP8 without hardware block scaling (Hopper, DeepGEMM): every output tile
        # also does k0 K-elements' worth of fixed work (fill, CUDA-core promotion, epilogue)
        t_c = t_c * (k + k0) / k
    if dequant_ops:
        # Each M-tile pass dequantizes the weight tile again on the vector cores.
        passes = ceil_div(m, dev.gemm_tile_m)
        t_c = t_c + n * k * groups * passes * dequant_ops / _vector_flops(dev)
    t_m = (weight_b + act_b) / _mem_rate(dev)
    return OpCost(name, "gemm", flops, weight_b, act_b, 0.0, 0.0, t_c, t_m, 0.0, _overhead(dev) * live)


def elementwise(name: str, elements, dev: Device, *, reads=1.0, writes=1.0, bytes_per_el=2.0,
                flops_per_el=1.0, kernels=1.0) -> OpCost:
    """A memory-bound pointwise/reduction kernel over `elements` activations (norm, RoPE, SiLU...)."""
    act_b = elements * bytes_per_el * (reads + writes)
    flops = elements * flops_per_el
    return OpCost(name, "elementwise", flops, 0.0, act_b, 0.0, 0.0, flops / _vector_flops(dev),
                  act_b / _mem_rate(dev), 0.0, _overhead(dev, kernels))


def attention_prefill(name: str, pairs, tokens, kv_read_tokens, heads, qk_dim, v_dim, kv_elems_per_token,
                      dev: Device, q: Quant) -> OpCost:
    """Flash-style causal attention over new tokens (FlashAttention-2/3: tiled, never
    materialises scores). pairs: causal query-key pairs; heads: query heads on this device;
    kv_elems_per_token: K+V elements per token on this device."""
    flops = 2.0 * pairs * heads * (qk_dim + v_dim)
    act_b = tokens * heads * (qk_dim + v_dim) * q.base_bytes  # read Q, write O
    kv_b = (tokens + kv_read_tokens) * kv_elems_per_token * q.kv_bytes  # read K/V once per tile row
    # Query tiles of 128 rows per head are the parallel work units (FA2/FA3 grid).
    util = gemm_utilization(tokens * heads, 128, qk_dim, dev)
    rate = dev.peak_flops(q.attn_dtype) * dev.gemm_fraction(q.attn_dtype) * dev.attn_prefill_efficiency * util
    t_c = flops / vmax(rate, 1.0)
    t_m = (act_b + kv_b) / _mem_rate(dev)
    return OpCost(name, "attention", flops, 0.0, act_b, kv_b, 0.0, t_c, t_m, 0.0, _overhead(dev) * present(tokens))


def attention_decode(name: str, seqs, context_tokens, heads, qk_dim, v_dim, kv_elems_per_token, dev: Device,
                     q: Quant, *, latent_dim=None) -> OpCost:
    """Paged decode attention: each sequence's query attends to its whole KV (memory-bound for
    MHA/GQA; MLA's absorbed form multiplies all heads against one latent KV and can be
    compute-bound). context_tokens: sum of contexts of the decoding sequences."""
    if latent_dim is None:
        flops = 2.0 * context_tokens * heads * (qk_dim + v_dim)
    else:  # absorbed MLA: scores over (latent + rope) dims, values over the latent
        flops = 2.0 * context_tokens * heads * (latent_dim + qk_dim + latent_dim)
    kv_elems = context_tokens * kv_elems_per_token
    kv_b = kv_elems * q.kv_bytes
    act_b = seqs * heads * (qk_dim + v_dim) * q.base_bytes
    rate = dev.peak_flops(q.attn_dtype) * dev.gemm_fraction(q.attn_dtype) * dev.attn_prefill_efficiency
    t_c = flops / rate
    if q.dequant_ops_per_kv:
        t_c = t_c + kv_elems * q.dequant_ops_per_kv / _vector_flops(dev)
    t_m = (kv_b + act_b) / (_mem_rate(dev) * dev.attn_decode_efficiency)
    return OpCost(name, "attention", flops, 0.0, act_b, kv_b, 0.0, t_c, t_m, 0.0, _overhead(dev) * present(seqs))


def sample(name: str, seqs, vocab, dev: Device) -> OpCost:
    """Softmax + top-k/top-p sampling over fp32 logits."""
    act_b = seqs * vocab * 4.0 * 2
    return OpCost(name, "sample", seqs * vocab * 5.0, 0.0, act_b, 0.0, 0.0, seqs * vocab * 5.0 / _vector_flops(dev),
                  act_b / _mem_rate(dev), 0.0, _overhead(dev, 2))


def recurrent_scan(name: str, tokens, seqs, heads, key_dim, value_dim, chunk_tokens, dev: Device, q: Quant, *,
                   decode: bool) -> OpCost:
    """Linear attention / SSM over `tokens` new tokens of `seqs` sequences on one device (`heads`
    state heads of key_dim x value_dim). Prefill runs the chunked form (Gated DeltaNet, Yang et al.
    2024 s3.3; Mamba-2 SSD, Dao & Gu 2024 s6): per token and head C (dk + dv) FLOPs of causal
    intra-chunk attention (half of 2 C (dk + dv)) plus 6 dk dv for the inter-chunk state (q S,
    k^T v, the delta / decay correction), on the tensor cores; each chunk writes its fp32 state.
    Decode is one recurrent step per sequence: 6 dk dv FLOPs per head on the vector cores and the
    state read and written once (memory-bound). Neither grows with the context."""
    state = heads * key_dim * value_dim                     # elements per sequence
    io = tokens * heads * (2 * key_dim + 2 * value_dim) * q.base_bytes  # q, k, v in, o out
    if decode:
        flops = 6.0 * tokens * state
        state_b = 2.0 * seqs * state * q.base_bytes         # read and write the state
        t_c = flops / _vector_flops(dev)
    else:
        flops = tokens * heads * (chunk_tokens * (key_dim + value_dim) + 6.0 * key_dim * value_dim)
        state_b = (tokens / chunk_tokens + seqs) * state * 4.0  # fp32 chunk states written, initial read
        util = gemm_utilization(tokens / chunk_tokens * heads, chunk_tokens, key_dim, dev)
        rate = dev.peak_flops(q.base_dtype) * dev.gemm_fraction(q.base_dtype) * dev.attn_prefill_efficiency * util
        t_c = flops / vmax(rate, 1.0)
    t_m = (io + state_b) / _mem_rate(dev)
    return OpCost(name, "attention", flops, 0.0, io, state_b, 0.0, t_c, t_m, 0.0, _overhead(dev) * present(tokens))


def indexer_scores(name: str, queries, pairs, key_reads, heads, dim, key_bytes_per_token, dev: Device) -> OpCost:
    """DeepSeek Sparse Attention's lightning indexer: every query scores all its cached tokens
    with `heads` fp8 heads of `dim` (2 heads dim FLOPs per query-key pair), then a top-k
    (DeepSeek-V3.2-Exp report s2.1). pairs: query-key pairs over the batch; key_reads: indexer keys
    read from memory (decode: every pair; prefill: each key once per tile row)."""
    flops = 2.0 * pairs * heads * dim
    kv_b = key_reads * key_bytes_per_token
    rate = dev.peak_flops("fp8") * dev.gemm_fraction("fp8") * dev.attn_prefill_efficiency
    t_c = flops / rate
    t_m = kv_b / (_mem_rate(dev) * dev.attn_decode_efficiency)
    return OpCost(name, "attention", flops, 0.0, 0.0, kv_b, 0.0, t_c, t_m, 0.0, _overhead(dev) * present(queries))
