"""SwiftKV's published throughput (published_figures.csv row 60) through the SwiftKV transform served by
the simulator as Snowflake's vLLM benchmark runs it: vLLM's offline throughput benchmark with chunked
prefill, on the V0 engine profile that prices the per-step host time and the eager mixed steps."""

from __future__ import annotations

from perfmodel.reproduce._entry import Context, Entry, computed
from perfmodel.serve_api import serve
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.swiftkv import SwiftKV

SRC = "SwiftKV arXiv:2410.03960 v2 abstract; published_figures.csv row 60"
SKIP_FRACTION = 0.5        # SwiftKV abstract: prefill compute of Llama-3.1-8B / 70B cut by 50% (half the layers)
RECIPE = ("vllm-project/vllm examples/swiftkv/README.md (Snowflake's SwiftKV integration): benchmark_throughput.py "
          "--input-len 2000 --output-len 256 --gpu-memory-utilization 0.95 --enable-chunked-prefill "
          "--max-num-batched-tokens 2048 --max-num-seqs 512")
ISL, OSL = 2000, 256       # RECIPE: the lengths of Snowflake's published SwiftKV throughput runs
OTHER_ISL = 8000           # a longer prompt, for the note (the 70B figure's own lengths were not read)
REQUESTS = 1000            # vLLM benchmarks/benchmark_throughput.py: --num-prompts default 1000
MEMORY_UTILIZATION = 0.95  # RECIPE: --gpu-memory-utilization 0.95
# RECIPE's 8B run on 1 H100 (the same command): a second published point of the same setup
CHECK_MODEL, CHECK_TOK_S = "llama-3.1-8b", 25635.51
# vLLM of SwiftKV's time (late 2024) is the V0 engine: synchronous scheduling and input preparation each
# step (the vllm-0.5 profile's host cost, vLLM RFC #6854), CUDA graphs for decode-only steps (every
# chunked-prefill step runs eagerly); RECIPE's flags set the scheduler and its limits.
ENGINE_UPDATE = {"scheduler": "chunked", "token_budget": 2048, "max_num_seqs": 512,
                 "paged_attention_overhead": 0.0, "per_query_head_kv_reads": False}
ENGINE_SOURCES = {"chunked, token_budget, max_num_seqs": RECIPE,
                  "host cost, CUDA graphs": "engine profile vllm-0.5 (the V0 engine; vLLM RFC #6854)",
                  "attention": "vLLM V0 FLASH_ATTN backend (vllm/attention/backends/flash_attn.py): a chunked "
                               "batch's decode tokens read paged KV through flash_attn_varlen_func / "
                               "flash_attn_with_kvcache block tables, not paged_attention_v1/v2 per query head"}


def engine():
    return get_engine("vllm-0.5").model_copy(update=ENGINE_UPDATE)


def _tok_s(system, model: str, tp: int, isl: int, swift: SwiftKV | None) -> float:
    """Input + output tok/s of vLLM's offline throughput benchmark (all requests at t=0)."""
    r = serve(model=model, hardware=system, workload=f"fixed:{isl}:{OSL}", offline=True, num_requests=REQUESTS,
              engine=engine(), tp=tp, kv_fraction=MEMORY_UTILIZATION, quant="bf16", swiftkv=swift,
              goodput_search=False)
    return r.to_dict()["total_tok_s"]


def swiftkv(ctx: Context) -> Entry:
    system = ctx.system("h100-sxm")
    swift = SwiftKV(SKIP_FRACTION)
    tok_s = _tok_s(system, "llama-3.1-70b", 4, ISL, swift)
    base = _tok_s(system, "llama-3.1-70b", 4, ISL, None)
    longer = _tok_s(system, "llama-3.1-70b", 4, OTHER_ISL, swift)
    check = _tok_s(system, CHECK_MODEL, 1, ISL, swift)
    setup = {"model": "llama-3.1-70b with SingleInputKV over 50% of the layers", "hardware": "4x h100-sxm",
             "parallelism": "TP=4", "precision": "bf16",
             "workload": f"vLLM offline throughput benchmark: {REQUESTS} requests of {ISL} in / {OSL} out at t=0, "
                         f"chunked prefill of 2048 tokens, at most 512 sequences, {MEMORY_UTILIZATION:.0%} of GPU "
                         "memory",
             "engine": "vllm-0.5 (V0) with " + ", ".join(f"{k}={v}" for k, v in ENGINE_UPDATE.items()),
             "baseline": "none (absolute figure)",
             "sources": {"claim, model, hardware": SRC, "skip fraction": "SwiftKV abstract (50% prefill compute)",
                         "workload": RECIPE + "; the 70B figure's own run was not read, this is the command "
                                              "Snowflake publishes for its 8B and 405B SwiftKV models",
                         **ENGINE_SOURCES}}
    return computed(seed="SwiftKV", claim="16K tok/s (input + output; 560 normalized TFLOPs/GPU) for Llama-3.1-70B "
                    "in 16-bit on 4x H100, prefill compute cut by 50%", setup=setup, published=16000.0,
                    predicted=tok_s, unit="tok/s (system, input + output)", kind="absolute", source=SRC,
                    detail=f"the unmodified model {base:,.0f} tok/s ({tok_s / base:.2f}x); {OTHER_ISL} in: "
                           f"{longer:,.0f} tok/s; the same command for {CHECK_MODEL} on 1 H100 predicts "
                           f"{check:,.0f} vs the README's {CHECK_TOK_S:,.0f} ({check / CHECK_TOK_S - 1:+.0%})",
                    why="the chunked V0 engine's host time and eager steps are priced; the fork's exact vLLM "
                        "version and the 70B run's lengths were not read")
