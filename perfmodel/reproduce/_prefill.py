"""CacheBlend's TTFT reduction through `perfmodel.cacheblend` on the paper's own setup (s7.1): its three
models on Runpod A40s, every chunk's KV on the NVMe SSD, the loading controller's recompute ratio, and
the blend step (the layers before the check layer on every token, the rest on the recomputed share)
pipelined with the KV load one layer ahead, against a full prefill, each one engine iteration of the
vLLM CacheBlend is built on. The 8-bit models run as that vLLM runs them at prefill sizes: every
quantized weight dequantized to FP16 before its GEMM, a fixed cost per forward that the short blend
step feels most (Llama-70B: 5.19x without it)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from perfmodel.cacheblend import CHECK_LAYER, RECOMPUTE_FRACTION, BlendTTFT, blend_ttft, controller_recompute_fraction
from perfmodel.plan import Plan
from perfmodel.reproduce._entry import Context, Entry, computed
from perfmodel.reproduce._offload import moe_lens_file as a40_setups_file
from perfmodel.resolve import resolve_model
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.stepmodel import StepModel

SRC = "CacheBlend arXiv:2405.16444 (EuroSys'25) abstract and s7.2 (Figure 12)"
SETUP = "CacheBlend s7.1"
CODE = "YaoJiayi/CacheBlend vllm_blend (a vLLM fork): models/llama.py cache_fuse_metadata check_layers [1]"
DEQUANT = ("vLLM 0.4 csrc/quantization/gptq/q_gemm.cu gemm_half_q_half_cuda (reconstruct above "
           "MAX_Q_GEMM_ROWS_8BIT = 24) and quantization/awq.py (awq_dequantize + torch.matmul from 256 tokens); "
           "YaoJiayi/CacheBlend vllm_fuse/examples/test_single_70b_jiayi.py (TheBloke/Llama-2-70b-Chat-AWQ, TP 2)")
HARDWARE = "cacheblend-runpod-a40"  # 2 A40s, 128 GB RAM, NVMe SSD read at 4.8 GB/s: setups/moe_lens_a40.yaml
CHUNKS, CHUNK_TOKENS = 6, 512       # s7.2: each request's context is 6 top chunks of 512 tokens (Figure 12)
ENGINE = "vllm-0.5"                 # CacheBlend's code is a vLLM 0.4/0.5-era fork (xformers backend, AttentionMetadata)
PAPER_LAYER_TOKENS = 4096           # s5: the per-layer delays it quotes are for a 4K-token context
# vLLM 0.4's only 8-bit weight path on an A40 (sm86; its FP8 needed sm89) is GPTQ, whose exllama kernel
# reconstructs the FP16 matrix and calls cuBLAS above 24 rows at 8 bits (csrc/quantization/gptq/q_gemm.cu
# MAX_Q_GEMM_ROWS_8BIT = 24); the authors' own 70B script runs AWQ (4-bit, TP 2), which does the same
# from 256 tokens on (awq.py FP16_MATMUL_HEURISTIC_CONDITION): both the full prefill (3,072 tokens) and
# the blend (~460) take this path either way.
GPTQ8_DEQUANT_MIN_TOKENS = 25


@dataclass(frozen=True)
class _Model:
    name: str      # preset, or a config.json under setups/
    quant: str
    tp: int
    source: str


# s7.1: Mistral-7B and Yi-34B on 1 GPU, Llama-70B on 2; Yi-34B and Llama-70B with 8-bit model quantization
# (read here as 8-bit weights, 16-bit activations: vLLM 0.4 ran no 8-bit activation GEMMs on Ampere).
MODELS = (_Model("mistral-7b", "fp16", 1, "s7.1 [30]; the repo's examples run Mistral-7B-Instruct-v0.2"),
          _Model("yi-34b.json", "w8a16", 1, "s7.1 [56]; setups/yi-34b.json is 01-ai/Yi-34B's config.json"),
          _Model("llama-2-70b", "w8a16", 2, "s7.1 [2]; GQA as Llama-2-70B: s5's 4 ms per layer to load 4K "
                                            "tokens' KV at 4.8 GB/s is 8 KV heads (16 MiB), not 64"))


def _model(m: _Model):
    if m.name.endswith(".json"):
        return resolve_model(str(resources.files("perfmodel.reproduce") / "setups" / m.name))
    return resolve_model(m.name)


def _blend(step: StepModel, read_gb_s: float, tokens: int) -> tuple[BlendTTFT, float]:
    """The blend at the loading controller's ratio (s5.1: recompute delay = load delay, at least 15%),
    quantized weights dequantized to FP16 before each GEMM as vLLM 0.4 runs GPTQ at these sizes."""
    engine = get_engine(ENGINE)
    opts = {"storage_read_gb_s": read_gb_s, "dequant_min_tokens": GPTQ8_DEQUANT_MIN_TOKENS}
    first = blend_ttft(step, engine, prompt_tokens=tokens, **opts)
    r = controller_recompute_fraction(full_prefill_s=first.full_prefill_s, kv_load_s=first.kv_load_s)
    return blend_ttft(step, engine, prompt_tokens=tokens, recompute_fraction=r, **opts), r


def cacheblend(ctx: Context) -> Entry:
    system = ctx.system(HARDWARE, file=a40_setups_file())
    read_gb_s = system.node.storage.seq_read_gb_s
    tokens = CHUNKS * CHUNK_TOKENS
    runs = {}
    for m in MODELS:
        step = StepModel.build(model=_model(m), system=system, plan=Plan(tp=m.tp, quant=m.quant), max_tokens=4096)
        runs[m.name.removesuffix(".json")] = (*_blend(step, read_gb_s, tokens), step)
    name, (b, r, step) = max(runs.items(), key=lambda kv: kv[1][0].speedup)
    big, _, big_step = runs["llama-2-70b"]
    at4k, _ = _blend(big_step, read_gb_s, PAPER_LAYER_TOKENS)
    layers = big_step.model.num_layers
    setup = {"model": ", ".join(f"{m.name.removesuffix('.json')} ({m.quant}, {m.tp}x A40)" for m in MODELS),
             "hardware": f"{HARDWARE}: A40s, KV on an NVMe SSD read at {read_gb_s} GB/s",
             "workload": f"one RAG prompt of {CHUNKS} reused {CHUNK_TOKENS}-token chunks, every chunk's KV on the SSD; "
                         f"the loading controller's recompute ratio (at least {RECOMPUTE_FRACTION:.0%}) after layer "
                         f"{CHECK_LAYER} selects the tokens; each layer's KV fetched while the previous one computes",
             "baseline": f"full prefill (no KV reuse), both one iteration of engine profile {ENGINE}",
             "sources": {"claim": SRC, "models, GPUs, quantization, SSD": SETUP,
                         "context": "CacheBlend s7.2 (6 top chunks, 512 tokens per chunk)",
                         "recompute ratio": "CacheBlend s5.1 loading controller (r* = 15%)",
                         "pipelining": "CacheBlend s6 (fetch of layer i+1 during the prefill of layer i)",
                         "check layer, engine": CODE, "8-bit GEMM path (dequantize to FP16, then GEMM)": DEQUANT,
                         **{m.name.removesuffix(".json"): m.source for m in MODELS}}}
    per_model = ", ".join(f"{n} {v[0].speedup:.2f}x (r {v[1]:.0%}, full {v[0].full_prefill_s * 1e3:.0f} ms, blend "
                          f"{v[0].blend_ttft_s * 1e3:.0f} ms, KV load {v[0].kv_load_s * 1e3:.0f} ms"
                          + (f", FP16 dequantization {v[0].dequant_s * 1e3:.0f} ms of the blend" if v[0].dequant_s else "")
                          + ")" for n, v in runs.items())
    return computed(seed="CacheBlend", claim="TTFT 2.2-3.3x lower than full KV recompute (throughput 2.8-5x)",
                    setup=setup, published=3.3, predicted=b.speedup,
                    unit="x TTFT reduction (published: the upper end; predicted: the largest over the models)",
                    kind="ratio", source=SRC,
                    detail=f"{per_model}; llama-2-70b at {PAPER_LAYER_TOKENS} tokens: recompute "
                           f"{at4k.recompute_s / layers * 1e3:.1f} ms and KV load {at4k.kv_load_s / layers * 1e3:.1f} "
                           f"ms per layer (paper s5: 7 and 4 ms; the recompute includes the per-forward FP16 "
                           f"dequantization, which s5 does not mention), full prefill {at4k.full_prefill_s:.1f} s "
                           f"on 2 A40s",
                    why="the blend's fixed costs modeled (one engine iteration's host time, the 8-bit weights "
                        "dequantized to FP16 every forward) leave it at about 1/4 of a full prefill; the fork's "
                        "other per-request work (all old keys re-rotated and every token's KV rewritten to the "
                        "paged cache at each layer) is memory passes of a few MB per layer, too small to close a "
                        "larger gap")
