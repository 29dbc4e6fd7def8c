"""Speed of `perfmodel sweep`: a 30-point concurrency sweep of an 8-GPU MoE plan.

Prints the sweep's wall time and, as the baseline measured in the same run, the time the simulator
takes for one 1,000-request run of the same deployment at one rate (what a sweep that simulated
every point would pay 30 times). Target (issue 11): the 30-point sweep in < 5 s.
Run: python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import time

import numpy as np

from perfmodel import serve
from perfmodel.search.sweep import sweep

DEPLOYMENT = dict(model="qwen3-30b-a3b", hardware="dgx-h100", workload="sharegpt", engine="vllm")
PLAN = {"tp": 8, "ep": 8, "quant": "fp8"}


def concurrency_points(n: int = 30, top: int = 4096) -> list[int]:
    """n distinct client counts from 1 to `top`, spaced geometrically."""
    k = n
    while len(pts := sorted({round(x) for x in np.geomspace(1, top, k)})) < n:
        k += 1
    return pts


CONCURRENCY = concurrency_points()


def main() -> None:
    t0 = time.perf_counter()
    r = sweep(**DEPLOYMENT, plans=[PLAN], concurrency=CONCURRENCY)
    sweep_s = time.perf_counter() - t0
    pts = r.curves[0].points
    t0 = time.perf_counter()
    serve(**DEPLOYMENT, **PLAN, rate=20.0, num_requests=1000, goodput_search=False)
    one_sim_s = time.perf_counter() - t0
    print(f"{len(pts)}-point concurrency sweep (C = {pts[0]['concurrency']}..{pts[-1]['concurrency']}) of "
          f"{PLAN} on 8 x H100, ShareGPT: {sweep_s:.2f} s (target < 5 s), method: {pts[0]['method']}")
    print(f"  baseline: one simulated 1,000-request serve of the same plan: {one_sim_s:.2f} s; "
          f"30 such points would take {30 * one_sim_s:.1f} s -> the sweep is {30 * one_sim_s / sweep_s:.0f}x faster")


if __name__ == "__main__":
    main()
