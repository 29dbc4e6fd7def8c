"""Seeds the model does not reproduce yet: each with its headline (numbers only where a reference
we read states them) and the one-line reason."""

from __future__ import annotations

from perfmodel.reproduce._entry import Entry, not_modeled

ISSUE_14 = "another issue (14) covers it"


def _seed(seed: str, claim: str, reason: str, source: str, published: float | None = None, unit: str = "",
          setup: dict | None = None):
    def entry(ctx) -> Entry:  # noqa: ARG001 (same signature as the computed entries)
        return not_modeled(seed=seed, claim=claim, reason=reason, source=source, published=published, unit=unit,
                           setup=setup)

    entry.__name__ = seed
    return entry


NOT_MODELED = {
    "SwiftDiffusion": _seed("SwiftDiffusion", "faster serving of add-on diffusion modules (ControlNet, LoRA)",
                            f"diffusion models are outside the LLM step model; {ISSUE_14}", "issue 14"),
    "BurstGPT": _seed("BurstGPT", "LLM serving traffic is bursty (Gamma-distributed arrivals, Zipf-like lengths); in the "
                      "authors' demo, bursty traces reveal declines in efficiency, stability or reliability",
                      "a workload study with no serving figure to predict: the abstract's demo claim is qualitative and "
                      "neither the HPMLL/BurstGPT README nor the reference set gives its numbers; the trace's fitted "
                      "distributions are the model's input (`--workload burstgpt`: Gamma shape 0.5, Zipf 1.1), so "
                      "regenerating them would return our own parameters",
                      "BurstGPT arXiv:2401.17644 abstract; HPMLL/BurstGPT README; specs/workloads/presets.yaml burstgpt"),
    "Tilus": _seed("Tilus", "arbitrary-bit-width low-precision kernels 1.75x / 2.61x / 1.29x / 1.03x faster than "
                   "Triton / Ladder / QuantLLM / Marlin", "the model prices any weight width (`--quant w3a16`, w1-w8 "
                   "a16: bytes read and dequantization work), but each published ratio compares two kernels at the "
                   "same width on the same GPU, which bytes and peak rates price at 1.00x by construction: what "
                   "differs is code quality; the paper's GPUs, shapes and per-width latencies were not readable (its "
                   "abstract and the NVIDIA/tilus README only)", "Tilus arXiv:2504.12984 abstract; NVIDIA/tilus README"),
    "MoETuner": _seed("MoETuner", "ILP expert placement and routing: 9.3% end-to-end speedup for Mixtral-8x7B "
                      "(4EP x 2TP on 8x H100), 17.5% on 2x8 H200", "computed in the search layer, where the "
                      "placement ILP lives (perfmodel.search.moetuner, on MTBench routing from MoE-Lightning's "
                      "trace): `perfmodel reproduce` registers it; from Python call "
                      "perfmodel.search.moetuner.register_search_seeds() first",
                      "MoETuner arXiv:2502.06643 (methods.md s6)", 1.093, "x end-to-end"),
    "FastSwitch": _seed("FastSwitch", "fairness-aware preemption with cheaper KV context switches: 1.4-11.2x lower tail "
                        "TTFT and TBT than vLLM", "the published range spans P95 / P99 / P99.9 TTFT and P99.9 TBT on "
                        "two models and two priority patterns, and the per-metric values are in figures we did not "
                        "read, so a computed tail has no figure to meet; the simulator also lacks the policy: swap "
                        "preemption with a per-block copy cost exists (serve --preemption swap), but not preemption "
                        "driven by priority updates (the Random and Markov patterns follow Yin et al. 2024, not read) "
                        "nor multi-turn conversations whose KV stays on the host between turns",
                        "FastSwitch arXiv:2411.18424 abstract; setup: a survey's summary of the paper (secondary, "
                        "public index file 69451959288)",
                        setup={"model": "LLaMA-8B on 1x A10 24GB; Qwen-32B on 1x A100 80GB",
                               "hardware": "60 GB of CPU swap space per GPU, PCIe 4.0 x16 (32 GB/s per direction)",
                               "workload": "1,000 Multi-Round ShareGPT conversations (5.5 turns on average), Poisson "
                                           "arrivals at 1 req/s; priorities precomputed offline (Random and Markov "
                                           "patterns), priority-update frequency 0.04 (8B) and 0.02 (32B)",
                               "baseline": "vLLM 0.3.3 (16-token KV blocks swapped block by block)",
                               "sources": {"all": "survey summary of FastSwitch (secondary, public index file "
                                                  "69451959288); vLLM's 16-token blocks: FastSwitch abstract and "
                                                  "press summaries"}}),
    "Prepacking": _seed("Prepacking", "up to 6x faster prefill (TTFT) than padding every prompt to the batch's "
                        "longest", "both schedules exist (serve --scheduler static: padded, prepack: packed), and the "
                        "artifact fixes the rest of one run (README: MMLU questions, batch 64, Sheared-LLaMA-1.3B "
                        "4-bit through bitsandbytes 0.41 on one A6000, transformers 4.38, whose LlamaForCausalLM "
                        "computes FP32 logits at every padded position: 2.299 vs 0.441 s, 5.2x), but the gain is set by "
                        "each batch's longest prompt over its mean, the tail of the prompt lengths, which no source we "
                        "read gives: the artifact samples 1,000 questions (question text only, no choices) through the "
                        "tokenizer and prints only their mean, max and min; the dataset cards give bytes per subject, "
                        "evalscope's MMLU statistics are 5-shot prompts with choices, in characters; the paper's body "
                        "(its tables, the 6x setup) was not readable beyond its abstract, and its Llama-2 path is a "
                        "placeholder in the code",
                        "Prepacking arXiv:2404.09529 abstract; siyan-zhao/prepacking README, environment.yml, "
                        "dataset_utils.py, profiling_time_and_memory.py, utils.py; evalscope MMLU benchmark page",
                        6.0, "x TTFT"),
}
