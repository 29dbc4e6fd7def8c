"""A synthetic model with the real shapes of a `ModelSpec`, random weights and a real KV cache.

Attention is GQA/MQA/MHA (fused QKV projection, RoPE, SDPA) or MLA (low-rank q and kv, a latent
KV cache of kv_lora_rank + rope dims per token; prefill expands K/V per head, decode attends in
the latent space with the absorbed up-projections, as DeepSeek-V2 section 2.1.2 describes). The
MLP is gated (SiLU(gate) * up -> down); MoE layers add a router, top-k experts under a
configurable routing distribution and shared experts.

`reduce_spec` narrows a spec for small hosts; the executor and the cost model then both see the
reduced spec, so the prediction is for exactly the shapes that ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from perfmodel.errors import PerfModelError
from perfmodel.executor import kernels
from perfmodel.executor._torch import Backend, require_torch, torch_dtype
from perfmodel.executor.timing import OpRecorder
from perfmodel.specs.model import MLA, ModelSpec, MoE

RoutingKind = Literal["balanced", "uniform", "zipf", "router"]


@dataclass(frozen=True)
class Routing:
    """How tokens pick experts. balanced: token t takes experts (t*k + j) mod E (every expert gets
    the same load); uniform: k distinct experts uniformly at random; zipf: k distinct experts drawn
    with probability ~ 1/rank**zipf_s (hot experts); router: the random router's own top-k."""

    kind: RoutingKind = "balanced"
    zipf_s: float = 1.2
    seed: int = 0


def _div(value: int, divisor: int, floor: int = 1) -> int:
    return max(floor, value // divisor)


def reduce_spec(spec: ModelSpec, *, layers: int | None = None, width_divisor: int = 1, vocab: int | None = None,
                max_experts: int | None = None) -> ModelSpec:
    """A narrower/shallower copy of `spec`: hidden, heads, MLP and expert widths divided by
    `width_divisor` (head dims kept, so attention kernels keep their real shape)."""
    if width_divisor < 1:
        raise PerfModelError(f"width_divisor >= 1 must hold, got {width_divisor}")
    if width_divisor > 1 and spec.num_heads % width_divisor:
        raise PerfModelError(f"num_heads % width_divisor == 0 must hold, got ({spec.num_heads}, {width_divisor})")
    heads = spec.num_heads // width_divisor
    update: dict[str, Any] = {
        "name": f"{spec.name}-reduced" if (layers or width_divisor > 1 or vocab or max_experts) else spec.name,
        "hidden_size": _div(spec.hidden_size, width_divisor, 64),
        "num_heads": heads,
        "num_kv_heads": max(1, spec.num_kv_heads * heads // spec.num_heads),
        "intermediate_size": _div(spec.intermediate_size, width_divisor, 64),
    }
    if layers is not None:
        update["num_layers"] = layers
        for kinds in ("layer_types", "mlp_types"):  # the first `layers` layers keep their kinds
            if getattr(spec, kinds) is not None:
                update[kinds] = getattr(spec, kinds)[:layers]
    if vocab is not None:
        update["vocab_size"] = min(vocab, spec.vocab_size)
    if spec.mla is not None:
        m = spec.mla
        update["mla"] = MLA(q_lora_rank=_div(m.q_lora_rank, width_divisor, 64) if m.q_lora_rank else None,
                            kv_lora_rank=_div(m.kv_lora_rank, width_divisor, 64), qk_nope_head_dim=m.qk_nope_head_dim,
                            qk_rope_head_dim=m.qk_rope_head_dim, v_head_dim=m.v_head_dim)
    if spec.moe is not None:
        e = spec.moe
        experts = min(e.num_experts, max_experts) if max_experts else e.num_experts
        dense = e.first_dense_layers if layers is None else min(e.first_dense_layers, max(0, layers - 1))
        update["moe"] = MoE(num_experts=experts, experts_per_token=min(e.experts_per_token, experts),
                            expert_intermediate_size=_div(e.expert_intermediate_size, width_divisor, 16),
                            num_shared_experts=e.num_shared_experts,
                            shared_intermediate_size=_div(e.shared_intermediate_size, width_divisor, 0),
                            shared_expert_gate=e.shared_expert_gate, first_dense_layers=dense, layer_freq=e.layer_freq)
    return spec.model_copy(update=update)


# Region names are the cost model's operator names (perfmodel/step.py), so measured and predicted
# operators pair up by name. The shared experts' activation has no operator of its own there.
_MLP_NAMES = {
    "": ("gate_up_proj", "silu_mul", "down_proj"),
    "moe_": ("expert_gate_up", "expert_silu_mul", "expert_down"),
    "shared_": ("shared_gate_up", "shared_silu_mul", "shared_down"),
}


class _MLP:
    """Gated MLP: down(silu(gate(x)) * up(x)) with gate and up fused in one GEMM."""

    def __init__(self, w: "_Weights", hidden: int, width: int, prefix: str):
        self.gate_up = kernels.make_linear(w.new(2 * width, hidden))
        self.down = kernels.make_linear(w.new(hidden, width))
        self.names = _MLP_NAMES[prefix]

    def __call__(self, x: Any, rec: OpRecorder) -> Any:
        torch = require_torch()
        gate_up, act, down = self.names
        with rec.op(gate_up):
            gu = self.gate_up(x)
        with rec.op(act):
            g, u = gu.chunk(2, dim=-1)
            a = torch.nn.functional.silu(g) * u
        with rec.op(down):
            return self.down(a)


class _Weights:
    """Random weights, N(0, 0.02), on the model's device and dtype."""

    def __init__(self, *, device: Any, dtype: Any, seed: int):
        torch = require_torch()
        self.torch, self.device, self.dtype = torch, device, dtype
        self.gen = torch.Generator(device=device).manual_seed(seed)  # on the device: GPU models are large

    def new(self, *shape: int, std: float = 0.02) -> Any:
        t = self.torch.randn(*shape, generator=self.gen, device=self.device, dtype=self.dtype)
        return t.mul_(std)

    def ones(self, n: int) -> Any:
        return self.torch.ones(n, device=self.device, dtype=self.dtype)


class _MoE:
    def __init__(self, w: _Weights, spec: ModelSpec, routing: Routing):
        m = spec.moe
        assert m is not None
        h = spec.hidden_size
        self.e, self.k = m.num_experts, m.experts_per_token
        self.router = kernels.make_linear(w.new(self.e, h))
        self.experts = [_MLP(w, h, m.expert_intermediate_size, "moe_") for _ in range(self.e)]
        self.shared = _MLP(w, h, m.shared_intermediate_size, "shared_") if m.shared_intermediate_size else None
        self.shared_gate = kernels.make_linear(w.new(1, h)) if m.shared_expert_gate else None
        self.routing = routing
        self._assignments: dict[int, Any] = {}
        self.device = w.device

    def _assignment(self, tokens: int) -> Any:
        """Expert ids [tokens, k] for the synthetic routing distributions (fixed per token count)."""
        torch = require_torch()
        if tokens not in self._assignments:
            r = self.routing
            gen = torch.Generator(device="cpu").manual_seed(r.seed + tokens)
            if r.kind == "balanced":
                ids = (torch.arange(tokens)[:, None] * self.k + torch.arange(self.k)[None, :]) % self.e
            else:
                weights = (torch.ones(self.e) if r.kind == "uniform"
                           else 1.0 / torch.arange(1, self.e + 1, dtype=torch.float32) ** r.zipf_s)
                ids = torch.multinomial(weights.expand(tokens, -1), self.k, replacement=False, generator=gen)
            self._assignments[tokens] = ids.to(self.device)
        return self._assignments[tokens]

    def __call__(self, x: Any, rec: OpRecorder) -> Any:
        torch = require_torch()
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # [T, h]
        t = x.shape[0]
        with rec.op("router"):
            logits = self.router(x)
        with rec.op("topk"):
            weights, ids = torch.topk(torch.softmax(logits.float(), dim=-1), self.k, dim=-1)
            if self.routing.kind != "router":
                ids = self._assignment(t)
            weights = weights.to(x.dtype)
        with rec.op("moe_dispatch"):
            flat = ids.reshape(-1)                      # [T*k]
            order = torch.argsort(flat)
            token_of = order // self.k
            counts = torch.bincount(flat, minlength=self.e).tolist()
            xs = x.index_select(0, token_of)            # [T*k, h], grouped by expert
        outs = []
        start = 0
        for e, n in enumerate(counts):
            if n:
                outs.append(self.experts[e](xs[start:start + n], rec))
            start += n
        with rec.op("moe_combine"):
            ys = torch.cat(outs) * weights.reshape(-1)[order, None]
            out = torch.zeros_like(x).index_add_(0, token_of, ys)
        if self.shared is not None:
            s = self.shared(x, rec)
            if self.shared_gate is not None:
                with rec.op("shared_gate"):
                    s = torch.sigmoid(self.shared_gate(x)) * s
            with rec.op("moe_combine"):
                out = out + s
        return out.reshape(shape)


class _Attention:
    """GQA/MQA/MHA with a KV cache [B, KVH, S_max, D] per layer for K and for V."""

    def __init__(self, w: _Weights, spec: ModelSpec, max_batch: int, max_context: int):
        torch = require_torch()
        h, d = spec.hidden_size, spec.head_dim
        self.h, self.kvh, self.d = spec.num_heads, spec.num_kv_heads, d
        self.qkv = kernels.make_linear(w.new((self.h + 2 * self.kvh) * d, h))
        self.o = kernels.make_linear(w.new(h, self.h * d))
        self.k_cache = torch.zeros(max_batch, self.kvh, max_context, d, device=w.device, dtype=w.dtype)
        self.v_cache = torch.zeros_like(self.k_cache)

    def __call__(self, x: Any, pos: int, rows: slice, rope: Any, rec: OpRecorder) -> Any:
        b, s, _ = x.shape
        with rec.op("qkv_proj"):
            qkv = self.qkv(x)
        with rec.op("rope"):
            q, k, v = qkv.split([self.h * self.d, self.kvh * self.d, self.kvh * self.d], dim=-1)
            rot = rope[pos:pos + s]
            q = kernels.apply_rope(q.view(b, s, self.h, self.d), rot).transpose(1, 2)     # [B, H, S, D]
            k = kernels.apply_rope(k.view(b, s, self.kvh, self.d), rot).transpose(1, 2)   # [B, KVH, S, D]
            v = v.view(b, s, self.kvh, self.d).transpose(1, 2)
        with rec.op("kv_write"):
            self.k_cache[rows, :, pos:pos + s] = k
            self.v_cache[rows, :, pos:pos + s] = v
        with rec.op("attn_decode" if s == 1 else "attn_prefill"):
            if s == 1:
                out = kernels.attention_decode(q, self.k_cache[rows, :, :pos + 1], self.v_cache[rows, :, :pos + 1])
            elif pos == 0:
                out = kernels.attention_prefill(q, k, v)
            else:
                out = kernels.attention_prefill_cached(q, self.k_cache[rows, :, :pos + s], self.v_cache[rows, :, :pos + s])
            out = out.transpose(1, 2).reshape(b, s, self.h * self.d)
        with rec.op("o_proj"):
            return self.o(out)


class _MLAttention:
    """Multi-head latent attention with a cache of [latent | k_rope] per token (one 'KV head')."""

    def __init__(self, w: _Weights, spec: ModelSpec, max_batch: int, max_context: int):
        torch = require_torch()
        m = spec.mla
        assert m is not None
        h = spec.hidden_size
        self.m, self.h = m, spec.num_heads
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            self.q_a = kernels.make_linear(w.new(m.q_lora_rank, h))
            self.q_norm = w.ones(m.q_lora_rank)
            self.q_b = kernels.make_linear(w.new(self.h * qk, m.q_lora_rank))
        else:
            self.q_a = None
            self.q_b = kernels.make_linear(w.new(self.h * qk, h))
        self.kv_a = kernels.make_linear(w.new(m.kv_lora_rank + m.qk_rope_head_dim, h))
        self.kv_norm = w.ones(m.kv_lora_rank)
        kv_b = w.new(self.h * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank)
        self.kv_b = kernels.make_linear(kv_b)
        per_head = kv_b.view(self.h, m.qk_nope_head_dim + m.v_head_dim, m.kv_lora_rank)
        self.w_uk = per_head[:, :m.qk_nope_head_dim].contiguous()   # [H, nope, r]
        self.w_uv = per_head[:, m.qk_nope_head_dim:].contiguous()   # [H, v, r]
        self.o = kernels.make_linear(w.new(h, self.h * m.v_head_dim))
        self.cache = torch.zeros(max_batch, 1, max_context, m.kv_lora_rank + m.qk_rope_head_dim,
                                 device=w.device, dtype=w.dtype)
        self.scale = qk ** -0.5

    def __call__(self, x: Any, pos: int, rows: slice, rope: Any, rec: OpRecorder) -> Any:
        torch = require_torch()
        m, b, s = self.m, x.shape[0], x.shape[1]
        nope, rd, r = m.qk_nope_head_dim, m.qk_rope_head_dim, m.kv_lora_rank
        if self.q_a is not None:
            with rec.op("q_a_proj"):
                q = kernels.rms_norm(self.q_a(x), self.q_norm)
            with rec.op("q_b_proj"):
                q = self.q_b(q)
        else:
            with rec.op("q_proj"):
                q = self.q_b(x)
        with rec.op("kv_a_proj"):
            kv = self.kv_a(x)                                          # [B, S, r + rope]
        with rec.op("rope"):
            q_nope, q_rope = q.view(b, s, self.h, nope + rd).split([nope, rd], dim=-1)
            latent, k_rope = kv.split([r, rd], dim=-1)
            latent = kernels.rms_norm(latent, self.kv_norm)
            rot = rope[pos:pos + s]
            q_nope = q_nope.transpose(1, 2)                                           # [B, H, S, nope]
            q_rope = kernels.apply_rope(q_rope, rot).transpose(1, 2)                  # [B, H, S, rope]
            k_rope = kernels.apply_rope(k_rope.unsqueeze(2), rot).squeeze(2)          # [B, S, rope]
        with rec.op("kv_write"):
            self.cache[rows, 0, pos:pos + s, :r] = latent
            self.cache[rows, 0, pos:pos + s, r:] = k_rope
        if s == 1:
            with rec.op("mla_absorb"):
                q_lat = torch.einsum("bhsn,hnr->bhsr", q_nope, self.w_uk)
                qq = torch.cat([q_lat, q_rope], dim=-1) * (self.scale * (r + rd) ** 0.5)
            with rec.op("attn_decode"):
                ctx = self.cache[rows, :, :pos + 1]                       # [B, 1, C, r + rope]
                o_lat = kernels.attention_decode(qq, ctx, ctx[..., :r])  # [B, H, 1, r]
            with rec.op("mla_absorb"):
                out = torch.einsum("bhsr,hvr->bshv", o_lat, self.w_uv).reshape(b, s, self.h * m.v_head_dim)
        else:
            with rec.op("kv_b_proj"):
                full = self.cache[rows, 0, :pos + s]
                kvb = self.kv_b(full[..., :r]).view(b, pos + s, self.h, nope + m.v_head_dim).transpose(1, 2)
                k_nope, v = kvb.split([nope, m.v_head_dim], dim=-1)
                k_r = full[..., r:].unsqueeze(1).expand(b, self.h, pos + s, rd)
                k = torch.cat([k_nope, k_r], dim=-1)
                qq = torch.cat([q_nope, q_rope], dim=-1)
            with rec.op("attn_prefill"):
                out = (kernels.attention_prefill(qq, k, v) if pos == 0
                       else kernels.attention_prefill_cached(qq, k, v))
                out = out.transpose(1, 2).reshape(b, s, self.h * m.v_head_dim)
        with rec.op("o_proj"):
            return self.o(out)


class _Layer:
    def __init__(self, w: _Weights, spec: ModelSpec, index: int, routing: Routing, max_batch: int, max_context: int):
        h = spec.hidden_size
        self.attn_norm, self.mlp_norm = w.ones(h), w.ones(h)
        attn_cls = _MLAttention if spec.mla is not None else _Attention
        self.attn = attn_cls(w, spec, max_batch, max_context)
        self.mlp = _MoE(w, spec, routing) if spec.is_moe_layer(index) else _MLP(w, h, spec.intermediate_size, "")

    def __call__(self, x: Any, pending: Any, pos: int, rows: slice, rope: Any, rec: OpRecorder) -> tuple[Any, Any]:
        """Residual adds run inside the following norm's region, as engines fuse them
        (vLLM fused_add_rms_norm): returns (residual stream, MLP output still to be added)."""
        with rec.op("norm"):
            if pending is not None:
                x = x + pending
            hn = kernels.rms_norm(x, self.attn_norm)
        a = self.attn(hn, pos, rows, rope, rec)
        with rec.op("post_norm"):
            x = x + a
            hn = kernels.rms_norm(x, self.mlp_norm)
        return x, self.mlp(hn, rec)


class SyntheticModel:
    """Random-weight model with `spec`'s shapes; `prefill`/`decode` run one iteration each."""

    def __init__(self, spec: ModelSpec, *, backend: Backend, quant: str = "fp32", max_batch: int, max_context: int,
                 routing: Routing = Routing(), seed: int = 0):
        if spec.hybrid or spec.dsa is not None or not spec.mlp_gated or spec.attn_output_gate:
            kinds = ", ".join(f"{m}/{p}" for m, p, _ in spec.layer_kinds)
            raise PerfModelError(f"the synthetic executor builds full-attention layers with gated MLPs only; "
                                 f"{spec.name} has {kinds}{' and a DSA indexer' if spec.dsa else ''}")
        torch = require_torch()
        self.spec, self.backend, self.quant = spec, backend, quant
        self.max_batch, self.max_context = max_batch, max_context
        device = torch.device(backend)
        dtype = torch_dtype(quant)
        w = _Weights(device=device, dtype=dtype, seed=seed)
        h = spec.hidden_size
        self.embed = w.new(spec.vocab_size, h)
        self.layers = [_Layer(w, spec, i, routing, max_batch, max_context) for i in range(spec.num_layers)]
        self.final_norm = w.ones(h)
        self.lm_head = kernels.make_linear(self.embed if spec.tie_embeddings else w.new(spec.vocab_size, h))
        rope_dim = spec.mla.qk_rope_head_dim if spec.mla else spec.head_dim
        self.rope = kernels.rope_tables(max_context, rope_dim, device=device, dtype=dtype)
        gen = torch.Generator(device="cpu").manual_seed(seed + 1)
        self.tokens = torch.randint(0, spec.vocab_size, (max_batch, max_context), generator=gen).to(device)
        self.recorder = OpRecorder(backend)

    def _check(self, batch: int, end: int, first: int) -> slice:
        if first + batch > self.max_batch or end > self.max_context:
            raise PerfModelError(f"sequences <= {self.max_batch} and context <= {self.max_context} must hold "
                                 f"(the KV cache size), got sequences {first}..{first + batch - 1}, context={end}")
        return slice(first, first + batch)

    def _forward(self, tokens: Any, pos: int, rows: slice) -> Any:
        torch = require_torch()
        rec = self.recorder
        with torch.inference_mode():
            with rec.op("embedding"):
                x = torch.nn.functional.embedding(tokens, self.embed)        # [B, S, h]
            pending = None
            for layer in self.layers:
                x, pending = layer(x, pending, pos, rows, self.rope, rec)
            with rec.op("final_norm"):  # over every token (as vLLM), then the last one of each sequence: [B, h]
                last = kernels.rms_norm(x + pending, self.final_norm)[:, -1, :]
            with rec.op("lm_head"):
                logits = self.lm_head(last)                                   # [B, vocab]
            with rec.op("sampling"):                                          # greedy over fp32 probabilities
                return torch.argmax(torch.softmax(logits.float(), dim=-1), dim=-1)

    def prefill(self, batch: int, isl: int, cached: int = 0, *, first: int = 0) -> Any:
        """`batch` sequences (KV rows first..first+batch-1) each processing `isl` prompt tokens
        after `cached` ones already in KV."""
        rows = self._check(batch, cached + isl, first)
        return self._forward(self.tokens[rows, cached:cached + isl], cached, rows)

    def decode(self, batch: int, context: int, *, first: int = 0) -> Any:
        """`batch` sequences each producing one token that attends to `context` KV tokens (its own
        included, as `BatchShape.decode` counts them): the new token is written at `context - 1`."""
        if context < 1:
            raise PerfModelError(f"decode context >= 1 must hold, got {context}")
        rows = self._check(batch, context, first)
        return self._forward(self.tokens[rows, context - 1:context], context - 1, rows)
