"""NanoFlow reproduction (docs/bounds.md): optimum per model, predicted throughput with and
without nano-batch overlap, fraction of optimal, overlap gain; NanoFlow's Fig. 9 ablation; and the
engine-level comparison with vLLM v0.5.3 through the serving simulator.

Setup (NanoFlow OSDI'25 s6): one DGX A100 80GB node (`dgx-a100`), FP16, TP8 (Llama-3-8B: one
GPU), every request 1024 prompt / 512 output tokens (Fig. 9 also 512/512 and 512/1024), offline.

Run: python benchmarks/nanoflow_bounds.py [--no-engines]  (prints markdown tables; the engine
table simulates 2 x 6 offline runs and takes about two minutes on a 2-core VM)
"""

from __future__ import annotations

import sys
import time

from perfmodel.bounds import compute_bounds, predict
from perfmodel.plan import Plan

# model: (tp, published optimum tok/s/GPU, NanoFlow measured tok/s/GPU, vLLM v0.5.3 measured tok/s/GPU)
# NanoFlow Fig. 7 (Llama-2-70B, 1024/512) and Fig. 11 (the others); published_figures.csv rows 1-15.
NANOFLOW = {
    "llama-2-70b": (8, 1857, 1263, 552), "llama-3-70b": (8, 1850, 1306, 593), "qwen2-72b": (8, 1800, 1213, 554),
    "deepseek-67b": (8, 1941, 1147, 532), "mixtral-8x7b": (8, 10300, 5188, 997), "llama-3-8b": (1, 16250, 12756, 5187),
}
# NanoFlow Fig. 9 (Llama-2-70B, 8x A100, tok/s/GPU): (non-overlap, nano-batch only, NanoFlow) per workload,
# all three with NanoFlow's asynchronous scheduling and kernels; KV offload off.
FIG9 = {(512, 512): (1106, 982, 1323), (1024, 512): (1092, 958, 1291), (512, 1024): (1048, 952, 1277)}
KS = (2, 3, 4)


def _best_overlap(name, base, isl, osl, b):
    return max(((k, predict(model=name, system="dgx-a100", plan=base.model_copy(update={"nano_batches": k}),
                            isl=isl, osl=osl, bounds=b)) for k in KS), key=lambda kv: kv[1].tok_s_per_device)


def rows():
    for name, (tp, pub, measured, vllm) in NANOFLOW.items():
        base = Plan(tp=tp, quant="fp16")
        b = compute_bounds(model=name, system="dgx-a100", plan=base, isl=1024, osl=512)
        seq = predict(model=name, system="dgx-a100", plan=base, isl=1024, osl=512, bounds=b)
        best_k, best = _best_overlap(name, base, 1024, 512, b)
        opt = b.optimal_tok_s_per_device
        yield {"model": name, "tp": tp, "optimum": opt, "published": pub, "error": opt / pub - 1,
               "tflops": b.gemm_tflops_at_dense_batch, "no_overlap": seq.tok_s_per_device,
               "overlap": best.tok_s_per_device, "k": best_k, "frac_no_overlap": seq.tok_s_per_device / opt,
               "frac_overlap": best.tok_s_per_device / opt, "gain": best.tok_s_per_device / seq.tok_s_per_device,
               "measured": measured, "measured_frac": measured / pub, "vllm": vllm, "t_r": b.classification.t_r,
               "net": b.classification.net_over_compute}


def ablation_rows():
    """Fig. 9: the same engine without overlap, nano-batched without overlap, and overlapped."""
    from perfmodel import overlap as OV
    from perfmodel.bounds import steady_state_batch
    from perfmodel.stepmodel import StepModel
    from perfmodel.hardware import resolve
    from perfmodel.specs import load_model

    model, system = load_model("llama-2-70b"), resolve("dgx-a100")
    for (isl, osl), (m_seq, m_nano, m_ovl) in FIG9.items():
        base = Plan(tp=8, quant="fp16")
        b = compute_bounds(model=model, system=system, plan=base, isl=isl, osl=osl)
        seq = predict(model=model, system=system, plan=base, isl=isl, osl=osl, bounds=b)
        k, best = _best_overlap(model, base, isl, osl, b)
        shape = steady_state_batch(best.concurrency, isl, osl)
        sm = StepModel.build(model=model, system=system, plan=base.model_copy(update={"nano_batches": k}),
                             max_tokens=int(shape.tokens) + 1)
        r = OV.overlap(sm, shape)
        nano_only = best.tok_s_per_device * r.t_overlap_s / r.t_nano_sequential_s
        yield {"isl": isl, "osl": osl, "seq": seq.tok_s_per_device, "nano": nano_only, "ovl": best.tok_s_per_device,
               "k": k, "split": r.split, "t_sched_ms": r.t_overlap_s * 1e3, "t_fluid_ms": r.t_fluid_s * 1e3,
               "m_seq": m_seq, "m_nano": m_nano, "m_ovl": m_ovl}


def engine_rows(n_requests: int = 2000):
    """NanoFlow's engine profile against vLLM v0.5.3's, each simulated offline (serving model)."""
    from perfmodel.serve_api import serve

    for name, (tp, pub, measured, vllm) in NANOFLOW.items():
        out = {}
        for engine in ("nanoflow", "vllm-0.5"):
            r = serve(model=name, hardware="dgx-a100", workload="fixed:1024:512", offline=True, num_requests=n_requests,
                      engine=engine, tp=tp, quant="fp16", goodput_search=False)
            out[engine] = r.metrics["total_tok_s_per_device"]
        yield {"model": name, "nanoflow": out["nanoflow"], "vllm": out["vllm-0.5"], "m_nanoflow": measured,
               "m_vllm": vllm}


def main(engines: bool = True) -> None:
    print("| model | TP | GEMM TFLOPS @2048 | optimum (ours) | published | error | T_R | T_net/T_comp | "
          "no overlap (% opt) | overlap, best K (% opt) | gain | NanoFlow measured (% of its opt) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows():
        print(f"| {r['model']} | {r['tp']} | {r['tflops']:.0f} | {r['optimum']:,.0f} | {r['published']:,} | "
              f"{r['error']:+.1%} | {r['t_r']:.2f} | {r['net']:.2f} | {r['no_overlap']:,.0f} ({r['frac_no_overlap']:.1%}) | "
              f"{r['overlap']:,.0f}, K={r['k']} ({r['frac_overlap']:.1%}) | {r['gain']:.3f}x | "
              f"{r['measured']:,} ({r['measured_frac']:.1%}) |")
    print("\nNanoFlow Fig. 9 ablation, Llama-2-70B (tok/s/GPU, ours / measured):\n")
    print("| workload | no overlap | nano-batches, no overlap | overlap (K, split) | overlap gain (measured) | "
          "iteration: schedule / ideal pipeline (ms) |")
    print("|---|---|---|---|---|---|")
    for r in ablation_rows():
        print(f"| {r['isl']}/{r['osl']} | {r['seq']:,.0f} / {r['m_seq']:,} | {r['nano']:,.0f} / {r['m_nano']:,} | "
              f"{r['ovl']:,.0f} / {r['m_ovl']:,} (K={r['k']}, {'/'.join(f'{x:.3f}' for x in r['split'])}) | "
              f"{r['ovl'] / r['seq']:.3f}x ({r['m_ovl'] / r['m_seq']:.3f}x) | "
              f"{r['t_sched_ms']:.0f} / {r['t_fluid_ms']:.0f} |")
    if not engines:
        return
    t0 = time.perf_counter()
    print("\nEngine level, serving simulator, 1024/512 offline (tok/s/GPU, ours / measured):\n")
    print("| model | NanoFlow engine | vLLM v0.5.3 engine | NanoFlow / vLLM (measured) |")
    print("|---|---|---|---|")
    for r in engine_rows():
        print(f"| {r['model']} | {r['nanoflow']:,.0f} / {r['m_nanoflow']:,} | {r['vllm']:,.0f} / {r['m_vllm']:,} | "
              f"{r['nanoflow'] / r['vllm']:.2f}x ({r['m_nanoflow'] / r['m_vllm']:.2f}x) |")
    print(f"\n(engine table: {time.perf_counter() - t0:.0f} s wall)")


if __name__ == "__main__":
    main(engines="--no-engines" not in sys.argv[1:])
