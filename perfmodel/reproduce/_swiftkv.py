"""SwiftKV's published throughput (published_figures.csv row 60) through the SwiftKV transform."""

from __future__ import annotations

from perfmodel.bounds import compute_bounds
from perfmodel.plan import Plan
from perfmodel.reproduce._entry import Context, Entry, computed
from perfmodel.resolve import resolve_model
from perfmodel.swiftkv import SwiftKV
from perfmodel.swiftkv import estimate as swiftkv_estimate

SRC = "SwiftKV arXiv:2410.03960 v2 abstract; published_figures.csv row 60"
SKIP_FRACTION = 0.5        # SwiftKV abstract: prefill compute of Llama-3.1-8B / 70B cut by 50% (half the layers)
ISL, OSL = 2048, 256       # Snowflake SwiftKV model cards: 2K-token inputs, 256 outputs (notes s8; low confidence)


def swiftkv(ctx: Context) -> Entry:
    system = ctx.system("h100-sxm")
    model = resolve_model("llama-3.1-70b")
    plan = Plan(tp=4, quant="bf16")
    batch = int(compute_bounds(model=model, system=system, plan=plan, isl=ISL, osl=OSL).max_concurrency)
    swift = swiftkv_estimate(swift=SwiftKV(SKIP_FRACTION), model=model, hardware=system, plan=plan,
                             batch_size=batch, isl=ISL, osl=OSL)
    tok_s = swift.throughput_tok_s * (ISL + OSL) / OSL        # input + output tokens, as the claim counts
    pre = swift.memory["swiftkv"]
    setup = {"model": "llama-3.1-70b with SingleInputKV over 50% of the layers", "hardware": "4x h100-sxm",
             "parallelism": "TP=4", "precision": "bf16",
             "workload": f"static batch of {batch} (the most that fit), {ISL} in / {OSL} out",
             "baseline": "none (absolute figure)",
             "sources": {"claim, model, hardware": SRC, "skip fraction": "SwiftKV abstract (50% prefill compute)",
                         "workload": "published_figures_notes.md s8: model cards' 2K inputs / 256 outputs; "
                                     "the peak point's lengths were not read"}}
    return computed(seed="SwiftKV", claim="16K tok/s (input + output; 560 normalized TFLOPs/GPU) for Llama-3.1-70B "
                    "in 16-bit on 4x H100, prefill compute cut by 50%", setup=setup, published=16000.0,
                    predicted=tok_s, unit="tok/s (system, input + output)", kind="absolute", source=SRC,
                    why=f"prefill compute x{pre['compute_fraction']:.2f}, time x{pre['time_fraction']:.2f}; "
                        "the peak point's prompt/output lengths are not known")
