"""`perfmodel.serve(...)`: serve a workload on a deployment; simulated and analytic metrics.

Keyword arguments are named as the CLI options of `perfmodel serve`. Aggregated deployments run
`dp` replicas of the plan (requests routed round-robin, conversations sticky); `scheduler="disagg"`
runs a prefill pool and a decode pool, each with its own TP and replica count.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from perfmodel.common.outpath import out_dir, staged_dir
from perfmodel.errors import PerfModelError, pydantic_message
from perfmodel.finetune import coserve, inference_load, peak_finetune_tok_s
from perfmodel.lora import LoraSetup
from perfmodel.plan import Plan
from perfmodel.resolve import resolve_model, resolve_system
from perfmodel.serving import analytic, disagg, goodput
from perfmodel.serving.deployment import Pool, build_pool, simulate_pool
from perfmodel.serving.engine_profiles import EngineProfile, get_engine
from perfmodel.serving.placement import ROUTERS
from perfmodel.serving.metrics import Timeline, slo_attainment, summarize, token_gaps_ms
from perfmodel.specs.workload import AnyWorkload, Requests, TraceWorkload, load_workload
from perfmodel.swiftkv import SwiftKV

DEFAULT_REQUESTS = 1000
# Load points of the analytic latency-vs-load curve, as fractions of the saturation request rate
# (the M/G/1-style estimate of `serving.analytic` grows without bound as the load nears 1).
LOAD_FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)

# A goodput probe must run long enough for an overloaded rate to build a visible backlog.
GOODPUT_MIN_REQUESTS = 2000


@dataclass
class ServeResult:
    config: dict
    metrics: dict
    analytic: dict
    goodput_req_s: float | None
    devices: int
    sim: dict = field(default_factory=dict)
    timeline: Timeline | None = field(default=None, repr=False)
    finetune: dict | None = None
    steady: analytic.SteadyState | None = field(default=None, repr=False)  # the analytic model, for curves

    def __getitem__(self, key):
        return self.to_dict()[key]

    def to_frame(self):
        """One row per simulated request (`serving.records.request_rows`); needs pandas."""
        from perfmodel.common.frames import to_frame
        from perfmodel.serving.records import request_rows

        if self.timeline is None:
            raise PerfModelError("ServeResult.to_frame(): this result was not simulated (simulate=False)")
        return to_frame(request_rows(self.timeline), what="ServeResult")

    def write(self, out: str | Path) -> dict[str, Path]:
        """requests.csv (one row per request), trace.json (Chrome / Perfetto timeline), result.json and
        latency_vs_load.png (the analytic TTFT / TPOT against the request rate, the simulated point)."""
        from perfmodel.serving.records import chrome_trace, write_requests_csv

        if self.timeline is None:
            raise PerfModelError("serve --out: this result was not simulated")
        d = out_dir("--out", out)
        with staged_dir(d) as tmp:  # all files or none (perfmodel.common.outpath)
            staged = {"requests": write_requests_csv(self.timeline, tmp / "requests.csv"),
                      "trace": tmp / "trace.json", "result": tmp / "result.json"}
            staged["trace"].write_text(json.dumps(chrome_trace(self.timeline)))
            staged["result"].write_text(json.dumps(_finite(self.to_dict()), indent=2))
            if self.analytic.get("latency_vs_load"):
                from perfmodel.plots import latency_vs_load_figure

                staged["latency_plot"] = latency_vs_load_figure(self.to_dict(), tmp / "latency_vs_load.png")
        return {k: d / Path(p).name for k, p in staged.items()}

    def to_dict(self) -> dict:
        per_dev = None if self.goodput_req_s is None else self.goodput_req_s / self.devices
        return {**self.metrics, "goodput_req_s": self.goodput_req_s, "goodput_req_s_per_device": per_dev,
                "devices": self.devices, "analytic": self.analytic, "config": self.config, "sim": self.sim,
                "finetune": self.finetune}


def _lora(adapters: int | None, rank: int | tuple[int, ...], popularity: float) -> LoraSetup | None:
    if adapters is None:
        return None
    ranks = (rank,) if isinstance(rank, int) else tuple(rank)
    return LoraSetup(adapters=adapters, rank=ranks[0], ranks=ranks, popularity=popularity)


def _finite(obj):
    """JSON-safe: NaN / inf become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item"):
        return _finite(obj.item())
    return obj


def _plan(**kw) -> Plan:
    try:
        return Plan(**kw)
    except Exception as exc:  # pydantic bounds
        raise PerfModelError(pydantic_message(exc, source="plan")) from None


# Upper limits on what a user asks `serve` to simulate (README "Limits"). 200,000 requests
# simulate in seconds (10,000 take 0.1-0.8 s); a billion needed 7.5 GiB before the first step.
MAX_REQUESTS = 200_000
MAX_RATE_REQ_S = 1e6
MAX_SEED = 2**63 - 1
MAX_BLOCK_TOKENS = 1 << 16
MAX_POOL_SIZE = 4096


def check_serve_options(*, rate, num_requests, seed, slo_target, ttft_slo_ms, tpot_slo_ms, block_size,
                        prefix_hit_rate, kv_fraction, pools: dict) -> None:
    """One-line errors for out-of-range `serve` options, before anything is sampled or built."""
    def bad(flag: str, rule: str, value) -> PerfModelError:
        return PerfModelError(f"{flag} must be {rule}, got {value!r}")

    if rate is not None and not 0 < rate <= MAX_RATE_REQ_S:
        raise bad("--rate", f"a finite number of requests/s in (0, {MAX_RATE_REQ_S:g}]", rate)
    if num_requests is not None and not 1 <= num_requests <= MAX_REQUESTS:
        raise bad("--num-requests", f"between 1 and {MAX_REQUESTS:,}", num_requests)
    if not 0 <= seed <= MAX_SEED:
        raise bad("--seed", f"a non-negative integer up to 2**63 - 1", seed)
    if not 0 < slo_target <= 1:
        raise bad("--slo-target", "a fraction in (0, 1]", slo_target)
    for flag, v in (("--ttft-slo", ttft_slo_ms), ("--tpot-slo", tpot_slo_ms)):
        if v is not None and not 0 < v < float("inf"):
            raise bad(flag, "a finite number > 0 ms", v)
    if block_size is not None and not 1 <= block_size <= MAX_BLOCK_TOKENS:
        raise bad("--block-size", f"between 1 and {MAX_BLOCK_TOKENS} tokens", block_size)
    if not 0 <= prefix_hit_rate <= 1:
        raise bad("--prefix-hit-rate", "a fraction in [0, 1]", prefix_hit_rate)
    if kv_fraction is not None and not 0 < kv_fraction <= 1:
        raise bad("--kv-fraction", "a fraction in (0, 1]", kv_fraction)
    for flag, v in pools.items():
        if v is not None and not 1 <= v <= MAX_POOL_SIZE:
            raise bad(flag, f"between 1 and {MAX_POOL_SIZE}", v)


def serve(*, model, hardware, workload: str | AnyWorkload, offline: bool = False, rate: float | None = None,
          concurrency: int | None = None, warmup: int = 0, num_requests: int | None = None,
          scheduler: str | None = None, engine: str | EngineProfile = "vllm",
          ttft_slo_ms: float | None = None, tpot_slo_ms: float | None = None, slo_target: float = 0.9,
          seed: int = 0, tp: int = 1, pp: int = 1, ep: int = 1, dp: int = 1, quant: str | None = None,
          kv_dtype: str | None = None, calibration: str | None = None, max_batch: int | None = None,
          token_budget: int | None = None, nano_batches: int = 1,
          nano_split: tuple[float, ...] | None = None, kv_fraction: float | None = None, kv_layout: str | None = None,
          block_size: int | None = None, preemption: str | None = None, prefix_caching: bool | None = None,
          prefix_hit_rate: float = 1.0, cacheblend: bool = False, prefill_tp: int | None = None,
          prefill_dp: int = 1, prefill_ep: int | None = None, prefill_workers: int | None = None,
          decode_tp: int | None = None, decode_dp: int = 1, decode_ep: int | None = None,
          decode_workers: int | None = None, router: str = "round_robin", size_for_concurrency: int | None = None,
          simulate: bool = True, goodput_search: bool = True, lora_adapters: int | None = None,
          lora_rank: int | tuple[int, ...] = 8, lora_popularity: float = 1.0, finetune_seq_len: int | None = None,
          swiftkv: SwiftKV | None = None, **placement) -> ServeResult:
    """Serve `workload` (fixed:ISL:OSL, preset, YAML or BurstGPT CSV) offline, at `rate` req/s, or
    closed loop with `concurrency` clients (each sends its next request when its previous one
    completes). `warmup` requests are issued first and left out of the statistics (as vLLM
    `bench serve --num-warmups` and genai-perf `--warmup-request-count`); `num_requests` are
    measured after them. `nano_split` (relative nano-batch sizes) sets `nano_batches` to its length;
    `placement`: the Plan's offload fields (weights_offload, kv_offload, activations_offload,
    attention_on_cpu, sparse_kv), applied to every pool. `lora_adapters` (S-LoRA): that many adapters of `lora_rank`
    (one rank, or ranks cycled over the adapters) requested with Zipf(`lora_popularity`) shares.
    `finetune_seq_len` (FlexLLM): PEFT finetuning of sequences of that length co-served in each
    iteration's slack under `tpot_slo_ms` at `rate` (analytic, `perfmodel.finetune`).
    `swiftkv`: serve the SwiftKV-transformed model (`perfmodel.swiftkv.SwiftKVStep`).

    Disaggregated (`scheduler="disagg"`): each pool has its own TP, attention-DP ranks per worker
    (`*_dp`), EP (default `ep`; > tp spans the DP ranks) and workers (default 1);
    `size_for_concurrency=C` picks the worker counts not given for C requests in flight
    (`disagg.size_for_concurrency`); `router` (round_robin or local) places each request's decode."""
    if sum((offline, rate is not None, concurrency is not None)) > 1:
        raise PerfModelError("give one of --offline, --rate and --concurrency, got "
                             f"offline={offline}, rate={rate}, concurrency={concurrency}")
    if concurrency is not None and concurrency < 1:
        raise PerfModelError(f"--concurrency must be >= 1 client, got {concurrency}")
    if warmup < 0:
        raise PerfModelError(f"--warmup must be >= 0 requests, got {warmup}")
    if warmup and concurrency is None:
        raise PerfModelError(f"--warmup {warmup} needs --concurrency (a closed loop); open-loop runs leave out "
                             "a leading share through the goodput probe")
    check_serve_options(rate=rate, num_requests=num_requests, seed=seed, slo_target=slo_target,
                        ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms, block_size=block_size,
                        prefix_hit_rate=prefix_hit_rate, kv_fraction=kv_fraction,
                        pools={"--prefill-tp": prefill_tp, "--prefill-dp": prefill_dp, "--decode-tp": decode_tp,
                               "--decode-dp": decode_dp})
    spec = resolve_model(model)
    system = resolve_system(hardware, calibration=calibration)
    eng = engine if isinstance(engine, EngineProfile) else get_engine(engine)
    wl = load_workload(workload) if isinstance(workload, str) else workload
    n = num_requests if num_requests is not None else (None if isinstance(wl, TraceWorkload) else DEFAULT_REQUESTS)
    closed = concurrency is not None
    if not isinstance(wl, TraceWorkload) and not offline and not closed and rate is None \
            and wl.arrival.process != "offline" and getattr(wl.arrival, "rate_req_s", None) is None:
        raise PerfModelError(f"workload {wl.name!r} has no request rate: pass --rate R (requests/s), "
                             "--concurrency C or --offline")
    requests = wl.sample(None if n is None else n + warmup, rate=rate, offline=offline or closed, seed=seed)
    if warmup >= len(requests):
        raise PerfModelError(f"--warmup {warmup} leaves no request to measure out of {len(requests)}")
    requests, truncated = fit_context(requests, spec.max_context)
    common = dict(quant=quant or spec.quant or "bf16", kv_dtype=kv_dtype, max_batch=max_batch, token_budget=token_budget, pp=pp, ep=ep,
                  nano_batches=len(nano_split) if nano_split else nano_batches, nano_split=nano_split, **placement)
    pool_opts = dict(model=spec, system=system, engine=eng, kv_fraction=kv_fraction, kv_layout=kv_layout,
                     block_size=block_size, preemption=preemption, prefix_caching=prefix_caching,
                     prefix_hit_rate=prefix_hit_rate, cacheblend=cacheblend,
                     lora=_lora(lora_adapters, lora_rank, lora_popularity), swiftkv=swiftkv)
    disaggregated = (scheduler or "").lower() == "disagg"
    mean_in, mean_out, ctx = workload_moments(requests)
    if spec.hybrid:  # windowed KV and recurrent state per sequence: size the token pool at this workload's context
        pool_opts["context_tokens"] = ctx
    sizing = None
    if disaggregated:
        if router not in ROUTERS:
            raise PerfModelError(f"--router must be one of {', '.join(ROUTERS)}, got {router!r}")
        common.pop("ep")

        for name, v in (("--prefill-workers", prefill_workers), ("--decode-workers", decode_workers)):
            if v is not None and v < 1:
                raise PerfModelError(f"{name} must be >= 1, got {v}")

        def pool(role: str, scheduler_name: str, **kw) -> Pool:
            try:
                return build_pool(plan=_plan(mode=role, **kw, **common), scheduler=scheduler_name, **pool_opts)
            except PerfModelError as exc:
                raise PerfModelError(f"{role} pool: {exc}") from None

        def pools_of(pw: int, dw: int) -> tuple[Pool, Pool]:
            return (pool("prefill", "prefill_first", tp=prefill_tp or tp, dp=prefill_dp, ep=prefill_ep or ep, workers=pw),
                    pool("decode", "decode_only", tp=decode_tp or tp, dp=decode_dp, ep=decode_ep or ep, workers=dw))

        if size_for_concurrency is not None:
            if size_for_concurrency < 1:
                raise PerfModelError(f"--size-for-concurrency must be >= 1, got {size_for_concurrency}")
            one_p, one_d = pools_of(1, 1)
            sizing = disagg.size_for_concurrency(system, one_p, one_d, concurrency=size_for_concurrency,
                                                 mean_input=mean_in, mean_output=mean_out, decode_context=ctx)
            prefill_workers = sizing["prefill_workers"] if prefill_workers is None else prefill_workers
            decode_workers = sizing["decode_workers"] if decode_workers is None else decode_workers
        pre, dec = pools_of(1 if prefill_workers is None else prefill_workers,
                            1 if decode_workers is None else decode_workers)
        devices = pre.devices + dec.devices
        where = disagg.place(system, pre, dec)
        pools = {"prefill": _describe(pre, mean_in, ctx), "decode": _describe(dec, mean_in, ctx)}
        extra = {"kv_transfer": {**where.to_dict(router), "mean_ms": where.mean_transfer_s(mean_in, policy=router) * 1e3},
                 "sized_for": sizing}
    else:
        pre = dec = build_pool(plan=_plan(tp=tp, dp=dp, **common), scheduler=scheduler, **pool_opts)
        devices = pre.devices
        pools = {"aggregated": _describe(pre, mean_in, ctx)}
        extra = {}

    t0 = time.perf_counter()
    if disaggregated:
        est = disagg.estimate(system, pre, dec, mean_input=mean_in, mean_output=mean_out, decode_context=ctx,
                              rate=rate, ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms, router=router)
        steady = disagg.steady_state(system, pre, dec, mean_input=mean_in, mean_output=mean_out,
                                     decode_context=ctx, router=router)
    else:
        rm = _replica_model(pre, mean_in, mean_out, ctx)
        est = analytic.estimate(rm, replicas=pre.replicas, rate=rate, ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms)
        steady = analytic.steady_state(rm, replicas=pre.replicas)
    analytic_ms = (time.perf_counter() - t0) * 1e3

    def at(r: float) -> dict:
        if disaggregated:
            e = disagg.estimate(system, pre, dec, mean_input=mean_in, mean_output=mean_out, decode_context=ctx,
                                rate=r, ttft_slo_ms=None, tpot_slo_ms=None)
        else:
            e = analytic.estimate(rm, replicas=pre.replicas, rate=r)
        return e.to_dict()["at_rate"]
    curve = [{"load": f, **at(f * est.saturation_req_s)} for f in LOAD_FRACTIONS] if est.saturation_req_s > 0 else []

    config = {"model": spec.name, "hardware": system.id, "engine": eng.name,
              "scheduler": "disagg" if disaggregated else pre.scheduler.name, "workload": wl.name,
              "mode": _mode(offline=offline, rate=rate, concurrency=concurrency),
              "rate_req_s": rate, "concurrency": concurrency, "warmup_requests": warmup,
              "requests": len(requests) - warmup, "truncated_to_context": truncated, "seed": seed,
              "pools": pools, **extra,
              "ttft_slo_ms": ttft_slo_ms, "tpot_slo_ms": tpot_slo_ms, "slo_target": slo_target}
    result = ServeResult(config=config, metrics={}, analytic={**est.to_dict(), "wall_ms": analytic_ms,
                                                          "latency_vs_load": curve},
                         goodput_req_s=None, devices=devices, steady=steady)
    if finetune_seq_len is not None:
        if disaggregated or rate is None or tpot_slo_ms is None:
            raise PerfModelError("--finetune-seq-len co-serves finetuning with an aggregated deployment at a rate: "
                                 "give --rate and --tpot-slo, without --scheduler disagg")
        result.finetune = _finetune(pre, rate=rate, mean_in=mean_in, mean_out=mean_out, tpot_slo_ms=tpot_slo_ms,
                                    seq_len=finetune_seq_len)
    if not simulate:
        return result

    def run(req: Requests, clients: int | None = None):
        if disaggregated and clients is not None:
            c = disagg.simulate_closed(system, pre, dec, concurrency=clients, input_tokens=req.input_tokens,
                                       output_tokens=req.output_tokens, router=router, seed=seed)
            stats = {"preemptions": c.preemptions, "iterations": c.iterations,
                     "prefill_tokens_computed": c.prefill_tokens_computed, "cached_tokens": c.cached_tokens}
            return Timeline(c.issued_s, c.first_token_s, c.finish_s, req.input_tokens, req.output_tokens), stats
        if disaggregated:
            p_run, d_run, first, finish = disagg.simulate(system, pre, dec, **_columns(req), router=router, seed=seed)
            stats = {"preemptions": p_run.preemptions + d_run.preemptions,
                     "iterations": p_run.iterations + d_run.iterations,
                     "prefill_tokens_computed": p_run.prefill_tokens_computed, "cached_tokens": p_run.cached_tokens,
                     "tbt_ms": token_gaps_ms(d_run.token_gap_s, d_run.token_gap_count)}
            return Timeline(req.arrival_s, first, finish, req.input_tokens, req.output_tokens), stats
        r = simulate_pool(pre, **_columns(req), seed=seed, concurrency=clients)
        stats = {"preemptions": r.preemptions, "iterations": r.iterations, "area_req_s": r.area_req_s,
                 "prefill_tokens_computed": r.prefill_tokens_computed, "cached_tokens": r.cached_tokens,
                 "emitted_tokens": int(r.emitted.sum()), "tbt_ms": token_gaps_ms(r.token_gap_s, r.token_gap_count)}
        return Timeline(r.arrival_s, r.first_token_s, r.finish_s, req.input_tokens, req.output_tokens), stats

    t0 = time.perf_counter()
    timeline, stats = run(requests, concurrency)
    sim_s = time.perf_counter() - t0
    if warmup:  # requests are issued in index order: the first `warmup` are the warm-up
        timeline = timeline.tail(warmup)
    result.timeline = timeline
    result.metrics = summarize(timeline, devices=devices, ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms)
    result.sim = {**stats, "wall_s": sim_s, "step_model_calls": pre.timer.calls + (dec.timer.calls if dec is not pre else 0)}
    if goodput_search and (ttft_slo_ms is not None or tpot_slo_ms is not None):
        def attainment(r: float) -> float:
            tl, _ = run(wl.sample(max(len(requests), GOODPUT_MIN_REQUESTS), rate=r, seed=seed))
            return slo_attainment(tl, ttft_slo_ms, tpot_slo_ms, warmup=goodput.WARMUP)
        result.goodput_req_s = goodput.search(attainment, target=slo_target, guess=est.saturation_req_s)
    return result


def _mode(*, offline: bool, rate: float | None, concurrency: int | None) -> str:
    if offline:
        return "offline"
    if rate is not None:
        return "rate"
    return "closed loop" if concurrency is not None else "workload arrivals"


def fit_context(req: Requests, max_context: int) -> tuple[Requests, int]:
    """Cut prompts (then outputs) of sampled requests longer than the model's context, as serving
    benchmarks drop or truncate them; a workload whose every request is too long is an error."""
    total = req.input_tokens + req.output_tokens
    over = total > max_context
    if not over.any():
        return req, 0
    if over.all():
        raise PerfModelError(f"every request exceeds the context length of the model ({max_context} tokens), "
                             f"e.g. {int(req.input_tokens[0])} + {int(req.output_tokens[0])}")
    osl = np.minimum(req.output_tokens, max_context - 1)
    isl = np.minimum(req.input_tokens, max_context - osl)
    prefix = np.minimum(req.prefix_tokens, isl - 1)
    reuse = np.minimum(req.reuse_tokens, np.maximum(isl - 1 - prefix, 0))
    return replace(req, input_tokens=isl, output_tokens=osl, prefix_tokens=prefix, reuse_tokens=reuse), int(over.sum())


def _finetune(pool: Pool, *, rate: float, mean_in: float, mean_out: float, tpot_slo_ms: float,
              seq_len: int) -> dict:
    """FlexLLM co-serving per replica (device time; the engine's host time is not in it)."""
    slo_s = tpot_slo_ms / 1e3
    load = inference_load(rate_req_s=rate / pool.replicas, input_tokens=mean_in, output_tokens=mean_out, tpot_s=slo_s)
    co = coserve(step=pool.step, inference=load, tpot_slo_s=slo_s, seq_len=seq_len)
    peak = peak_finetune_tok_s(step=pool.step, seq_len=seq_len)
    return {"seq_len": seq_len, "decode_batch_per_replica": load.decode_seqs,
            "finetune_tokens_per_iteration": co.finetune_tokens, "iteration_ms": co.iteration_s * 1e3,
            "inference_only_ms": co.inference_only_s * 1e3, "finetune_tok_s": co.finetune_tok_s * pool.replicas,
            "peak_finetune_tok_s": peak * pool.replicas, "fraction_of_peak": co.finetune_tok_s / peak,
            "activation_gb_per_sequence": co.activation_gb}


def workload_moments(req: Requests) -> tuple[float, float, float]:
    """Mean prompt, mean output and the residence-weighted mean decode context
    E[I O]/E[O] + E[O^2]/(2 E[O]) the analytic model needs."""
    i = req.input_tokens.astype(float)
    o = req.output_tokens.astype(float)
    ctx = float((i * o).sum() / o.sum() + (o * o).sum() / (2 * o.sum()))
    return float(i.mean()), float(o.mean()), ctx


def _replica_model(pool: Pool, mean_in: float, mean_out: float, ctx: float) -> analytic.ReplicaModel:
    return analytic.ReplicaModel(timer=pool.timer, kv=pool.kv, scheduler=pool.scheduler.name,
                                 max_num_seqs=pool.max_num_seqs, token_budget=pool.token_budget,
                                 mean_input=mean_in, mean_output=mean_out, decode_context=ctx)


def _columns(req: Requests) -> dict:
    return dict(arrival_s=req.arrival_s, input_tokens=req.input_tokens, output_tokens=req.output_tokens,
                prefix_tokens=req.prefix_tokens, prefix_group=req.prefix_group, conversation=req.conversation,
                reuse_tokens=req.reuse_tokens)


def _describe(pool: Pool, mean_in: float, ctx: float) -> dict:
    """A pool's plan, memory per device and step times at the workload's mean prompt (one prompt
    prefilled alone) and mean decode context (one sequence, and a full batch)."""
    mem, p = pool.step.memory, pool.plan
    rm = _replica_model(pool, mean_in, 2.0, ctx)
    full = min(pool.max_num_seqs, max(1, int(pool.kv.capacity_tokens // max(ctx, 1.0))))
    return {"plan": p.describe(), "tp": p.tp, "pp": p.pp, "ep": p.ep, "dp": p.dp, "workers": p.workers,
            "attention_dp": p.ep > p.tp, "replicas": pool.replicas, "devices": pool.devices,
            "weights_gb_per_device": mem.weights_gb, "memory_capacity_gb_per_device": mem.capacity_gb,
            "kv_capacity_tokens": pool.kv.capacity_tokens, "kv_unit_tokens": pool.kv.unit_tokens,
            "max_num_seqs": pool.max_num_seqs, "token_budget": pool.token_budget,
            "scheduler": pool.scheduler.name, "prefill_ms": rm.t_prefill(1) * 1e3,
            # an iteration's time (speculative decoding: a round of tokens_per_step tokens on average)
            "decode_step_ms": {"1": rm.t_decode(1) * rm.E * 1e3, str(full): rm.t_decode(full) * rm.E * 1e3},
            "tokens_per_step": rm.E}


