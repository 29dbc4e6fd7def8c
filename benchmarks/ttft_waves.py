"""Measured mean TTFT in units of the model's own one-request prefill, per campaign and concurrency
(issue 11's TTFT target; docs/serving.md, "Measured serving runs", TTFT in prefill units).

For every expressible row of measured_serving.csv the row's plan runs once with one client, one
request at a time, its prompt length, 16 output tokens and no front-end latency: that TTFT is one
prefill step on an idle engine (`single`). The ratio measured TTFT / single says how many prefills a
request waited for, the quantity a TTFT error on these rows is about:

  - a fixed latency (front end, streaming) would make the ratio fall as the prefill grows (ISL, lower TP);
  - slower prefill kernels would show at every concurrency, the 1-client rows included;
  - prompts that arrive in waves (clients in lockstep) make it a function of the concurrency and of
    how many prompts one iteration takes (k): a wave of C prompts served k per iteration waits
    (C + k) / 2 prefills on average (`full_wave`).

It also counts the rows whose measured TTFT is below the profile's fitted front-end latency alone
(frontend_ms is a lower bound of every predicted TTFT).

Run: PYTHONPATH=. python benchmarks/ttft_waves.py [--campaign trtllm:1.0.0rc3] [--max-clients 16]
(all aggregated rows: about 15 s on a 2-core machine; each distinct plan and prompt length runs once)
"""

from __future__ import annotations

import argparse
import collections
import statistics

import perfmodel.accuracy as A
from perfmodel.serving.engine_profiles import ENGINES
from perfmodel.serving.fit import one_prefill_ms

def prompts_per_iteration(engine: str, isl: int, clients: int, *, grid: bool) -> int:
    """Prompts of ISL tokens one iteration takes when a whole wave waits (k of `full_wave`)."""
    budget = ENGINES[engine].token_budget
    if grid and engine == "trtllm-pytorch":
        # AIConfigurator rule_plugin/benchmark/trtllm.rule (aggregated): max_num_tokens =
        # max_batch_size + ISL + 1500 with max_batch_size = the benchmark's concurrency, chunked
        # prefill off (docs/serving.md, "Launch settings of the grid")
        budget = clients + isl + 1500
    return max(1, min(clients, budget // isl))


def full_wave(clients: int, k: int) -> float:
    """Mean prefills waited by a wave of `clients` equal prompts served k per iteration: the j-th
    iteration's prompts (j = 1..C/k) wait j iterations of k prefills each."""
    steps = -(-clients // k)
    return sum(min(k, clients - (j - 1) * k) * j * k for j in range(1, steps + 1)) / clients


def single_ttft_ms(case: A.Case, cache: dict) -> float | None:
    """One prefill on an idle engine with the row's shipped profile (perfmodel.serving.fit.one_prefill_ms)."""
    return one_prefill_ms(case, ENGINES[case.kwargs["engine"]], cache)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--campaign", action="append", help="backend:version (repeatable; default: all aggregated rows)")
    ap.add_argument("--max-clients", type=int, default=None, help="only rows with at most this many clients")
    a = ap.parse_args()
    want = {tuple(c.split(":", 1)) for c in a.campaign} if a.campaign else None
    cache: dict = {}
    ratios: dict[tuple, list[tuple[float, float, float]]] = collections.defaultdict(list)
    below_frontend: dict[str, list[str]] = collections.defaultdict(list)
    for i, r in enumerate(A.read_rows(None), start=2):
        if r["mode"] != "agg" or (want and (r["backend"], r["backend_version"]) not in want):
            continue
        case = A.case_from_row(f"r{i}", r)
        if not isinstance(case, A.Case) or (a.max_clients and case.kwargs["concurrency"] > a.max_clients):
            continue
        engine = case.kwargs["engine"]
        if case.ttft_ms < ENGINES[engine].frontend_ms:
            below_frontend[engine].append(f"r{i} ({case.ttft_ms:.0f} ms)")
        one = single_ttft_ms(case, cache)
        if not one:
            continue
        isl, c = int(r["isl"]), case.kwargs["concurrency"]
        grid = A.length_ratio(r) == 1.0
        k = prompts_per_iteration(engine, isl, c, grid=grid)
        camp = (f"{r['backend']} {r['backend_version'] or '-'}{' (grid)' if grid else ''} "
                f"{r['model'].split('/')[-1]} {r['system']}")
        ratios[(camp, c)].append((case.ttft_ms / one, full_wave(c, k), isl))
    print("measured mean TTFT / the model's one-request prefill (median, min-max over ISL, OSL and TP);"
          " full wave: the mean prefills a lockstep wave of C prompts waits, k per iteration (full_wave)")
    print(f"{'campaign':58s} {'C':>4s} {'rows':>4s}  {'measured':>8s} {'range':>13s}  {'full wave':>9s}")
    for (camp, c), xs in sorted(ratios.items()):
        m = [x[0] for x in xs]
        w = statistics.median(x[1] for x in xs)
        print(f"{camp:58s} {c:4d} {len(xs):4d}  {statistics.median(m):8.1f} {min(m):6.1f}-{max(m):<6.1f}  {w:9.1f}")
    for engine, keys in sorted(below_frontend.items()):
        print(f"{engine}: {len(keys)} rows measure a mean TTFT below its fitted front end alone "
              f"({ENGINES[engine].frontend_ms:g} ms): {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}")


if __name__ == "__main__":
    main()
