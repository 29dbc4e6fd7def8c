"""Cost of heterogeneous (NAS) models on the step path: one decode-step evaluation and a closed-loop
`serve` of Llama-Nemotron Super-49B and Ultra-253B next to Llama-3.3-70B (a plain model: one layer
group), on one H200 node at TP 8. Prints figures; asserts nothing (speed is not tested by timing).

Run: python benchmarks/bench_nas.py
"""

from __future__ import annotations

import time

from perfmodel import hardware, specs
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.serve_api import serve
from perfmodel.stepmodel import StepModel

MODELS = ("llama-3.3-70b", "llama-3.3-nemotron-super-49b", "llama-3.1-nemotron-ultra-253b")
STEPS = 200          # decode-step evaluations timed per model
REQUESTS = 2000      # closed-loop requests per serve run (64 clients, 1024/256 tokens)


def main() -> None:
    system = hardware.resolve("h200-sxm")
    print(f"{'model':32s} {'groups':>6s} {'step eval ms':>12s} {'serve s':>8s} {'TPOT ms':>8s} {'TTFT ms':>8s}")
    for name in MODELS:
        model = specs.load_model(name)
        sm = StepModel.build(model=model, system=system, plan=Plan(tp=8))
        t0 = time.perf_counter()
        for c in range(STEPS):
            sm.iteration_time_s(BatchShape.decode(32, 1000 + c))
        step_ms = (time.perf_counter() - t0) / STEPS * 1e3
        t0 = time.perf_counter()
        d = serve(model=name, hardware="h200-sxm", tp=8, workload="random:1024:256:0.8", concurrency=64,
                  num_requests=REQUESTS, goodput_search=False).to_dict()
        serve_s = time.perf_counter() - t0
        print(f"{name:32s} {len(model.layer_groups):6d} {step_ms:12.2f} {serve_s:8.2f} "
              f"{d['tpot_ms']['mean']:8.2f} {d['ttft_ms']['mean']:8.1f}")


if __name__ == "__main__":
    main()
