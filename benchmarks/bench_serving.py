"""Speed of the serving model: simulated requests/s for 10,000 requests, analytic estimate time.

Prints figures and ratios against baselines measured in the same run:
  - simulator vs the step-model time a naive simulator would spend (one uncached
    `iteration_time_s` call per iteration it simulated, at this run's measured cost per call);
  - analytic estimate vs one uncached step-model call.
Targets (issue 3): 10,000 requests simulated in < 2 s; the analytic estimate in < 5 ms.
Run: python benchmarks/bench_serving.py
"""

from __future__ import annotations

import time

from perfmodel import hardware
from perfmodel import specs
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.serving import analytic
from perfmodel.serving.deployment import build_pool, simulate_pool
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.specs.workload import load_workload

N = 10_000
CASES = [  # (label, engine, scheduler, workload, rate, or None for offline, or "cN" for N closed-loop clients)
    ("ShareGPT, Poisson 20 req/s, chunked prefill (vLLM)", "vllm", "chunked", "sharegpt", 20.0),
    ("ShareGPT, Poisson 20 req/s, prefill-first (vLLM 0.5)", "vllm-0.5", "prefill_first", "sharegpt", 20.0),
    ("BurstGPT-like, gamma cv 1.4 at 20 req/s, in-flight (TRT-LLM)", "trtllm", "inflight", "burstgpt", 20.0),
    ("fixed 1000/1000 offline, in-flight (TRT-LLM)", "trtllm", "inflight", "fixed:1000:1000", None),
    ("ShareGPT, closed loop 64 clients, chunked prefill (vLLM)", "vllm", "chunked", "sharegpt", "c64"),
]


def main() -> None:
    model, system = specs.load_model("llama-3.1-8b"), hardware.resolve("h100-sxm")
    for label, engine, sched, wl, rate in CASES:
        pool = build_pool(model=model, system=system, engine=get_engine(engine), plan=Plan(quant="fp8"),
                          scheduler=sched)
        closed = int(rate[1:]) if isinstance(rate, str) else None
        req = load_workload(wl).sample(N, rate=None if closed else rate, offline=rate is None or closed is not None,
                                       seed=0)
        t0 = time.perf_counter()
        run = simulate_pool(pool, arrival_s=req.arrival_s, input_tokens=req.input_tokens,
                            output_tokens=req.output_tokens, concurrency=closed)
        sim_s = time.perf_counter() - t0
        # baseline: one uncached step-model call per simulated iteration
        shape = BatchShape.decode(64, 64 * 700) + BatchShape.prefill(1, 300)
        reps = 200
        t0 = time.perf_counter()
        for i in range(reps):
            pool.step.iteration_time_s(BatchShape.decode(64 + i % 7, (64 + i % 7) * 700) + shape)
        call_s = (time.perf_counter() - t0) / reps
        naive_s = run.iterations * call_s
        print(f"{label}: {N:,} requests in {sim_s:.2f} s = {N / sim_s:,.0f} requests/s   (target < 2 s)")
        print(f"  {run.iterations:,} iterations, {pool.timer.calls:,} step-model calls; baseline: "
              f"{naive_s:.1f} s of step-model calls alone for a naive per-iteration simulator "
              f"({call_s * 1e6:.0f} us/call) -> {naive_s / sim_s:.0f}x")

    pool = build_pool(model=model, system=system, engine=get_engine("vllm"), plan=Plan(quant="fp8"), scheduler=None)
    reps = 50
    best = float("inf")
    for i in range(reps):  # cold: a fresh timer each time, nothing memoised
        fresh = build_pool(model=model, system=system, engine=get_engine("vllm"), plan=Plan(quant="fp8"),
                           scheduler=None)
        t0 = time.perf_counter()
        rm = analytic.ReplicaModel(timer=fresh.timer, kv=fresh.kv, scheduler="chunked", max_num_seqs=256,
                                   token_budget=8192, mean_input=300.0, mean_output=320.0)
        analytic.estimate(rm, replicas=1, rate=10.0)
        best = min(best, time.perf_counter() - t0)
    one_call = float("inf")
    for i in range(20):  # distinct shapes: nothing memoised
        t0 = time.perf_counter()
        pool.step.iteration_time_s(BatchShape.decode(100 + i, (100 + i) * 500))
        one_call = min(one_call, time.perf_counter() - t0)
    print(f"analytic estimate (saturation + latency at 10 req/s, cold memo): {best * 1e3:.2f} ms   (target < 5 ms)")
    print(f"  baseline: one uncached step-model call {one_call * 1e3:.3f} ms -> {best / one_call:.0f} calls' worth")


if __name__ == "__main__":
    main()
