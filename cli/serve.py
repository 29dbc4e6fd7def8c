"""`perfmodel serve`: serve a workload on a deployment (simulated, with the analytic estimate)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import HardwareOpt, JsonOpt, ModelOpt, busy, console, print_json, table
from perfmodel.errors import PerfModelError
from perfmodel.cli.estimate import (ActOffloadOpt, CalOpt, DevicesOpt, DpOpt, EpOpt, KvAttentionOpt, KvOffloadOpt,
                                    KvOpt, NanoOpt, NanoSplitOpt, PpOpt, QuantOpt, SpeculativeOpt, TpOpt,
                                    WeightsOffloadOpt, kv_attention_fields, parse_split, replicas)

WorkloadOpt = Annotated[str, typer.Option("--workload", "-w", help="fixed:ISL:OSL, random:ISL:OSL:RATIO, a preset (sharegpt, lmsys, "
                                          "splitwise, sharegpt-distserve, burstgpt, burstgpt-sample, chat-multiturn), "
                                          "a workload YAML or a BurstGPT CSV.")]


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        model: ModelOpt,
        hardware: HardwareOpt,
        workload: WorkloadOpt,
        offline: Annotated[bool, typer.Option("--offline", help="All requests arrive at t=0.")] = False,
        rate: Annotated[Optional[float], typer.Option("--rate", help="Mean request rate (requests/s).")] = None,
        concurrency: Annotated[Optional[int], typer.Option("--concurrency", "-c", help="Closed loop: C clients, each "
                                                           "sending its next request when its previous one "
                                                           "completes.")] = None,
        warmup: Annotated[int, typer.Option("--warmup", help="Closed loop: requests issued first and left out of "
                                            "the statistics.")] = 0,
        num_requests: Annotated[Optional[int], typer.Option("--num-requests", "-n", help="Requests to measure "
                                                            "(default 1000; a trace: all rows).")] = None,
        scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="prefill_first, prefill_first_chunked, "
                                                         "chunked, splitfuse, inflight, static, prepack, disagg "
                                                         "(default: the engine's).")] = None,
        engine: Annotated[str, typer.Option("--engine", help="vllm-v1, sglang-0.5, trtllm-pytorch (today's engines), vllm, vllm-0.5, trtllm, "
                                                      "trtllm-0.8, sglang, fastgen, qserve, nanoflow, ideal.")] = "vllm",
        ttft_slo: Annotated[Optional[float], typer.Option("--ttft-slo", help="TTFT SLO (ms).")] = None,
        tpot_slo: Annotated[Optional[float], typer.Option("--tpot-slo", help="TPOT SLO (ms).")] = None,
        slo_target: Annotated[float, typer.Option("--slo-target", help="Attainment goodput must keep.")] = 0.9,
        seed: Annotated[int, typer.Option("--seed", help="Random seed (workload and cache hits).")] = 0,
        devices: DevicesOpt = None,
        tp: TpOpt = 1, pp: PpOpt = 1, ep: EpOpt = 1, dp: DpOpt = None,
        quant: QuantOpt = None, kv_dtype: KvOpt = None, calibration: CalOpt = None,
        max_batch: Annotated[Optional[int], typer.Option("--max-batch", help="Max sequences per replica.")] = None,
        token_budget: Annotated[Optional[int], typer.Option("--token-budget", help="Max tokens per iteration.")] = None,
        nano_batches: NanoOpt = 1, nano_split: NanoSplitOpt = None,
        weights_offload: WeightsOffloadOpt = 0.0, kv_offload: KvOffloadOpt = 0.0, activations_offload: ActOffloadOpt = 0.0,
        kv_attention: KvAttentionOpt = "gpu",
        speculative: SpeculativeOpt = None,
        memory_utilization: Annotated[Optional[float], typer.Option("--memory-utilization", help="Fraction of device "
                                                                    "memory the engine may use (default: the engine's; "
                                                                    "vLLM gpu_memory_utilization of the total, "
                                                                    "TRT-LLM free_gpu_memory_fraction of what the "
                                                                    "weights leave).")] = None,
        kv_layout: Annotated[Optional[str], typer.Option("--kv-layout", help="paged or contiguous (vAttention).")] = None,
        block_size: Annotated[Optional[int], typer.Option("--block-size", help="Tokens per KV block (paged).")] = None,
        preemption: Annotated[Optional[str], typer.Option("--preemption", help="recompute or swap.")] = None,
        prefix_caching: Annotated[Optional[bool], typer.Option("--prefix-caching/--no-prefix-caching",
                                                               help="Override the engine's prefix caching.")] = None,
        prefix_hit_rate: Annotated[float, typer.Option("--prefix-hit-rate", help="Chance a cached prefix is still "
                                                       "resident.")] = 1.0,
        cacheblend: Annotated[bool, typer.Option("--cacheblend", help="Reuse non-prefix KV with partial "
                                                 "recompute (CacheBlend).")] = False,
        prefill_tp: Annotated[Optional[int], typer.Option("--prefill-tp", help="disagg: prefill pool TP.")] = None,
        prefill_dp: Annotated[int, typer.Option("--prefill-dp", help="disagg: prefill attention-DP ranks "
                                                "(replicas) per worker.")] = 1,
        decode_tp: Annotated[Optional[int], typer.Option("--decode-tp", help="disagg: decode pool TP.")] = None,
        lora_adapters: Annotated[Optional[int], typer.Option("--lora-adapters", help="S-LoRA: LoRA adapters on "
                                                             "the base model (host memory, swapped in).")] = None,
        lora_rank: Annotated[str, typer.Option("--lora-rank", help="Adapter rank, or ranks cycled over the "
                                               "adapters (8 or 64,32,16,8).")] = "8",
        lora_popularity: Annotated[float, typer.Option("--lora-popularity", help="Zipf exponent of adapter "
                                                       "requests (0: uniform).")] = 1.0,
        finetune_seq_len: Annotated[Optional[int], typer.Option("--finetune-seq-len", help="FlexLLM: co-serve PEFT "
                                                                "finetuning of sequences of N tokens in each "
                                                                "iteration's slack under --tpot-slo at --rate.")] = None,
        swiftkv: Annotated[Optional[str], typer.Option("--swiftkv", help="SwiftKV transform SKIP_FRACTION[:ACROSS] "
                                                       "of the served model: each iteration's prompt tokens skip "
                                                       "that share of the layers (SingleInputKV), ACROSS skipped "
                                                       "layers share one KV (AcrossKV).")] = None,
        out: Annotated[Optional[str], typer.Option("--out", help="Directory for requests.csv (one row per "
                                                   "request), trace.json (Chrome / Perfetto timeline) and "
                                                   "result.json.")] = None,
        decode_dp: Annotated[int, typer.Option("--decode-dp", help="disagg: decode attention-DP ranks "
                                               "(replicas) per worker.")] = 1,
        prefill_ep: Annotated[Optional[int], typer.Option("--prefill-ep", help="disagg: prefill pool EP "
                                                          "(> --prefill-tp: attention-DP; default --ep).")] = None,
        prefill_workers: Annotated[Optional[int], typer.Option("--prefill-workers", help="disagg: prefill "
                                                               "workers, each tp x dp devices (default 1).")] = None,
        decode_ep: Annotated[Optional[int], typer.Option("--decode-ep", help="disagg: decode pool EP "
                                                         "(> --decode-tp: attention-DP; default --ep).")] = None,
        decode_workers: Annotated[Optional[int], typer.Option("--decode-workers", help="disagg: decode workers, "
                                                              "each tp x dp devices (default 1).")] = None,
        router: Annotated[str, typer.Option("--router", help="disagg: decode placement, round_robin or local "
                                            "(nearest decode replicas first).")] = "round_robin",
        size_for_concurrency: Annotated[Optional[int], typer.Option(
            "--size-for-concurrency", help="disagg: worker counts (those not given) for this many requests "
                                           "in flight.")] = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Serve a workload: throughput, TTFT / TPOT / end-to-end percentiles, SLO attainment, goodput."""
        from perfmodel.common.outpath import out_dir
        from perfmodel.serve_api import serve as run
        from perfmodel.swiftkv import parse as parse_swiftkv

        if out is not None:  # before the simulation, not after it
            out_dir("--out", out)
        dp = replicas(devices=devices, tp=tp, pp=pp, dp=dp)
        with busy("simulating" + (" and searching the goodput rate" if ttft_slo or tpot_slo else ""),
                  enabled=not json_out):
            r = run(model=model, hardware=hardware, workload=workload, offline=offline, rate=rate,
                    concurrency=concurrency, warmup=warmup, num_requests=num_requests, scheduler=scheduler,
                    engine=engine, ttft_slo_ms=ttft_slo,
                    tpot_slo_ms=tpot_slo, slo_target=slo_target, seed=seed, tp=tp, pp=pp, ep=ep, dp=dp, quant=quant,
                    kv_dtype=kv_dtype, calibration=calibration, max_batch=max_batch, token_budget=token_budget,
                    nano_batches=nano_batches, nano_split=parse_split(nano_split), kv_fraction=memory_utilization,
                    kv_layout=kv_layout, block_size=block_size, preemption=preemption,
                    prefix_caching=prefix_caching, prefix_hit_rate=prefix_hit_rate, cacheblend=cacheblend,
                    prefill_tp=prefill_tp, prefill_dp=prefill_dp, prefill_ep=prefill_ep,
                    prefill_workers=prefill_workers, decode_tp=decode_tp, decode_dp=decode_dp, decode_ep=decode_ep,
                    decode_workers=decode_workers, router=router, size_for_concurrency=size_for_concurrency,
                    weights_offload=weights_offload, kv_offload=kv_offload, activations_offload=activations_offload,
                    **kv_attention_fields(kv_attention), lora_adapters=lora_adapters,
                    lora_rank=_ranks(lora_rank), lora_popularity=lora_popularity,
                    finetune_seq_len=finetune_seq_len, swiftkv=parse_swiftkv(swiftkv) if swiftkv else None,
                    **speculative_fields(speculative))
        written = r.write(out) if out else {}
        if json_out:
            print_json({**r.to_dict(), **({"written": {k: str(v) for k, v in written.items()}} if written else {})})
        else:
            _render(r.to_dict())
            for name, path in written.items():
                console.print(f"{name}: {path}", markup=False, highlight=False)


def speculative_fields(text: str | None) -> dict:
    """serve() keywords for `--speculative` (tune's grammar: none, mtp[:K], eagle3[:K[:RATE]], ngram:K:RATE)."""
    if text is None:
        return {}
    from perfmodel.search.serving_options import parse_speculative

    method, k, rates = parse_speculative(text)
    return {"spec_method": method, "spec_tokens": k, "spec_acceptance": rates} if method else {}


def _ranks(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise PerfModelError(f"--lora-rank must be integers separated by commas, got {text!r}") from None


def _render(d: dict) -> None:
    c = d["config"]
    pools = "; ".join(f"{k}: {v['plan']}, {v['replicas']} replicas ({v['scheduler']})" for k, v in c["pools"].items())
    rows = [["deployment", f"{c['model']} on {d['devices']} x {c['hardware']}, {pools}"],
            ["engine / workload", f"{c['engine']} / {c['workload']} ({_load(c)}, {c['requests']} requests)"],
            ["output tokens/s", d["output_tok_s"]], ["total tokens/s", d["total_tok_s"]],
            ["output tokens/s per device", d["output_tok_s_per_device"]],
            ["total tokens/s per device", d["total_tok_s_per_device"]],
            ["tokens/s per user", d["tok_s_per_user"]], ["requests/s", d["request_rate"]]]
    if d["slo_attainment"] is not None:
        rows.append(["SLO attainment", f"{d['slo_attainment']:.1%}"])
    if d["goodput_req_s"] is not None:
        rows.append(["goodput (req/s, per device)", f"{d['goodput_req_s']:.2f}, {d['goodput_req_s_per_device']:.2f}"])
    if "kv_transfer" in c:
        kv = c["kv_transfer"]
        tiers = ", ".join(f"{t} {share:.0%}" for t, share in kv["transfers_by_tier"].items())
        rows.append(["KV transfer (mean, router)", f"{kv['mean_ms']:.2f} ms over {', '.join(kv['links'].values())}; "
                                                   f"{kv['router']}: {tiers}"])
        for role in ("prefill", "decode"):
            p = c["pools"][role]
            rows.append([f"{role} pool per device", f"weights {p['weights_gb_per_device']:.1f} GB of "
                                                    f"{p['memory_capacity_gb_per_device']:.0f}; KV "
                                                    f"{p['kv_capacity_tokens']} tokens per replica"])
    if c.get("sized_for"):
        z = c["sized_for"]
        rows.append(["sized for concurrency", f"{z['concurrency']}: {z['prefill_workers']} prefill + "
                                              f"{z['decode_workers']} decode workers"])
    console.print(table("serving (simulated)", ["", ""], rows))
    lat = [[name, *(d[key][s] for s in ("mean", "p50", "p90", "p99"))]
           for name, key in (("TTFT", "ttft_ms"), ("TPOT", "tpot_ms"), ("ITL", "itl_ms"), ("end-to-end", "e2e_ms"))]
    if (d.get("sim") or {}).get("tbt_ms"):  # every gap between tokens (closed-loop disaggregated runs have none)
        lat.insert(3, ["TBT (every gap)", *(d["sim"]["tbt_ms"][s] for s in ("mean", "p50", "p90", "p99"))])
    console.print(table("latency (ms)", ["", "mean", "p50", "p90", "p99"], lat))
    a = d["analytic"]
    arows = [["saturation output tokens/s", a["saturation_output_tok_s"]],
             ["max sustainable rate (req/s)", a["saturation_req_s"]],
             ["concurrency per replica (limited by)", f"{a['concurrency']:.0f} ({a['limited_by']})"]]
    if a["at_rate"]:
        p = a["at_rate"]
        arows.append(["at the rate: TTFT / TPOT (ms)", f"{p['ttft_ms']:.1f} / {p['tpot_ms']:.2f}"])
    if a["max_rate_meeting_slo"] is not None:
        arows.append(["max rate meeting the SLOs (means)", a["max_rate_meeting_slo"]])
    console.print(table("analytic steady state", ["", ""], arows))
    f = d.get("finetune")
    if f:
        frows = [["finetuning tokens/s (co-served)", f["finetune_tok_s"]],
                 ["peak finetuning tokens/s (alone)", f["peak_finetune_tok_s"]],
                 ["fraction of peak", f"{f['fraction_of_peak']:.1%}"],
                 ["iteration / inference alone (ms)", f"{f['iteration_ms']:.1f} / {f['inference_only_ms']:.1f}"]]
        console.print(table("co-served finetuning (FlexLLM, analytic)", ["", ""], frows))


def _load(c: dict) -> str:
    if c["concurrency"] is None:
        return c["mode"]
    return f"closed loop, {c['concurrency']} clients, {c['warmup_requests']} warm-up"
