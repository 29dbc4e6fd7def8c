"""Placement of weights, KV cache and activations between device and host memory.

Placement (FlexGen, Sheng et al. ICML'23, s4.2): a plan keeps fractions `weights_offload`,
`kv_offload` and `activations_offload` of its weights, KV cache and activations in host memory.
Offloaded weights stream over the host link every pass (FlexGen's layer-by-layer zig-zag;
MoE-Lightning's paged weights); offloaded KV is either fetched over the link for GPU attention or,
with `attention_on_cpu`, attended on the CPU where it lives (FlexGen s4.3; MoE-Lightning CGOPipe,
which sends QKV down and the attention output back instead).

Step time (FlexGen eq. T = max(ctog, gtoc, comp); MoE-Lightning eq. 12 per layer,
T = max(comm_cpu->gpu, T_cpu, T_gpu)): the GPU work, the host-to-device and device-to-host
transfers, CPU attention and CPU DRAM traffic overlap perfectly, so one pipeline stage of one
micro-batch takes the largest of them. Assumed: perfect overlap (CGOPipe's goal; FlexGen's
released LP charges partial overlap instead), layers are identical, so per-layer maxima sum to
the maximum of the per-stage sums. With all fractions zero every host term is zero and the step
is the on-device step, exactly.

Host resources per device: the node's CPU sockets, host memory and DRAM bandwidth are shared
evenly by its accelerators (`Node.devices_per_node`); each device has its own host link.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from perfmodel.hardware.catalog import System
from perfmodel.hardware.schema import Device
from perfmodel.errors import PerfModelError
from perfmodel import limits, overlap
from perfmodel.iteration import BatchShape
from perfmodel.offload import _sparse as sparse
from perfmodel.plan import Plan
from perfmodel.quant import Quant, get_quant
from perfmodel.specs.model import ModelSpec
from perfmodel.step import scale_batch


# ------------------------------------------------------------------------------------------
# Host resources
# ------------------------------------------------------------------------------------------
# Share of host memory an engine can pin for offloaded weights and KV (the OS, the engine process
# and page cache keep the rest). Assumption, like vLLM's 0.9 default for device memory.
HOST_MEMORY_UTILIZATION = 0.9

@dataclass(frozen=True)
class Host:
    """One device's share of its host: CPU, DRAM bandwidth and capacity, and its host link."""

    cpu: Device
    link_rate: float      # B/s, host link per direction x achievable fraction
    mem_rate: float       # B/s, DRAM achievable bandwidth share
    capacity: float       # bytes of host memory share
    flops: float          # CPU FLOP/s share (bf16 where the CPU has AMX/AVX512-BF16, else fp32)

    def to_dict(self) -> dict:
        return {"cpu": self.cpu.id, "link_gb_s": self.link_rate / 1e9, "dram_gb_s": self.mem_rate / 1e9,
                "capacity_gb": self.capacity / 1e9, "cpu_tflops": self.flops / 1e12}


def host_of(system: System) -> Host:
    cpu, node, dev = system.host_cpu, system.node, system.device
    if cpu is None:
        raise PerfModelError(f"offload needs a host CPU, but node {node.id!r} names none in the catalog "
                             f"(set host_cpu in a hardware YAML)")
    if dev.host_link is None:
        raise PerfModelError(f"offload needs a host link, but device {dev.id!r} has none in the catalog")
    share = 1.0 / node.devices_per_node
    sockets = node.cpu_sockets
    capacity_gb = node.host_memory_gb if node.host_memory_gb else cpu.memory_gb * sockets
    return Host(
        cpu=cpu,
        link_rate=dev.host_link.bw_per_direction_gb_s * 1e9 * dev.host_link.efficiency,
        mem_rate=cpu.memory_bw_gb_s * 1e9 * cpu.mem_bw_efficiency * sockets * share,
        capacity=capacity_gb * 1e9 * share,
        flops=cpu.peak_flops("bf16") * cpu.gemm_fraction("bf16") * sockets * share,
    )


# ------------------------------------------------------------------------------------------
# Sizes with placement (used by perfmodel.bounds)
# ------------------------------------------------------------------------------------------
def staging_bytes(model: ModelSpec, plan: Plan, weights: float) -> float:
    """Device buffer for streamed weights: two layers' worth of the offloaded part (double
    buffering, FlexGen's working buffers 2 w_i (1 - w_g))."""
    layers = -(-model.num_layers // plan.pp)
    return 2.0 * plan.weights_offload * weights / layers


def effective_sizes(model: ModelSpec, system: System, plan: Plan, q: Quant, s):
    """`perfmodel.limits.Sizes` with the plan's placement applied (unchanged when nothing is
    offloaded). Weight traffic on HBM stays the whole weights (streamed weights land in HBM and
    the GEMMs read them there); KV read from HBM shrinks to the device part when the CPU attends."""
    if not plan.offloaded:
        return s
    kf, wf, hf = plan.kv_offload, plan.weights_offload, plan.activations_offload
    kv = s.kv_capacity_per_token
    if plan.sparse_kv:  # the method's own split; HBM reads per context token: landmarks / key codes
        kv_dev, kv_host, kv_read = sparse.kv_bytes(model, q, plan)
    else:
        kv_dev, kv_host, kv_read = kv * (1 - kf), kv * kf, kv * (1 - kf) if plan.attention_on_cpu else kv
    return dataclasses.replace(
        s,
        kv_per_token=kv_read,
        kv_capacity_per_token=kv_dev,
        kv_host_per_token=kv_host,
        act_per_token=s.act_per_token * (1 - hf),
        free_bytes=s.free_bytes + wf * s.weights - staging_bytes(model, plan, s.weights),
        weights_host=wf * s.weights,
    )


def sequences_that_fit(system: System, plan: Plan, s, *, kv_tokens_per_seq: float, act_tokens_per_seq: float) -> float:
    """Sequences per replica that fit device memory (`perfmodel.limits.sequences_that_fit`, the
    one fit rule) and, for offloaded KV, host memory: the static estimate and the bounds both ask here."""
    conc = limits.sequences_that_fit(s, kv_tokens_per_seq=kv_tokens_per_seq, act_tokens_per_seq=act_tokens_per_seq)
    if plan.offloaded and s.kv_host_per_token > 0:
        host = host_of(system)
        free = host.capacity * HOST_MEMORY_UTILIZATION - s.weights_host
        conc = min(conc, max(free, 0.0) / (kv_tokens_per_seq * s.kv_host_per_token))
    return conc


def max_concurrency(model: ModelSpec, system: System, plan: Plan, q: Quant, s, isl: int, osl: int) -> float:
    """Sequences per replica at the largest batch that fits device and (for offloaded KV) host
    memory under continuous batching (each sequence at isl + osl / 2 tokens on average)."""
    return sequences_that_fit(system, plan, s, kv_tokens_per_seq=isl + osl / 2, act_tokens_per_seq=(isl + osl - 1) / osl)


def host_bounds(model: ModelSpec, system: System, plan: Plan, q: Quant, s, isl: int, osl: int, conc: float):
    """Bounds on the host link, CPU DRAM bandwidth, host capacity (MoE-Lens stage 1) and CPU
    compute, total tokens/s per device (None where the plan puts nothing on the host)."""

    names = ("host_link", "cpu_memory_bandwidth", "cpu_memory_capacity", "cpu_compute")
    if not plan.offloaded:
        return [limits.Bound(n, None, {"note": "nothing offloaded"}) for n in names]
    if conc <= 0:
        return [limits.Bound(n, 0.0, {"note": "nothing fits"}) for n in names]
    host = host_of(system)
    p, g = isl, osl
    dpr = plan.tp * plan.pp
    reads = (g - 1) * (p + g / 2)                       # KV tokens one request's decode steps read
    cpu_reads = 0.0                                     # ... that a sparse method's CPU attends over
    if plan.sparse_kv:  # only the selected tokens not cached on the device; context >= p every step
        reads = (g - 1) * sparse.fetched_tokens(plan, p)
        cpu_reads = (g - 1) * sparse.cpu_attended_tokens(plan, p)
    w_pass = limits.weights_read_per_pass(model, plan, s, conc * (p + g - 1) / g)
    streamed = plan.weights_offload * w_pass            # bytes over the link per pass
    layers = model.num_layers / plan.pp
    act = plan.activations_offload * (p + g - 1) * model.hidden_size * 2.0 * layers  # per request, each way
    kv_link = 0.0 if plan.attention_on_cpu else s.kv_host_per_token * reads
    link_s = (g * streamed / conc + kv_link + act) / host.link_rate
    dram_s = (g * streamed / conc + s.kv_host_per_token * (reads + cpu_reads) + act) / host.mem_rate
    out = [
        limits.Bound("host_link", (p + g) / link_s / dpr if link_s > 0 else None,
                {"link_gb_s": host.link_rate / 1e9, "streamed_gb_per_pass": streamed / 1e9}),
        limits.Bound("cpu_memory_bandwidth", (p + g) / dram_s / dpr if dram_s > 0 else None,
                {"dram_gb_s": host.mem_rate / 1e9, "note": "MoE-Lens eq. 5: B_mem = B_KV + B_IO"}),
    ]
    if s.kv_host_per_token > 0:
        free = host.capacity * HOST_MEMORY_UTILIZATION - s.weights_host
        b_host = max(free, 0.0) / ((p + g / 2) * s.kv_host_per_token)
        bw = system.device.memory_bw_gb_s * 1e9 * system.device.mem_bw_efficiency
        delta = max(streamed / host.link_rate, w_pass / bw)
        out.append(limits.Bound("cpu_memory_capacity", (p + g) * b_host / (g * delta) / dpr,
                           {"host_kv_capacity_tokens": b_host * (p + g / 2), "delta_ms": delta * 1e3,
                            "pme": limits.pme(p, g), "note": "MoE-Lens stage 1: PME x M_host / delta"}))
    else:
        out.append(limits.Bound("cpu_memory_capacity", None, {"note": "no KV in host memory"}))
    if plan.attention_on_cpu or cpu_reads:
        qk, v = limits.attn_dims(model)
        attended = cpu_reads if cpu_reads else reads * plan.kv_offload
        flops = 2.0 * attended * model.num_heads / plan.tp * (qk + v) * layers
        out.append(limits.Bound("cpu_compute", (p + g) / (flops / host.flops) / dpr if flops > 0 else None,
                           {"cpu_tflops": host.flops / 1e12}))
    else:
        out.append(limits.Bound("cpu_compute", None, {"note": "attention on the GPU"}))
    return out


# ------------------------------------------------------------------------------------------
# Step time with placement
# ------------------------------------------------------------------------------------------
def placed_sizes(model: ModelSpec, system: System, plan: Plan, *, context_tokens=None):
    """`perfmodel.limits.Sizes` of the plan with its placement, KV bytes per token at sequences of
    `context_tokens` tokens (None: `perfmodel.memory.reference_context`): recurrent state and
    windowed KV per token depend on it."""
    q = get_quant(plan.quant).with_kv(plan.kv_dtype)
    return effective_sizes(model, system, plan, q, limits.plan_sizes(model, system, plan, q, context_tokens=context_tokens))


def _plan_sizes(sm):
    """Sizes at the context the step model's memory assumes (StepModel.build's context_tokens)."""
    return placed_sizes(sm.model, sm.system, sm.plan, context_tokens=sm.memory.kv_reference_tokens or None)


def step_parts(sm, micro: BatchShape) -> dict[str, float]:
    """Seconds of one pipeline stage for one micro-batch, per resource: gpu (on-device work, with
    nano-batch overlap when the plan asks for it), h2d, d2h (host link each way), cpu (CPU
    attention) and dram (CPU memory traffic)."""

    plan, model = sm.plan, sm.model
    kf = plan.kv_offload
    gpu_batch = micro
    if plan.attention_on_cpu:  # the GPU attends over the device part of the context only
        gpu_batch = dataclasses.replace(micro, decode_context=micro.decode_context * (1 - kf))
    sparse_gpu = decode_fetch = cpu_attended = 0.0
    if plan.sparse_kv and micro.decode_seqs > 0:  # sparse decode attention replaces the dense one
        gpu_batch = dataclasses.replace(micro, decode_context=0)
        context = micro.decode_context / micro.decode_seqs
        sparse_gpu = sparse.decode_attention(model, sm.system, sm.quant, plan, seqs=micro.decode_seqs,
                                             context=context).parts["gpu"]
        decode_fetch = micro.decode_seqs * sparse.fetched_tokens(plan, context)
        cpu_attended = micro.decode_seqs * sparse.cpu_attended_tokens(plan, context)  # A2ATS: on the host CPU
    parts = {"gpu": overlap.stage_time(sm, gpu_batch) + sparse_gpu}
    if not plan.offloaded:
        return parts
    s = _plan_sizes(sm)
    host = host_of(sm.system)
    layers = -(-model.num_layers // plan.pp)
    streamed = plan.weights_offload * limits.weights_read_per_pass(model, plan, s, micro.tokens)
    # KV tokens read back from the host: decode's whole host context (on the CPU or over the link)
    # and the earlier chunks of chunked prefills; with sparse KV only the selected decode tokens
    # (a prefilling sequence keeps its KV on the device until its prompt is done, as ShadowKV's
    # whole-prompt prefill does, and then offloads it; assumed: that transient KV is not reserved
    # in the capacity, which holds for ShadowKV's layer-by-layer prefill of one prompt)
    prefill_fetch = 0.0 if plan.sparse_kv else micro.prefill_kv_read
    if not plan.sparse_kv:
        decode_fetch = micro.decode_context
    ctx_host = (decode_fetch + prefill_fetch) * s.kv_host_per_token
    new_kv = micro.tokens * s.kv_host_per_token                    # written to host each step
    act = plan.activations_offload * micro.tokens * model.hidden_size * 2.0 * layers
    h2d = streamed + act + (0.0 if plan.attention_on_cpu else decode_fetch * s.kv_host_per_token) \
        + prefill_fetch * s.kv_host_per_token
    d2h = new_kv + act
    cpu = dram = 0.0
    qk, v = limits.attn_dims(model)
    heads = model.num_heads / plan.tp
    if plan.attention_on_cpu:
        # QKV of decoding tokens go down, attention outputs come back (CGOPipe D1/D2)
        d2h += micro.decode_seqs * heads * (qk + 2 * v) * 2.0 * layers
        h2d += micro.decode_seqs * heads * v * 2.0 * layers
        flops = 2.0 * micro.decode_context * kf * heads * (qk + v) * layers
        cpu = max(micro.decode_context * s.kv_host_per_token / host.mem_rate, flops / host.flops) \
            + host.cpu.kernel_overhead_us * 1e-6 * layers
    if cpu_attended:  # A2ATS: queries go down (new K and V are in new_kv), attention outputs come back
        d2h += micro.decode_seqs * heads * qk * 2.0 * layers
        h2d += micro.decode_seqs * heads * v * 2.0 * layers
        ctx_host += cpu_attended * s.kv_host_per_token             # the CPU reads the selected K and V
        flops = 2.0 * cpu_attended * heads * (qk + v) * layers
        cpu = max(cpu_attended * s.kv_host_per_token / host.mem_rate, flops / host.flops) \
            + host.cpu.kernel_overhead_us * 1e-6 * layers
    dram = (streamed + ctx_host + new_kv + act) / host.mem_rate
    parts.update(h2d=h2d / host.link_rate, d2h=d2h / host.link_rate, cpu=cpu, dram=dram)
    return parts


def iteration_time(sm, batch: BatchShape, *, cold: bool = False) -> float:
    """`StepModel.iteration_time_s` / `cold_time_s` for plans with nano-batches or offload:
    pp x (slowest resource of one stage of one micro-batch), (2 pp - 1) x for a cold pipeline."""

    pp = sm.plan.pp
    micro = batch if pp == 1 else scale_batch(batch, 1.0 / pp)
    stage = max(step_parts(sm, micro).values())
    return stage * ((2 * pp - 1) if cold else pp)


def kv_bytes_per_token(sm) -> tuple[float, float]:
    """KV bytes per token of one device of the plan kept in (device, host) memory."""
    s = _plan_sizes(sm)
    return s.kv_capacity_per_token, s.kv_host_per_token


def kv_capacity_tokens(sm) -> float:
    """KV tokens a replica holds with the plan's placement (device and host limits)."""
    plan, mem = sm.plan, sm.memory
    s = _plan_sizes(sm)
    weights_dev = mem.weights_gb * 1e9 * (1 - plan.weights_offload) + staging_bytes(sm.model, plan, mem.weights_gb * 1e9)
    free = mem.capacity_gb * 1e9 - weights_dev - mem.activations_gb * 1e9 * (1 - plan.activations_offload) \
        - mem.reserved_gb * 1e9
    dev = max(free, 0.0) / s.kv_capacity_per_token if s.kv_capacity_per_token > 0 else float("inf")
    if s.kv_host_per_token > 0:
        host = host_of(sm.system)
        dev = min(dev, max(host.capacity * HOST_MEMORY_UTILIZATION - s.weights_host, 0.0) / s.kv_host_per_token)
    return dev
