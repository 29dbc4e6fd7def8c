"""TensorRT-LLM: `trtllm-serve MODEL` options plus the extra LLM-API YAML
(`--extra_llm_api_options`; nvidia.github.io/TensorRT-LLM "trtllm-serve"), and for disaggregated
plans context/generation servers with `cache_transceiver_config` joined by
`trtllm-serve disaggregated -c disagg_config.yaml` (TensorRT-LLM "Disaggregated Serving")."""

from __future__ import annotations

import yaml

from perfmodel.plan import Plan
from perfmodel.search.export._base import (Export, Exporter, attention_dp, check_kv_attention, cmd, env_cmd, instances,
                                           per_worker, register, unemitted_notes)
from perfmodel.search.export._moe import moe_notes, trtllm_moe
from perfmodel.search.export._quant import checkpoint_note, engine_kv, kv_host_bytes, offload_gib
from perfmodel.search.plan_file import PlanFile

CACHE_TRANSCEIVER_BACKEND = "DEFAULT"
QUANT_NOTE = {"fp8": "FP8", "w4a16": "W4A16 (AWQ/INT4)", "w8a8": "W8A8 SmoothQuant", "w4a8kv4": "W4A8",
              "fp16": None, "bf16": None}


@register
class TrtllmExporter(Exporter):
    name = "trtllm"

    def yaml_options(self, plan: PlanFile, pool: Plan) -> dict:
        batch = pool.max_batch or 256
        kv: dict = {"free_gpu_memory_fraction": pool.memory_utilization}
        kv_dtype = engine_kv("TensorRT-LLM", pool, "fp8")
        if kv_dtype != "auto":
            kv["dtype"] = kv_dtype
        host = kv_host_bytes(plan, pool)
        if host:
            kv["host_cache_size"] = host
        opts: dict = {
            "enable_chunked_prefill": bool(pool.mode == "aggregated" and pool.token_budget),
            "kv_cache_config": kv,
            "cuda_graph_config": {"enable_padding": True, "max_batch_size": batch},
        }
        if attention_dp(pool):
            opts["enable_attention_dp"] = True
        if pool.mode in ("prefill", "decode"):
            opts["cache_transceiver_config"] = {"backend": CACHE_TRANSCEIVER_BACKEND}
            opts["disable_overlap_scheduler"] = pool.mode == "prefill"
        return {**opts, **trtllm_moe(pool)}

    def args(self, plan: PlanFile, pool: Plan, yaml_name: str) -> list:
        adp = attention_dp(pool)
        batch = pool.max_batch or 256
        isl = plan.workload.isl
        tokens = pool.token_budget or (batch * isl if pool.mode != "decode" else max(batch, 2048))
        a: list = ["--backend", "pytorch", "--tp_size", pool.tp * pool.dp if adp else pool.tp]
        if pool.pp > 1:
            a += ["--pp_size", pool.pp]
        if pool.ep > 1:
            a += ["--ep_size", pool.ep]
        a += ["--max_batch_size", batch, "--max_num_tokens", tokens,
              "--kv_cache_free_gpu_memory_fraction", pool.memory_utilization,
              "--extra_llm_api_options", yaml_name]
        return a

    def export(self, plan: PlanFile) -> Export:
        check_kv_attention("trtllm", plan)
        ex = Export(engine="trtllm")
        ex.notes += moe_notes(plan.pools[-1], "trtllm")
        q = QUANT_NOTE.get(plan.pools[0].quant.lower(), plan.pools[0].quant)
        if q:
            ex.notes.append(f"weights: serve a {q} checkpoint (e.g. a ModelOpt export); TensorRT-LLM reads the "
                            "quantization from the checkpoint")
            ex.notes.append(checkpoint_note(plan))
        ex.notes += unemitted_notes("TensorRT-LLM", plan)
        if offload_gib(plan, plan.pools[0]):
            ex.notes.append("weight offload is not a trtllm-serve option; the plan's offloaded weights need another engine")
        if plan.mode == "aggregated":
            pool = plan.pools[0]
            ex.files["extra_llm_api_options.yaml"] = yaml.safe_dump(self.yaml_options(plan, pool), sort_keys=False)
            groups = instances(plan)["aggregated"]
            groups = per_worker(groups, pool)  # attention-DP: one server per worker
            for inst in groups:
                line = env_cmd({"CUDA_VISIBLE_DEVICES": inst.visible}, "trtllm-serve", plan.model_id,
                               "--host", "0.0.0.0", "--port", inst.port,
                               *self.args(plan, pool, "extra_llm_api_options.yaml"))
                ex.commands.append(line + (" &" if len(groups) > 1 else ""))
            if len(groups) > 1:
                ex.notes.append(f"{len(groups)} data-parallel replicas on ports 8000+; put a load balancer in front")
                ex.commands.append("wait")
            return ex
        servers: dict[str, dict] = {}
        for role, key, base, fname in (("prefill", "context_servers", 8001, "ctx_extra_llm_api_options.yaml"),
                                       ("decode", "generation_servers", 8101, "gen_extra_llm_api_options.yaml")):
            pool = plan.pool(role)
            ex.files[fname] = yaml.safe_dump(self.yaml_options(plan, pool), sort_keys=False)
            groups = instances(plan, {role: base})[role]
            groups = per_worker(groups, pool)  # attention-DP: one server per worker
            for inst in groups:
                ex.commands.append(env_cmd({"CUDA_VISIBLE_DEVICES": inst.visible}, "trtllm-serve", plan.model_id,
                                           "--host", "localhost", "--port", inst.port,
                                           *self.args(plan, pool, fname)) + " &")
            servers[key] = {"num_instances": len(groups), "urls": [f"localhost:{g.port}" for g in groups]}
        ex.files["disagg_config.yaml"] = yaml.safe_dump({"hostname": "localhost", "port": 8000, "backend": "pytorch",
                                                         **servers}, sort_keys=False)
        ex.commands.append(cmd("trtllm-serve", "disaggregated", "-c", "disagg_config.yaml"))
        return ex
