"""`perfmodel estimate`: static-batch TTFT, TPOT, throughput, memory and binding resource."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import HardwareOpt, JsonOpt, ModelOpt, console, err_console, print_json, table
from perfmodel.errors import PerfModelError

TpOpt = Annotated[int, typer.Option("--tp", help="Tensor-parallel degree.")]
PpOpt = Annotated[int, typer.Option("--pp", help="Pipeline-parallel stages.")]
EpOpt = Annotated[int, typer.Option("--ep", help="Expert-parallel degree (MoE).")]
DpOpt = Annotated[int, typer.Option("--dp", help="Data-parallel replicas.")]
QuantOpt = Annotated[Optional[str], typer.Option("--quant", help="bf16, fp8, fp8-block, nvfp4, mxfp4, w4a16-g128, "
                     "w8a8, ... or per component, e.g. bf16+experts=mxfp4 (default: the checkpoint's own, else bf16).")]
KvOpt = Annotated[Optional[str], typer.Option("--kv-dtype", help="KV-cache dtype (default: the scheme's).")]
CalOpt = Annotated[Optional[str], typer.Option("--calibration", help="Calibration profile JSON.")]
NanoOpt = Annotated[int, typer.Option("--nano-batches", help="Nano-batches overlapped within a step.")]
NanoSplitOpt = Annotated[Optional[str], typer.Option("--nano-split", help="Relative nano-batch sizes, e.g. 768,1280 "
                                                     "(sets --nano-batches).")]
WeightsOffloadOpt = Annotated[float, typer.Option("--weights-offload", help="Fraction of weights in host memory, "
                                                 "streamed each pass.")]
KvOffloadOpt = Annotated[float, typer.Option("--kv-offload", help="Fraction of the KV cache in host memory.")]
ActOffloadOpt = Annotated[float, typer.Option("--activations-offload", help="Fraction of activations in host memory.")]
CpuAttnOpt = Annotated[bool, typer.Option("--attention-on-cpu", help="Decode attention over host KV runs on the CPU.")]
SparseKvOpt = Annotated[Optional[str], typer.Option("--sparse-kv", help="Sparse long-context decode over host KV: "
                                                    "shadowkv (low-rank keys on the device) or topk (key codes).")]

SkewOpt = Annotated[float, typer.Option("--routing-skew", help="Zipf exponent of expert popularity (0: uniform "
                                        "routing; the busiest EP rank sets the MoE time).")]
RedundantOpt = Annotated[int, typer.Option("--redundant-experts", help="EPLB redundant expert slots over all EP ranks.")]
TboOpt = Annotated[bool, typer.Option("--tbo", help="Two-batch overlap of communication with computation "
                                      "(SGLang TBO / vLLM DBO).")]
SpecOpt = Annotated[Optional[str], typer.Option("--spec-method", help="Speculative decoding: mtp, eagle3 or ngram.")]
SpecTokensOpt = Annotated[int, typer.Option("--spec-tokens", help="Draft tokens proposed per step.")]
SpecAccOpt = Annotated[Optional[str], typer.Option("--spec-acceptance", help="Per-position acceptance rates, e.g. "
                                                   "0.85,0.7 (default: the method's published rate).")]


def moe_spec_fields(*, routing_skew: float, redundant_experts: int, tbo: bool, spec_method: str | None,
                    spec_tokens: int, spec_acceptance: str | None) -> dict:
    """The issue-12 Plan fields from their CLI options."""
    rates = None
    if spec_acceptance is not None:
        try:
            rates = tuple(float(x) for x in spec_acceptance.split(","))
        except ValueError:
            raise PerfModelError(f"--spec-acceptance {spec_acceptance!r}: expected comma-separated rates, "
                                 f"e.g. 0.85,0.7") from None
    return {"routing_skew": routing_skew, "redundant_experts": redundant_experts, "two_batch_overlap": tbo,
            "spec_method": spec_method, "spec_tokens": spec_tokens, "spec_acceptance": rates}


def parse_split(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise PerfModelError(f"--nano-split {text!r}: expected comma-separated sizes, e.g. 768,1280") from None


def register(app: typer.Typer) -> None:
    @app.command()
    def estimate(
        model: ModelOpt,
        hardware: HardwareOpt,
        batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Sequences per replica.")],
        isl: Annotated[int, typer.Option("--isl", help="Input (prompt) tokens per sequence.")],
        osl: Annotated[int, typer.Option("--osl", help="Output tokens per sequence.")],
        tp: TpOpt = 1, pp: PpOpt = 1, ep: EpOpt = 1, dp: DpOpt = 1,
        quant: QuantOpt = None, kv_dtype: KvOpt = None, nano_batches: NanoOpt = 1, nano_split: NanoSplitOpt = None,
        weights_offload: WeightsOffloadOpt = 0.0, kv_offload: KvOffloadOpt = 0.0, activations_offload: ActOffloadOpt = 0.0,
        attention_on_cpu: CpuAttnOpt = False, sparse_kv: SparseKvOpt = None,
        routing_skew: SkewOpt = 0.0, redundant_experts: RedundantOpt = 0, tbo: TboOpt = False,
        spec_method: SpecOpt = None, spec_tokens: SpecTokensOpt = 1, spec_acceptance: SpecAccOpt = None,
        calibration: CalOpt = None,
        swiftkv: Annotated[Optional[str], typer.Option("--swiftkv", help="SwiftKV transform SKIP_FRACTION[:ACROSS]: "
                                                       "prompt tokens skip that share of the layers (SingleInputKV), "
                                                       "ACROSS skipped layers share one KV (AcrossKV).")] = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Static batch: TTFT (one prefill of batch x isl), TPOT (mean decode step), throughput."""
        from functools import partial

        from perfmodel.estimator import estimate as run

        if swiftkv is not None:
            from perfmodel import swiftkv as skv

            run = partial(skv.estimate, swift=skv.parse(swiftkv))
        r = run(model=model, hardware=hardware, batch_size=batch_size, isl=isl, osl=osl, tp=tp, pp=pp, ep=ep, dp=dp,
                quant=quant, kv_dtype=kv_dtype, nano_batches=nano_batches, nano_split=parse_split(nano_split),
                calibration=calibration, weights_offload=weights_offload, kv_offload=kv_offload,
                activations_offload=activations_offload, attention_on_cpu=attention_on_cpu, sparse_kv=sparse_kv,
                **moe_spec_fields(routing_skew=routing_skew, redundant_experts=redundant_experts, tbo=tbo,
                                  spec_method=spec_method, spec_tokens=spec_tokens, spec_acceptance=spec_acceptance))
        if json_out:
            print_json(r.to_dict())
        else:
            _render(r)
        if not r.fits:
            m = r.memory
            raise PerfModelError(
                f"the plan does not fit: {r.memory_per_device_gb:.1f} GB per device needed "
                f"(weights {m['weights_gb']:.1f}, KV {m['kv_gb']:.1f}, activations {m['activations_gb']:.1f}, "
                f"reserved {m['reserved_gb']:.1f}) but {r.memory_capacity_gb:.1f} GB usable")


def _render(r) -> None:
    summary = [
        ["plan", f"{r.plan.describe()} on {r.plan.devices} x {r.hardware}"],
        ["batch / isl / osl", f"{r.batch_size} / {r.isl} / {r.osl}"],
        ["TTFT (ms)", r.ttft_ms], ["TPOT (ms)", r.tpot_ms], ["tokens per decode step", r.tokens_per_step], ["end-to-end (ms)", r.e2e_ms],
        ["output tokens/s", r.throughput_tok_s], ["output tokens/s per device", r.throughput_tok_s_per_device],
        ["memory per device (GB)", f"{r.memory_per_device_gb:.1f} of {r.memory_capacity_gb:.1f} usable"],
        ["fits", "yes" if r.fits else "NO"],
        ["bound (prefill / decode)", f"{r.bound['prefill']} / {r.bound['decode']}"],
    ] + [["note", n] for n in r.notes]
    console.print(table(f"{r.model} estimate", ["", ""], summary))
    for phase in ("prefill", "decode"):
        rows = [[o["name"], o["count"], o["time_ms"], o["flops"] / 1e9, o["bytes"] / 1e6, o["comm_bytes"] / 1e6,
                 o["bound"]] for o in r.breakdown[phase] if o["time_ms"] > 0]
        console.print(table(f"{phase} step, per device", ["op", "x", "ms", "GFLOP", "MB", "comm MB", "bound"], rows))
    if not r.fits:
        err_console.print("[red]plan does not fit in device memory[/red]")
