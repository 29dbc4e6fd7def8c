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
    "Sarathi-Serve": _seed(
        "Sarathi-Serve", "2.6x vLLM's serving capacity for Mistral-7B on one A100 under a P99 TBT SLO (3.7x for "
        "Yi-34B on two A100s)", "capacity is defined by the P99 time between tokens, and the simulator records "
        "per-request TPOT, not per-token gaps (the stalls chunked prefill removes); the SLO values were not read",
        "Sarathi-Serve OSDI'24 abstract", 2.6, "x capacity"),
    "SwiftDiffusion": _seed("SwiftDiffusion", "faster serving of add-on diffusion modules (ControlNet, LoRA)",
                            f"diffusion models are outside the LLM step model; {ISSUE_14}", "issue 14"),
    "BurstGPT": _seed("BurstGPT", "LLM serving traffic is bursty (Gamma-distributed arrivals, Zipf-like lengths)",
                      "a workload study without a throughput headline: its trace is an input here "
                      "(BurstGPT CSV workloads), not a claim to reproduce", "BurstGPT trace (specs/workloads)"),
    "Tilus": _seed("Tilus", "low-precision GPU kernels at arbitrary bit widths",
                   "kernel-level speedups over other kernel generators; the step model prices quantized GEMMs by "
                   "bytes and peak rates, not by kernel generator", "Tilus paper (headline not in the reference set)"),
    "MoETuner": _seed("MoETuner", "ILP expert placement and routing lowers end-to-end MoE latency",
                      "the ILP placement exists (search/ilp), but the paper's speedup figures are not in the "
                      "reference set", "methods.md s6"),
    "D2MoE": _seed("D2MoE", "MoE serving on edge devices", f"not modeled in this issue; {ISSUE_14}", "issue 14"),
    "FastSwitch": _seed("FastSwitch", "fairness-aware preemption with cheaper KV context switches",
                        "swap preemption with per-block cost exists (--preemption swap), but the paper's tail-latency "
                        "figures are not in the reference set", "docs/serving.md"),
    "COMET": _seed("COMET", "fine-grained computation-communication overlap speeds up MoE layers",
                   "tile-level overlap of expert GEMMs with all-to-all is not modeled", "COMET paper"),
    "Prepacking": _seed("Prepacking", "up to 6x faster prefill (TTFT) than padding every prompt to the batch's "
                        "longest", "the prepack and padded static schedulers exist, but the gain is set by the spread of "
                        "prompt lengths in a batch, and the paper's datasets and batches were not read",
                        "Prepacking arXiv:2404.09529 (AISTATS'25)", 6.0, "x TTFT"),
    "Speculative MoE": _seed("Speculative MoE", "speculative token and expert pre-scheduling cuts EP communication",
                             "shuffling tokens to their experts' ranks ahead of the all-to-all is not modeled "
                             "(perfmodel.speculative is speculative decoding, another technique)",
                             "Speculative MoE paper (headline not in the reference set)"),
    "DistServe": _seed("DistServe", "disaggregated prefill and decode serve more requests within SLOs than vLLM",
                       "disaggregation exists (--scheduler disagg), but the paper's OPT models and SLOs are not in "
                       "the presets / reference set", "methods.md s5"),
}
