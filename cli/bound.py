"""`perfmodel bound`: per-resource throughput bounds, NanoFlow's optimum and classification, and
the plan's predicted throughput as a fraction of the optimum."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import HardwareOpt, JsonOpt, ModelOpt, console, print_json, table
from perfmodel.cli.estimate import (ActOffloadOpt, CalOpt, DevicesOpt, DpOpt, EpOpt, KvAttentionOpt, KvOffloadOpt,
                                    KvOpt, MemUtilOpt, NanoOpt, NanoSplitOpt, PpOpt, QuantOpt, TpOpt, WeightsOffloadOpt,
                                    kv_attention_fields, parse_fixed_workload, parse_split, replicas)
from perfmodel.errors import PerfModelError
from perfmodel.plan import Plan

WorkloadOpt = Annotated[str, typer.Option("--workload", "-w", help="fixed:ISL:OSL or ISL/OSL (every request has "
                                          "these lengths).")]


def run_bound(*, model: str, hardware: str, isl: int, osl: int, plan_kwargs: dict, batch_size: int | None = None,
              calibration: str | None = None) -> dict:
    """Everything `perfmodel bound --json` prints (a plain dict)."""
    from perfmodel import bounds as B
    from perfmodel.errors import pydantic_message
    from perfmodel.plan import Plan
    from perfmodel.resolve import resolve_model, resolve_system

    spec = resolve_model(model)
    system = resolve_system(hardware, calibration=calibration)
    try:
        plan = Plan(**{**plan_kwargs, "quant": plan_kwargs.get("quant") or spec.quant or "bf16"})
    except PerfModelError:
        raise
    except Exception as exc:  # pydantic bounds and validators
        raise PerfModelError(pydantic_message(exc, source="plan")) from None
    b = B.compute_bounds(model=spec, system=system, plan=plan, isl=isl, osl=osl)
    pred = B.predict(model=spec, system=system, plan=plan, isl=isl, osl=osl, concurrency=batch_size, bounds=b)
    B.assert_within(b, pred.tok_s_per_device, tokens="total", what="predicted throughput")
    doc = b.to_dict()
    doc.update({
        "predicted_tok_s_per_device": pred.tok_s_per_device,
        "predicted_output_tok_s_per_device": pred.output_tok_s_per_device,
        "fraction_of_optimal": pred.tok_s_per_device / b.optimal_tok_s_per_device,
        "fraction_of_bound": pred.tok_s_per_device / b.limit_tok_s_per_device,
        "prediction": pred.to_dict(),
        "within_bounds": True,
    })
    if plan.nano_batches > 1:
        from perfmodel import overlap
        from perfmodel.stepmodel import StepModel

        sm = StepModel.build(model=spec, system=system, plan=plan, max_tokens=int(pred.batch.tokens) + 1)
        doc["overlap"] = overlap.overlap(sm, pred.batch).to_dict()
    return doc


def register(app: typer.Typer) -> None:
    @app.command()
    def bound(
        model: ModelOpt,
        hardware: HardwareOpt,
        workload: WorkloadOpt = "fixed:1024:512",
        devices: DevicesOpt = None,
        tp: TpOpt = 1, pp: PpOpt = 1, ep: EpOpt = 1, dp: DpOpt = None,
        quant: QuantOpt = None, kv_dtype: KvOpt = None, nano_batches: NanoOpt = 1,
        nano_split: NanoSplitOpt = None,
        weights_offload: WeightsOffloadOpt = 0.0, kv_offload: KvOffloadOpt = 0.0, activations_offload: ActOffloadOpt = 0.0,
        kv_attention: KvAttentionOpt = "gpu", memory_utilization: MemUtilOpt = None,
        batch_size: Annotated[Optional[int], typer.Option("--batch-size", "-b", help="Sequences in flight per replica (default: the most that fit).")] = None,
        calibration: CalOpt = None,
        plot: Annotated[Optional[str], typer.Option("--plot", help="Write roofline, bounds and nano-batch Gantt charts to this file (png/pdf/svg).")] = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Per-resource throughput bounds, NanoFlow's optimum, and the plan's fraction of it."""
        isl, osl = parse_fixed_workload(workload)
        dp = replicas(devices=devices, tp=tp, pp=pp, dp=dp)
        split = parse_split(nano_split)
        if split is not None:
            nano_batches = len(split)
        kwargs = dict(tp=tp, pp=pp, ep=ep, dp=dp, quant=quant, kv_dtype=kv_dtype, nano_batches=nano_batches,
                      nano_split=split, weights_offload=weights_offload, kv_offload=kv_offload,
                      activations_offload=activations_offload, **kv_attention_fields(kv_attention))
        if memory_utilization is not None:
            kwargs["memory_utilization"] = memory_utilization
        from perfmodel.common.outpath import atomic_file, out_file

        target = out_file("--plot", plot, suffixes=(".png", ".pdf", ".svg")) if plot is not None else None
        doc = run_bound(model=model, hardware=hardware, isl=isl, osl=osl, plan_kwargs=kwargs, batch_size=batch_size,
                        calibration=calibration)
        if target is not None:
            from perfmodel.plots import bound_figure

            with atomic_file(target) as tmp:
                bound_figure(doc, model=model, hardware=hardware, path=str(tmp), calibration=calibration)
        if json_out:
            print_json(doc)
        else:
            _render(doc)


def _render(doc: dict) -> None:
    cls = doc["classification"]
    rows = [
        ["plan", f"{doc['model']} on {doc['hardware']}, {Plan(**doc['plan']).describe()}, "
                 f"isl {doc['isl']} / osl {doc['osl']}"],
        ["optimal (NanoFlow eq. 5) tok/s/device", doc["optimal_tok_s_per_device"]],
        ["GEMM TFLOPS at 2048-token batch", doc["gemm_tflops_at_dense_batch"]],
        ["predicted tok/s/device", doc["predicted_tok_s_per_device"]],
        ["fraction of optimal", f"{doc['fraction_of_optimal']:.1%}"],
        ["binding resource", doc["binding"]],
        ["T_R / T_net/T_comp (regime)", f"{cls['T_R']:.3f} / {cls['T_net/T_comp']:.3f} ({cls['regime']})"],
        ["dense batch at max memory (tokens)", cls["dense_batch_tokens"]],
    ]
    if "overlap" in doc:
        ov = doc["overlap"]
        rows.append(["nano-batch overlap gain", f"{ov['gain']:.3f}x (overhead {ov['overhead_ms']:.2f} ms)"])
    console.print(table("bounds (tokens = prefill + decode, per device)", ["", ""], rows))
    brows = [[k, v, doc["bounds_output"][k]] for k, v in doc["bounds"].items() if v is not None]
    console.print(table("per-resource bounds", ["resource", "tok/s/device", "output tok/s/device"], brows))
