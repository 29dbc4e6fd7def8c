"""Microbenchmarks: GEMM shape sweep, attention prefill/decode, memory bandwidth, per-kernel
overhead, host-device copies and all-reduce (more than one GPU).

Each returns `Micro` records (what ran, its parameters, its timing). They use the same kernels
as the synthetic model (`kernels.py`). Weights and KV rotate over enough copies to exceed
`ROTATE_CACHE_FACTOR` x the last-level cache, so they come from memory as in a full model step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from perfmodel.executor import kernels
from perfmodel.executor._torch import Backend, require_torch, torch_dtype
from perfmodel.executor.timing import Case, Timing, run_interleaved, time_fn
from perfmodel.specs.model import ModelSpec

MicroKind = Literal["gemm", "attn_prefill", "attn_decode", "copy", "small_op", "h2d", "d2h", "all_reduce"]
# Working set of rotated buffers relative to the on-chip cache, so each call misses the cache.
ROTATE_CACHE_FACTOR = 2.0
# Tiny kernels per timed call of the per-kernel overhead benchmark.
SMALL_OP_LOOP = 100


@dataclass(frozen=True)
class Micro:
    kind: MicroKind
    params: dict[str, Any]
    timing: Timing
    label: str = ""

    def to_dict(self) -> dict:
        return {"kind": self.kind, "label": self.label, **self.params, **self.timing.to_dict()}


@dataclass(frozen=True)
class MicroConfig:
    backend: Backend
    quant: str = "fp32"
    cache_mb: float = 32.0      # last-level cache (CPU L3 / GPU L2) to defeat
    warmup: int = 2
    repeats: int = 5
    gemm_m: tuple[int, ...] = (1, 8, 32, 128, 512)
    attn_prefill: tuple[tuple[int, int], ...] = ((1, 256), (2, 512))        # (batch, seq)
    attn_decode: tuple[tuple[int, int], ...] = ((1, 2048), (8, 1024), (32, 512))  # (batch, context)
    copy_mb: float = 256.0
    extra: dict[str, Any] = field(default_factory=dict)


def _copies(nbytes: float, cache_mb: float) -> int:
    """How many copies of a buffer make a working set of ROTATE_CACHE_FACTOR x the cache."""
    return max(1, math.ceil(ROTATE_CACHE_FACTOR * cache_mb * 2**20 / max(nbytes, 1)))


def _rotating(fns: list[Callable[[], Any]]) -> Callable[[], Any]:
    state = {"i": 0}

    def call() -> Any:
        state["i"] = (state["i"] + 1) % len(fns)
        return fns[state["i"]]()

    return call


def model_gemm_shapes(spec: ModelSpec) -> list[tuple[str, int, int]]:
    """(name, n, k) of every distinct weight the model multiplies by (what decode streams)."""
    h = spec.hidden_size
    out: list[tuple[str, int, int]] = []
    if spec.mla is None:  # NAS models: each layer group's KV heads (ModelSpec.layer_groups)
        out += [("qkv_proj", (spec.num_heads + 2 * g.num_kv_heads) * spec.head_dim, h) for g in spec.layer_groups
                if g.attention_layers]
    else:
        m = spec.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            out += [("q_a_proj", m.q_lora_rank, h), ("q_b_proj", spec.num_heads * qk, m.q_lora_rank)]
        else:
            out.append(("q_proj", spec.num_heads * qk, h))
        out.append(("kv_a_proj", m.kv_lora_rank + m.qk_rope_head_dim, h))
    out.append(("o_proj", h, spec.q_dim))
    for g in spec.layer_groups:  # each dense-MLP width of a NAS model
        if g.num_dense_layers:
            out += [("gate_up_proj", 2 * g.intermediate_size, h), ("down_proj", h, g.intermediate_size)]
    if spec.count_mixer("projection") or spec.count_mlp("projection"):
        out.append(("linear_replacement", h, h))  # DeciLM replace_with_linear
    if spec.moe is not None:
        w = spec.moe.expert_intermediate_size
        out += [("expert_gate_up", 2 * w, h), ("expert_down", h, w)]
    out.append(("lm_head", spec.vocab_size, h))
    seen, uniq = set(), []
    for name, n, k in out:
        if (n, k) not in seen:
            seen.add((n, k))
            uniq.append((name, n, k))
    return uniq


@dataclass
class _Pending:
    """A microbenchmark set up and waiting to be timed."""

    kind: MicroKind
    params: dict[str, Any]
    case: Case
    label: str = ""


def gemm_cases(cfg: MicroConfig, shapes: list[tuple[str, int, int]]) -> list[_Pending]:
    """y = x @ W.T for every (n, k) weight shape and every M in `cfg.gemm_m` (small-M = decode)."""
    torch = require_torch()
    dtype, dev = torch_dtype(cfg.quant), torch.device(cfg.backend)
    elem = torch.tensor([], dtype=dtype).element_size()
    out = []
    for name, n, k in shapes:
        copies = _copies(n * k * elem, cfg.cache_mb)
        linears = [kernels.make_linear(torch.randn(n, k, device=dev, dtype=dtype) * 0.02) for _ in range(copies)]
        for m in cfg.gemm_m:
            x = torch.randn(m, k, device=dev, dtype=dtype)
            fn = _rotating([lambda lin=lin, x=x: lin(x) for lin in linears])
            out.append(_Pending("gemm", {"m": m, "n": n, "k": k}, Case(fn, cfg.repeats, max(cfg.warmup, copies)), name))
    return out


def attention_cases(cfg: MicroConfig, spec: ModelSpec) -> list[_Pending]:
    """Prefill (causal, no cache) and decode (one query over a KV cache) for the model's heads."""
    torch = require_torch()
    dtype, dev = torch_dtype(cfg.quant), torch.device(cfg.backend)
    if spec.mla is not None:  # latent attention is timed inside the model run only
        return []
    h, kvh, d = spec.num_heads, spec.num_kv_heads, spec.head_dim
    elem = torch.tensor([], dtype=dtype).element_size()
    out = []
    for b, s in cfg.attn_prefill:
        q = torch.randn(b, h, s, d, device=dev, dtype=dtype)
        k, v = torch.randn(b, kvh, s, d, device=dev, dtype=dtype), torch.randn(b, kvh, s, d, device=dev, dtype=dtype)
        out.append(_Pending("attn_prefill", {"batch": b, "seq": s, "heads": h, "kv_heads": kvh, "head_dim": d},
                            Case(lambda q=q, k=k, v=v: kernels.attention_prefill(q, k, v), cfg.repeats, cfg.warmup)))
    for b, c in cfg.attn_decode:
        copies = _copies(2 * b * kvh * c * d * elem, cfg.cache_mb)
        q = torch.randn(b, h, 1, d, device=dev, dtype=dtype)
        kvs = [(torch.randn(b, kvh, c, d, device=dev, dtype=dtype), torch.randn(b, kvh, c, d, device=dev, dtype=dtype))
               for _ in range(copies)]
        fn = _rotating([lambda kv=kv, q=q: kernels.attention_decode(q, kv[0], kv[1]) for kv in kvs])
        out.append(_Pending("attn_decode", {"batch": b, "context": c, "heads": h, "kv_heads": kvh, "head_dim": d},
                            Case(fn, cfg.repeats, max(cfg.warmup, copies))))
    return out


def memory_cases(cfg: MicroConfig) -> list[_Pending]:
    """Device memory bandwidth (a large copy: read + write) and the fixed cost of a tiny kernel."""
    torch = require_torch()
    dtype, dev = torch_dtype(cfg.quant), torch.device(cfg.backend)
    elem = torch.tensor([], dtype=dtype).element_size()
    n = int(max(cfg.copy_mb, 4 * cfg.cache_mb) * 2**20 / elem)
    src, dst = torch.ones(n, device=dev, dtype=dtype), torch.empty(n, device=dev, dtype=dtype)
    tiny = torch.ones(16, device=dev, dtype=dtype)

    def tiny_ops() -> None:  # many launches so the timer's own cost does not count
        for _ in range(SMALL_OP_LOOP):
            tiny.add_(1.0)

    return [_Pending("copy", {"elements": n, "bytes_per_el": elem}, Case(lambda: dst.copy_(src), cfg.repeats, cfg.warmup)),
            _Pending("small_op", {"elements": 16, "bytes_per_el": elem, "loop": SMALL_OP_LOOP},
                     Case(tiny_ops, cfg.repeats, cfg.warmup))]


def host_copy_cases(cfg: MicroConfig, sizes_mb: tuple[float, ...] = (1.0, 64.0, 256.0)) -> list[_Pending]:
    """Pinned host <-> device copies (CUDA only)."""
    if cfg.backend != "cuda":
        return []
    torch = require_torch()
    out = []
    for mb in sizes_mb:
        n = int(mb * 2**20)
        host = torch.empty(n, dtype=torch.uint8, pin_memory=True)
        dev = torch.empty(n, dtype=torch.uint8, device="cuda")
        out += [_Pending("h2d", {"bytes": n}, Case(lambda d=dev, h=host: d.copy_(h, non_blocking=True), cfg.repeats, cfg.warmup)),
                _Pending("d2h", {"bytes": n}, Case(lambda d=dev, h=host: h.copy_(d, non_blocking=True), cfg.repeats, cfg.warmup))]
    return out


def _all_reduce_worker(rank: int, world: int, sizes: list[int], port: int, results: Any) -> None:
    torch = require_torch()
    import torch.distributed as dist

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        for nbytes in sizes:
            buf = torch.ones(nbytes // 2, dtype=torch.bfloat16, device="cuda")
            timing, _ = time_fn(lambda: dist.all_reduce(buf), backend="cuda", warmup=3, repeats=10)
            if rank == 0:
                results.append((nbytes, timing))
    finally:
        dist.destroy_process_group()


def all_reduce_sweep(cfg: MicroConfig, sizes_mb: tuple[float, ...] = (0.0625, 1.0, 16.0, 128.0)) -> list[Micro]:
    """NCCL all-reduce over every visible GPU (skipped with fewer than two)."""
    if cfg.backend != "cuda":
        return []
    torch = require_torch()
    world = torch.cuda.device_count()
    if world < 2:
        return []
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    manager = mp.Manager()
    results = manager.list()
    sizes = [int(mb * 2**20) for mb in sizes_mb]
    mp.spawn(_all_reduce_worker, args=(world, sizes, port, results), nprocs=world, join=True)
    return [Micro("all_reduce", {"bytes": n, "devices": world}, t) for n, t in results]


def run_all(cfg: MicroConfig, spec: ModelSpec, progress: Callable[[str], None] | None = None,
            max_wait_s: float = 0.0) -> list[Micro]:
    """Every microbenchmark for `spec`'s shapes on `cfg.backend`, timed in interleaved passes."""
    pending = (gemm_cases(cfg, model_gemm_shapes(spec)) + attention_cases(cfg, spec) + memory_cases(cfg)
               + host_copy_cases(cfg))
    results, _ = run_interleaved([p.case for p in pending], backend=cfg.backend, progress=progress,
                                 max_wait_s=max_wait_s)
    out = [Micro(p.kind, p.params, r.step if p.kind != "small_op" else _per_call(r.step, SMALL_OP_LOOP), p.label)
           for p, r in zip(pending, results)]
    return out + all_reduce_sweep(cfg)


def _per_call(t: Timing, n: int) -> Timing:
    return Timing(t.median_s / n, t.p10_s / n, t.p90_s / n, t.min_s / n, t.n)
