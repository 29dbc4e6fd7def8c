"""Seeds the model does not reproduce yet: each with its headline (numbers only where a reference
we read states them) and the one-line reason."""

from __future__ import annotations

from perfmodel.reproduce._entry import Entry, not_modeled

ISSUE_14 = "another issue (14) covers it"


def _seed(seed: str, claim: str, reason: str, source: str, published: float | None = None, unit: str = ""):
    def entry(ctx) -> Entry:  # noqa: ARG001 (same signature as the computed entries)
        return not_modeled(seed=seed, claim=claim, reason=reason, source=source, published=published, unit=unit)

    entry.__name__ = seed
    return entry


NOT_MODELED = {
    "SwiftDiffusion": _seed("SwiftDiffusion", "faster serving of add-on diffusion modules (ControlNet, LoRA)",
                            f"diffusion models are outside the LLM step model; {ISSUE_14}", "issue 14"),
    "BurstGPT": _seed("BurstGPT", "LLM serving traffic is bursty (Gamma-distributed arrivals, Zipf-like lengths)",
                      "a workload study: its claims are the trace's fitted distributions, which the burstgpt preset "
                      "takes as input (Zipf 1.1, Gamma shape 0.5); regenerating them would return our own "
                      "parameters, not a prediction, and its serving demo has no figure in the reference set",
                      "BurstGPT arXiv:2401.17644; specs/workloads/presets.yaml burstgpt"),
    "Tilus": _seed("Tilus", "arbitrary-bit-width low-precision kernels 1.75x / 2.61x / 1.29x / 1.03x faster than "
                   "Triton / Ladder / QuantLLM / Marlin", "each ratio compares two kernel generators at the same bit "
                   "width on the same GPU: code quality, which the step model (bytes and peak rates) prices the same "
                   "for both", "Tilus arXiv:2504.12984 abstract"),
    "MoETuner": _seed("MoETuner", "ILP expert placement and routing: 9.3% end-to-end speedup for Mixtral-8x7B "
                      "(4EP x 2TP on 8x H100), 17.5% on 2x8 H200", "the gain is set by the profiled token-routing "
                      "matrices of the target task (P, R), which are not published; a synthetic skew would make it our "
                      "choice (the ILP exists in search/ilp, above this layer)", "methods.md s6", 1.093,
                      "x end-to-end"),
    "FastSwitch": _seed("FastSwitch", "fairness-aware preemption with cheaper KV context switches",
                        "swap preemption with a per-block cost exists (--preemption swap), but FastSwitch's priority "
                        "policy, its multi-turn traces and its tail-latency figures are not in the reference set",
                        "docs/serving.md"),
    "Prepacking": _seed("Prepacking", "up to 6x faster prefill (TTFT) than padding every prompt to the batch's "
                        "longest", "the gain is the batch's padding ratio, set by each dataset's prompt-length spread "
                        "(MMLU, Alpaca, SamSum ... sampled through a tokenizer), which is not in the reference set; the "
                        "authors' README example (MMLU, batch 64, a 1B Llama in 4-bit bitsandbytes on an A6000: 0.441 vs "
                        "2.299 s) also runs Hugging Face eager kernels the step model does not price",
                        "Prepacking arXiv:2404.09529; siyan-zhao/prepacking README", 6.0, "x TTFT"),
}
