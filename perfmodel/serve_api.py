"""`perfmodel.serve(...)`: serve a workload on a deployment; simulated and analytic metrics.

Keyword arguments are named as the CLI options of `perfmodel serve`. Aggregated deployments run
`dp` replicas of the plan (requests routed round-robin, conversations sticky); `scheduler="disagg"`
runs a prefill pool and a decode pool, each with its own TP and replica count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from perfmodel.errors import PerfModelError, pydantic_message
from perfmodel.finetune import coserve, inference_load, peak_finetune_tok_s
from perfmodel.lora import LoraSetup
from perfmodel.plan import Plan
from perfmodel.resolve import resolve_model, resolve_system
from perfmodel.serving import analytic, disagg, goodput
from perfmodel.serving.deployment import Pool, build_pool, simulate_pool
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.serving.metrics import Timeline, slo_attainment, summarize
from perfmodel.specs.workload import AnyWorkload, Requests, TraceWorkload, load_workload

DEFAULT_REQUESTS = 1000
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

    def __getitem__(self, key):
        return self.to_dict()[key]

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
          num_requests: int | None = None, scheduler: str | None = None, engine: str = "vllm",
          ttft_slo_ms: float | None = None, tpot_slo_ms: float | None = None, slo_target: float = 0.9,
          seed: int = 0, tp: int = 1, pp: int = 1, ep: int = 1, dp: int = 1, quant: str | None = None,
          kv_dtype: str | None = None, calibration: str | None = None, max_batch: int | None = None,
          token_budget: int | None = None, nano_batches: int = 1,
          nano_split: tuple[float, ...] | None = None, kv_fraction: float | None = None, kv_layout: str | None = None,
          block_size: int | None = None, preemption: str | None = None, prefix_caching: bool | None = None,
          prefix_hit_rate: float = 1.0, cacheblend: bool = False, prefill_tp: int | None = None,
          prefill_dp: int = 1, decode_tp: int | None = None, decode_dp: int = 1, simulate: bool = True,
          goodput_search: bool = True, lora_adapters: int | None = None, lora_rank: int | tuple[int, ...] = 8,
          lora_popularity: float = 1.0, finetune_seq_len: int | None = None, **placement) -> ServeResult:
    """Serve `workload` (fixed:ISL:OSL, preset, YAML or BurstGPT CSV) offline or at `rate` req/s.
    `nano_split` (relative nano-batch sizes) sets `nano_batches` to its length; `placement`: the
    Plan's offload fields (weights_offload, kv_offload, activations_offload, attention_on_cpu,
    sparse_kv), applied to every pool. `lora_adapters` (S-LoRA): that many adapters of `lora_rank`
    (one rank, or ranks cycled over the adapters) requested with Zipf(`lora_popularity`) shares.
    `finetune_seq_len` (FlexLLM): PEFT finetuning of sequences of that length co-served in each
    iteration's slack under `tpot_slo_ms` at `rate` (analytic, `perfmodel.finetune`)."""
    if offline and rate is not None:
        raise PerfModelError("give either --offline or --rate, not both")
    if placement.get("spec_method"):  # issue 12: the simulator advances one token per decode step
        raise PerfModelError(f"spec_method={placement['spec_method']}: the serving simulator does not model "
                             f"speculative decoding yet; use `perfmodel estimate` or `perfmodel tune --speculative`")
    check_serve_options(rate=rate, num_requests=num_requests, seed=seed, slo_target=slo_target,
                        ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms, block_size=block_size,
                        prefix_hit_rate=prefix_hit_rate, kv_fraction=kv_fraction,
                        pools={"--prefill-tp": prefill_tp, "--prefill-dp": prefill_dp, "--decode-tp": decode_tp,
                               "--decode-dp": decode_dp})
    spec = resolve_model(model)
    system = resolve_system(hardware, calibration=calibration)
    eng = get_engine(engine)
    wl = load_workload(workload) if isinstance(workload, str) else workload
    n = num_requests if num_requests is not None else (None if isinstance(wl, TraceWorkload) else DEFAULT_REQUESTS)
    if not isinstance(wl, TraceWorkload) and not offline and rate is None and wl.arrival.process != "offline" \
            and getattr(wl.arrival, "rate_req_s", None) is None:
        raise PerfModelError(f"workload {wl.name!r} has no request rate: pass --rate R (requests/s) or --offline")
    requests = wl.sample(n, rate=rate, offline=offline, seed=seed)
    requests, truncated = fit_context(requests, spec.max_context)
    common = dict(quant=quant or spec.quant or "bf16", kv_dtype=kv_dtype, max_batch=max_batch, token_budget=token_budget, pp=pp, ep=ep,
                  nano_batches=len(nano_split) if nano_split else nano_batches, nano_split=nano_split, **placement)
    pool_opts = dict(model=spec, system=system, engine=eng, kv_fraction=kv_fraction, kv_layout=kv_layout,
                     block_size=block_size, preemption=preemption, prefix_caching=prefix_caching,
                     prefix_hit_rate=prefix_hit_rate, cacheblend=cacheblend,
                     lora=_lora(lora_adapters, lora_rank, lora_popularity))
    disaggregated = (scheduler or "").lower() == "disagg"
    if disaggregated:
        pre = build_pool(plan=_plan(tp=prefill_tp or tp, dp=prefill_dp, mode="prefill", **common),
                         scheduler="prefill_first", **pool_opts)
        dec = build_pool(plan=_plan(tp=decode_tp or tp, dp=decode_dp, mode="decode", **common),
                         scheduler="decode_only", **pool_opts)
        devices = pre.devices + dec.devices
        pools = {"prefill": _describe(pre), "decode": _describe(dec)}
    else:
        pre = dec = build_pool(plan=_plan(tp=tp, dp=dp, **common), scheduler=scheduler, **pool_opts)
        devices = pre.devices
        pools = {"aggregated": _describe(pre)}

    mean_in, mean_out, ctx = workload_moments(requests)
    t0 = time.perf_counter()
    if disaggregated:
        est = disagg.estimate(system, pre, dec, mean_input=mean_in, mean_output=mean_out, decode_context=ctx,
                              rate=rate, ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms)
    else:
        rm = _replica_model(pre, mean_in, mean_out, ctx)
        est = analytic.estimate(rm, replicas=pre.replicas, rate=rate, ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms)
    analytic_ms = (time.perf_counter() - t0) * 1e3

    config = {"model": spec.name, "hardware": system.id, "engine": eng.name,
              "scheduler": "disagg" if disaggregated else pre.scheduler.name, "workload": wl.name,
              "mode": "offline" if offline else ("rate" if rate is not None else "workload arrivals"),
              "rate_req_s": rate, "requests": len(requests), "truncated_to_context": truncated, "seed": seed,
              "pools": pools,
              "ttft_slo_ms": ttft_slo_ms, "tpot_slo_ms": tpot_slo_ms, "slo_target": slo_target}
    result = ServeResult(config=config, metrics={}, analytic={**est.to_dict(), "wall_ms": analytic_ms},
                         goodput_req_s=None, devices=devices)
    if finetune_seq_len is not None:
        if disaggregated or rate is None or tpot_slo_ms is None:
            raise PerfModelError("--finetune-seq-len co-serves finetuning with an aggregated deployment at a rate: "
                                 "give --rate and --tpot-slo, without --scheduler disagg")
        result.finetune = _finetune(pre, rate=rate, mean_in=mean_in, mean_out=mean_out, tpot_slo_ms=tpot_slo_ms,
                                    seq_len=finetune_seq_len)
    if not simulate:
        return result

    def run(req: Requests):
        if disaggregated:
            p_run, d_run, finish = disagg.simulate(system, pre, dec, **_columns(req), seed=seed)
            stats = {"preemptions": p_run.preemptions + d_run.preemptions,
                     "iterations": p_run.iterations + d_run.iterations,
                     "prefill_tokens_computed": p_run.prefill_tokens_computed, "cached_tokens": p_run.cached_tokens}
            return Timeline(req.arrival_s, p_run.first_token_s, finish, req.input_tokens, req.output_tokens), stats
        r = simulate_pool(pre, **_columns(req), seed=seed)
        stats = {"preemptions": r.preemptions, "iterations": r.iterations, "area_req_s": r.area_req_s,
                 "prefill_tokens_computed": r.prefill_tokens_computed, "cached_tokens": r.cached_tokens,
                 "emitted_tokens": int(r.emitted.sum())}
        return Timeline(req.arrival_s, r.first_token_s, r.finish_s, req.input_tokens, req.output_tokens), stats

    t0 = time.perf_counter()
    timeline, stats = run(requests)
    sim_s = time.perf_counter() - t0
    result.timeline = timeline
    result.metrics = summarize(timeline, devices=devices, ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms)
    result.sim = {**stats, "wall_s": sim_s, "step_model_calls": pre.timer.calls + (dec.timer.calls if dec is not pre else 0)}
    if goodput_search and (ttft_slo_ms is not None or tpot_slo_ms is not None):
        def attainment(r: float) -> float:
            tl, _ = run(wl.sample(max(len(requests), GOODPUT_MIN_REQUESTS), rate=r, seed=seed))
            return slo_attainment(tl, ttft_slo_ms, tpot_slo_ms, warmup=goodput.WARMUP)
        result.goodput_req_s = goodput.search(attainment, target=slo_target, guess=est.saturation_req_s)
    return result


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


def _describe(pool: Pool) -> dict:
    return {"plan": pool.plan.describe(), "replicas": pool.replicas, "devices": pool.devices,
            "kv_capacity_tokens": pool.kv.capacity_tokens, "kv_unit_tokens": pool.kv.unit_tokens,
            "max_num_seqs": pool.max_num_seqs, "token_budget": pool.token_budget,
            "scheduler": pool.scheduler.name}


