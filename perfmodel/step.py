"""One iteration of a model replica as a list of operator costs, and its wall time.

`layer_ops` builds the operators of one transformer layer (attention block + MLP or MoE block)
for one device of a tensor-parallel group; `head_ops` the embedding, final norm, LM head and
sampling. Everything takes a `par` object with attributes tp, pp, ep, dp, moe_tp, moe_group
(a `Plan`, or a namespace of numpy arrays for the vectorized path) and a `BatchShape`.

Pipeline parallelism: a batch is split into `pp` micro-batches kept in flight; one round (every
sequence advances one iteration) takes pp x (slowest stage time of one micro-batch). A cold
start (a static batch's prefill) also fills the pipeline: (2 pp - 1) stage times (GPipe,
Huang et al. 2019: bubble fraction (p-1)/(m+p-1) with m = p micro-batches).
"""

from __future__ import annotations

import math

import numpy as np

from perfmodel.hardware.catalog import System
from perfmodel import moe as M
from perfmodel import moe_overlap as MO
from perfmodel import ops as O
from perfmodel.collectives import collective
from perfmodel.iteration import BatchShape
from perfmodel.quant import Quant
from perfmodel.specs.model import ModelSpec


def _any(cond) -> bool:
    return bool(np.any(cond))


def _masked(op: O.OpCost, cond) -> O.OpCost:
    """Zero an op where `cond` is false (vectorized plans where only some need it)."""
    if isinstance(cond, (bool, np.bool_)):
        return op if cond else O.OpCost(op.name, op.kind, count=op.count)
    f = np.asarray(cond) * 1.0
    return O.OpCost(op.name, op.kind, op.flops * f, op.weight_bytes * f, op.act_bytes * f, op.kv_bytes * f,
                    op.comm_bytes * f, op.t_compute * f, op.t_memory * f, op.t_comm * f, op.t_overhead * f, op.count)


def _pick(cond, a: O.OpCost, b: O.OpCost) -> O.OpCost:
    """`a` where `cond` holds, else `b` (field by field for vectorized plans)."""
    if isinstance(cond, (bool, np.bool_)):
        return a if cond else b
    c = np.asarray(cond)
    fields = ("flops", "weight_bytes", "act_bytes", "kv_bytes", "comm_bytes", "t_compute", "t_memory", "t_comm",
              "t_overhead")
    return O.OpCost(a.name, a.kind, *(np.where(c, getattr(a, f), getattr(b, f)) for f in fields), a.count)


def window_pairs(new, cached, window):
    """Causal query-key pairs of `new` tokens after `cached` ones when each query sees at most
    `window` keys: sum_{x=cached+1}^{cached+new} min(x, window)."""
    def upto(m):  # sum_{x=1}^{m} min(x, window)
        inside = np.minimum(m, window)
        beyond = np.maximum(m - inside, 0)
        return inside * (inside + 1) / 2 + beyond * np.minimum(window, inside)
    return upto(cached + new) - upto(cached)


def windowed(b: BatchShape, window) -> BatchShape:
    """The attention work of `b` when every query sees at most `window` tokens (sliding window,
    chunked attention read as a window of its chunk: an upper bound, a chunk's queries see C/2
    keys on average; DSA's top-k). Per-sequence means of the batch stand for every sequence."""
    if window is None:
        return b
    dseq = np.asarray(b.decode_seqs, dtype=float)
    dctx = np.where(dseq > 0, b.decode_context / np.maximum(dseq, 1e-30), 0.0)
    pseq = np.asarray(b.prefill_seqs, dtype=float)
    new = np.where(pseq > 0, b.prefill_tokens / np.maximum(pseq, 1e-30), 0.0)
    cached = np.where(pseq > 0, b.prefill_kv_read / np.maximum(pseq, 1e-30), 0.0)
    pairs = np.minimum(b.prefill_attn_pairs, pseq * window_pairs(new, cached, window))
    return BatchShape(b.prefill_tokens, pairs, pseq * np.minimum(cached, window), b.prefill_seqs, b.decode_seqs,
                      dseq * np.minimum(dctx, window), b.decode_queries)


def indexer_ops(model: ModelSpec, system: System, q: Quant, par, b: BatchShape) -> list[O.OpCost]:
    """DeepSeek Sparse Attention's indexer: its projections and the scores over the whole context
    (the attention itself then runs over the top-k, see `windowed`)."""
    dev, h, x = system.device, model.hidden_size, model.dsa
    T = b.tokens
    q_in = model.mla.q_lora_rank or h
    out = [O.gemm("indexer_q", T, x.index_n_heads * x.index_head_dim, q_in, dev, q, weight_quantized=False),
           O.gemm("indexer_k_w", T, x.index_head_dim + x.index_n_heads, h, dev, q, weight_quantized=False),
           O.indexer_scores("indexer_prefill", b.prefill_tokens, b.prefill_attn_pairs,
                            b.prefill_tokens + b.prefill_kv_read, x.index_n_heads, x.index_head_dim,
                            x.key_bytes_per_token, dev),
           O.indexer_scores("indexer_decode", b.decode_seqs, b.decode_context, b.decode_context, x.index_n_heads,
                            x.index_head_dim, x.key_bytes_per_token, dev)]
    return out


def recurrent_ops(model: ModelSpec, system: System, q: Quant, par, b: BatchShape) -> list[O.OpCost]:
    """A linear-attention / SSM layer's mixer (Gated DeltaNet, Mamba-2, Lightning): input norm, the
    fused input projection, causal conv, chunked scan (prefill) or one recurrent step (decode),
    gated norm, output projection, all-reduce. Heads split by TP; no KV, no cost that grows with
    the context."""
    dev, h, tp, r = system.device, model.hidden_size, par.tp, model.linear
    T = b.tokens
    heads = r.heads / tp
    out = [O.elementwise("norm", T * h, dev, reads=2, writes=2, flops_per_el=4, bytes_per_el=q.base_bytes),
           O.gemm("linear_in_proj", T, r.in_width / tp, h, dev, q.part("attention"))]
    if r.conv_kernel:
        out.append(O.elementwise("linear_conv", T * r.conv_channels / tp, dev, reads=1, writes=1,
                                 flops_per_el=2 * r.conv_kernel, bytes_per_el=q.base_bytes))
    out.append(O.recurrent_scan("linear_scan_prefill", b.prefill_tokens, b.prefill_seqs, heads, r.key_dim,
                                r.value_dim, r.chunk_tokens, dev, q, decode=False))
    # a verify step's k + 1 queries per sequence are k + 1 recurrent updates over one state read
    out.append(O.recurrent_scan("linear_scan_decode", b.decode_seqs * b.decode_queries, b.decode_seqs, heads,
                                r.key_dim, r.value_dim, r.chunk_tokens, dev, q, decode=True))
    out.append(O.elementwise("linear_gate_norm", T * r.inner / tp, dev, reads=2, writes=1, flops_per_el=6,
                             bytes_per_el=q.base_bytes))
    out.append(O.gemm("o_proj", T, h, r.inner / tp, dev, q.part("attention")))
    out.append(collective("attn_all_reduce", "all_reduce", T * h * q.base_bytes, tp, system))
    return out


SOFTMAX_MIXERS = ("full", "sliding", "chunked")


def mixer_ops(model: ModelSpec, system: System, q: Quant, par, b: BatchShape, mixer: str, *,
              reuse: list[O.OpCost] | None = None) -> list[O.OpCost]:
    """One layer's token mixer of kind `mixer` (see perfmodel.specs.layers). `reuse`: the ops of
    another softmax-attention kind of the same (GQA/MHA) model on the same batch: its projections
    are this kind's too (a window changes only the attention kernels), so only those are rebuilt."""
    if mixer == "none":
        return []
    if mixer == "projection":
        return projection_ops(model, system, q, par, b, "mixer")
    if mixer == "linear":
        return recurrent_ops(model, system, q, par, b)
    if mixer == "parallel":  # Falcon-H1: both mixers on the same input, run one after the other
        return attention_ops(model, system, q, par, b) + recurrent_ops(model, system, q, par, b)
    window = model.window_of(mixer)
    if reuse is not None and model.mla is None:
        pre, dec = _attention_kernels(model, system.device, q, par.tp, windowed(b, window))
        return [pre if op.name == "attn_prefill" else dec if op.name == "attn_decode" else op for op in reuse]
    return attention_ops(model, system, q, par, windowed(b, window), full=b)


def _attention_kernels(model: ModelSpec, dev, q: Quant, tp, b: BatchShape) -> tuple[O.OpCost, O.OpCost]:
    """Prefill and decode attention kernels of a GQA/MHA layer on one device."""
    d, heads = model.head_dim, model.num_heads / tp
    kv_elems = 2 * O.vmax(model.num_kv_heads / tp, 1) * d
    pre = O.attention_prefill("attn_prefill", b.prefill_attn_pairs, b.prefill_tokens, b.prefill_kv_read,
                              heads, d, d, kv_elems, dev, q)
    # Verified drafts (decode_queries > 1) are extra query heads over the same KV read.
    dec = O.attention_decode("attn_decode", b.decode_seqs, b.decode_context, heads * b.decode_queries, d, d,
                             kv_elems, dev, q)
    return pre, dec


def ffn_ops(model: ModelSpec, system: System, q: Quant, par, b: BatchShape, mlp: str) -> list[O.OpCost]:
    """One layer's MLP block of kind `mlp`."""
    if mlp == "none":
        return []
    if mlp == "projection":
        return projection_ops(model, system, q, par, b, "mlp")
    return moe_ops(model, system, q, par, b) if mlp == "moe" else mlp_ops(model, system, q, par, b)


def projection_ops(model: ModelSpec, system: System, q: Quant, par, b: BatchShape, block: str) -> list[O.OpCost]:
    """A block replaced by one hidden x hidden linear layer (DeciLM `replace_with_linear`): its norm,
    the GEMM split over TP like o_proj / down_proj (row-parallel), and the all-reduce after it."""
    dev, h, tp = system.device, model.hidden_size, par.tp
    T = b.tokens
    weights = q.part("attention" if block == "mixer" else "mlp")
    return [
        O.elementwise(f"{block}_proj_norm", T * h, dev, reads=2, writes=2, flops_per_el=4, bytes_per_el=q.base_bytes),
        O.gemm(f"{block}_linear", T, h, h / tp, dev, weights),
        collective(f"{block}_proj_all_reduce", "all_reduce", T * h * q.base_bytes, tp, system),
    ]


def layer_ops(model: ModelSpec, system: System, q: Quant, par, b: BatchShape, mixer: str, mlp: str) -> list[O.OpCost]:
    """Operators of one layer of kind (mixer, mlp)."""
    return mixer_ops(model, system, q, par, b, mixer) + ffn_ops(model, system, q, par, b, mlp)


def attention_ops(model: ModelSpec, system: System, q: Quant, par, b: BatchShape, *,
                  full: BatchShape | None = None) -> list[O.OpCost]:
    """Input norm, QKV (or MLA) projections, RoPE, KV write, attention, O projection, all-reduce.
    `b` is the attention work (capped by a window or DSA's top-k); `full` the whole batch (the
    DSA indexer scores every cached token; None: `b`)."""
    dev = system.device
    h = model.hidden_size
    tp = par.tp
    T = b.tokens
    heads = model.num_heads / tp
    qa = q.part("attention")  # the projections' weight scheme (KV and activations follow q)
    out: list[O.OpCost] = []
    norm = O.elementwise("norm", T * h, dev, reads=2, writes=2, flops_per_el=4, bytes_per_el=q.base_bytes)
    out.append(norm)

    if model.mla is None:
        d = model.head_dim
        kvh = O.vmax(model.num_kv_heads / tp, 1)
        kv_elems = 2 * kvh * d
        q_heads = heads * (2 if model.attn_output_gate else 1)  # gated attention: q_proj also emits the gate
        out.append(O.gemm("qkv_proj", T, (q_heads + 2 * kvh) * d, h, dev, qa))
        out.append(O.elementwise("rope", T * (heads + kvh) * d, dev, flops_per_el=3, bytes_per_el=q.base_bytes))
        out.append(O.elementwise("kv_write", T * kv_elems, dev, reads=1, writes=1, bytes_per_el=q.kv_bytes))
        pre, dec = _attention_kernels(model, dev, q, tp, b)
        o_in = heads * d
    else:
        m = model.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        kv_elems = m.kv_lora_rank + m.qk_rope_head_dim  # latent KV is replicated on every TP rank
        if m.q_lora_rank:
            out.append(O.gemm("q_a_proj", T, m.q_lora_rank, h, dev, qa))
            out.append(O.gemm("q_b_proj", T, heads * qk, m.q_lora_rank, dev, qa))
        else:
            out.append(O.gemm("q_proj", T, heads * qk, h, dev, qa))
        out.append(O.gemm("kv_a_proj", T, kv_elems, h, dev, qa))
        out.append(O.elementwise("rope", T * (heads + 1) * m.qk_rope_head_dim, dev, flops_per_el=3,
                                 bytes_per_el=q.base_bytes))
        out.append(O.elementwise("kv_write", T * kv_elems, dev, bytes_per_el=q.kv_bytes))
        if model.dsa is not None:
            out += indexer_ops(model, system, q, par, full if full is not None else b)
        # Prefill: up-project the latent of new and cached tokens to per-head K/V (naive form).
        up = O.gemm("kv_b_proj", b.prefill_tokens + b.prefill_kv_read, heads * (m.qk_nope_head_dim + m.v_head_dim),
                    m.kv_lora_rank, dev, qa)
        out.append(up)
        pre = O.attention_prefill("attn_prefill", b.prefill_attn_pairs, b.prefill_tokens, b.prefill_kv_read,
                                  heads, qk, m.v_head_dim, kv_elems, dev, q)
        # Decode: absorbed form (DeepSeek-V2 s2.1.2): W_UK folded into q, W_UV applied after.
        absorb = O.gemm("mla_absorb", b.decode_seqs * b.decode_queries, heads * (m.qk_nope_head_dim + m.v_head_dim),
                        m.kv_lora_rank, dev, qa)
        out.append(absorb)
        dec = O.attention_decode("attn_decode", b.decode_seqs, b.decode_context, heads * b.decode_queries,
                                 m.qk_rope_head_dim,
                                 m.kv_lora_rank, kv_elems, dev, q, latent_dim=m.kv_lora_rank)
        o_in = heads * m.v_head_dim
    out += [pre, dec]
    out.append(O.gemm("o_proj", T, h, o_in, dev, qa))
    out.append(collective("attn_all_reduce", "all_reduce", T * h * q.base_bytes, tp, system))
    return out


def mlp_ops(model: ModelSpec, system: System, q: Quant, par, b: BatchShape) -> list[O.OpCost]:
    """Post-attention norm and gated MLP (tensor parallel) with its all-reduce."""
    dev, h, tp = system.device, model.hidden_size, par.tp
    T = b.tokens
    inter = model.intermediate_size / tp
    qm = q.part("mlp")
    up = 2 if model.mlp_gated else 1
    return [
        O.elementwise("post_norm", T * h, dev, reads=2, writes=2, flops_per_el=4, bytes_per_el=q.base_bytes),
        O.gemm("gate_up_proj", T, up * inter, h, dev, qm),
        O.elementwise("silu_mul", T * inter, dev, reads=2, writes=1, flops_per_el=5, bytes_per_el=q.base_bytes),
        O.gemm("down_proj", T, h, inter, dev, qm),
        collective("mlp_all_reduce", "all_reduce", T * h * q.base_bytes, tp, system),
    ]


def moe_ops(model: ModelSpec, system: System, q: Quant, par, b: BatchShape) -> list[O.OpCost]:
    """Post-attention norm, router, (all-to-all,) grouped expert GEMMs, shared experts."""
    dev, h, tp = system.device, model.hidden_size, par.tp
    T = b.tokens
    out = [O.elementwise("post_norm", T * h, dev, reads=2, writes=2, flops_per_el=4, bytes_per_el=q.base_bytes)]
    e = model.moe
    qe = q.part("experts")
    assert e is not None
    out.append(O.gemm("router", T, e.num_experts, h, dev, q, weight_quantized=False))
    out.append(O.elementwise("topk", T * e.num_experts, dev, reads=1, writes=0, bytes_per_el=4))
    # Tokens reaching this device's experts: the expert group spans moe_group / tp attention replicas.
    # The busiest EP rank sets the time (perfmodel.moe: routing skew, EPLB, batch noise); only the
    # experts its tokens touch are read and run, each with load / touched tokens.
    t_group = T * par.moe_group / tp
    routed = t_group * e.experts_per_token
    load = M.busiest_load(routed, e.num_experts, par.ep, skew=M.plan_option(par, "routing_skew", 0.0),
                          redundant=M.plan_option(par, "redundant_experts", 0),
                          measured=M.plan_option(par, "expert_load_share", None))
    touched = M.touched_experts(load, e.num_experts / par.ep)
    per_expert = load / O.vmax(touched, 1e-9)
    spans = par.ep > par.tp  # attention-DP + EP: tokens travel to their experts' devices and back
    # DeepEP: low-latency kernels (one copy per expert) in decode-only steps, normal kernels (one
    # copy per destination rank) when the step prefills; fp8 dispatch carries 1x128 block scales.
    low_latency = b.prefill_tokens == 0
    copies = M.dispatch_copies(e.experts_per_token, par.ep, low_latency=low_latency)
    # Speculative MoE (Plan.expert_locality): tokens whose experts sit on their own rank stay there
    local = M.remote_share(M.plan_option(par, "expert_locality", None), par.ep)
    sent = T / tp * copies * h * local
    # A group wider than one scale-up domain crosses the NICs once per remote node and forwards
    # over the fabric inside it (DeepEP internode kernels, perfmodel.moe.scaleout_copies)
    domain = M.scaleup_devices(system)
    nic_copies, nodes = M.scaleout_copies(e.experts_per_token, par.ep, domain, low_latency=low_latency)

    def kernels(name: str, el, rate: str):
        flat = collective(name, "all_to_all", sent * el, par.ep, system, rate_of=rate)
        if domain is None or not _any(nodes > 1):
            return flat
        # at the measured internode all-to-all rate of the NIC where the catalog has one (DeepEP)
        nic = collective(name, "p2p", T / tp * nic_copies * h * local * el, par.ep, system, rate_of=rate)
        fwd = collective(name, "all_to_all", sent * el, O.vmin(par.ep, domain), system, rate_of=rate)
        hier = O.OpCost(name, "comm", comm_bytes=nic.comm_bytes + fwd.comm_bytes, t_comm=O.vmax(nic.t_comm, fwd.t_comm))
        return _pick(nodes > 1, hier, flat)

    def all_to_all(name: str, el):
        """Normal kernels' rate when the step prefills, low-latency kernels' in decode-only steps."""
        if isinstance(low_latency, (bool, np.bool_)):
            return kernels(name, el, "all_to_all_low_latency" if low_latency else "all_to_all")
        return _pick(low_latency, kernels(name, el, "all_to_all_low_latency"), kernels(name, el, "all_to_all"))

    # Bytes per element the experts' GEMM reads; fp8-block / nvfp4 / mxfp4 bits count their scales
    # already (perfmodel.quant), fp8 / w8a8 / w4a8 get DeepEP's 1x128 scales added.
    a_el = qe.gemm_path(dev)[1]
    scaled = a_el < q.base_bytes and float(a_el * 8).is_integer()
    dispatch_el = a_el + (M.FP8_SCALE_BYTES_PER_ELEMENT if scaled else 0.0)
    # Normal kernels hand each rank its received tokens once, with their top-k ids: the grouped
    # GEMM's contiguous layout needs one row per (token, local expert), so engines copy them in
    # (ep_scatter) and sum the experts' outputs back per token with the routing weights (ep_gather;
    # vLLM deep_gemm_utils, SGLang ep_moe kernels, from lightllm). Low-latency kernels deliver the
    # per-expert layout themselves.
    permuted = np.logical_and(spans, np.logical_not(low_latency))
    received = T / tp * copies * local  # tokens arriving per rank (by symmetry, those it sent)
    if _any(spans):
        out.append(_masked(all_to_all("moe_dispatch", dispatch_el), spans))
    if _any(permuted):
        # each received row read once, each (token, expert) row written once: [rows, h] fp8 + scales
        out.append(_masked(O.elementwise("expert_permute", (received + load) * h, dev, reads=1, writes=0,
                                         bytes_per_el=dispatch_el, flops_per_el=0.0), permuted))
    out += expert_ops(model, system, q, par, tokens=T, rows=load, per_expert=per_expert, touched=touched)
    if _any(permuted):
        # each expert output row read once and multiply-added into its token's row, written once
        out.append(_masked(O.elementwise("expert_unpermute", (received + load) * h, dev, reads=1, writes=0,
                                         bytes_per_el=q.base_bytes), permuted))
    if _any(spans):
        out.append(_masked(all_to_all("moe_combine", q.base_bytes), spans))
    out.append(collective("moe_all_reduce", "all_reduce", T * h * q.base_bytes, tp, system))
    scheme = M.plan_option(par, "moe_overlap", "none")
    if scheme == "none":
        return out
    # COMET / coarse pipelining (Plan.moe_overlap, perfmodel.moe_overlap): the communication
    # hides behind the experts' GEMMs; `chunked` prices the GEMMs at 1/K of the rows
    k = M.plan_option(par, "moe_chunks", 1) if scheme == "chunked" else 1
    chunk = None if scheme != "chunked" else expert_ops(model, system, q, par, tokens=T / k, rows=load / k,
                                                         per_expert=per_expert / k, touched=touched)
    parts = MO.layer_parts(out, scheme=scheme, rows=load, tile_rows=dev.gemm_tile_m, chunk_ops=chunk, chunks=k)
    return MO.overlapped_ops(out, parts, chunk_ops=chunk, chunks=k)


def expert_ops(model: ModelSpec, system: System, q: Quant, par, *, tokens, rows, per_expert,
               touched) -> list[O.OpCost]:
    """The routed experts' grouped GEMMs (`rows` token rows: `touched` experts of `per_expert`
    each) and the shared experts over `tokens`, on one device."""
    dev, h, e = system.device, model.hidden_size, model.moe
    qe, qs = q.part("experts"), q.part("shared_experts")
    width = e.expert_intermediate_size / par.moe_tp
    up = 2 if model.mlp_gated else 1
    out = [O.gemm("expert_gate_up", per_expert, up * width, h, dev, qe, groups=touched),
           O.elementwise("expert_silu_mul", rows * width, dev, reads=2, writes=1, flops_per_el=5,
                         bytes_per_el=q.base_bytes),
           O.gemm("expert_down", per_expert, h, width, dev, qe, groups=touched)]
    if e.shared_intermediate_size:
        sw = e.shared_intermediate_size / par.tp
        out.append(O.gemm("shared_gate_up", tokens, up * sw, h, dev, qs))
        out.append(O.gemm("shared_down", tokens, h, sw, dev, qs))
    return out


def head_ops(model: ModelSpec, system: System, q: Quant, par, b: BatchShape) -> list[O.OpCost]:
    """Embedding lookup, final norm, LM head (vocab-parallel), logits gather and sampling."""
    dev = system.device
    h, tp = model.hidden_size, par.tp
    T = b.tokens
    seqs = b.logit_rows  # one logit row per sequence (per query when verifying drafts)
    vocab = model.vocab_size
    return [
        O.elementwise("embedding", T * h, dev, reads=1, writes=1, bytes_per_el=q.base_bytes),
        O.elementwise("final_norm", T * h, dev, reads=1, writes=1, flops_per_el=4, bytes_per_el=q.base_bytes),
        O.gemm("lm_head", seqs, vocab / tp, h, dev, q, weight_quantized=False),
        collective("logits_gather", "all_gather", seqs * vocab / tp * 4.0, tp, system),
        O.sample("sampling", seqs, vocab, dev),
    ]


def step_ops(model: ModelSpec, system: System, q: Quant, par, batch: BatchShape) -> list[O.OpCost]:
    """All operators of one iteration on one device for one micro-batch, each with `count` = how
    many times it runs (layers). Pipeline stages are accounted for in `stage_time`. A layer's mixer
    and MLP cost independently, so the ops are those of each mixer kind times its layers, then
    those of each MLP kind times its layers; a NAS model's layers (`ModelSpec.layer_groups`) count
    their mixers once per distinct KV-head count and their MLPs once per distinct width."""
    mixers: dict[int, tuple[ModelSpec, dict[str, int]]] = {}
    mlps: dict[int, tuple[ModelSpec, dict[str, int]]] = {}
    for group in model.layer_groups:
        for mixer, mlp, n in group.layer_kinds:
            counts = mixers.setdefault(group.num_kv_heads, (group, {}))[1]
            counts[mixer] = counts.get(mixer, 0) + n
            counts = mlps.setdefault(group.intermediate_size, (group, {}))[1]
            counts[mlp] = counts.get(mlp, 0) + n
    out = []
    for view, counts in mixers.values():
        attention = None  # the first softmax-attention kind's ops, reused by the others (`mixer_ops`)
        for mixer, n in counts.items():
            softmax = mixer in SOFTMAX_MIXERS
            ops = mixer_ops(view, system, q, par, batch, mixer, reuse=attention if softmax else None)
            if softmax and attention is None:
                attention = ops
            out += [op.scaled(n) for op in ops]
    for view, counts in mlps.values():
        for mlp, n in counts.items():
            out += [op.scaled(n) for op in ffn_ops(view, system, q, par, batch, mlp)]
    out += head_ops(model, system, q, par, batch)
    if _any(par.pp > 1):
        T = batch.tokens
        send = collective("pp_send", "p2p", T * model.hidden_size * q.base_bytes, 2, system)
        out.append(_masked(send, par.pp > 1))
    return out


HEAD_OPS = frozenset({"embedding", "final_norm", "lm_head", "logits_gather", "sampling", "pp_send"})


def stage_time(ops: list[O.OpCost], model: ModelSpec, pp):
    """Slowest pipeline stage: ceil(L/pp) of the L layers plus the LM head and the send."""
    layers = sum(op.total_s for op in ops if op.name not in HEAD_OPS)
    head = sum(op.total_s for op in ops if op.name in HEAD_OPS)
    share = (math.ceil(model.num_layers / pp) if isinstance(pp, int) else np.ceil(model.num_layers / pp)) / model.num_layers
    return layers * share + head


def iteration_time(model: ModelSpec, system: System, q: Quant, par, batch: BatchShape, *, cold: bool = False):
    """Steady state: pp x stage(batch / pp), every sequence advances one iteration. `cold`: a
    batch started on an empty pipeline, (2 pp - 1) x stage(batch / pp)."""
    pp = par.pp
    micro = batch if (isinstance(pp, int) and pp == 1) else scale_batch(batch, 1.0 / pp)
    stage = stage_time(step_ops(model, system, q, par, micro), model, pp)
    return stage * ((2 * pp - 1) if cold else pp)


def scale_batch(b: BatchShape, f) -> BatchShape:
    return BatchShape(b.prefill_tokens * f, b.prefill_attn_pairs * f, b.prefill_kv_read * f, b.prefill_seqs * f,
                      b.decode_seqs * f, b.decode_context * f, b.decode_queries)
