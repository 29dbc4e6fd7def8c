"""DistServe's per-GPU goodput against DeepSpeed-MII: the largest request rate at which 90% of
requests meet both the TTFT and the TPOT SLO (perfmodel.serving.goodput), divided by the GPUs, for a
disaggregated deployment (prefill TP2 + decode TP1) and a colocated DeepSpeed-MII replica (TP1), on
the paper's OPT-13B chatbot setup with the artifact's own ShareGPT lengths. vLLM (the paper's other
baseline, 2.0-4.6x) runs on the same setup and is reported in the note."""

from __future__ import annotations

from perfmodel.reproduce._entry import Context, Entry, computed
from perfmodel.serve_api import serve

SRC = ("DistServe OSDI'24 s6.2 Chatbot (reference [P] id 29815856557, the OSDI text): 'Compared to DeepSpeed-MII, "
       "DistServe can sustain 1.6x-7.4x higher request rate' on ShareGPT; 'DeepSpeed-MII shows better performance on "
       "larger models', so the 7.4x is OPT-13B (MII cannot serve OPT-175B, s6.1)")
PAPER = "DistServe OSDI'24 s6.1 and Table 1 (reference [P] id 29815856557)"
AE = ("DistServe artifact (LLMServe/DistServe evaluation/): 2-benchmark-serving/2-start-api-server.py "
      "MODEL_TO_PARALLEL_PARAMS, vLLM and DistServe flags, mii.entrypoints.api_server --tensor-parallel 1 for OPT-13B; "
      "ae-scripts/e2e/_plot.py plot_fig8_upper (OPT-13B ShareGPT: DistServe on 3 GPUs, vLLM on 1)")
TTFT_SLO_MS, TPOT_SLO_MS, ATTAINMENT = 250.0, 100.0, 0.9   # paper Table 1 (Chatbot OPT-13B), s6.1 (90%)
PREFILL_TP, DECODE_TP = 2, 1                               # AE 2-start-api-server.py, facebook/opt-13b
BASELINE_TP = 1                                            # paper s6.1: MII's intra-op as vLLM's, 1 for OPT-13B
WORKLOAD = "sharegpt-distserve"                            # the artifact's OPT-13B ShareGPT lengths (presets.yaml)
VLLM_MAX_SEQS, VLLM_MAX_TOKENS = 1024, 16384               # AE vLLM flags --max-num-seqs / --max-num-batched-tokens
# AE DistServe flags: --decoding-max-batch-size 1024, --context-max-tokens-per-batch 8192 (one limit per deployment
# here: its --context-max-batch-size 128 is not applied; prefill batches at these rates hold far fewer prompts)
DIST_MAX_SEQS, DIST_MAX_TOKENS = 1024, 8192
REQUESTS = 400                                             # our choice (the AE sweeps run 100 per GPU per rate)
# The artifact's measured vLLM run on the same requests at 1 req/s (simdistserve/benchmarks/alignment/data-ground-truth/
# opt-13b-sharegpt/vllm-100-1.exp, commit 20a1633e): 86 of its 100 requests meet both SLOs (13 TTFTs above 250 ms, one
# TPOT above 100 ms); its 1,717-token prompt has a TTFT of 262.9 ms (benchmarks/distserve_vllm_rows.py compares all runs)
MEASURED_RATE_REQ_S, MEASURED_ATTAINMENT, MEASURED_REQUESTS = 1.0, 0.86, 100
LONG_PROMPT_TOKENS, LONG_PROMPT_TTFT_MS = 1717, 262.9
DIST_ENGINE, MII_ENGINE, VLLM_ENGINE = "vllm-0.5", "fastgen", "vllm-0.5"  # engines of early 2024 (vLLM 0.2-0.3)


def distserve(ctx: Context) -> Entry:
    kw = dict(model="opt-13b", hardware=ctx.system("a100-sxm-80gb"), workload=WORKLOAD, rate=1.0, quant="fp16",
              num_requests=REQUESTS, ttft_slo_ms=TTFT_SLO_MS, tpot_slo_ms=TPOT_SLO_MS, slo_target=ATTAINMENT)
    mii = serve(**kw, engine=MII_ENGINE, tp=BASELINE_TP)
    vllm = serve(**kw, engine=VLLM_ENGINE, tp=BASELINE_TP, max_batch=VLLM_MAX_SEQS, token_budget=VLLM_MAX_TOKENS)
    dist = serve(**kw, engine=DIST_ENGINE, scheduler="disagg", prefill_tp=PREFILL_TP, decode_tp=DECODE_TP,
                 max_batch=DIST_MAX_SEQS, token_budget=DIST_MAX_TOKENS)
    at_rate = serve(**{**kw, "rate": MEASURED_RATE_REQ_S, "num_requests": MEASURED_REQUESTS}, engine=VLLM_ENGINE,
                    tp=BASELINE_TP, max_batch=VLLM_MAX_SEQS, token_budget=VLLM_MAX_TOKENS, goodput_search=False).metrics
    lone = {eng: serve(model="opt-13b", hardware=kw["hardware"], workload=f"fixed:{LONG_PROMPT_TOKENS}:2", rate=0.01,
                       quant="fp16", num_requests=2, engine=eng, tp=BASELINE_TP, goodput_search=False
                       ).metrics["ttft_ms"]["mean"] for eng in (VLLM_ENGINE, MII_ENGINE)}
    per_gpu = {name: r.goodput_req_s / r.devices for name, r in (("mii", mii), ("vllm", vllm), ("dist", dist))}
    setup = {"model": "opt-13b", "hardware": f"a100-sxm-80gb: DeepSpeed-MII on {mii.devices}, DistServe on "
                                             f"{dist.devices}",
             "parallelism": f"DistServe prefill TP{PREFILL_TP} + decode TP{DECODE_TP}; DeepSpeed-MII TP{BASELINE_TP}",
             "precision": "fp16",
             "workload": f"ShareGPT as the artifact tokenizes it for OPT ({WORKLOAD} preset: mean prompt 850, "
                         f"output 163 tokens), Poisson; SLOs TTFT {TTFT_SLO_MS:.0f} ms, TPOT {TPOT_SLO_MS:.0f} ms, "
                         f"{ATTAINMENT:.0%} attainment",
             "baseline": f"DeepSpeed-MII (Dynamic SplitFuse, engine profile {MII_ENGINE}); DistServe's pools on "
                         f"engine profile {DIST_ENGINE}",
             "sources": {"claim, model, baseline": SRC, "SLOs, attainment, hardware (A100-80GB SXM)": PAPER,
                         "parallelism, GPU counts, batch limits": AE,
                         "lengths": "specs/workloads/presets.yaml sharegpt-distserve (the artifact's measured "
                                    "OPT-13B ShareGPT requests)",
                         "request count": "our choice"}}
    return computed(seed="DistServe", claim="disaggregated prefill and decode serve up to 7.4x more requests per GPU "
                    "than a colocated system (DeepSpeed-MII) within TTFT and TPOT SLOs", setup=setup, published=7.4,
                    predicted=per_gpu["dist"] / per_gpu["mii"], unit="x per-GPU goodput vs DeepSpeed-MII",
                    kind="ratio", source=SRC,
                    detail=f"goodput {per_gpu['dist']:.2f} vs {per_gpu['mii']:.2f} req/s/GPU; vs vLLM "
                           f"({per_gpu['vllm']:.2f} req/s/GPU) {per_gpu['dist'] / per_gpu['vllm']:.2f}x "
                           "(published 2.0-4.6x over OPT-13B/66B/175B)",
                    why=f"the TTFT SLO sits at the prefill time of the longest prompts: the artifact's own vLLM run of "
                        f"these requests at {MEASURED_RATE_REQ_S:.0f} req/s meets both SLOs for {MEASURED_ATTAINMENT:.0%} "
                        f"(13 TTFTs above 250 ms; its {LONG_PROMPT_TOKENS:,}-token prompt took {LONG_PROMPT_TTFT_MS:.0f} "
                        f"ms), the model {at_rate['slo_attainment']:.0%} (TTFT p90 {at_rate['ttft_ms']['p90']:.0f} ms; "
                        f"that prompt alone {lone[VLLM_ENGINE]:.0f} ms on {VLLM_ENGINE}, {lone[MII_ENGINE]:.0f} ms on "
                        f"{MII_ENGINE}): each colocated goodput is set by how many prompts cross 250 ms, so a prefill "
                        "priced ~1.4x fast (benchmarks/distserve_vllm_rows.py) lifts both baselines over the line "
                        "the published ratios rest on; the prefill-first stalls themselves are modeled")
