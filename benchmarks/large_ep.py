"""Large-scale expert-parallel prefill deployments published by SGLang, DeepSeek and Huawei, each as a
static estimate with its setup, printed as published vs predicted (issue 12).

  sglang-h100    LMSYS blog "Deploying DeepSeek with PD Disaggregation and Large-scale Expert
                 Parallelism on 96 H100 GPUs" (May 2025): DeepSeek-V3, prefill on 4 nodes of 8x H100
                 (CX7 400 Gb/s per GPU), attention DP32 x EP32, DeepGEMM block-scaled FP8, DeepEP
                 normal kernels, two-batch overlap, 2,000-token prompts, 16K tokens per GPU per step
                 (8 prompts): 52.3k input tok/s per node = 6,538 per GPU. Measured on real traffic with
                 EPLB; the estimate routes uniformly (no skew), so imbalance is not in it.
  deepseek-h800  deepseek-ai/profile-data README, prefill: "EP32 and TP1 (in line with DeepSeek V3/R1's
                 actual online deployment), prompt length 4K, batch size of 16K tokens per GPU", two
                 micro-batches, "absolutely balanced MoE routing": DeepSeek-R1 on 4 nodes of 8x H800
                 (CX7 400 Gb/s per GPU); 7,839 input tok/s per GPU, the figure docs/moe.md carries for
                 that profile since the CloudMatrix384 work (62.7k per node).
  cloudmatrix    CloudMatrix-Infer (arXiv:2506.12708) row 57 of shared/reference/published_figures.csv:
                 DeepSeek-R1 W8A8 prefill on 16 Ascend 910C NPUs, EP16 (EP32 in dies), 4 x 4K prompts
                 per NPU, perfect expert balance, its micro-batch pipeline: 6,688 tok/s/NPU (setup in
                 perfmodel/reproduce/_moe.py).

Each is estimated with the steps run serially and with two-batch overlap (`--tbo`); the published
figure is an overlapped one. tok/s/GPU = prompt tokens per GPU / TTFT.

Run: PYTHONPATH=. python benchmarks/large_ep.py  (prints a markdown table)
"""

from __future__ import annotations

from perfmodel.estimator import estimate
from perfmodel.reproduce._entry import Context
from perfmodel.reproduce._moe import cloudmatrix_rows

# (name, model, hardware, prompts per GPU, prompt tokens, quant, published tok/s/GPU, source)
SETUPS = (
    ("sglang-h100", "deepseek-v3", "dgx-h100x4", 8, 2000, "fp8-block", 52_300 / 8,
     "LMSYS blog 2025-05-05, 52.3k input tok/s per node"),
    ("deepseek-h800", "deepseek-r1", "hgx-h800x4", 4, 4096, "fp8-block", 7_839,
     "deepseek-ai/profile-data prefill (EP32, 16K tokens/GPU)"),
)
EP = 32


def rows() -> list[dict]:
    out = []
    for name, model, hw, prompts, isl, quant, published, source in SETUPS:
        for tbo in (False, True):
            r = estimate(model=model, hardware=hw, batch_size=prompts, isl=isl, osl=2, tp=1, dp=EP, ep=EP,
                         quant=quant, two_batch_overlap=tbo)
            out.append({"setup": name + (" (TBO)" if tbo else " (serial)"), "published": published,
                        "predicted": prompts * isl / (r.ttft_ms / 1e3), "source": source})
    for x in cloudmatrix_rows(Context()):
        if str(x["row"]).startswith("57"):
            tbo = "TBO" in str(x["row"])
            out.append({"setup": "cloudmatrix" + (" (TBO)" if tbo else " (serial)"), "published": x["published"],
                        "predicted": x["predicted"], "source": "arXiv:2506.12708, published_figures.csv row 57"})
    return out


def main() -> None:
    print("| setup | published tok/s/GPU | predicted | error | source |")
    print("|---|---:|---:|---:|---|")
    for x in rows():
        err = (x["predicted"] - x["published"]) / x["published"] * 100
        print(f"| {x['setup']} | {x['published']:,.0f} | {x['predicted']:,.0f} | {err:+.1f}% | {x['source']} |")


if __name__ == "__main__":
    main()
