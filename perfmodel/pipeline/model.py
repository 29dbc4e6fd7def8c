"""Latency and throughput of a vision pipeline on one GPU and its host CPU.

Each stage is priced for one batch from first principles and the catalog: CPU stages in core
cycles per pixel (perfmodel.pipeline.constants) at the host's base clock, one core per image,
bounded by the socket's memory bandwidth; GPU stages through the operator roofline (perfmodel.ops);
copies over the device's host link; hand-offs between DNNs through a broker's measured latency and
throughput. A batch's latency is the sum of its stages. Pipelined, the stages on one resource (the
CPU cores, the GPU, each PCIe direction, the broker) share it, so throughput is the batch size over
the busiest resource's time per batch, and that resource is the bottleneck.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from perfmodel import ops
from perfmodel.errors import PerfModelError
from perfmodel.hardware.catalog import System
from perfmodel.hardware.schema import Device
from perfmodel.pipeline import constants as k
from perfmodel.pipeline.spec import Pipeline, Stage
from perfmodel.pipeline.vision_models import VisionModel, get_vision_model
from perfmodel.quant import get_quant

DNN_QUANT = "fp16"   # TensorRT FP16 engines, the usual vision serving precision


@dataclass(frozen=True)
class StageCost:
    stage: str
    resource: str        # cpu | gpu | pcie h2d | pcie d2h | broker
    latency_s: float     # time the batch spends in this stage
    busy_s: float        # time the resource is held per batch (core-seconds / cores for the CPU)
    detail: str


@dataclass(frozen=True)
class _Host:
    cpu: Device
    cores: int
    clock_hz: float
    mem_rate_b_s: float


def host_of(system: System, cpu_cores: int | None) -> _Host:
    cpu = system.host_cpu
    if cpu is None or cpu.clock_ghz is None:
        raise PerfModelError(f"hardware {system.id!r} names no host CPU with a clock (node.host_cpu); "
                             "CPU stages need one: pick a node id such as dgx-a100 or l40s-8gpu")
    most = cpu.compute_units * system.node.cpu_sockets
    cores = cpu_cores or cpu.compute_units
    if cores > most:
        raise PerfModelError(f"--cpu-cores {cores} exceeds the {most} cores of {system.node.id!r} "
                             f"({system.node.cpu_sockets} x {cpu.id})")
    sockets = math.ceil(cores / cpu.compute_units)
    return _Host(cpu, cores, cpu.clock_ghz * 1e9, cpu.memory_bw_gb_s * 1e9 * cpu.mem_bw_efficiency * sockets)


def _cpu(name: str, host: _Host, batch: int, cycles_per_image: float, bytes_per_image: float) -> StageCost:
    """One core per image; the batch's images spread over the cores (waves of `cores` images)."""
    t_image = cycles_per_image / host.clock_hz
    t_mem = batch * bytes_per_image / host.mem_rate_b_s
    latency = max(math.ceil(batch / host.cores) * t_image, t_mem)
    busy = max(batch * t_image / host.cores, t_mem)
    return StageCost(name, "cpu", latency, busy, f"{cycles_per_image / 1e6:.2f} M cycles/image on {host.cpu.id}")


def _gpu(name: str, cost: ops.OpCost, extra: str = "") -> StageCost:
    t = cost.total_s
    return StageCost(name, "gpu", t, t, f"{cost.bound}-bound{extra}")


def _copy(name: str, system: System, nbytes: float, direction: str) -> StageCost:
    link = system.device.host_link
    if link is None:
        raise PerfModelError(f"device {system.device.id!r} has no host_link: {name} needs its PCIe bandwidth")
    t_bw = nbytes / (link.bw_per_direction_gb_s * 1e9 * link.efficiency)
    return StageCost(name, f"pcie {direction}", t_bw + link.latency_us * 1e-6, t_bw,
                     f"{nbytes / 1e6:.2f} MB over {link.name}")


def dnn_cost(model: VisionModel, dev: Device, batch: int) -> ops.OpCost:
    """The forward pass of a batch as one summed OpCost of implicit-GEMM layers (perfmodel.ops.gemm)."""
    q = get_quant(DNN_QUANT)
    total = ops.OpCost(model.id, "gemm")
    for layer in model.layers():
        c = ops.gemm(layer.name, layer.m_per_image * (1 if layer.groups_per_image > 1 else batch), layer.n,
                     layer.k, dev, q, groups=layer.groups_per_image * (batch if layer.groups_per_image > 1 else 1),
                     weight_quantized=layer.weights)
        moved = c.weight_bytes + c.act_bytes
        if not layer.weights:       # both operands are activations: their bytes are not weights
            c.act_bytes += c.weight_bytes
            c.weight_bytes = 0.0
        if layer.input_per_image:   # implicit GEMM: the input map once instead of the unrolled M x K
            c.act_bytes += (layer.input_per_image - layer.m_per_image * layer.k) * batch * q.act_bytes
        c.t_memory *= (c.weight_bytes + c.act_bytes) / moved
        for part in ("flops", "weight_bytes", "act_bytes", "t_compute", "t_memory", "t_overhead"):
            setattr(total, part, getattr(total, part) + getattr(c, part))
    return total


def huffman_on_host(stage: Stage, pixels: int) -> bool:
    """Where decode@gpu entropy-decodes: as asked, or (auto) as DALI's mixed decoder does, on the host
    CPU up to its hybrid threshold and on the GPU above it."""
    if stage.huffman in ("host", "gpu"):
        return stage.huffman == "host"
    return pixels <= k.HYBRID_HUFFMAN_THRESHOLD_PX


def _gpu_decode(label: str, system: System, host: _Host | None, batch: int, pixels: int,
                on_host: bool) -> list[StageCost]:
    """nvJPEG through DALI: IDCT and colour conversion on the GPU; Huffman decoding on the host (one
    core per image) or on the GPU."""
    huffman_cycles = pixels * k.JPEG_DECODE_CYCLES_PER_PIXEL * k.HUFFMAN_FRACTION_OF_DECODE
    flops = k.JPEG_GPU_FLOP_PER_PIXEL + (0.0 if on_host else huffman_cycles / pixels)
    cost = ops.elementwise(label, batch * pixels, system.device, reads=k.JPEG_BITS_PER_PIXEL / 8 / 3, writes=1.0,
                           bytes_per_el=3.0, flops_per_el=flops, kernels=k.NVJPEG_KERNELS_PER_BATCH)
    gpu = _gpu(label, cost, ", Huffman on the host" if on_host else ", Huffman on the GPU")
    if not on_host:
        return [gpu]
    cpu = _cpu(f"{label} huffman", host, batch, huffman_cycles, pixels * k.JPEG_BITS_PER_PIXEL / 8)
    coefficients = _copy(f"{label} coefficients", system, batch * pixels * k.DCT_COEFFICIENT_BYTES_PER_PIXEL, "h2d")
    return [cpu, coefficients, gpu]


def _stage_cost(stage: Stage, p: Pipeline, system: System, host: _Host | None, state: dict) -> StageCost | list[StageCost]:
    """Price one stage for the batch and update `state` (bytes per image, pixel counts)."""
    b, label = p.batch_size, stage.label
    src_px = p.width_px * p.height_px
    if stage.kind == "decode":
        state["bytes"] = src_px * 3
        if stage.on == "cpu":
            return _cpu(label, host, b, src_px * k.JPEG_DECODE_CYCLES_PER_PIXEL, src_px * (k.JPEG_BITS_PER_PIXEL / 8 + 3))
        return _gpu_decode(label, system, host, b, src_px, huffman_on_host(stage, src_px))
    if stage.kind == "resize":
        dst_px = state["model"].input_px ** 2
        state["bytes"] = dst_px * 3
        if stage.on == "cpu":
            return _cpu(label, host, b, src_px * k.RESIZE_CYCLES_PER_SOURCE_PIXEL, (src_px + dst_px) * 3)
        cost = ops.elementwise(label, b * dst_px * 3, system.device, reads=src_px / dst_px, writes=1.0,
                               bytes_per_el=1.0, flops_per_el=k.RESIZE_GPU_FLOP_PER_OUTPUT)
        return _gpu(label, cost)
    if stage.kind == "normalize":
        elements = state["bytes"]                     # uint8 values in
        state["bytes"] = elements * p.tensor_bytes
        if stage.on == "cpu":
            return _cpu(label, host, b, elements * k.NORMALIZE_CYCLES_PER_ELEMENT, elements * (1 + p.tensor_bytes))
        cost = ops.elementwise(label, b * elements, system.device, reads=1 / p.tensor_bytes, writes=1.0,
                               bytes_per_el=p.tensor_bytes, flops_per_el=k.NORMALIZE_GPU_FLOP_PER_ELEMENT)
        return _gpu(label, cost)
    if stage.kind == "dnn":
        model = get_vision_model(stage.model or p.model)
        state["bytes"] = model.outputs * 4
        dev = system.device if stage.on == "gpu" else host.cpu
        cost = dnn_cost(model, dev, b)
        gflop = cost.flops / b / 1e9
        if stage.on == "gpu":
            return _gpu(label, cost, f", {gflop:.2f} GFLOP/image")
        t = cost.total_s * host.cpu.compute_units / host.cores   # the CPU device's peak is one socket's cores
        return StageCost(label, "cpu", t, t, f"{cost.bound}-bound, {gflop:.2f} GFLOP/image on {host.cores} cores")
    if stage.kind == "postprocess":
        logits = state["bytes"] / 4
        if stage.on == "cpu":
            cost = _cpu(label, host, b, logits * k.SOFTMAX_TOPK_CYCLES_PER_LOGIT, state["bytes"])
            over = host.cpu.kernel_overhead_us * 1e-6
            return StageCost(label, "cpu", cost.latency_s + over, cost.busy_s + over / host.cores, cost.detail)
        return _gpu(label, ops.elementwise(label, b * logits, system.device, bytes_per_el=4.0,
                                           flops_per_el=k.SOFTMAX_TOPK_CYCLES_PER_LOGIT))
    if stage.kind in ("h2d", "d2h"):
        if stage.kind == "h2d" and state["form"] == "jpeg":
            nbytes = src_px * k.JPEG_BITS_PER_PIXEL / 8
        else:
            nbytes = state["bytes"]
        return _copy(label, system, b * nbytes, "h2d" if stage.kind == "h2d" else "d2h")
    broker = k.BROKERS[stage.broker]
    nbytes = b * state["bytes"]
    t_bw = nbytes / (broker["throughput_mb_s"] * 1e6)
    return StageCost(label, "broker", broker["latency_ms"] * 1e-3 + t_bw, t_bw,
                     f"{stage.broker}: {broker['latency_ms']} ms hand-off, {broker['throughput_mb_s']:.0f} MB/s")


def evaluate(pipeline: Pipeline, system: System) -> dict:
    """Per-stage latency and share, end-to-end latency of a batch, pipelined images/s and the
    bottleneck resource and stage."""
    pixels = pipeline.width_px * pipeline.height_px
    needs_host = any(s.on == "cpu" or (s.kind == "decode" and huffman_on_host(s, pixels)) for s in pipeline.stages)
    host = host_of(system, pipeline.cpu_cores) if needs_host else None
    state = {"bytes": 0.0, "form": "jpeg", "model": get_vision_model(pipeline.model)}
    costs, dnn = [], 0.0
    for i, stage in enumerate(pipeline.stages):
        if stage.kind == "resize":   # resize targets the input size of the next DNN
            nxt = next(s for s in pipeline.stages[i:] if s.kind == "dnn")
            state["model"] = get_vision_model(nxt.model or pipeline.model)
        priced = _stage_cost(stage, pipeline, system, host, state)
        priced = priced if isinstance(priced, list) else [priced]
        costs += priced
        if stage.kind == "dnn":
            dnn += sum(c.latency_s for c in priced)
        if stage.kind not in ("h2d", "d2h"):
            state["form"] = "data"
    total = sum(c.latency_s for c in costs)
    busy: dict[str, float] = {}
    for c in costs:
        busy[c.resource] = busy.get(c.resource, 0.0) + c.busy_s
    resource = max(busy, key=busy.get)
    stage = max((c for c in costs if c.resource == resource), key=lambda c: c.busy_s)
    return {
        "hardware": system.id, "host_cpu": host.cpu.id if host else None, "cpu_cores": host.cores if host else None,
        "model": pipeline.model, "image_px": [pipeline.width_px, pipeline.height_px],
        "batch_size": pipeline.batch_size,
        "stages": [{**asdict(c), "latency_ms": c.latency_s * 1e3, "fraction": c.latency_s / total} for c in costs],
        "latency_ms": total * 1e3,
        "outside_dnn_fraction": 1 - dnn / total,
        "throughput_img_s": pipeline.batch_size / busy[resource],
        "resource_busy_ms": {r: t * 1e3 for r, t in busy.items()},
        "bottleneck": {"resource": resource, "stage": stage.stage},
    }
