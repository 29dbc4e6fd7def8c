"""The cost model's predictions for what the executor measured, for any candidate `Device`.

Nothing here re-derives a formula: microbenchmarks map onto the operator functions of
`perfmodel.ops` with the shapes that ran, grid points onto `StepModel` for the (reduced) spec.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from perfmodel.hardware.catalog import System
from perfmodel.hardware.schema import Device
from perfmodel import ops as O
from perfmodel.calibration import Sample
from perfmodel.executor.microbench import Micro
from perfmodel.executor.run import GridPoint, StepMeasurement
from perfmodel.plan import Plan
from perfmodel.quant import Quant, get_quant
from perfmodel.stepmodel import StepModel
from perfmodel.specs.model import ModelSpec

# Microbenchmarks predicted by a single operator function (host copies and all-reduce are
# fitted in closed form on their links instead, see `link_overrides`).
# Messages at least this large measure a link's bandwidth (smaller ones its latency).
LINK_BANDWIDTH_BYTES = 32 * 2**20
MICRO_KINDS = ("gemm", "attn_prefill", "attn_decode", "copy", "small_op")


def micro_cost(micro: Micro, dev: Device, q: Quant) -> O.OpCost | None:
    """The operator the cost model would charge for one microbenchmark."""
    p = micro.params
    if micro.kind == "gemm":
        return O.gemm("gemm", p["m"], p["n"], p["k"], dev, q)
    if micro.kind == "attn_prefill":
        b, s, d, kvh = p["batch"], p["seq"], p["head_dim"], p["kv_heads"]
        pairs = b * s * (s + 1) / 2
        return O.attention_prefill("attn_prefill", pairs, b * s, 0, p["heads"], d, d, 2 * kvh * d, dev, q)
    if micro.kind == "attn_decode":
        b, c, d, kvh = p["batch"], p["context"], p["head_dim"], p["kv_heads"]
        return O.attention_decode("attn_decode", b, b * c, p["heads"], d, d, 2 * kvh * d, dev, q)
    if micro.kind in ("copy", "small_op"):
        return O.elementwise(micro.kind, p["elements"], dev, reads=1, writes=1, bytes_per_el=p["bytes_per_el"],
                             flops_per_el=1)
    return None


def micro_samples(micros: list[Micro], q: Quant) -> list[Sample]:
    out = []
    for m in micros:
        if m.kind in MICRO_KINDS:
            out.append(Sample(f"{m.kind} {m.label} {m.params}", m.timing.median_s,
                              lambda dev, m=m: micro_cost(m, dev, q).time_s, group="micro"))  # type: ignore[union-attr]
    return out


class StepPredictor:
    """Step and per-operator predictions of `spec` under `plan` on `system` with any device."""

    def __init__(self, spec: ModelSpec, system: System, plan: Plan):
        self.spec, self.system, self.plan = spec, system, plan
        self.quant = get_quant(plan.quant).with_kv(plan.kv_dtype)

    def model(self, dev: Device) -> StepModel:
        system = dataclasses.replace(self.system, device=dev)
        return StepModel.build(model=self.spec, system=system, plan=self.plan)

    def step_s(self, dev: Device, point: GridPoint) -> float:
        return self.model(dev).iteration_time_s(point.shape)

    def ops_s(self, dev: Device, point: GridPoint) -> dict[str, float]:
        """Seconds per operator name (all layers) for one grid point."""
        out: dict[str, float] = {}
        for op in self.model(dev).ops(point.shape):
            t = float(op.total_s)
            if t > 0:
                out[op.name] = out.get(op.name, 0.0) + t
        return out

    def step_samples(self, measured: list[StepMeasurement]) -> list[Sample]:
        return [Sample(m.point.label, m.step.median_s, lambda dev, p=m.point: self.step_s(dev, p), group="steps")
                for m in measured]

    def op_samples(self, measured: list[StepMeasurement], *, names: Callable[[str], bool] | None = None) -> list[Sample]:
        """One sample per (grid point, operator the cost model also has)."""
        out = []
        for m in measured:
            predicted = self.ops_s(self.system.device, m.point)
            for name, timing in m.ops.items():
                if name in predicted and (names is None or names(name)):
                    out.append(Sample(f"{m.point.label} {name}", timing.median_s,
                                      lambda dev, p=m.point, n=name: self.ops_s(dev, p).get(n, 0.0), group="ops"))
        return out


def _link_fit(link, points: list[tuple[float, float]], volume: float) -> dict | None:
    """Latency from the smallest message, efficiency from the large ones: time = latency +
    volume * bytes / (bandwidth * efficiency) (the alpha-beta model of `perfmodel.collectives`)."""
    if link is None or not points:
        return None
    points = sorted(points)
    latency_s = points[0][1] if points[0][0] < LINK_BANDWIDTH_BYTES else link.latency_us * 1e-6
    rates = [volume * b / max(t - latency_s, 1e-12) for b, t in points if b >= LINK_BANDWIDTH_BYTES]
    if not rates:
        return None
    rates.sort()
    eff = min(1.0, rates[len(rates) // 2] / (link.bw_per_direction_gb_s * 1e9))
    return {**link.model_dump(exclude_unset=True), "efficiency": round(eff, 4), "latency_us": round(latency_s * 1e6, 3)}


def link_overrides(micros: list[Micro], dev: Device) -> dict:
    """Host link (pinned host-to-device copies) and scale-up link (all-reduce over every GPU,
    NCCL's bus-bandwidth volume 2(n-1)/n) fitted from their microbenchmarks, where measured."""
    out = {}
    h2d = [(m.params["bytes"], m.timing.median_s) for m in micros if m.kind == "h2d"]
    host = _link_fit(dev.host_link, h2d, 1.0)
    if host:
        out["host_link"] = host
    ar = [m for m in micros if m.kind == "all_reduce"]
    if ar:
        n = ar[0].params["devices"]
        scale = _link_fit(dev.scaleup_link, [(m.params["bytes"], m.timing.median_s) for m in ar], 2 * (n - 1) / n)
        if scale:
            out["scaleup_link"] = scale
    return out
