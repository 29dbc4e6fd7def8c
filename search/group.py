"""One group of plans: the rows of a PlanTable that share hardware, quantization, KV dtype, expert
placement, host offload and decode-attention placement. `GroupModel` gives their step times and
memory as numpy arrays over the rows' parallelism and batches (`search.evaluate` turns them into
TTFT, TPOT, throughput and goodput; the ILP searcher uses them for its units).

Step times come from the cost model's operator list (`perfmodel.step.step_ops`); nano-batched rows
add the fluid overlap of `search.nanobatch` (or perfmodel.overlap's list schedule when the group
is built with `nano_model="pipeline"`, see `search.refine`), offloaded and sparse-KV rows the host
traffic of `perfmodel.offload`.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import TYPE_CHECKING, Literal

import numpy as np

from perfmodel import speculative, tbo
from perfmodel.iteration import BatchShape
from perfmodel.memory import RUNTIME_RESERVED_GB, memory_breakdown
from perfmodel.offload import _sparse as sparse_kv
from perfmodel.plan import SPARSE_KV_METHODS
from perfmodel.quant import get_quant
from perfmodel.step import HEAD_OPS, scale_batch, step_ops
from perfmodel.search.nanobatch import nano_step_time

if TYPE_CHECKING:
    from perfmodel.search.problem import Problem

NanoModel = Literal["fluid", "pipeline"]
EXPERT_OPS = frozenset({"expert_gate_up", "expert_silu_mul", "expert_down"})
GB = 1e9


class GroupModel:
    """One (hardware, quant, kv dtype, placement, offload) group: shared model/system objects."""

    def __init__(self, problem: Problem, hw: int, q: int, kv: int, place: int, woff: float, kvoff: float,
                 attn: int = 0, nano_model: NanoModel = "fluid", xopt: int = 0):
        sp = problem.space
        self.option = sp.serving_options[xopt]        # issue 12: TBO, EPLB slots, speculative decoding
        self.tokens_per_step = speculative.tokens_per_step(self.option)
        self.problem = problem
        self.model = sp.model
        self.system = sp.systems[hw]
        self.quant_name, self.kv_name = sp.quant[q], sp.kv_dtype[kv]
        self.q = get_quant(self.quant_name).with_kv(self.kv_name)
        self.nano_model = nano_model
        self.attention = sp.kv_attention[attn]           # gpu, cpu, shadowkv, topk or a2ats
        self.sparse = self.attention in SPARSE_KV_METHODS
        self.host = None
        if self.attention == "cpu":
            from perfmodel.offload import host_of

            self.host = host_of(self.system)
        self.key = (hw, q, kv, attn, xopt)
        self.place = place
        self.woff, self.kvoff = woff, kvoff
        self.isl, self.osl = float(problem.isl), float(problem.osl)
        self.mem_util = sp.memory_utilization
        link = self.system.device.host_link
        self.host_rate = link.bw_per_direction_gb_s * GB * link.efficiency if link else 0.0
        node = self.system.node
        self.host_gb_per_device = (node.host_memory_gb / node.devices_per_node) if node.host_memory_gb else None

    def par(self, tp, pp, ep, dp):
        moe_tp = np.maximum(1, tp // ep)
        return SimpleNamespace(tp=tp, pp=pp, ep=ep, dp=dp, moe_tp=moe_tp, moe_group=ep * moe_tp,
                               memory_utilization=self.mem_util, **self.option.plan_fields())

    def expert_scale(self, ep) -> np.ndarray | float:
        imb = self.problem.expert_imbalance
        if not imb or self.model.moe is None:
            return 1.0
        return np.vectorize(lambda e: imb.get((self.place, int(e)), 1.0), otypes=[float])(ep)

    def step(self, par, batch: BatchShape, *, cold: bool, nano, kvb_dev, weights_dev):
        """Iteration time (s) and bound code of `batch` on one replica, nano-batched and offloaded.
        A nano-batched row takes the unsplit step when that is faster, as perfmodel.overlap does
        (`--nano-batches K` means up to K)."""
        k = np.asarray(nano, dtype=float)
        kw = dict(cold=cold, kvb_dev=kvb_dev, weights_dev=weights_dev)
        if self.option.spec_method and np.any(np.asarray(batch.decode_seqs) > 0):
            # A speculative round per emitted token (perfmodel.speculative): drafts plus the step
            # verifying k + 1 tokens per sequence, over the expected tokens per round. A chunked
            # step's prompt chunk rides in the verification step (drafts only for the decodes).
            t, bound = self._step(par, speculative.verify_batch(self.option, batch), k=k, pipeline=False, **kw)
            draft = speculative.draft_time_s(self.model, self.system, self.q, par, batch)
            return (t + draft) / self.tokens_per_step, bound
        t, bound = self._step(par, batch, k=k, pipeline=False, **kw)
        if (k > 1).any():
            t1, bound1 = self._step(par, batch, k=np.ones_like(k), pipeline=False, **kw)
            if self.nano_model == "pipeline":
                # the list schedule only for rows where the (optimistic) fluid overlap says the split pays
                t, bound = self._step(par, batch, k=np.where(t < t1, k, 1.0), pipeline=True, **kw)
            bound = np.where(t1 < t, bound1, bound)
            t = np.minimum(t, t1)
        return t, bound

    def _step(self, par, batch: BatchShape, *, cold: bool, k, pipeline: bool, kvb_dev, weights_dev):
        pp = par.pp
        micro = scale_batch(batch, 1.0 / (pp * k))
        gpu = self._gpu_batch(micro)        # what the device attends over (kv_attention)
        ops = step_ops(self.model, self.system, self.q, par, gpu)
        share = np.ceil(self.model.num_layers / pp) / self.model.num_layers
        scale = self.expert_scale(par.ep)
        # sparse decode attention: memory-bound work on the device, in place of dense attention
        sparse_s = self._sparse(par, micro).parts["gpu"] if self.sparse else 0.0
        C, M, N = 0.0, sparse_s, 0.0
        for op in ops:
            t = op.total_s * (1.0 if op.name in HEAD_OPS else share)
            if op.name in EXPERT_OPS:
                t = t * scale
            c, m, nt = op.t_compute, op.t_memory, op.t_comm
            is_net = (nt >= c) & (nt >= m) & (nt > 0)
            is_comp = ~is_net & (c >= m)
            C = C + np.where(is_comp, t, 0.0)
            M = M + np.where(~is_net & ~is_comp, t, 0.0)
            N = N + np.where(is_net, t, 0.0)
        stage = nano_step_time(C, M, N, k, layers=np.ceil(self.model.num_layers / pp))
        if self.option.two_batch_overlap:  # perfmodel.tbo replaces the step (no nano-batches, no offload)
            parts = tbo.stage_parts(self.model, self.system, self.q, par, micro)
            stage = parts["overlapped_s"] + parts["fill_s"] + parts["head_s"]
        if pipeline and (k > 1).any():
            stage = self._pipeline_stage(par, self._gpu_batch(scale_batch(batch, 1.0 / pp)), k, scale, stage,
                                         extra=sparse_s)
        if self.woff or self.kvoff or self.sparse:
            stage = np.maximum(stage, self._host_time(par, micro, k, kvb_dev, weights_dev))
        bound = np.argmax(np.stack([C, M, N] if np.ndim(C) else [np.full_like(stage, C), M, N]), axis=0)
        return stage * ((2 * pp - 1) if cold else pp), bound

    def _gpu_batch(self, micro: BatchShape) -> BatchShape:
        """The batch as the device attends over it: all of its context ("gpu"), the device part
        ("cpu": the CPU attends over the host part), none (sparse KV: `_sparse` times decode
        attention instead)."""
        if self.attention == "cpu":
            return dataclasses.replace(micro, decode_context=micro.decode_context * (1 - self.kvoff))
        if self.sparse:
            return dataclasses.replace(micro, decode_context=0 * micro.decode_context)
        return micro

    def _sparse_plan(self, par):
        """The plan fields perfmodel.offload._sparse reads, on arrays of rows."""
        return SimpleNamespace(tp=par.tp, pp=par.pp, sparse_kv=self.attention)

    @staticmethod
    def _decodes(micro: BatchShape):
        """(decoding sequences, mean context per sequence) of `micro`."""
        seqs = np.asarray(micro.decode_seqs, dtype=float)
        return seqs, np.where(seqs > 0, micro.decode_context / np.maximum(seqs, 1e-30), 0.0)

    def _sparse(self, par, micro: BatchShape):
        """Sparse decode attention of `micro` on one device (perfmodel.offload._sparse)."""
        seqs, context = self._decodes(micro)
        return sparse_kv.decode_attention(self.model, self.system, self.q, self._sparse_plan(par), seqs=seqs,
                                          context=context)

    def _host_time(self, par, micro: BatchShape, k, kvb_dev, weights_dev):
        """Seconds of host traffic of one stage (`micro` is one nano-batch of k; `kvb_dev`: dense KV
        bytes per token of the stage's layers on one device): streamed weights and KV over the host
        link (FlexGen's perfect overlap with the device), and CPU attention over the host KV
        ("cpu"), the larger of them."""
        new_tokens = micro.prefill_tokens + micro.decode_seqs
        if self.sparse:   # the selected tokens not cached on the device come over the link
            plan = self._sparse_plan(par)
            _, host_frac = sparse_kv.kv_fractions(self.model, self.q, plan)
            seqs, context = self._decodes(micro)
            kv_in = seqs * sparse_kv.fetched_tokens(plan, context) * kvb_dev * host_frac
            kv_out = new_tokens * kvb_dev * host_frac
        else:             # the host part of the context (unless the CPU attends to it) and of new tokens
            read = micro.prefill_kv_read + (0.0 if self.attention == "cpu" else micro.decode_context)
            kv_in = self.kvoff * read * kvb_dev
            kv_out = self.kvoff * new_tokens * kvb_dev
        link = (self.woff * weights_dev + kv_in + kv_out) * k / self.host_rate
        if self.attention != "cpu":
            return link
        from perfmodel.limits import attn_dims

        host = self.host
        qk, v = attn_dims(self.model)
        layers = np.ceil(self.model.num_layers / par.pp)
        ctx = micro.decode_context * self.kvoff
        flops = 2.0 * ctx * self.model.num_heads / par.tp * (qk + v) * layers
        cpu = np.maximum(ctx * kvb_dev / host.mem_rate, flops / host.flops) \
            + host.cpu.kernel_overhead_us * 1e-6 * layers
        return np.maximum(link, cpu * k)

    def _pipeline_stage(self, par, micro: BatchShape, k, scale, fluid, extra=0.0):
        """`fluid` with the rows of k > 1 replaced by perfmodel.overlap's list-scheduled pipeline of
        their micro-batch (the time `perfmodel estimate/serve --nano-batches k` uses), plus `extra`
        device seconds per nano-batch (sparse decode attention). Rows whose routed experts are
        scaled by a placement's imbalance keep the fluid time: the pipeline model has no placement."""
        from perfmodel.overlap import stage_time
        from perfmodel.plan import Plan
        from perfmodel.stepmodel import StepModel

        fields = ("prefill_tokens", "prefill_attn_pairs", "prefill_kv_read", "prefill_seqs", "decode_seqs",
                  "decode_context")
        cols = np.broadcast_arrays(k, par.tp, par.pp, par.ep, np.asarray(scale, dtype=float),
                                   *(np.asarray(getattr(micro, f), dtype=float) for f in fields))
        out = np.array(np.broadcast_to(fluid, cols[0].shape), dtype=float)
        extra = np.broadcast_to(extra, out.shape)
        for i in np.nonzero((cols[0] > 1) & (cols[4] == 1.0))[0]:
            tp, pp, ep, kk = int(cols[1][i]), int(cols[2][i]), int(cols[3][i]), int(cols[0][i])
            key = (*self.key, tp, pp, ep, kk)
            sm = self.problem._step_models.get(key)
            if sm is None:
                plan = Plan(tp=tp, pp=pp, ep=ep, dp=max(1, ep // tp), quant=self.quant_name, kv_dtype=self.kv_name,
                            nano_batches=kk, memory_utilization=self.mem_util)
                sm = self.problem._step_models[key] = StepModel.build(model=self.model, system=self.system, plan=plan)
            out[i] = stage_time(sm, BatchShape(**{f: float(c[i]) for f, c in zip(fields, cols[5:])})) + extra[i] * kk
        return out

    def memory(self, par, *, max_tokens, kv_tokens, context=None):
        """(used GB, capacity GB, host GB needed, kv bytes/token/device, weight bytes/device).
        `kv_tokens` are held by sequences of `context` tokens each (None: isl + osl); windowed and
        recurrent layers make the bytes per token depend on it."""
        ctx = self.isl + self.osl if context is None else context
        mem = memory_breakdown(self.model, self.system, par, self.q, max_tokens=max_tokens, context_tokens=ctx)
        kvb = mem.kv_bytes_per_token_at(ctx)
        weights = mem.weights_gb * (1 - self.woff)
        dev_frac, host_frac = 1 - self.kvoff, self.kvoff
        if self.sparse:  # the method's own split of the KV bytes
            dev_frac, host_frac = sparse_kv.kv_fractions(self.model, self.q, self._sparse_plan(par))
        used = weights + mem.activations_gb + RUNTIME_RESERVED_GB + kv_tokens * kvb * dev_frac / GB
        host = mem.weights_gb * self.woff + kv_tokens * kvb * host_frac / GB
        return used, mem.capacity_gb, host, kvb, mem.weights_gb * GB

    def fits(self, used, cap, host):
        ok = used <= cap
        if (self.woff or self.kvoff or self.sparse) and self.host_gb_per_device is not None:
            ok = ok & (host <= self.host_gb_per_device)
        return ok
