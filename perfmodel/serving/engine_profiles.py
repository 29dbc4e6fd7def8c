"""Engine profiles: the behaviours that differ between serving engines, each value with its source.

A profile sets the default scheduler and its limits, how KV memory is sized, laid out and
admitted, what happens when it runs out, and the per-iteration host (CPU) cost. Values marked
"assumption" have no published measurement behind them; calibrate them when one is available.

Per-iteration host cost model: `cpu_ms = cpu_base_ms + cpu_per_seq_us * sequences / 1000`.
If `cpu_overlapped` the engine prepares step i+1 while step i runs on the device
(time = max(device, cpu)), else the two add. Steps that run without CUDA graphs are also bounded
below by kernel launches: `kernels x launch_us_per_kernel`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from perfmodel.errors import UnknownNameError

Admission = Literal["on_demand", "reserve_max", "reserve_ratio", "new_token_ratio"]
KVLayout = Literal["paged", "contiguous"]


class EngineProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    describes: str
    scheduler: str = Field(description="default scheduler (perfmodel.serving.schedulers registry key)")
    max_num_seqs: int = Field(gt=0, description="max sequences in one iteration / running at once")
    token_budget: int = Field(gt=0, description="max tokens one iteration processes (prefill + decode)")
    kv_memory_fraction: float = Field(gt=0, le=1)
    kv_fraction_of: Literal["total", "free"] = Field(
        description="total: fraction of device memory for weights+KV+... (vLLM); free: fraction of "
                    "what is left after weights and runtime (TRT-LLM)")
    kv_layout: KVLayout = Field(default="paged", description="paged blocks, or contiguous virtual memory "
                                                             "backed on demand by physical pages (vAttention)")
    block_tokens: int = Field(gt=0, description="paged: tokens per KV block")
    paged_attention_overhead: float = Field(ge=0, description="extra decode-attention time from block tables")
    per_query_head_kv_reads: bool = Field(
        default=False, description="the decode kernel runs one thread block per query head and re-reads its KV "
                                   "head's cache for each (no GQA grouping): the overhead scales with the "
                                   "query heads per KV head")
    admission: Admission
    reserve_output_fraction: float = Field(default=0.0, ge=0, le=1,
                                           description="reserve_ratio: share of the output length reserved; "
                                                       "new_token_ratio: SGLang's new_token_ratio")
    preemption: Literal["recompute", "swap"] = "recompute"
    prefix_caching: bool = False
    cuda_graphs: Literal["none", "decode", "all"] = "decode"
    cuda_graph_max_batch: int = Field(default=256, ge=0)
    launch_us_per_kernel: float = Field(ge=0)
    cpu_base_ms: float = Field(ge=0)
    cpu_per_seq_us: float = Field(ge=0)
    cpu_overlapped: bool = False
    mxfp4_experts: str | None = Field(
        default=None, description="the quantization scheme MXFP4 experts run as (perfmodel.quant "
                                  "mxfp4_experts_as_run): the activations the engine's MoE kernels take; "
                                  "None: as the checkpoint names them")
    cpu_hidden_per_seq_us: float = Field(
        default=0.0, ge=0, description="host time per running sequence per iteration that an overlap scheduler runs "
                                       "behind the previous step's device work: a step takes at least this x its "
                                       "sequences (binding only when the device step is shorter)")
    nano_batches: int = Field(default=1, ge=1, description="nano-batches overlapped in a step (perfmodel.overlap); "
                                                           "used when the plan leaves Plan.nano_batches at 1")
    device_time_scale: float = Field(default=1.0, gt=0, description="the engine's kernels' time relative to the "
                                                                     "step model's (kernel efficiency factor)")
    frontend_ms: float = Field(default=0.0, ge=0, description="per-request latency outside the engine loop: the "
                               "HTTP server, tokenization and handing the request to the scheduler; a request "
                               "reaches the scheduler this long after the client sends it")
    sources: dict[str, str]

    def host_s(self, seqs: int) -> float:
        """Host (CPU) seconds of one iteration over `seqs` sequences (the module docstring's model)."""
        return (self.cpu_base_ms + self.cpu_per_seq_us * seqs * 1e-3) * 1e-3


def _p(**kw) -> EngineProfile:
    return EngineProfile(**kw)


# Shared sources.
_PT_LAUNCH = ("assumption: ~10 us host time per eagerly launched op (PyTorch dispatcher + "
              "cudaLaunchKernel); the reason engines capture CUDA graphs for decode")
_V1_ARGS = "vLLM V1 engine/arg_utils.py defaults for H100-class GPUs (OpenAI server)"

_FIT = ("fitted on shared/reference/measured_serving.csv (rows whose clients the simulator models, "
        "accuracy.clients_modeled; train: Llama-3.1 rows; held out: Qwen3-32B rows) by "
        "`python -m perfmodel.serving.fit`; see docs/serving.md, Engines as run today")
_FRONTEND = (_FIT + "; at most the measured mean TTFT minus the one-request prefill on the train rows with <= 4 "
             "clients and <= 2048-token prompts (fit.frontend_bound)")
_INFERENCEMAX = "InferenceMAX README server launch commands (vllm serve ... --max-num-batched-tokens 8192 --async-scheduling)"

# Today's engines (issue 11). Structural values from the engines' docs and source; the three
# numbers no document gives (kernel efficiency relative to the step model, the exposed host time
# per step, the front-end latency per request) are fitted, per engine, by perfmodel.serving.fit.
TODAY = [
    _p(name="vllm-v1", describes="vLLM V1 engine (0.11 and later): unified chunked-prefill scheduler, full + "
                                 "piecewise CUDA graphs, async scheduling",
       scheduler="chunked", max_num_seqs=1024, token_budget=8192, kv_memory_fraction=0.9, kv_fraction_of="total",
       block_tokens=16, paged_attention_overhead=0.0, admission="on_demand", preemption="recompute",
       prefix_caching=True, cuda_graphs="all", cuda_graph_max_batch=512, launch_us_per_kernel=10.0,
       cpu_base_ms=0.001, cpu_per_seq_us=0.0, cpu_overlapped=False, device_time_scale=1.245, frontend_ms=22.2,
       mxfp4_experts="w4.25a16",
       sources={"mxfp4_experts": "vLLM mxfp4.py get_mxfp4_backend: SM100_FI_MXFP4_BF16 on Blackwell, Triton on "
                                 "Hopper: MXFP4 weights x BF16 activations",
                "scheduler": "vLLM V1 scheduler: decodes first, prompt chunks fill max_num_batched_tokens",
                "max_num_seqs": _V1_ARGS + ": EngineArgs.get_batch_defaults gives 1024 running sequences "
                                "(OPENAI_API_SERVER) on GPUs with >= 70 GiB other than A100 (256 and 2048 "
                                "batched tokens below that and on A100, not modelled: the profile is the "
                                "H100-class one)",
                "token_budget": _V1_ARGS + "; " + _INFERENCEMAX,
                "kv_memory_fraction": "vLLM docs: gpu_memory_utilization default 0.9",
                "block_tokens": "vLLM docs: block_size default 16",
                "paged_attention_overhead": "FlashAttention/FlashInfer read block tables natively",
                "preemption": "vLLM docs (Optimization and Tuning): V1 preempts by recompute",
                "prefix_caching": "vLLM V1: automatic prefix caching on by default",
                "cuda_graphs": "vLLM 0.11 CompilationConfig cudagraph_mode FULL_AND_PIECEWISE default: full graphs "
                               "for decode batches, piecewise for mixed ones",
                "cuda_graph_max_batch": "vLLM CompilationConfig max_capture_size default 512",
                "launch_us_per_kernel": _PT_LAUNCH,
                "cpu_overlapped": "async scheduling (--async-scheduling) hides the scheduler; what is left exposed "
                                  "per step is fitted as cpu_base_ms",
                "cpu_base_ms": _FIT, "cpu_per_seq_us": "folded into cpu_base_ms (assumption)",
                "device_time_scale": _FIT, "frontend_ms": _FRONTEND + ": bound 22.2 ms by InferenceMAX r840 "
                                                                   "(Llama-3.1-70B fp8 TP4 H100, 4 clients)"}),
    _p(name="sglang-0.5", describes="SGLang 0.5.x: prefill-first with chunked prefill, overlap scheduler, radix cache",
       scheduler="prefill_first_chunked", max_num_seqs=4096, token_budget=8192, kv_memory_fraction=0.88,
       kv_fraction_of="total", block_tokens=1, paged_attention_overhead=0.0,
       admission="new_token_ratio", reserve_output_fraction=0.7 * 0.14, preemption="recompute",
       prefix_caching=True, cuda_graphs="decode", cuda_graph_max_batch=256, launch_us_per_kernel=10.0,
       cpu_base_ms=0.0, cpu_per_seq_us=38.009, cpu_overlapped=True, device_time_scale=1.0, frontend_ms=20.0,
       mxfp4_experts="mxfp4-mxfp8",
       sources={"mxfp4_experts": "SGLang server_args --flashinfer-mxfp4-moe-precision default (MXFP8 activations "
                                 "on Blackwell; 'bf16' the opt-out); BF16 on Hopper (quant.gemm_path)",
                "scheduler": "SGLang scheduler: a prefill batch whenever new requests fit, else a decode batch",
                "max_num_seqs": "SGLang model_runner / scheduler: max_running_requests = min(KV tokens // 2, "
                                "req_to_token_pool size = KV tokens / context_len x 512 clamped to [2048, 4096])",
                "token_budget": "SGLang server_args: chunked_prefill_size 8192 on >= 80 GB GPUs",
                "kv_memory_fraction": "SGLang server_args: mem_fraction_static 0.88 on large GPUs",
                "block_tokens": "SGLang token-granular KV pool (page_size 1)",
                "admission": "SGLang PrefillAdder (schedule_policy.py): a new request's prompt + whole output "
                             "(clipped at 4096) must fit after the running outputs x new_token_ratio",
                "reserve_output_fraction": "new_token_ratio's floor 0.7 x 0.14 (environ.py), where it sits after "
                                           "600 decode steps without a retraction (the decay is not simulated)",
                "preemption": "SGLang retracts decoding requests when KV runs out",
                "prefix_caching": "SGLang RadixAttention on by default",
                "cuda_graph_max_batch": "SGLang 0.5 server_args: cuda_graph_max_bs 256 on H100/H200-class GPUs "
                                        "(lower on small GPUs / TP1)",
                "launch_us_per_kernel": _PT_LAUNCH,
                "cpu_overlapped": "overlap scheduler on by default (0.4+): host work hidden behind the step",
                "cpu_base_ms": "hidden by the overlap scheduler (not fitted: see perfmodel.serving.fit FREE)",
                "cpu_per_seq_us": "host work per running sequence per step (batch assembly, output processing); "
                                  "the overlap scheduler hides it behind the device step until it outgrows it "
                                  "(step = max(device, host)): " + _FIT,
                "device_time_scale": "the step model's kernels (not fitted: see perfmodel.serving.fit FREE)",
                "frontend_ms": _FIT + "; at its bound from the sources, 20 ms (fit.SOURCE_FRONTEND_MS: HTTP and "
                               "tokenization of a few thousand tokens; no train row has <= 4 clients)"}),
    _p(name="trtllm-pytorch", describes="TensorRT-LLM 1.x PyTorch backend (trtllm-serve): in-flight batching, "
                                        "overlap scheduler, decode CUDA graphs",
       scheduler="inflight", max_num_seqs=2048, token_budget=8192, kv_memory_fraction=0.9, kv_fraction_of="free",
       block_tokens=32, paged_attention_overhead=0.0, admission="reserve_max", preemption="recompute",
       prefix_caching=True, cuda_graphs="decode", cuda_graph_max_batch=128, launch_us_per_kernel=10.0,
       cpu_base_ms=0.0, cpu_per_seq_us=0.0, cpu_overlapped=False, cpu_hidden_per_seq_us=20.0,
       device_time_scale=1.059, frontend_ms=23.1, mxfp4_experts="mxfp4-mxfp8",
       sources={"mxfp4_experts": "TRT-LLM examples/models/core/gpt_oss/README.md: Blackwell mxfp8 activations x "
                                 "mxfp4 weights, Hopper bf16 (quant.gemm_path)",
                "scheduler": "TRT-LLM docs: context and generation requests share an iteration up to "
                             "max_num_tokens; enable_chunked_prefill False by default",
                "max_num_seqs": "TRT-LLM llm_args: max_batch_size default 2048",
                "token_budget": "TRT-LLM llm_args: max_num_tokens default 8192",
                "kv_memory_fraction": "KvCacheConfig free_gpu_memory_fraction default 0.9",
                "block_tokens": "KvCacheConfig tokens_per_block default 32 (PyTorch backend)",
                "admission": "capacity scheduler GUARANTEED_NO_EVICT default",
                "prefix_caching": "KvCacheConfig enable_block_reuse default True",
                "cuda_graphs": "PyTorch backend captures CUDA graphs for generation-only batches",
                "cuda_graph_max_batch": "TRT-LLM DecodeCudaGraphConfig: max_batch_size 128 when neither it nor "
                                        "batch_sizes is given",
                "launch_us_per_kernel": _PT_LAUNCH,
                "cpu_overlapped": "overlap scheduler on by default (disable_overlap_scheduler False); the exposed "
                                  "per-step rest is fitted",
                "cpu_base_ms": _FIT, "cpu_per_seq_us": "folded into cpu_base_ms (assumption)",
                "cpu_hidden_per_seq_us": "fitted by `PYTHONPATH=. python benchmarks/fit_trtllm_host.py` on the "
                                         "development half of the TRT-LLM 1.x perf-overview rows (the executor's "
                                         "Python work per running request, behind the device step; it binds "
                                         "only for small-active MoE models at trtllm-bench's thousands of "
                                         "sequences)",
                "device_time_scale": _FIT, "frontend_ms": _FRONTEND + ": bound 23.1 ms by InferenceMAX r748 "
                                                                   "(Llama-3.1-70B nvfp4 TP2 B200, 4 clients)"}),
]

ENGINES: dict[str, EngineProfile] = {p.name: p for p in TODAY + [
    _p(name="vllm", describes="vLLM V1 (>= 0.8): chunked prefill always on, prefix caching on",
       scheduler="chunked", max_num_seqs=256, token_budget=8192, kv_memory_fraction=0.9, kv_fraction_of="total",
       block_tokens=16, paged_attention_overhead=0.0, admission="on_demand", preemption="recompute",
       prefix_caching=True, cuda_graphs="all", cuda_graph_max_batch=512, launch_us_per_kernel=10.0,
       cpu_base_ms=0.5, cpu_per_seq_us=2.0, cpu_overlapped=False,
       sources={"max_num_seqs": _V1_ARGS, "token_budget": _V1_ARGS + " (max_num_batched_tokens)",
                "kv_memory_fraction": "vLLM docs: gpu_memory_utilization default 0.9",
                "block_tokens": "vLLM docs: block_size default 16",
                "paged_attention_overhead": "V1 uses FlashAttention/FlashInfer with block tables natively; "
                                            "counted in the step model's decode-attention efficiency",
                "preemption": "vLLM docs (Optimization and Tuning): V1 preempts by recompute",
                "prefix_caching": "vLLM V1 release notes: automatic prefix caching on by default",
                "cuda_graph_max_batch": "vLLM V1 piecewise CUDA graphs, capture sizes up to 512",
                "launch_us_per_kernel": _PT_LAUNCH,
                "cpu_base_ms": "assumption: V1 engine-core loop (vLLM V1 blog, Jan 2025: 'near-zero CPU overhead')",
                "cpu_per_seq_us": "assumption"}),
    _p(name="vllm-0.5", describes="vLLM v0.5.x (NanoFlow's baseline v0.5.3): prefill-first, synchronous CPU work",
       scheduler="prefill_first", max_num_seqs=256, token_budget=4096, kv_memory_fraction=0.9,
       kv_fraction_of="total", block_tokens=16, paged_attention_overhead=0.23, per_query_head_kv_reads=True,
       admission="on_demand",
       preemption="recompute", prefix_caching=False, cuda_graphs="decode", cuda_graph_max_batch=256,
       launch_us_per_kernel=10.0, cpu_base_ms=3.9, cpu_per_seq_us=36.0, cpu_overlapped=False,
       sources={"max_num_seqs": "vLLM v0.5 EngineArgs: max_num_seqs default 256",
                "token_budget": "vLLM v0.5 SchedulerConfig: max_num_batched_tokens = max(max_model_len, 2048) "
                                "without chunked prefill; 4096 for Llama-2 (max_model_len 4096)",
                "kv_memory_fraction": "vLLM docs: gpu_memory_utilization default 0.9",
                "block_tokens": "vLLM docs: block_size default 16",
                "paged_attention_overhead": "vLLM paper (Kwon et al., SOSP'23) s7.1: the PagedAttention kernel "
                                            "has 20-26% higher latency than FasterTransformer's (MHA); 0.23 per "
                                            "query head sharing a KV head also matches vAttention (ASPLOS'25) "
                                            "s7.2: FlashAttention's decode kernel up to 2.85x faster than vLLM's "
                                            "on Yi-6B (8 query heads per KV head): 1 + 0.23 x 8 = 2.84",
                "per_query_head_kv_reads": "vLLM csrc/attention paged_attention_v1/v2: grid over (query head, "
                                           "sequence); each block loads its KV head's cache",
                "preemption": "vLLM v0 scheduler: PreemptionMode.RECOMPUTE for single-sequence groups",
                "cuda_graph_max_batch": "vLLM v0 _BATCH_SIZES_TO_CAPTURE up to 256; prefill runs eagerly",
                "launch_us_per_kernel": _PT_LAUNCH,
                "cpu_base_ms": "vLLM RFC #6854 (multi-step scheduling, Jul 2024): 5-13 ms GPU bubble per decode "
                               "step from scheduling, input preparation and output processing; linear fit "
                               "assuming the range spans 32-256 sequences (assumption)",
                "cpu_per_seq_us": "same fit as cpu_base_ms"}),
    _p(name="trtllm", describes="TensorRT-LLM C++ runtime (v0.17, trtllm-bench): in-flight fused batching, "
                                "GUARANTEED_NO_EVICT",
       scheduler="inflight", max_num_seqs=2048, token_budget=8192, kv_memory_fraction=0.9, kv_fraction_of="free",
       block_tokens=64, paged_attention_overhead=0.0, admission="reserve_max", preemption="recompute",
       prefix_caching=False, cuda_graphs="none", cuda_graph_max_batch=0, launch_us_per_kernel=2.0,
       cpu_base_ms=0.2, cpu_per_seq_us=1.0, cpu_overlapped=False,
       sources={"max_num_seqs": "trtllm-build BuildConfig max_batch_size default 2048",
                "token_budget": "trtllm-build BuildConfig max_num_tokens default 8192",
                "kv_memory_fraction": "TRT-LLM KvCacheConfig free_gpu_memory_fraction default 0.9 "
                                      "(perf-overview runs pass 0.95)",
                "block_tokens": "trtllm-build --tokens_per_block default 64",
                "paged_attention_overhead": "XQA/MMHA kernels read paged KV natively (assumption: none)",
                "admission": "TRT-LLM docs (Useful Runtime Options): capacity scheduler GUARANTEED_NO_EVICT "
                             "default, reserves KV for the whole request",
                "scheduler": "TRT-LLM docs (Tuning max batch size and max num tokens): context and generation "
                             "requests share an iteration up to max_num_tokens; chunked context off by default",
                "launch_us_per_kernel": "assumption: TensorRT engine enqueue of fused plugin kernels",
                "cpu_base_ms": "assumption: C++ batch manager per iteration",
                "cpu_per_seq_us": "assumption"}),
    _p(name="trtllm-0.8", describes="TensorRT-LLM <= v0.11 (NanoFlow's baseline v0.8.0): as trtllm, with the "
                                    "older build defaults",
       scheduler="inflight", max_num_seqs=256, token_budget=65536, kv_memory_fraction=0.9, kv_fraction_of="free",
       block_tokens=128, paged_attention_overhead=0.0, admission="reserve_max", preemption="recompute",
       prefix_caching=False, cuda_graphs="none", cuda_graph_max_batch=0, launch_us_per_kernel=2.0,
       cpu_base_ms=0.2, cpu_per_seq_us=1.0, cpu_overlapped=False,
       sources={"max_num_seqs": "TRT-LLM v0.x example build scripts (e.g. examples/gptj/build.py): "
                                "--max_batch_size default 256",
                "block_tokens": "same build scripts: --tokens_per_block default 128",
                "token_budget": "NanoFlow s6.1: max-num-tokens set to the KV-cache capacity (no practical limit)",
                "kv_memory_fraction": "TRT-LLM KvCacheConfig free_gpu_memory_fraction default 0.9",
                "admission": "GUARANTEED_NO_EVICT default capacity scheduler",
                "launch_us_per_kernel": "assumption: TensorRT engine enqueue of fused plugin kernels",
                "cpu_base_ms": "assumption: C++ batch manager per iteration", "cpu_per_seq_us": "assumption"}),
    _p(name="sglang", describes="SGLang (>= 0.4): prefill-first with chunked prefill, radix cache, overlap scheduler",
       scheduler="prefill_first_chunked", max_num_seqs=4096, token_budget=8192, kv_memory_fraction=0.88,
       kv_fraction_of="total", block_tokens=1, paged_attention_overhead=0.0,
       admission="reserve_ratio", reserve_output_fraction=0.4, preemption="recompute", prefix_caching=True,
       cuda_graphs="decode", cuda_graph_max_batch=160, launch_us_per_kernel=10.0,
       cpu_base_ms=0.5, cpu_per_seq_us=2.0, cpu_overlapped=True,
       sources={"max_num_seqs": "SGLang server_args: max_running_requests derived from memory (no low default)",
                "token_budget": "SGLang server_args: chunked_prefill_size 8192 on >= 80 GB GPUs",
                "kv_memory_fraction": "SGLang server_args: mem_fraction_static 0.88 on large GPUs at TP1 "
                                      "(lower at higher TP)",
                "block_tokens": "SGLang RadixAttention: token-granular KV pool (page_size 1)",
                "admission": "SGLang scheduler: admits against an estimated future decode "
                             "(new_token_ratio, 0.7 decaying to 0.1); 0.4 is an assumption in that range",
                "preemption": "SGLang retracts (recomputes) decoding requests when KV runs out",
                "prefix_caching": "SGLang RadixAttention prefix cache on by default",
                "cuda_graph_max_batch": "SGLang server_args cuda_graph_max_bs 160 (H100, TP1)",
                "cpu_overlapped": "SGLang v0.4 release: zero-overhead (overlap) batch scheduler on by default",
                "launch_us_per_kernel": _PT_LAUNCH,
                "cpu_base_ms": "assumption", "cpu_per_seq_us": "assumption"}),
    _p(name="fastgen", describes="DeepSpeed-FastGen (MII, v0.2.x): Dynamic SplitFuse",
       scheduler="splitfuse", max_num_seqs=512, token_budget=768, kv_memory_fraction=0.9, kv_fraction_of="total",
       block_tokens=64, paged_attention_overhead=0.05, admission="on_demand", preemption="recompute",
       prefix_caching=False, cuda_graphs="none", cuda_graph_max_batch=0, launch_us_per_kernel=10.0,
       cpu_base_ms=2.0, cpu_per_seq_us=122.0, cpu_overlapped=False,
       sources={"max_num_seqs": "DeepSpeed inference v2 DSStateManagerConfig max_ragged_sequence_count 512",
                "token_budget": "DeepSpeed inference v2 DSStateManagerConfig max_ragged_batch_size 768",
                "scheduler": "DeepSpeed-FastGen blog (2023): Dynamic SplitFuse fills a fixed token budget with "
                             "decodes and prompt chunks",
                "kv_memory_fraction": "assumption", "block_tokens": "assumption (blocked KV cache)",
                "paged_attention_overhead": "assumption",
                "launch_us_per_kernel": _PT_LAUNCH,
                "cpu_base_ms": "assumption: Python ragged-batch bookkeeping per step",
                "cpu_per_seq_us": "MII's Python scheduler and ragged-batch bookkeeping per running sequence "
                                  "(MII PR #377): fitted on NanoFlow's FastGen v0.2.3 / vLLM v0.5.3 ratios "
                                  "(published_figures.csv rows 8, 9; train 512/512 and 512/1024, held out "
                                  "1024/512 and the traces) by `python -m perfmodel.serving.fit_fastgen`"}),
    _p(name="qserve", describes="QServe (QoQ W4A8KV4) benchmark runtime: static batches (in-flight batching off)",
       scheduler="static", max_num_seqs=256, token_budget=8192, kv_memory_fraction=0.9, kv_fraction_of="total",
       block_tokens=16, paged_attention_overhead=0.23, per_query_head_kv_reads=True, admission="reserve_max",
       preemption="recompute",
       prefix_caching=False, cuda_graphs="decode", cuda_graph_max_batch=256, launch_us_per_kernel=10.0,
       cpu_base_ms=0.5, cpu_per_seq_us=2.0, cpu_overlapped=False,
       sources={"scheduler": "mit-han-lab/qserve README, Efficiency Benchmarks: paged attention on, in-flight "
                             "batching off",
                "per_query_head_kv_reads": "mit-han-lab/qserve kernels/csrc/fused_attention/"
                                           "decoderMaskedMultiheadAttentionTemplate.hpp (from TRT-LLM's MMHA): "
                                           "'a threadblock for B x H pair', grid (1, B, H) over query heads; "
                                           "each block loads its KV head's cache",
                "paged_attention_overhead": "as vllm-0.5, whose paged decode kernel has the same structure "
                                            "(FasterTransformer MMHA lineage, one block per query head): 0.23 "
                                            "per query head sharing a KV head (vLLM paper s7.1, vAttention s7.2)",
                "max_num_seqs": "per-row batch in the QServe tables (256 is the Llama-3-8B A100 one)",
                "token_budget": "assumption: sizes the activation workspace only; a static prefill runs whole",
                "kv_memory_fraction": "assumption", "block_tokens": "assumption (paged attention on)",
                "cuda_graph_max_batch": "assumption", "launch_us_per_kernel": _PT_LAUNCH,
                "cpu_base_ms": "assumption", "cpu_per_seq_us": "assumption"}),
    _p(name="nanoflow", describes="NanoFlow (OSDI'25): fixed dense batch filled with decodes and prompt chunks, "
                                  "asynchronous batch formation, nano-batch overlap",
       scheduler="chunked", max_num_seqs=4096, token_budget=2048, kv_memory_fraction=0.9, kv_fraction_of="total",
       block_tokens=16, paged_attention_overhead=0.0, admission="reserve_ratio", reserve_output_fraction=1.0,
       preemption="swap", prefix_caching=False, cuda_graphs="all", cuda_graph_max_batch=1 << 30,
       launch_us_per_kernel=0.0, cpu_base_ms=0.5, cpu_per_seq_us=2.0, cpu_overlapped=True, nano_batches=2,
       sources={"scheduler": "NanoFlow s4.2.1: decode tokens first, prefill chunks fill the dense batch",
                "token_budget": "NanoFlow s6.2: dense batch 2048 for LLaMA-2-70B (used for every model here)",
                "max_num_seqs": "NanoFlow: batch size set by KV memory, no sequence cap (assumption: 4096)",
                "admission": "NanoFlow s4.2.1: admits against predicted peak memory from the average decode "
                             "length (reserve the output)",
                "preemption": "NanoFlow: on OOM a request's KV is offloaded to host and reloaded",
                "cpu_overlapped": "NanoFlow s4.2.1: batch formation for i+1 runs during iteration i",
                "nano_batches": "NanoFlow s4.1/Fig. 6: 2 nano-batches for the dense operations (assumption for "
                                "models other than LLaMA-2-70B)",
                "block_tokens": "NanoFlow uses PagedAttention (s4.2.2); block size assumption",
                "kv_memory_fraction": "assumption", "cuda_graph_max_batch": "assumption",
                "launch_us_per_kernel": "assumption: launches are graphed", "cpu_base_ms": "assumption",
                "cpu_per_seq_us": "assumption"}),
    _p(name="ideal", describes="No host overhead, no fragmentation: the device-time bound of a scheduler",
       scheduler="prefill_first", max_num_seqs=1024, token_budget=8192, kv_memory_fraction=0.9,
       kv_fraction_of="total", block_tokens=1, paged_attention_overhead=0.0,
       admission="on_demand", preemption="recompute", prefix_caching=False, cuda_graphs="all",
       cuda_graph_max_batch=1 << 30, launch_us_per_kernel=0.0, cpu_base_ms=0.0, cpu_per_seq_us=0.0,
       sources={"*": "reference profile, not an engine"}),
]}


def get_engine(name: str) -> EngineProfile:
    try:
        return ENGINES[name.lower()]
    except KeyError:
        raise UnknownNameError("engine", name, sorted(ENGINES)) from None


def engine_names() -> list[str]:
    return sorted(ENGINES)
