"""`perfmodel estimate`: static-batch TTFT, TPOT, throughput, memory and binding resource."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import HardwareOpt, JsonOpt, ModelOpt, console, err_console, print_json, table
from perfmodel.errors import PerfModelError
from perfmodel.moe_overlap import MOE_OVERLAPS
from perfmodel.plan import MAX_NANO_BATCHES, SPARSE_KV_METHODS

TpOpt = Annotated[int, typer.Option("--tp", help="Tensor-parallel degree.")]
PpOpt = Annotated[int, typer.Option("--pp", help="Pipeline-parallel stages.")]
EpOpt = Annotated[int, typer.Option("--ep", help="Expert-parallel degree (MoE).")]
DpOpt = Annotated[Optional[int], typer.Option("--dp", help="Data-parallel replicas (default 1, or --devices / "
                                             "(tp x pp)).")]
DevicesOpt = Annotated[Optional[int], typer.Option("--devices", help="Devices of the deployment: sets --dp to "
                                                   "devices / (tp x pp).")]
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
KvAttentionOpt = Annotated[str, typer.Option("--kv-attention", help="Where decode attention reads the KV: gpu, cpu "
                                             "(over host KV, needs --kv-offload > 0), shadowkv, topk or a2ats (sparse "
                                             "over host KV; a2ats attends on the host CPU).")]
MemUtilOpt = Annotated[Optional[float], typer.Option("--memory-utilization", help="Fraction of device memory the "
                                                     "engine may use (default 0.9; vLLM gpu_memory_utilization).")]
WorkloadOpt = Annotated[Optional[str], typer.Option("--workload", "-w", help="fixed:ISL:OSL or ISL/OSL (every "
                                                    "request has these lengths).")]
KV_ATTENTION = ("gpu", "cpu", *SPARSE_KV_METHODS)


def kv_attention_fields(text: str) -> dict:
    """`--kv-attention` -> the Plan's placement fields (attention_on_cpu, sparse_kv)."""
    a = text.strip().lower()
    if a not in KV_ATTENTION:
        raise PerfModelError(f"--kv-attention must be one of {', '.join(KV_ATTENTION)}, got {text!r}")
    return {"attention_on_cpu": a == "cpu", "sparse_kv": a if a in SPARSE_KV_METHODS else None}


def parse_fixed_workload(text: str) -> tuple[int, int]:
    """`fixed:ISL:OSL` or `ISL/OSL` -> (isl, osl)."""
    parts = text.split(":")
    if len(parts) == 3 and parts[0] == "fixed":
        parts = parts[1:]
    elif len(parts) == 1 and text.count("/") == 1:
        parts = text.split("/")
    else:
        raise PerfModelError(f"--workload {text!r}: expected fixed:ISL:OSL or ISL/OSL, e.g. fixed:1024:512")
    try:
        isl, osl = int(parts[0]), int(parts[1])
    except ValueError:
        raise PerfModelError(f"--workload {text!r}: ISL and OSL must be integers") from None
    if isl < 1 or osl < 1:
        raise PerfModelError(f"--workload {text!r}: ISL and OSL must be >= 1, got {isl} and {osl}")
    return isl, osl

SkewOpt = Annotated[float, typer.Option("--routing-skew", help="Zipf exponent of expert popularity (0: uniform "
                                        "routing; the busiest EP rank sets the MoE time).")]
RedundantOpt = Annotated[int, typer.Option("--redundant-experts", help="EPLB redundant expert slots over all EP ranks.")]
TboOpt = Annotated[bool, typer.Option("--tbo", help="Two-batch overlap of communication with computation "
                                      "(SGLang TBO / vLLM DBO).")]
SpeculativeOpt = Annotated[Optional[str], typer.Option("--speculative", help="Speculative decoding, as in tune: none, "
                                                       "mtp[:K], eagle3[:K[:RATE]], ngram:K:RATE (K draft tokens, "
                                                       "RATE acceptance per position).")]
LocalityOpt = Annotated[Optional[float], typer.Option("--expert-locality", help="Speculative MoE token shuffling "
                                                     "and expert grouping: share of token-expert activations served on "
                                                     "the token's own EP rank (default: 1/ep, placement-agnostic).")]
MoeOverlapOpt = Annotated[str, typer.Option("--moe-overlap", help="MoE-layer communication-computation overlap: "
                                             "none (serial), tile (COMET's tile-level overlap) or chunked[:K] "
                                             "(Tutel-style pipeline of K chunks, default 2).")]


def moe_overlap_fields(text: str) -> dict:
    """`Plan.moe_overlap` / `moe_chunks` from --moe-overlap none | tile | chunked[:K]."""
    scheme, _, k = text.partition(":")
    if scheme not in MOE_OVERLAPS or (k and scheme != "chunked"):
        raise PerfModelError(f"--moe-overlap {text!r}: expected none, tile or chunked[:K]")
    if not k:
        return {"moe_overlap": scheme}
    if not k.isdigit() or not 1 <= int(k) <= MAX_NANO_BATCHES:
        raise PerfModelError(f"--moe-overlap {text!r}: K must be an integer in [1, {MAX_NANO_BATCHES}]")
    return {"moe_overlap": scheme, "moe_chunks": int(k)}


# the three options of the first release (kept, not shown: --speculative says the same in tune's words)
SpecOpt = Annotated[Optional[str], typer.Option("--spec-method", hidden=True, help="Speculative decoding: mtp, eagle3 "
                                                "or ngram.")]
SpecTokensOpt = Annotated[int, typer.Option("--spec-tokens", hidden=True, help="Draft tokens proposed per step.")]
SpecAccOpt = Annotated[Optional[str], typer.Option("--spec-acceptance", hidden=True, help="Per-position acceptance "
                                                   "rates, e.g. 0.85,0.7 (default: the method's published rate).")]


def moe_spec_fields(*, routing_skew: float, redundant_experts: int, tbo: bool, spec_method: str | None,
                    spec_tokens: int, spec_acceptance: str | None, speculative: str | None = None) -> dict:
    """The issue-12 Plan fields from their CLI options (`--speculative` in tune's grammar, or the
    older --spec-method/--spec-tokens/--spec-acceptance)."""
    if speculative is not None:
        from perfmodel.search.serving_options import parse_speculative

        if spec_method is not None or spec_acceptance is not None:
            raise PerfModelError("give --speculative or --spec-method/--spec-acceptance, not both")
        method, k, rates = parse_speculative(speculative)
        return {"routing_skew": routing_skew, "redundant_experts": redundant_experts, "two_batch_overlap": tbo,
                "spec_method": method, "spec_tokens": k if method else 1, "spec_acceptance": rates}
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


def lengths(*, isl: int | None, osl: int | None, workload: str | None) -> tuple[int, int]:
    """ISL and OSL from --isl/--osl or --workload (one of the two forms, not both)."""
    if workload is not None:
        if isl is not None or osl is not None:
            raise PerfModelError(f"give --workload {workload!r} or --isl/--osl, not both")
        return parse_fixed_workload(workload)
    if isl is None or osl is None:
        raise PerfModelError("give --isl and --osl, or --workload fixed:ISL:OSL")
    return isl, osl


def replicas(*, devices: int | None, tp: int, pp: int, dp: int | None) -> int:
    """--dp, or --devices / (tp x pp) when only --devices is given; both must agree."""
    if devices is None:
        return 1 if dp is None else dp
    per_replica = tp * pp
    if devices % per_replica:
        raise PerfModelError(f"--devices {devices} must be a multiple of --tp x --pp = {per_replica}")
    if dp is not None and dp * per_replica != devices:
        raise PerfModelError(f"--devices {devices} must equal --tp x --pp x --dp = {dp * per_replica}")
    return devices // per_replica


def register(app: typer.Typer) -> None:
    @app.command()
    def estimate(
        model: ModelOpt,
        hardware: HardwareOpt,
        batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Sequences per replica.")],
        isl: Annotated[Optional[int], typer.Option("--isl", help="Input (prompt) tokens per sequence "
                                                   "(or --workload).")] = None,
        osl: Annotated[Optional[int], typer.Option("--osl", help="Output tokens per sequence (or --workload).")] = None,
        workload: WorkloadOpt = None,
        devices: DevicesOpt = None,
        tp: TpOpt = 1, pp: PpOpt = 1, ep: EpOpt = 1, dp: DpOpt = None,
        quant: QuantOpt = None, kv_dtype: KvOpt = None, nano_batches: NanoOpt = 1, nano_split: NanoSplitOpt = None,
        weights_offload: WeightsOffloadOpt = 0.0, kv_offload: KvOffloadOpt = 0.0, activations_offload: ActOffloadOpt = 0.0,
        kv_attention: KvAttentionOpt = "gpu", memory_utilization: MemUtilOpt = None,
        routing_skew: SkewOpt = 0.0, redundant_experts: RedundantOpt = 0, tbo: TboOpt = False,
        speculative: SpeculativeOpt = None, expert_locality: LocalityOpt = None, moe_overlap: MoeOverlapOpt = "none",
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

        isl, osl = lengths(isl=isl, osl=osl, workload=workload)
        dp = replicas(devices=devices, tp=tp, pp=pp, dp=dp)
        if swiftkv is not None:
            from perfmodel import swiftkv as skv

            run = partial(skv.estimate, swift=skv.parse(swiftkv))
        r = run(model=model, hardware=hardware, batch_size=batch_size, isl=isl, osl=osl, tp=tp, pp=pp, ep=ep, dp=dp,
                quant=quant, kv_dtype=kv_dtype, nano_batches=nano_batches, nano_split=parse_split(nano_split),
                calibration=calibration, weights_offload=weights_offload, kv_offload=kv_offload,
                activations_offload=activations_offload, **kv_attention_fields(kv_attention),
                **({"memory_utilization": memory_utilization} if memory_utilization is not None else {}),
                **moe_spec_fields(routing_skew=routing_skew, redundant_experts=redundant_experts, tbo=tbo,
                                  spec_method=spec_method, spec_tokens=spec_tokens, spec_acceptance=spec_acceptance,
                                  speculative=speculative),
                **({"expert_locality": expert_locality} if expert_locality is not None else {}),
                **moe_overlap_fields(moe_overlap))
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
