"""How far the search's fluid nano-batch model is from the pipeline model, and what re-timing the
leading plans (`search.refine`) changes (docs/search.md).

1. Step times of Llama-3.1-70B on H100 (FP8, 4000/500 contexts) with one and two nano-batches:
   the search's vectorized fluid overlap (`search.nanobatch`) against perfmodel.overlap's
   list-scheduled pipeline (what `perfmodel estimate/serve --nano-batches` report).
2. For a few tuning problems: the search's best plans with the fluid ranking and after `refine`,
   each verified in the serving simulator (`search.verify`, vLLM profile): the difference between
   the search's goodput and the simulated one, the simulated goodput of the best plan, and the
   finalist `tune --verify` recommends (the best simulated).

Run: PYTHONPATH=. python benchmarks/search_nano_refine.py  (about three minutes on a 2-core VM)
"""

from __future__ import annotations


import numpy as np

from perfmodel.iteration import BatchShape
from perfmodel.search.group import GroupModel
from perfmodel.search.problem import build_problem
from perfmodel.search.tune import tune

ISL, OSL = 4000, 500
# (model, hardware, devices, workload, ttft_slo ms, tpot_slo ms)
PROBLEMS = [("llama-3.1-70b", "h100-sxm", 8, "fixed:4000:500", 1000, 50),
            ("llama-3.1-8b", "h100-sxm", 2, "fixed:2000:300", 500, 25),
            ("mixtral-8x7b", "h100-sxm", 8, "fixed:2000:200", 1000, 50)]


def _shapes():
    for b in (64, 256):
        yield f"decode b={b}", BatchShape(decode_seqs=b, decode_context=b * ISL)
    for tau, d in ((2048, 64), (8192, 128)):
        s = tau - d
        yield f"mixed tau={tau} d={d}", BatchShape(prefill_tokens=s, prefill_attn_pairs=s * (ISL / 2 + (s + 1) / 2),
                                                   prefill_kv_read=ISL // 2, prefill_seqs=1, decode_seqs=d,
                                                   decode_context=d * ISL)


def step_table() -> None:
    problem = build_problem(model="llama-3.1-70b", hardware="h100-sxm", devices=8, workload=f"{ISL}/{OSL}",
                            space={"quant": "fp8", "kv_dtype": [None]})
    fluid = GroupModel(problem, 0, 0, 0, 0, 0.0, 0.0)
    pipe = GroupModel(problem, 0, 0, 0, 0, 0.0, 0.0, nano_model="pipeline")
    print("| TP | step | 1 nano-batch ms | 2, fluid ms | 2, pipeline ms | gain fluid | gain pipeline |")
    print("|---|---|---|---|---|---|---|")
    for tp in (2, 4, 8):
        par = fluid.par(np.array([tp]), np.array([1]), np.array([1]), np.array([1]))
        for name, b in _shapes():
            kw = dict(cold=False, kvb_dev=0.0, weights_dev=0.0)
            one = float(fluid.step(par, b, nano=np.array([1.0]), **kw)[0][0])
            f2 = float(fluid.step(par, b, nano=np.array([2.0]), **kw)[0][0])
            p2 = float(pipe.step(par, b, nano=np.array([2.0]), **kw)[0][0])
            print(f"| {tp} | {name} | {one * 1e3:.1f} | {f2 * 1e3:.1f} | {p2 * 1e3:.1f} | {one / f2:.2f}x | "
                  f"{one / p2:.2f}x |")


def verify_table() -> None:
    print("\n| problem | ranking | best plan | re-timed rows (s) | search vs simulated, 3 finalists | "
          "simulated goodput of the best, tok/s/device | recommended after simulation (simulated) |")
    print("|---|---|---|---|---|---|---|")
    for model, hw, n, wl, ttft, tpot in PROBLEMS:
        for retime in (False, True):
            r = tune(model=model, hardware=hw, devices=n, workload=wl, ttft_slo=ttft, tpot_slo=tpot,
                     objective="goodput", verify=3, retime_nano=retime)
            diffs = [v["difference"] for v in r.verified if v.get("difference") is not None]
            sim = r.verified[0].get("simulated_goodput_tok_s_per_device")
            rec = next(v for v in r.verified if v["row"] == r.chosen)
            info = r.result.info
            spent = f"{info['nano_rescored']} ({info['nano_rescore_s']:.1f})" if retime else "-"
            print(f"| {model} {n}x {hw} {wl.split(':', 1)[1]} TTFT<={ttft} TPOT<={tpot} | "
                  f"{'fluid + refine' if retime else 'fluid'} | {r.row_dict(r.result.best)['plan']} | {spent} | "
                  f"{', '.join(f'{d:+.0%}' for d in diffs)} | "
                  f"{'-' if sim is None else f'{sim:.0f}'} | "
                  f"{rec['plan']} ({rec.get('simulated_goodput_tok_s_per_device') or 0:.0f}) |", flush=True)


if __name__ == "__main__":
    step_table()
    verify_table()
