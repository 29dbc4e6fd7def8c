"""NanoFlow reproduction (docs/bounds.md): optimum per model, predicted throughput with and
without nano-batch overlap, fraction of optimal, overlap gain.

Setup (NanoFlow OSDI'25 s6): one DGX A100 80GB node (`dgx-a100`), FP16, TP8 (Llama-3-8B: one
GPU), every request 1024 prompt / 512 output tokens, offline (the largest batch that fits).

Run: python benchmarks/nanoflow_bounds.py  (prints a markdown table)
"""

from __future__ import annotations

from perfmodel.bounds import compute_bounds, predict
from perfmodel.plan import Plan

# model: (tp, published optimum tok/s/GPU, NanoFlow measured tok/s/GPU, vLLM % of optimal)
NANOFLOW = {
    "llama-2-70b": (8, 1857, 1263, 22.0), "llama-3-70b": (8, 1850, 1306, 32.0), "qwen2-72b": (8, 1800, 1213, 30.8),
    "deepseek-67b": (8, 1941, 1147, 27.4), "mixtral-8x7b": (8, 10300, 5188, 9.7), "llama-3-8b": (1, 16250, 12756, 31.9),
}
KS = (2, 3, 4)


def rows():
    for name, (tp, pub, measured, vllm) in NANOFLOW.items():
        base = Plan(tp=tp, quant="fp16")
        b = compute_bounds(model=name, system="dgx-a100", plan=base, isl=1024, osl=512)
        seq = predict(model=name, system="dgx-a100", plan=base, isl=1024, osl=512, bounds=b)
        best_k, best = max(((k, predict(model=name, system="dgx-a100", plan=base.model_copy(update={"nano_batches": k}),
                                        isl=1024, osl=512, bounds=b)) for k in KS),
                           key=lambda kv: kv[1].tok_s_per_device)
        # a non-overlapped engine capped at vLLM's default max_num_seqs = 256 sequences in flight
        vllm_like = predict(model=name, system="dgx-a100", plan=base.model_copy(update={"max_batch": 256}),
                            isl=1024, osl=512, bounds=b)
        opt = b.optimal_tok_s_per_device
        yield {"model": name, "tp": tp, "optimum": opt, "published": pub, "error": opt / pub - 1,
               "tflops": b.gemm_tflops_at_dense_batch, "compute_bound": b.bounds["compute"].tok_s_per_device,
               "no_overlap": seq.tok_s_per_device, "overlap": best.tok_s_per_device, "k": best_k,
               "frac_no_overlap": seq.tok_s_per_device / opt, "frac_overlap": best.tok_s_per_device / opt,
               "gain": best.tok_s_per_device / seq.tok_s_per_device, "measured": measured,
               "vllm_like": vllm_like.tok_s_per_device, "gain_vs_vllm_like": max(best.tok_s_per_device, seq.tok_s_per_device)
               / vllm_like.tok_s_per_device,
               "measured_frac": measured / pub, "vllm_frac": vllm / 100, "t_r": b.classification.t_r,
               "net": b.classification.net_over_compute, "dense": b.classification.dense_batch_tokens}


def main() -> None:
    print("| model | TP | GEMM TFLOPS @2048 | optimum (ours) | published | error | T_R | T_net/T_comp | "
          "no overlap (% opt) | overlap, best K (% opt) | gain | NanoFlow measured (% of its opt) | "
          "256-seq engine, no overlap (% opt) | gain over it |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows():
        print(f"| {r['model']} | {r['tp']} | {r['tflops']:.0f} | {r['optimum']:,.0f} | {r['published']:,} | "
              f"{r['error']:+.1%} | {r['t_r']:.2f} | {r['net']:.2f} | {r['no_overlap']:,.0f} ({r['frac_no_overlap']:.1%}) | "
              f"{r['overlap']:,.0f}, K={r['k']} ({r['frac_overlap']:.1%}) | {r['gain']:.3f}x | "
              f"{r['measured']:,} ({r['measured_frac']:.1%}) | {r['vllm_like']:,.0f} ({r['vllm_like'] / r['optimum']:.1%}) | "
              f"{r['gain_vs_vllm_like']:.2f}x |")


if __name__ == "__main__":
    main()
