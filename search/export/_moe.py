"""Issue-12 plan options as engine flags: speculative decoding, EPLB redundant experts, two-batch
overlap and DeepEP all-to-all, one function per engine (the exporters append what they return).

Flags as the engines' docs name them:
  vLLM     `--speculative-config` JSON {"method": "mtp" | "eagle3" | "ngram",
           "num_speculative_tokens": k, "model": draft} (docs.vllm.ai "Speculative Decoding";
           vllm.config.speculative SpeculativeMethod), `--enable-eplb` with `--eplb-config`
           {"num_redundant_experts": N}, `--enable-dbo` (dual-batch overlap) and
           `--all2all-backend deepep_high_throughput | deepep_low_latency` ("Expert Parallel
           Deployment").
  SGLang   `--speculative-algorithm EAGLE` for MTP (NextN) and `EAGLE3` / `NGRAM`, with
           `--speculative-num-steps k --speculative-eagle-topk 1 --speculative-num-draft-tokens k+1`
           (docs.sglang.io "Speculative Decoding"), `--enable-eplb --ep-num-redundant-experts N`,
           `--enable-two-batch-overlap`, `--moe-a2a-backend deepep --deepep-mode auto`.
  TRT-LLM  `speculative_config` in the extra LLM-API YAML: {decoding_type: MTP,
           num_nextn_predict_layers: k} | {decoding_type: Eagle, max_draft_len: k,
           speculative_model_dir} | {decoding_type: NGram, max_draft_len: k}.
Acceptance rates are workload properties, not flags: the engines measure them.
"""

from __future__ import annotations

import json

from perfmodel.plan import Plan

EAGLE3_DRAFT = "<eagle3-draft-model>"   # the user's EAGLE-3 head checkpoint; no default exists
VLLM_METHOD = {"mtp": "mtp", "eagle3": "eagle3", "ngram": "ngram"}
SGLANG_ALGORITHM = {"mtp": "EAGLE", "eagle3": "EAGLE3", "ngram": "NGRAM"}
TRTLLM_DECODING = {"mtp": "MTP", "eagle3": "Eagle", "ngram": "NGram"}


def _adp(pool: Plan) -> bool:
    return pool.ep > pool.tp


def vllm_moe(pool: Plan) -> list:
    a: list = []
    if pool.spec_method:
        cfg: dict = {"method": VLLM_METHOD[pool.spec_method], "num_speculative_tokens": pool.spec_tokens}
        if pool.spec_method == "eagle3":
            cfg["model"] = EAGLE3_DRAFT
        a += ["--speculative-config", json.dumps(cfg, separators=(",", ":"))]
    if pool.redundant_experts:
        a += ["--enable-eplb", "--eplb-config",
              json.dumps({"num_redundant_experts": pool.redundant_experts}, separators=(",", ":"))]
    if _adp(pool):
        a += ["--all2all-backend", "deepep_low_latency" if pool.mode == "decode" else "deepep_high_throughput"]
    if pool.two_batch_overlap:
        a += ["--enable-dbo"]
    return a


def sglang_moe(pool: Plan) -> list:
    a: list = []
    if pool.spec_method:
        k = pool.spec_tokens
        a += ["--speculative-algorithm", SGLANG_ALGORITHM[pool.spec_method]]
        if pool.spec_method == "eagle3":
            a += ["--speculative-draft-model-path", EAGLE3_DRAFT]
        if pool.spec_method != "ngram":
            a += ["--speculative-num-steps", k, "--speculative-eagle-topk", 1]
        a += ["--speculative-num-draft-tokens", k + 1]
    if pool.redundant_experts:
        a += ["--enable-eplb", "--ep-num-redundant-experts", pool.redundant_experts]
    if _adp(pool):
        a += ["--moe-a2a-backend", "deepep", "--deepep-mode", "auto"]
    if pool.two_batch_overlap:
        a += ["--enable-two-batch-overlap"]
    return a


def trtllm_moe(pool: Plan) -> dict:
    if not pool.spec_method:
        return {}
    k = pool.spec_tokens
    if pool.spec_method == "mtp":
        return {"speculative_config": {"decoding_type": "MTP", "num_nextn_predict_layers": k}}
    cfg: dict = {"decoding_type": TRTLLM_DECODING[pool.spec_method], "max_draft_len": k}
    if pool.spec_method == "eagle3":
        cfg["speculative_model_dir"] = EAGLE3_DRAFT
    return {"speculative_config": cfg}


def moe_notes(pool: Plan, engine: str) -> list[str]:
    out = []
    if pool.spec_method == "eagle3":
        out.append(f"EAGLE-3: replace {EAGLE3_DRAFT} with the draft head trained for this model")
    if engine == "trtllm" and (pool.redundant_experts or pool.two_batch_overlap):
        out.append("EPLB slots and two-batch overlap are not written for TensorRT-LLM (its MoE load balancer "
                   "takes a per-model slot file); set them in moe_config by hand")
    return out
