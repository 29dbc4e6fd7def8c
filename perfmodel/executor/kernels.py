"""The torch kernels the synthetic model and the microbenchmarks share (so both time the same code).

CPU linears use oneDNN with a pre-packed weight (`mkldnn._linear_pointwise`, what TorchInductor
emits for frozen CPU linears); MKL's small-M sgemm path is 2-4x slower than the weight stream on
non-Intel CPUs and would not represent a serving engine. CUDA linears are cuBLAS via F.linear.
"""

from __future__ import annotations

from typing import Any, Callable

from perfmodel.executor._torch import Backend, require_torch

Linear = Callable[[Any], Any]


def _onednn_ok(torch: Any, weight: Any) -> bool:
    return (weight.device.type == "cpu" and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise") and weight.dtype in (torch.float32, torch.bfloat16))


def make_linear(weight: Any) -> Linear:
    """y = x @ weight.T for weight [out, in]; x [..., in] -> [..., out]."""
    torch = require_torch()
    if _onednn_ok(torch, weight):
        packed = torch.ops.mkldnn._reorder_linear_weight(weight)
        pointwise = torch.ops.mkldnn._linear_pointwise

        def onednn(x: Any) -> Any:
            return pointwise(x, packed, None, "none", [], "")

        onednn.weight = packed  # type: ignore[attr-defined]  # keep the packed buffer alive
        return onednn
    functional = torch.nn.functional

    def cublas(x: Any) -> Any:
        return functional.linear(x, weight)

    return cublas


def rms_norm(x: Any, weight: Any, eps: float = 1e-5) -> Any:
    torch = require_torch()
    return torch.nn.functional.rms_norm(x, (x.shape[-1],), weight, eps)


def rope_tables(max_pos: int, dim: int, *, device: Any, dtype: Any, theta: float = 500000.0) -> Any:
    """Rotations e^(i * pos * theta^(-2j/dim)) as complex64 [max_pos, dim/2] (RoFormer rotary
    embedding in the interleaved-pairs layout of Meta's Llama reference code)."""
    torch = require_torch()
    inv = 1.0 / theta ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim)
    ang = torch.outer(torch.arange(max_pos, device=device, dtype=torch.float32), inv)
    return torch.polar(torch.ones_like(ang), ang)


def apply_rope(x: Any, rot: Any) -> Any:
    """x [B, S, N, D] rotated by rot [S, D/2] (complex): one multiply kernel (plus casts for
    16-bit x), as fused RoPE kernels do, instead of the ~8 kernels of the half-split form."""
    torch = require_torch()
    b, s, n, d = x.shape
    pairs = x.reshape(b, s, n, d // 2, 2)
    if x.dtype != torch.float32:
        pairs = pairs.float()
    out = torch.view_as_real(torch.view_as_complex(pairs) * rot[:, None, :]).reshape(b, s, n, d)
    return out if x.dtype == torch.float32 else out.to(x.dtype)


def attention_prefill(q: Any, k: Any, v: Any) -> Any:
    """Causal attention of new tokens over themselves. q [B,H,S,D]; k, v [B,KVH,S,D]."""
    torch = require_torch()
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                            enable_gqa=q.shape[1] != k.shape[1])


def attention_prefill_cached(q: Any, k: Any, v: Any) -> Any:
    """New tokens q [B,H,S,D] over cached + new keys k, v [B,KVH,C+S,D] (causal within the chunk)."""
    torch = require_torch()
    s, total = q.shape[2], k.shape[2]
    mask = torch.ones(s, total, dtype=torch.bool, device=q.device).tril(diagonal=total - s)
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                            enable_gqa=q.shape[1] != k.shape[1])


def attention_decode(q: Any, k: Any, v: Any) -> Any:
    """One query per sequence over its KV. q [B,H,1,D]; k, v [B,KVH,C,Dk/Dv] -> [B,H,1,Dv].

    The query heads sharing a KV head are folded into the query length (as FlashDecoding-style
    GQA kernels do), so each KV head is read once for its whole group.
    """
    torch = require_torch()
    b, h, _, d = q.shape
    kvh = k.shape[1]
    folded = q.reshape(b, kvh, h // kvh, d)
    out = torch.nn.functional.scaled_dot_product_attention(folded, k, v)
    return out.reshape(b, h, 1, v.shape[-1])


def backend_of(x: Any) -> Backend:
    return "cuda" if x.device.type == "cuda" else "cpu"
