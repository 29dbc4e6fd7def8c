"""What-if: measured serving rows re-run with a share of every prompt served from the prefix cache.

Each row runs as `perfmodel accuracy` builds it (engine, plan, clients, 10 C requests) but with equal
lengths (the AIConfigurator grid's genai-perf sends exactly ISL / OSL) and the first f x ISL tokens
of every prompt a prefix the engine has cached (`system_prompt_tokens`, prefix caching on), for each
share f. It backs docs/serving.md, "vLLM 0.12's Llama-3.1-8B FP8 rows": which share of skipped
prefill the measured TPOT asks for. One cached prefix for all requests stands in for "some prompts
repeat a previous run's": the prefill FLOPs skipped are the same, the TTFT spread is not, so read
the TPOT columns.

Run: PYTHONPATH=. python benchmarks/prefix_share_whatif.py [--rows r611,...] [--shares 0,0.25,0.5,0.75]
(default: CSV lines 611-631, vLLM 0.12 Llama-3.1-8B FP8 on H200; about 30 s)
"""

from __future__ import annotations

import argparse

from perfmodel.accuracy import Case, cases, read_rows
from perfmodel.serve_api import serve
from perfmodel.specs.workload import Fixed
from perfmodel.specs.workload.synthetic import Workload

VLLM_8B_FP8 = ",".join(f"r{line}" for line in range(611, 632))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=VLLM_8B_FP8, help="row keys (rN: CSV line N)")
    ap.add_argument("--shares", default="0,0.25,0.5,0.75", help="shares of each prompt served from the cache")
    args = ap.parse_args()
    shares = [float(x) for x in args.shares.split(",")]
    by_key = {c.key: c for c in cases(read_rows(None)) if isinstance(c, Case)}
    print(f"{'row':>5} {'run':<44} {'measured':>15} " + " ".join(f"{'f=' + format(f, 'g'):>15}" for f in shares))
    print(f"{'':>5} {'':<44} {'TTFT / TPOT ms':>15} " + " ".join(f"{'TTFT / TPOT':>15}" for _ in shares))
    for key in args.rows.split(","):
        case = by_key[key]
        kw = dict(case.kwargs)
        _, isl, osl, _ratio = kw.pop("workload").split(":")
        isl, osl = int(isl), int(osl)
        cells = []
        for f in shares:
            cached = int(f * isl)
            w = Workload(name=f"fixed:{isl}:{osl} cached {cached}", input=Fixed(value=isl - cached),
                         output=Fixed(value=osl), system_prompt_tokens=cached)
            d = serve(**kw, workload=w, prefix_caching=True, goodput_search=False).to_dict()
            cells.append(f"{d['ttft_ms']['mean']:7.0f} / {d['tpot_ms']['mean']:5.1f}")
        run = case.label.split(": ", 1)[1].replace(" on h200-sxm", "")
        print(f"{key:>5} {run:<44} {case.ttft_ms:7.0f} / {case.tpot_ms:5.1f} " + " ".join(f"{c:>15}" for c in cells))


if __name__ == "__main__":
    main()
