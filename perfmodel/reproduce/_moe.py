"""CloudMatrix384 (CloudMatrix-Infer, arXiv:2506.12708): published_figures.csv rows 57-59 as static
estimates with their setups (issue 12; benchmarks/cloudmatrix384.py prints all three).

Setups (published_figures_notes.md s7; "per NPU" = one Ascend 910C package = one device here):
  57  prefill: 16 NPUs, EP over all of them (EP32 in dies), attention data-parallel, W8A8, 4 prompts
      of 4K = 16,384 tokens per NPU in one step; 6,688 tok/s/NPU assumes perfect expert balance,
      so no routing skew. Predicted = 16,384 / TTFT, the step run serially (no micro-batch overlap).
      The paper's prefill pipelines two micro-batches (+23-31% throughput by its ablation); the
      same plan with two-batch overlap is printed as "57 (TBO)": the model's overlap gains 15%,
      so its serial step (2.15 s) is shorter than the 3.0-3.2 s the paper's ablation implies, and
      the overlapped prediction is off by more than the serial one (docs/moe.md, CloudMatrix384).
      The UB all-to-all runs at DeepEP-Ascend's measured normal-kernel rate on this machine
      (catalog `all_to_all_efficiency`, DEEPEP-ASCEND).
  58  decode: 160 NPUs, EP320 in dies = 2 expert slots per NPU: 256 routed experts + 64 EPLB slots
      (the paper spends 32 of its 320 slots on shared-expert copies; the slot count per rank is
      what sets memory and load), attention data-parallel, W8A8, in 4096 / out 256, batch 96 per
      NPU, MTP with one draft token at ~70% acceptance. Predicted = batch / TPOT at TPOT < 50 ms.
  59  the same at batch 8 per NPU, TPOT < 15 ms.
"""

from __future__ import annotations

from perfmodel.estimator import estimate
from perfmodel.plan import Plan
from perfmodel.reproduce._entry import Context, Entry, computed

SRC = ("CloudMatrix384 arXiv:2506.12708 abstract; published_figures.csv rows 57-59 (setups: notes s7, secondary); "
       "UB all-to-all rate: DeepEP-Ascend normal kernels (hardware/catalog/SOURCES.md DEEPEP-ASCEND)")
HARDWARE = "cloudmatrix384"
MODEL = "deepseek-r1"
MTP_ACCEPTANCE = 0.7          # published_figures_notes.md s7: "an assumed ~70% acceptance" (secondary)
DECODE = dict(tp=1, dp=160, ep=160, quant="w8a8", redundant_experts=64, spec_method="mtp",
              spec_acceptance=(MTP_ACCEPTANCE,))
PREFILL = dict(tp=1, dp=16, ep=16, quant="w8a8")
PREFILL_TOKENS_PER_NPU = 16384


def cloudmatrix_rows(ctx: Context) -> list[dict]:
    system = ctx.system(HARDWARE)
    r = estimate(model=MODEL, hardware=system, batch_size=PREFILL_TOKENS_PER_NPU // 4096, isl=4096, osl=2,
                 plan=Plan(**PREFILL))
    out = [{"row": 57, "setup": "prefill 16 NPUs EP16 attn-DP, 4 x 4K prompts, serial step", "metric": "prefill tok/s/NPU",
            "predicted": PREFILL_TOKENS_PER_NPU / (r.ttft_ms / 1e3), "published": 6688, "tpot_ms": None,
            "fits": r.fits}]
    r = estimate(model=MODEL, hardware=system, batch_size=PREFILL_TOKENS_PER_NPU // 4096, isl=4096, osl=2,
                 plan=Plan(**PREFILL, two_batch_overlap=True))
    out.append({"row": "57 (TBO)", "setup": "the same with two-batch overlap (the paper's micro-batch pipeline)",
                "metric": "prefill tok/s/NPU", "predicted": PREFILL_TOKENS_PER_NPU / (r.ttft_ms / 1e3),
                "published": 6688, "tpot_ms": None, "fits": r.fits})
    for row, batch, published, limit_ms in ((58, 96, 1943, 50), (59, 8, 538, 15)):
        r = estimate(model=MODEL, hardware=system, batch_size=batch, isl=4096, osl=256, plan=Plan(**DECODE))
        out.append({"row": row, "setup": f"decode 160 NPUs EP160 +64 EPLB slots, MTP 1 @ {MTP_ACCEPTANCE}, "
                                         f"batch {batch}",
                    "metric": f"decode tok/s/NPU (TPOT < {limit_ms} ms)", "predicted": batch / (r.tpot_ms / 1e3),
                    "published": published, "tpot_ms": r.tpot_ms, "fits": r.fits and r.tpot_ms < limit_ms})
    return out


def cloudmatrix384(ctx: Context) -> Entry:
    rows = {r["row"]: r for r in cloudmatrix_rows(ctx)}
    head = rows[58]
    setup = {"model": "deepseek-r1 (671B MoE), W8A8", "hardware": "CloudMatrix384: 160 Ascend 910C NPUs (decode pool)",
             "parallelism": "attention DP160, EP160 with 64 EPLB slots (EP320 in dies)",
             "workload": "decode, 4096 in / 256 out, batch 96 per NPU, MTP 1 draft token at 70% acceptance",
             "baseline": "none (absolute figure)", "sources": {"all": SRC}}
    return computed(seed="CloudMatrix384", claim="1,943 output tok/s per NPU decoding DeepSeek-R1 at TPOT < 50 ms",
                    setup=setup, published=float(head["published"]), predicted=head["predicted"],
                    unit="output tok/s/NPU", kind="absolute", source=SRC,
                    detail=f"TPOT {head['tpot_ms']:.1f} ms; prefill row 57 {rows[57]['predicted']:,.0f} vs 6,688 "
                           f"(serial; {rows['57 (TBO)']['predicted']:,.0f} with two-batch overlap), "
                           f"batch-8 row 59 {rows[59]['predicted']:,.0f} vs 538 tok/s/NPU",
                    why="the MTP acceptance and the expert placement are secondary-source assumptions")
