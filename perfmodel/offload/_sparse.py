"""Long-context decode with sparse KV: ShadowKV, top-K retrieval and A2ATS, against full attention.

Each returns the decode-attention cost of one step for `batch` sequences of `context` tokens
on one device (all layers of its stage, its TP shard), and the KV bytes per context token they keep
in device and host memory. The rest of the step (GEMMs, collectives) is unchanged by these
methods and is not included.

ShadowKV (Sun et al., arXiv 2410.21465; methods.md s8, secondary): the pre-RoPE key cache is kept
on the GPU as a rank-r factorisation (per token r values, plus an r x d_kv factor per sequence),
with one landmark (chunk mean key) per chunk of `chunk` tokens and a small share of outlier tokens
kept whole; values are offloaded to host memory. A step reads the landmarks, picks `budget`
tokens, rebuilds their keys (2 budget r d_kv FLOPs) and gathers their values; a share `hit_rate`
of those is already cached on the GPU (paper: about 60% or more), the rest crosses the host link
(ShadowKV overlaps the fetch with the key rebuild, so the step takes the larger of the two).
Defaults: rank 160, chunk 8, budget 2048 (Table 1), outliers 0.25% (0.2-0.3%).

Top-K retrieval to the GPU (assumption: keys vector-quantised to `code_bytes` per token and KV
head kept on the GPU, K and V offloaded): a step scores every context token from its codes, then
fetches the K and V of the top `top_k` tokens over the host link (a `hit_rate` share cached on the
GPU; default 0.6, ShadowKV's measured step-to-step locality; with no cache the fetch is PCIe-bound
and slower than dense attention from HBM).

A2ATS (He et al., ACL'25 Findings, arXiv:2502.12665; `a2ats`): key states vector-quantised against
shared codebooks, the codes kept on the GPU to score every context token (`code_bytes` per token and
KV head, as top-K above), the complete KV cache offloaded to host memory, and attention over the
selected tokens computed by the host CPU where that KV lives (the abstract's heterogeneous inference
architecture; junhuihe-hjh/A2ATS README: its `selective_attention` kernel runs on the CPU, tuned on a
Xeon Platinum 8469C, and a model is built with `topk=0.03`: the top 3% of the context). No KV crosses
the host link: each layer sends the decoding tokens' queries down and the attention outputs back. The
host side (CPU DRAM reads of the selected K and V, CPU FLOPs, the link) is priced with the host's
rates in `perfmodel.offload._placement`; `a2ats_decode` here is the GPU part.

As a plan option (`Plan.sparse_kv`, `perfmodel bound --sparse-kv`), `kv_bytes` gives the device
and host KV bytes per token the placement model (`_placement`) sizes memory with, and
`decode_attention` the decode attention of a step, which replaces dense attention over the context.
Prefill stays dense (ShadowKV's key SVD at prefill is not charged); the per-sequence right factor
of ShadowKV (rank x d_kv per layer) is left out of the capacity (about 80 tokens of dense KV).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfmodel.hardware.catalog import System
from perfmodel.plan import Plan
from perfmodel.quant import Quant
from perfmodel.specs.model import ModelSpec

# The methods' settings used for plans (module docstring): ShadowKV Table 1 and s5; top-K assumed.
SHADOWKV_RANK, SHADOWKV_CHUNK_TOKENS, SHADOWKV_BUDGET_TOKENS, SHADOWKV_OUTLIER_FRACTION = 160, 8, 2048, 0.0025
TOPK_TOKENS, TOPK_CODE_BYTES = 2048, 2.0
A2ATS_TOPK_FRACTION = 0.03   # junhuihe-hjh/A2ATS README: LLM(..., topk=0.03), the top 3% of the context
# Share of a step's selected tokens already cached on the device (ShadowKV: about 60% or more).
SPARSE_HIT_RATE = 0.6


@dataclass(frozen=True)
class SparseDecode:
    name: str
    gpu_kv_bytes_per_token: float
    host_kv_bytes_per_token: float
    step_s: float
    parts: dict

    def to_dict(self) -> dict:
        return {"name": self.name, "gpu_kv_bytes_per_token": self.gpu_kv_bytes_per_token,
                "host_kv_bytes_per_token": self.host_kv_bytes_per_token, "step_ms": self.step_s * 1e3,
                **{f"{k}_ms": v * 1e3 for k, v in self.parts.items()}}


def _dims(model: ModelSpec, tp: int, pp: int) -> tuple[float, float, float, int]:
    """(KV heads on this device, head dim, query heads on this device, layers on this device)."""
    kvh = np.maximum(model.num_kv_heads / tp, 1)   # (numpy: tp and pp may be arrays of plans)
    return kvh, model.head_dim, model.num_heads / tp, -(-model.num_layers // pp)


def _rates(system: System, q: Quant) -> tuple[float, float, float]:
    dev = system.device
    mem = dev.memory_bw_gb_s * 1e9 * dev.mem_bw_efficiency
    flops = dev.peak_flops(q.attn_dtype) * dev.gemm_fraction(q.attn_dtype)
    link = dev.host_link.bw_per_direction_gb_s * 1e9 * dev.host_link.efficiency if dev.host_link else 0.0
    return mem, flops, link


def full_attention_decode(model: ModelSpec, system: System, q: Quant, *, batch: int, context: int, tp: int = 1,
                          pp: int = 1) -> SparseDecode:
    """Dense decode attention with the whole KV on the GPU (the baseline)."""
    kvh, d, heads, layers = _dims(model, tp, pp)
    mem, flops, _ = _rates(system, q)
    kv_tok = 2 * kvh * d * q.kv_bytes * layers
    t_mem = batch * context * kv_tok / mem
    t_c = 2.0 * batch * context * heads * 2 * d * layers / flops
    return SparseDecode("full", kv_tok, 0.0, np.maximum(t_mem, t_c), {"gpu_memory": t_mem, "gpu_compute": t_c})


def shadowkv_decode(model: ModelSpec, system: System, q: Quant, *, batch: int, context: int, tp: int = 1,
                    pp: int = 1, rank: int = SHADOWKV_RANK, chunk: int = SHADOWKV_CHUNK_TOKENS,
                    budget: int = SHADOWKV_BUDGET_TOKENS, outlier_fraction: float = SHADOWKV_OUTLIER_FRACTION,
                    hit_rate: float = SPARSE_HIT_RATE) -> SparseDecode:
    kvh, d, heads, layers = _dims(model, tp, pp)
    mem, flops, link = _rates(system, q)
    b = q.kv_bytes
    kd = kvh * d                                               # K (or V) elements per token per layer
    budget = np.minimum(budget, context)
    gpu_tok = (rank + kd / chunk + outlier_fraction * 2 * kd) * b * layers
    host_tok = kd * b * layers
    factor = rank * kd * b * layers                            # per-sequence right factor
    read = batch * (context / chunk * kd * b * layers + budget * rank * b * layers + factor
                    + hit_rate * budget * kd * b * layers)     # landmarks, left factors, cached V
    rebuild = 2.0 * batch * budget * rank * kd * layers
    attn = 2.0 * batch * budget * heads * 2 * d * layers
    t_gpu = np.maximum(read / mem, (rebuild + attn) / flops)
    fetch = batch * budget * (1 - hit_rate) * kd * b * layers
    t_link = fetch / link if link else float("inf")
    return SparseDecode("shadowkv", gpu_tok, host_tok, np.maximum(t_gpu, t_link),
                        {"gpu": t_gpu, "host_link": t_link})


def topk_retrieval_decode(model: ModelSpec, system: System, q: Quant, *, batch: int, context: int, tp: int = 1,
                          pp: int = 1, top_k: int = TOPK_TOKENS, code_bytes: float = TOPK_CODE_BYTES,
                          hit_rate: float = SPARSE_HIT_RATE) -> SparseDecode:
    kvh, d, heads, layers = _dims(model, tp, pp)
    mem, flops, link = _rates(system, q)
    b = q.kv_bytes
    top_k = np.minimum(top_k, context)
    gpu_tok = kvh * code_bytes * layers
    host_tok = 2 * kvh * d * b * layers
    read = batch * (context * kvh * code_bytes * layers + hit_rate * top_k * 2 * kvh * d * b * layers)
    score = 2.0 * batch * context * heads * layers             # one lookup-add per token and head
    attn = 2.0 * batch * top_k * heads * 2 * d * layers
    t_gpu = np.maximum(read / mem, (score + attn) / flops)
    fetch = batch * top_k * (1 - hit_rate) * 2 * kvh * d * b * layers
    t_link = fetch / link if link else float("inf")
    return SparseDecode("topk", gpu_tok, host_tok, np.maximum(t_gpu, t_link), {"gpu": t_gpu, "host_link": t_link})


def a2ats_decode(model: ModelSpec, system: System, q: Quant, *, batch: int, context: int, tp: int = 1,
                 pp: int = 1, code_bytes: float = TOPK_CODE_BYTES) -> SparseDecode:
    """The GPU part of an A2ATS decode step: scoring every context token from its key codes (the
    selected tokens' attention runs on the host CPU, see the module docstring)."""
    kvh, d, heads, layers = _dims(model, tp, pp)
    mem, flops, _ = _rates(system, q)
    read = batch * context * kvh * code_bytes * layers
    score = 2.0 * batch * context * heads * layers             # one lookup-add per token and head
    t_gpu = np.maximum(read / mem, score / flops)
    return SparseDecode("a2ats", kvh * code_bytes * layers, 2 * kvh * d * q.kv_bytes * layers, t_gpu, {"gpu": t_gpu})


# ------------------------------------------------------------------------------------------
# As a plan option
# ------------------------------------------------------------------------------------------
def kv_bytes(model: ModelSpec, q: Quant, plan: Plan) -> tuple[float, float, float]:
    """(device, host, scanned) KV bytes per context token on one device of `plan`: what device
    and host memory keep, and what a decode step reads from device memory for every context token
    (landmarks or key codes; the selected tokens come on top, see `decode_attention`)."""
    kvh, d, _, layers = _dims(model, plan.tp, plan.pp)
    b, kd = q.kv_bytes, kvh * d
    if plan.sparse_kv == "shadowkv":
        scanned = kd / SHADOWKV_CHUNK_TOKENS * b * layers
        device = (SHADOWKV_RANK + kd / SHADOWKV_CHUNK_TOKENS + SHADOWKV_OUTLIER_FRACTION * 2 * kd) * b * layers
        return device, kd * b * layers, scanned
    if plan.sparse_kv in ("topk", "a2ats"):
        codes = kvh * TOPK_CODE_BYTES * layers
        return codes, 2 * kd * b * layers, codes
    raise ValueError(f"sparse_kv={plan.sparse_kv!r}: expected shadowkv, topk or a2ats")


def kv_fractions(model: ModelSpec, q: Quant, plan: Plan) -> tuple[float, float]:
    """(device, host) KV bytes per token of `kv_bytes` as fractions of the dense KV bytes per token."""
    kvh, d, _, layers = _dims(model, plan.tp, plan.pp)
    dense = 2 * kvh * d * q.kv_bytes * layers
    device, host, _ = kv_bytes(model, q, plan)
    return device / dense, host / dense


def fetched_tokens(plan: Plan, context: float) -> float:
    """Tokens per sequence a decode step fetches over the host link at this context (the selected
    ones not cached on the device; none for A2ATS, whose CPU attends where the KV lives)."""
    if plan.sparse_kv == "a2ats":
        return 0.0 * context
    budget = SHADOWKV_BUDGET_TOKENS if plan.sparse_kv == "shadowkv" else TOPK_TOKENS
    return np.minimum(budget, context) * (1 - SPARSE_HIT_RATE)


def cpu_attended_tokens(plan: Plan, context: float) -> float:
    """Tokens per sequence whose K and V the host CPU reads and attends over in a decode step at
    this context: A2ATS's top fraction of the context; none for the methods that attend on the GPU."""
    return A2ATS_TOPK_FRACTION * context if plan.sparse_kv == "a2ats" else 0.0 * context


def decode_attention(model: ModelSpec, system: System, q: Quant, plan: Plan, *, seqs: float,
                     context: float) -> SparseDecode:
    """Decode attention of one step of `seqs` sequences at mean `context` tokens on one device of
    `plan` (all layers of its stage): GPU time and host-link time, which overlap."""
    fn = {"shadowkv": shadowkv_decode, "topk": topk_retrieval_decode, "a2ats": a2ats_decode}[plan.sparse_kv]
    return fn(model, system, q, batch=seqs, context=context, tp=plan.tp, pp=plan.pp)
