"""Equal-length clients in lockstep: how the per-request front-end latency holds the waves together.

For CSV lines of the AIConfigurator eval grid (measured_serving.csv; equal request lengths, see
docs/serving.md, "Equal-length campaigns") prints the measured mean TTFT and the simulated one with
the campaign's equal lengths, once per front-end latency: the engine profile's fitted value and the
given ones. The front end is dead time between a client's completion and its next request reaching
the scheduler, so it decides how the next wave of prompts gathers.

`--token-budget N` (with `--scheduler chunked`: chunked prefill) replaces the profile's tokens per
iteration, to see how the wave splits when fewer prompts fit one step.

Run: python benchmarks/lockstep_frontend.py [--lines 120,125,531] [--frontend-ms 0,10,30]
     [--token-budget N] [--scheduler chunked]
(a few seconds in all on a 2-core machine)
"""

from __future__ import annotations

import argparse

import perfmodel.accuracy as A
from perfmodel.serve_api import serve
from perfmodel.serving.engine_profiles import ENGINES

# TRT-LLM Qwen3-32B fp8 TP1 4096/128 at 8 clients and 1024/512 at 16; vLLM Qwen3-32B TP2 4096/512 at 8
DEFAULT_LINES = "120,125,531"


def ttft_ms(case: A.Case, frontend_ms: float | None, profile: dict) -> float:
    kw = dict(case.kwargs)
    update = dict(profile) if frontend_ms is None else {**profile, "frontend_ms": frontend_ms}
    kw["engine"] = ENGINES[kw["engine"]].model_copy(update=update)
    return serve(**kw, goodput_search=False).to_dict()["ttft_ms"]["mean"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", default=DEFAULT_LINES, help="CSV line numbers (the report's row keys without 'r')")
    ap.add_argument("--frontend-ms", default="0,10,30", help="front-end latencies to try besides the fitted one, ms")
    ap.add_argument("--token-budget", type=int, default=None, help="tokens per iteration instead of the profile's")
    ap.add_argument("--scheduler", default=None, help="scheduler instead of the profile's (e.g. chunked)")
    a = ap.parse_args()
    profile = {k: v for k, v in (("token_budget", a.token_budget), ("scheduler", a.scheduler)) if v is not None}
    rows = A.read_rows(None)
    extra = [float(x) for x in a.frontend_ms.split(",") if x]
    for line in (int(x) for x in a.lines.split(",")):
        r = rows[line - 2]
        case = A.case_from_row(f"r{line}", r, documented_clients=True)
        if not isinstance(case, A.Case):
            print(f"r{line}: not expressible ({case.reason})")
            continue
        fitted = ENGINES[case.kwargs["engine"]].frontend_ms
        cells = [f"fitted {fitted:g} ms: {ttft_ms(case, None, profile):,.0f}"]
        cells += [f"{fe:g} ms: {ttft_ms(case, fe, profile):,.0f}" for fe in extra]
        print(f"r{line} {case.label} (lengths x{A.length_ratio(r):g}); TTFT ms measured {case.ttft_ms:,.0f}; "
              f"simulated with front end " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
