"""Issue 12 speed target: `tune` for DeepSeek-V3 on 8 x H200 over attention-DP x EP x expert-TP,
two-batch overlap, EPLB redundant experts and MTP, exhaustive and cold (a fresh Python process:
imports, model and catalog loading included). Target: >= 20,000 plans evaluated in < 3 s.

Run: python benchmarks/bench_moe_tune.py  (prints one JSON line; `--repeat N` runs N cold processes).
It prints the wall and the CPU seconds of each cold process: on the shared 2-core machine the other
sessions' load stretches the wall (a pure-Python loop gets a third of a core at load 8), so the CPU
seconds say what one idle core would take.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# fp8 weights and KV (DeepSeek-V3 ships fp8); nano-batching left to its own benchmark (TBO is this
# search's overlap); aggregated and disaggregated; every TP / PP / EP / attention-DP the 8 devices allow.
PROBLEM = dict(model="deepseek-v3", hardware="hgx-h200", devices=8, workload="2000/500", tpot_slo=50,
               searcher="grid",
               space={"quant": ["fp8"], "kv_dtype": ["fp8"], "nano_batches": [1], "two_batch_overlap": [False, True],
                      "speculative": ["none", "mtp:1", "mtp:2"], "redundant_experts": [0, 32]})

COLD = """
import time, json
t0 = time.perf_counter()
from perfmodel.search import tune
r = tune(**{problem})
t1 = time.perf_counter()
d = r.to_dict()
print(json.dumps({{"evaluated": r.result.evaluated, "search_s": r.result.seconds, "in_process_s": t1 - t0,
                  "pruned": d["pruned"], "best": d["best"]["plan"], "best_tpot_ms": d["best"]["tpot_ms"],
                  "best_tok_s_per_device": d["best"]["output_tok_s_per_device"]}}))
"""


def cold() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", COLD.format(problem=repr(PROBLEM))], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the cold process: what the wall would be on an idle core (the shared machine's
    # load stretches the wall; both are printed)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**json.loads(out.stdout), "wall_s": wall, "cpu_s": cpu}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    runs = [cold() for _ in range(ap.parse_args().repeat)]
    best = min(runs, key=lambda r: r["wall_s"])
    print(json.dumps({**best, "walls_s": [round(r["wall_s"], 2) for r in runs],
                      "cpus_s": [round(r["cpu_s"], 2) for r in runs], "load_1min": round(os.getloadavg()[0], 1),
                      "target": ">= 20000 plans in < 3 s cold", "met": best["evaluated"] >= 20000 and best["wall_s"] < 3,
                      "met_in_cpu_s": best["evaluated"] >= 20000 and best["cpu_s"] < 3}))


if __name__ == "__main__":
    main()
