"""Large-scale expert-parallel deployments published by DeepSeek, SGLang and Huawei, each as a static
estimate with its setup, printed as published vs predicted (issue 12): prefill, decode, and the
two-batch-overlap ablations the sources measured.

Prefill (tok/s/GPU = prompt tokens per GPU / TTFT):
  sglang-h100    LMSYS blog "Deploying DeepSeek with PD Disaggregation and Large-scale Expert
                 Parallelism on 96 H100 GPUs" (2025-05-05; lm-sys.github.io blog/2025-05-05-large-scale-ep.md):
                 DeepSeek-V3, prefill on 4 nodes of 8x H100 (EP32), DeepGEMM block-scaled FP8, DeepEP
                 normal kernels, two-batch overlap, 2,000-token prompts, 16K tokens per GPU (8 prompts):
                 52.3k input tok/s per node = 6,538 per GPU. Measured on its in-distribution routing with
                 EPLB, which the estimate does not carry (it routes uniformly): the blog's own 4K pair
                 below puts real routing at 1.18x the balanced step.
  sglang-h100-4k-balanced  the same blog's "Overall Throughput" table: 16,384 tokens per GPU, 4,096-token
                 prompts, "simulated perfect EPLB" (random expert selection): 59,337 per node = 7,417
                 per GPU (50,302 with its default expert distribution). The like-for-like row for a
                 uniformly routed estimate.
  deepseek-h800  deepseek-ai/profile-data README, prefill: "EP32 and TP1 ... prompt length 4K, batch size
                 of 16K tokens per GPU", two micro-batches, "absolutely balanced MoE routing": DeepSeek-R1
                 on 4 nodes of 8x H800; 62,713 per node (7,839 per GPU, the SGLang blog's reading of
                 the profile).
  cloudmatrix    CloudMatrix-Infer (arXiv:2506.12708) row 57 of shared/reference/published_figures.csv
                 (setup in perfmodel/reproduce/_moe.py).

Decode (tok/s/GPU = sequences per GPU / TPOT; TPOT per output token, MTP rounds included):
  deepseek-day6  DeepSeek "Day 6: DeepSeek-V3/R1 Inference System Overview" (2025-03-01): decode with
                 routed experts EP144 and MLA / shared experts DP144 over 18 H800 nodes, 32 redundant
                 routed experts, dual micro-batch overlap, ~14.8k output tok/s per node (1,850 per GPU)
                 at an average KV length of 4,989 per output token; 128 sequences per GPU (the SGLang
                 blog's table for this deployment, from DeepSeek's profile). MTP with one draft token at
                 the model's default 0.85 acceptance (DeepSeek-V3 report s5.4.3: 85-90% for the second
                 token): DeepSeek's production serves V3/R1 with MTP; the post gives no rate.
  deepseek-profile  deepseek-ai/profile-data README, decoding: "EP128, TP1, and a prompt length of 4K
                 ... batch size of 128 requests per GPU", two micro-batches, balanced routing; 18,598
                 output tok/s per node (2,325 per GPU) is the SGLang blog's reading of that profile
                 (its decode table, "DeepSeek Profile"; 16 nodes). MTP as in the day-6 row (the SGLang
                 blog simulates MTP to compare with it).
  sglang-h100    the SGLang blog's decode: 9 nodes of 8x H100, EP72 (256 + 32 redundant = 288 slots, 4 per
                 GPU, the blog's EPLB section), DeepEP low-latency kernels, TBO, 256 sequences per GPU at
                 2,000-token inputs, no MTP: 22,282 per node = 2,785 per GPU. Its TBO ablation: 25.5%
                 over the same batch without TBO (22,310 vs 17,777 per node), -27% at 32 per GPU.
  sglang-gb200   LMSYS "Deploying DeepSeek on GB200 NVL72 with PD and Large Scale EP (Part II)"
                 (2025-09-25; blog/2025-09-25-gb200-part-2.md): decode on 48 GPUs of one NVL72 rack,
                 FP8 KV cache, NVFP4 experts, 2,000-token inputs, 1,408 sequences per GPU ("batch size
                 chosen to make KV cache roughly full ... 1408 for 2k ISL"): 13,386 output tok/s per GPU.
                 No TBO (the post overlaps the combine inside the layer instead); 288 expert slots
                 (EP48 needs a slot count divisible by 48; the post does not say).

Not expressible: GB200 Part I's 7,583 tok/s/GPU (its batch size is only in a figure); SGLang's
simulated-MTP decode (dummy kernels stretch its attention); vLLM / llm-d's "2.2k tok/s per H200"
(blog.vllm.ai 2025-12-17 and llm-d's wide-EP guide: DP16 decode on H200 over InfiniBand, but neither
gives the batch or the sequence lengths behind the figure).

Run: PYTHONPATH=. python benchmarks/large_ep.py  (prints markdown tables)
"""

from __future__ import annotations

from perfmodel.estimator import estimate
from perfmodel.plan import Plan
from perfmodel.reproduce._entry import Context
from perfmodel.reproduce._moe import cloudmatrix_rows

SGLANG = "LMSYS blog 2025-05-05"
# name, model, hardware, EP, prompts per GPU, prompt tokens, quant, published tok/s/GPU, source
PREFILL = (
    ("sglang-h100", "deepseek-v3", "dgx-h100x4", 32, 8, 2000, "fp8-block", 52_300 / 8,
     f"{SGLANG}, 52.3k input tok/s per node (real routing, EPLB)"),
    ("sglang-h100-4k-balanced", "deepseek-v3", "dgx-h100x4", 32, 4, 4096, "fp8-block", 59_337 / 8,
     f"{SGLANG}, 59,337 per node, simulated perfect EPLB"),
    ("deepseek-h800", "deepseek-r1", "hgx-h800x4", 32, 4, 4096, "fp8-block", 62_713 / 8,
     "deepseek-ai/profile-data prefill (EP32, 16K tokens/GPU)"),
)
# name, model, hardware, EP, sequences per GPU, KV length, plan fields, TBO as published, published, source
DECODE = (
    ("deepseek-day6", "deepseek-r1", "hgx-h800x18", 144, 128, 4989,
     dict(quant="fp8-block", redundant_experts=32, spec_method="mtp", spec_tokens=1), True, 14_800 / 8,
     "DeepSeek day-6 overview, ~14.8k output tok/s per H800 node"),
    ("deepseek-profile", "deepseek-r1", "hgx-h800x16", 128, 128, 4096,
     dict(quant="fp8-block", spec_method="mtp", spec_tokens=1), True, 18_598 / 8,
     f"deepseek-ai/profile-data decode as read by {SGLANG} (18,598 per node)"),
    ("sglang-h100", "deepseek-v3", "dgx-h100x9", 72, 256, 2000,
     dict(quant="fp8-block", redundant_experts=32), True, 22_282 / 8,
     f"{SGLANG}, 22,282 output tok/s per node"),
    ("sglang-gb200", "deepseek-r1", "gb200-nvl72", 48, 1408, 2000,
     dict(quant="fp8-block+experts=nvfp4", kv_dtype="fp8", redundant_experts=32), False, 13_386,
     "LMSYS GB200 Part II 2025-09-25, FP8 KV + NVFP4 MoE"),
)
# TBO gain over the same batch without it, as the SGLang blog's ablation measured it
# name, EP decode setup index or prefill, sequences per GPU, measured gain
TBO_ABLATIONS = (
    ("prefill, <= 8K tokens/GPU, TBO vs vanilla at the same tokens", "prefill", 4, (1.27, 1.35)),
    ("decode, 256 per GPU", "decode", 256, (1.255, 1.255)),
    ("decode, 32 per GPU", "decode", 32, (0.73, 0.73)),
)


def _prefill(model, hw, ep, prompts, isl, quant, tbo) -> float:
    r = estimate(model=model, hardware=hw, batch_size=prompts, isl=isl, osl=2,
                 plan=Plan(tp=1, dp=ep, ep=ep, quant=quant, two_batch_overlap=tbo))
    return prompts * isl / (r.ttft_ms / 1e3)


def _decode(model, hw, ep, batch, kv, fields, tbo) -> float:
    r = estimate(model=model, hardware=hw, batch_size=batch, isl=kv, osl=2,
                 plan=Plan(tp=1, dp=ep, ep=ep, two_batch_overlap=tbo, **fields))
    return batch / (r.tpot_ms / 1e3)


def prefill_rows() -> list[dict]:
    out = []
    for name, model, hw, ep, prompts, isl, quant, published, source in PREFILL:
        for tbo in (False, True):
            out.append({"setup": name + (" (TBO)" if tbo else " (serial)"), "published": published if tbo else None,
                        "predicted": _prefill(model, hw, ep, prompts, isl, quant, tbo), "source": source})
    for x in cloudmatrix_rows(Context()):
        if str(x["row"]).startswith("57"):
            tbo = "TBO" in str(x["row"])
            out.append({"setup": "cloudmatrix" + (" (TBO)" if tbo else " (serial)"), "published": x["published"],
                        "predicted": x["predicted"], "source": "arXiv:2506.12708, published_figures.csv row 57"})
    return out


def decode_rows() -> list[dict]:
    out = []
    for name, model, hw, ep, batch, kv, fields, published_tbo, published, source in DECODE:
        for tbo in (False, True):
            out.append({"setup": f"{name} (b{batch}, {'TBO' if tbo else 'serial'})",
                        "published": published if tbo == published_tbo else None,
                        "predicted": _decode(model, hw, ep, batch, kv, fields, tbo), "source": source})
    return out


def tbo_rows() -> list[dict]:
    out = []
    for what, phase, size, measured in TBO_ABLATIONS:
        if phase == "prefill":
            _, model, hw, ep, _, isl, quant, _, _ = PREFILL[0]
            plain, tbo = (_prefill(model, hw, ep, size, isl, quant, t) for t in (False, True))
        else:
            _, model, hw, ep, _, kv, fields, _, _, _ = DECODE[2]
            plain, tbo = (_decode(model, hw, ep, size, kv, fields, t) for t in (False, True))
        out.append({"ablation": what, "measured": measured, "predicted": tbo / plain})
    return out


def _table(rows: list[dict]) -> None:
    print("| setup | published tok/s/GPU | predicted | error | source |")
    print("|---|---:|---:|---:|---|")
    for x in rows:
        pub = x["published"]
        err = f"{(x['predicted'] - pub) / pub * 100:+.1f}%" if pub else ""
        print(f"| {x['setup']} | {f'{pub:,.0f}' if pub else ''} | {x['predicted']:,.0f} | {err} | {x['source']} |")


def main() -> None:
    print("Prefill\n")
    _table(prefill_rows())
    print("\nDecode\n")
    _table(decode_rows())
    print("\nTwo-batch overlap gain over the same batch without it (SGLang blog ablation)\n")
    print("| ablation | measured | predicted |")
    print("|---|---:|---:|")
    for x in tbo_rows():
        lo, hi = x["measured"]
        print(f"| {x['ablation']} | {lo:.2f}{f'-{hi:.2f}' if hi != lo else ''}x | {x['predicted']:.2f}x |")


if __name__ == "__main__":
    main()
