"""Nano-batch overlap on one GPU with CUDA streams (NanoFlow, Zhu et al.: split a batch into
nano-batches so one nano-batch's compute-bound GEMMs run beside another's memory-bound attention).

The executor runs a decode step for the whole batch, then the same batch as `n` nano-batches, one
per CUDA stream, launched back to back, and a single nano-batch (x n = no overlap). The
prediction is the cost model's own overlap model (`StepModel` with `Plan(nano_batches=n)`, i.e.
`perfmodel.overlap`), bracketed by two bounds from the cost model's per-operator parts
(`overlap_bounds`): no overlap (nano-batches one after another) and ideal overlap (the busiest
resource's total).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from perfmodel.hardware.catalog import System
from perfmodel.hardware.schema import Device
from perfmodel.executor._torch import require_torch
from perfmodel.executor.synthetic import SyntheticModel
from perfmodel.executor.timing import Timing
from perfmodel.iteration import BatchShape
from perfmodel.ops import OpCost
from perfmodel.plan import Plan
from perfmodel.stepmodel import StepModel
from perfmodel.specs.model import ModelSpec


def overlap_bounds(nano_ops: list[list[OpCost]]) -> dict[str, float]:
    """No-overlap and ideal-overlap times (seconds) of nano-batches given the cost model's ops.

    no overlap: the sum of every operator's time; ideal: each resource busy all the time, so the
    step lasts as long as the busiest resource's total (compute, memory or network), plus the
    fixed per-kernel overheads of one nano-batch (launches on different streams overlap too).
    """
    sequential = sum(float(op.total_s) for ops in nano_ops for op in ops)
    comp = sum(float(op.t_compute) * op.count for ops in nano_ops for op in ops)
    mem = sum(float(op.t_memory) * op.count for ops in nano_ops for op in ops)
    net = sum(float(op.t_comm) * op.count for ops in nano_ops for op in ops)
    overhead = max((sum(float(op.t_overhead) * op.count for op in ops) for ops in nano_ops), default=0.0)
    return {"sequential_s": sequential, "ideal_s": max(comp, mem, net) + overhead}


def _time_cuda(fn: Any, *, warmup: int, repeats: int) -> Timing:
    torch = require_torch()
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(begin.elapsed_time(end) / 1e3)
    return Timing.of(samples)


def nano_batch_overlap(spec: ModelSpec, *, quant: str, calibrated: Device, system: System, batch: int = 64,
                       context: int = 2048, nano: int = 2, warmup: int = 3, repeats: int = 10) -> dict:
    """Measured decode step of `batch` sequences: whole, and as `nano` nano-batches on `nano`
    streams; with the cost model's whole-batch prediction and the two overlap bounds."""
    torch = require_torch()
    if batch % nano:
        raise ValueError(f"batch % nano == 0 must hold, got ({batch}, {nano})")
    model = SyntheticModel(spec, backend="cuda", quant=quant, max_batch=batch, max_context=context)
    nb = batch // nano
    streams = [torch.cuda.Stream() for _ in range(nano)]
    main = torch.cuda.current_stream()

    def whole() -> None:
        model.decode(batch, context)

    def split() -> None:
        for i, s in enumerate(streams):
            s.wait_stream(main)
            with torch.cuda.stream(s):
                model.decode(nb, context, first=i * nb)
        for s in streams:
            main.wait_stream(s)

    def one_nano() -> None:
        model.decode(nb, context)

    t_whole = _time_cuda(whole, warmup=warmup, repeats=repeats)
    t_split = _time_cuda(split, warmup=warmup, repeats=repeats)
    t_nano = _time_cuda(one_nano, warmup=warmup, repeats=repeats)
    del model
    cal_system = dataclasses.replace(system, device=calibrated)
    sm = StepModel.build(model=spec, system=cal_system, plan=Plan(quant=quant))
    overlapped = StepModel.build(model=spec, system=cal_system, plan=Plan(quant=quant, nano_batches=nano))
    nano_ops = [sm.ops(BatchShape.decode(nb, context)) for _ in range(nano)]
    bounds = overlap_bounds(nano_ops)
    measured_seq = nano * t_nano.median_s
    gain = measured_seq - t_split.median_s
    room = bounds["sequential_s"] - bounds["ideal_s"]
    return {
        "batch": batch, "context": context, "nano_batches": nano,
        "whole_ms": t_whole.median_s * 1e3, "measured_ms": t_split.median_s * 1e3, "spread": t_split.spread,
        "sequential_ms": measured_seq * 1e3,
        "predicted_ms": overlapped.iteration_time_s(BatchShape.decode(batch, context)) * 1e3,
        "predicted_whole_ms": sm.iteration_time_s(BatchShape.decode(batch, context)) * 1e3,
        "ape": abs(overlapped.iteration_time_s(BatchShape.decode(batch, context)) - t_split.median_s)
        / t_split.median_s * 100,
        "predicted_no_overlap_ms": bounds["sequential_s"] * 1e3,
        "predicted_ideal_overlap_ms": bounds["ideal_s"] * 1e3,
        "measured_overlap_fraction": gain / measured_seq if measured_seq > 0 else 0.0,
        "predicted_max_overlap_fraction": room / bounds["sequential_s"] if bounds["sequential_s"] > 0 else 0.0,
    }
