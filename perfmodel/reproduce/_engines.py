"""Seeds whose headline is an engine's serving throughput: run through `perfmodel.serve_api.serve`
with the engine profiles (perfmodel.serving.engine_profiles) on the paper's own setup."""

from __future__ import annotations

from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.reproduce._entry import Context, Entry, computed
from perfmodel.resolve import resolve_model
from perfmodel.serve_api import serve
from perfmodel.serving.deployment import build_pool
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.serving.fit_fastgen import nanoflow_bars, offline_tok_s_per_device
from perfmodel.serving.fit_fastgen import SETUP as NANOFLOW_SETUP
from perfmodel.validation import OFFLINE_REQUESTS

NANOFLOW_SRC = "NanoFlow arXiv:2408.12757 Fig. 7 (efeslab/Nanoflow README figure, repo d6b381e)"
HEADLINE = "fixed:1024:512"  # NanoFlow's headline bar (published_figures.csv row 2)


def _nanoflow_setup_tok_s_per_device(ctx: Context, engine: str) -> float:
    """Offline tok/s/GPU of `engine` on NanoFlow's setup (LLaMA-2-70B, TP8 on A100, 1024 in / 512 out)."""
    return offline_tok_s_per_device(engine, HEADLINE, system=ctx.system(NANOFLOW_SETUP["hardware"]))


def nanoflow(ctx: Context) -> Entry:
    setup = {"model": "llama-2-70b", "hardware": "8x a100-sxm-80gb (DGX A100, NVLink)", "parallelism": "TP=8",
             "precision": "fp16", "workload": "offline, every request 1024 in / 512 out", "baseline": "none",
             "sources": {"all": f"{NANOFLOW_SRC}; published_figures.csv row 2"}}
    pred = _nanoflow_setup_tok_s_per_device(ctx, "nanoflow")
    return computed(seed="NanoFlow", claim="1,263 tok/s/GPU (prefill + decode) for LLaMA-2-70B on 8x A100, "
                    "68% of its analytic optimum", setup=setup, published=1263.0, predicted=pred,
                    unit="tok/s/GPU", kind="absolute", source=NANOFLOW_SRC)


def fastgen(ctx: Context) -> Entry:
    bars = nanoflow_bars()[HEADLINE]
    setup = {"model": "llama-2-70b", "hardware": "8x a100-sxm-80gb (DGX A100, NVLink)", "parallelism": "TP=8",
             "precision": "fp16", "workload": "offline, every request 1024 in / 512 out",
             "baseline": "vLLM v0.5.3 (engine profile vllm-0.5)",
             "sources": {"all": f"{NANOFLOW_SRC}: DeepSpeed-FastGen v0.2.3 {bars['fastgen']}, vLLM v0.5.3 "
                                f"{bars['vllm-0.5']} tok/s/GPU (published_figures.csv rows 8, 9)",
                         "FastGen host time per sequence": "fitted on the 512/512 and 512/1024 bars (this bar held "
                                                           "out): python -m perfmodel.serving.fit_fastgen"}}
    fastgen_s, vllm_s = (_nanoflow_setup_tok_s_per_device(ctx, e) for e in ("fastgen", "vllm-0.5"))
    return computed(
        seed="DeepSpeed-FastGen",
        claim="up to 2.3x higher effective throughput than vLLM (arXiv:2401.08671 abstract); its SLO-based "
              "'effective throughput' runs are not in the reference set, so the entry uses NanoFlow's independent "
              "measurement of FastGen v0.2.3 against vLLM v0.5.3",
        setup=setup, published=bars["fastgen"] / bars["vllm-0.5"], predicted=fastgen_s / vllm_s,
        unit="x FastGen / vLLM throughput", kind="ratio", source=NANOFLOW_SRC,
        detail=f"{fastgen_s:.0f} vs {vllm_s:.0f} tok/s/GPU (published {bars['fastgen']} vs {bars['vllm-0.5']}: both "
               "engines over-predicted alike); FastGen's Dynamic SplitFuse pays 122 us of host time per running "
               "sequence per iteration",
        why="FastGen's host time per sequence is fitted on NanoFlow's other constant-length bars and does not "
            "carry to this one")


def qserve(ctx: Context) -> Entry:
    src = "QServe arXiv:2405.04532, mit-han-lab/qserve README 'Efficiency Benchmarks' (commit 172741f)"
    setup = {"model": "llama-3-8b", "hardware": "1x l40s", "precision": "QServe W4A8KV4 (g128) vs TRT-LLM FP16",
             "workload": "offline, 1024 in / 512 out, static batches (in-flight batching off); QServe batch 128, "
                         "TRT-LLM the largest batch that fits",
             "baseline": "TensorRT-LLM FP16 (engine profile trtllm)",
             "sources": {"all": f"{src}; published_figures.csv row 18 (3,656 vs 1,326 tok/s)"}}
    system = ctx.system("l40s")
    q = serve(model="llama-3-8b", hardware=system, quant="w4a8kv4-g128", workload="fixed:1024:512", offline=True,
              num_requests=128, max_batch=128, scheduler="static", engine="qserve", goodput_search=False)
    t = serve(model="llama-3-8b", hardware=system, quant="fp16", workload="fixed:1024:512", offline=True,
              num_requests=OFFLINE_REQUESTS, scheduler="static", engine="trtllm", goodput_search=False)
    pred = q.to_dict()["output_tok_s"] / t.to_dict()["output_tok_s"]
    return computed(seed="QServe", claim="W4A8KV4 serving reaches 2.76x TensorRT-LLM FP16's throughput for "
                    "Llama-3-8B on one L40S (3,656 vs 1,326 generated tok/s)", setup=setup,
                    published=3656 / 1326, predicted=pred, unit="x QServe / TRT-LLM FP16", kind="ratio", source=src)


VATTENTION_SRC = "vAttention arXiv:2405.04437 abstract and s7.2 (decode at 16K context per request, vLLM v0.2.7)"
VATTENTION_CONTEXT = 16384  # vAttention s7.2: decode evaluated at 16K tokens per request


def vattention(ctx: Context) -> Entry:
    system = ctx.system("a100-sxm-80gb")
    model = resolve_model("llama-3.1-8b")
    engine = get_engine("vllm-0.5")
    tok_s = {}
    for layout in ("paged", "contiguous"):
        pool = build_pool(model=model, system=system, engine=engine, plan=Plan(tp=1, quant="fp16"), scheduler=None,
                          kv_layout=layout)
        batch = min(pool.kv.capacity_tokens // VATTENTION_CONTEXT, pool.max_num_seqs)
        tok_s[layout] = batch / pool.timer.shape(BatchShape.decode(batch, VATTENTION_CONTEXT))
    setup = {"model": "llama-3.1-8b (Llama-3-8B shapes, 128K context)", "hardware": "1x a100-sxm-80gb",
             "precision": "fp16", "workload": f"decode only, {VATTENTION_CONTEXT} tokens of context per request, the "
                                              f"largest batch that fits ({batch})",
             "baseline": "vLLM's paged decode kernel (engine profile vllm-0.5: per-query-head KV reads, block tables)",
             "sources": {"claim, context, baseline": VATTENTION_SRC, "kernel overheads": "docs/serving.md (vllm-0.5)"}}
    return computed(seed="vAttention", claim="decode throughput up to 1.99x vLLM's (end-to-end serving up to 1.22x / "
                    "1.29x over FlashAttention / FlashInfer paged kernels)", setup=setup, published=1.99,
                    predicted=tok_s["contiguous"] / tok_s["paged"], unit="x decode tok/s, contiguous vs paged",
                    kind="ratio", source=VATTENTION_SRC,
                    why="the paged kernel's overhead is an engine-profile constant, not a kernel model")
