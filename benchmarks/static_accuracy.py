"""Static-estimate error against the public figures where a static batch applies.

QServe's table (published_figures.csv rows 17-22) was measured with static batches (in-flight
batching off) at the batch sizes it lists: the static estimate's throughput (batch x osl /
(TTFT + (osl-1) TPOT)) is directly comparable. NanoFlow's analytic optimum (row 10 and its
"other models" figure) is compared with `perfmodel bound`'s optimal_tok_s_per_device.
Run: PYTHONPATH=. python benchmarks/static_accuracy.py [--markdown]
"""

from __future__ import annotations

import statistics
import sys

import perfmodel
from perfmodel.plan import Plan
from perfmodel.resolve import resolve_model, resolve_system

# (row, model, hardware, batch, published generated tok/s); QServe README, W4A8KV4, 1024 in / 512 out
QSERVE = [(17, "llama-3-8b", "a100-sxm-80gb", 256, 3005), (18, "llama-3-8b", "l40s", 128, 3656),
          (19, "qwen1.5-72b", "a100-sxm-80gb", 32, 340), (20, "qwen1.5-72b", "l40s", 4, 59),
          (21, "llama-2-70b", "a100-sxm-80gb", 96, 419), (22, "llama-2-70b", "l40s", 24, 286)]
# NanoFlow optimum, tok/s/GPU on 8x A100-80GB (Llama-3-8B: one GPU); published_figures_notes.md
NANOFLOW = [("llama-2-70b", 8, 1857), ("llama-3-70b", 8, 1850), ("qwen2-72b", 8, 1800), ("deepseek-67b", 8, 1941),
            ("mixtral-8x7b", 8, 10300), ("llama-3-8b", 1, 16250)]


def rows() -> list[list]:
    out = []
    for rid, model, hw, batch, pub in QSERVE:
        r = perfmodel.estimate(model=model, hardware=hw, batch_size=batch, isl=1024, osl=512, quant="w4a8kv4")
        note = "" if r.fits else f"does not fit ({r.memory_per_device_gb:.0f} of {r.memory_capacity_gb:.0f} GB)"
        out.append([f"QServe row {rid}", f"{model} {hw} b{batch} w4a8kv4", r.throughput_tok_s, pub, note])
    for model, tp, pub in NANOFLOW:
        b = perfmodel.bound(model=resolve_model(model), system=resolve_system("dgx-a100"),
                            plan=Plan(tp=tp, quant="fp16"), isl=1024, osl=512)
        out.append(["NanoFlow optimum", f"{model} tp{tp} fp16 a100", b.optimal_tok_s_per_device, pub, ""])
    return out


def main() -> None:
    table = rows()
    errs = [abs(p / q - 1) * 100 for _, _, p, q, _ in table]
    md = "--markdown" in sys.argv
    if md:
        print("| source | case | predicted | published | error | note |\n|---|---|---|---|---|---|")
    for (src, case, pred, pub, note), e in zip(table, errs):
        sign = "+" if pred >= pub else "-"
        line = (f"| {src} | {case} | {pred:,.0f} | {pub:,.0f} | {sign}{e:.1f}% | {note} |" if md else
                f"{src:18s} {case:40s} predicted {pred:9,.0f} published {pub:9,.0f} error {sign}{e:5.1f}% {note}")
        print(line)
    qs = errs[:len(QSERVE)]
    nf = errs[len(QSERVE):]
    print(f"\nmedian absolute error: QServe static rows {statistics.median(qs):.1f}%, "
          f"NanoFlow optimum {statistics.median(nf):.1f}%, all {statistics.median(errs):.1f}%")


if __name__ == "__main__":
    main()
