"""vLLM: `vllm serve` arguments (docs.vllm.ai, "Engine Arguments" / "vllm serve"), and for
disaggregated plans one prefill and one decode server per replica joined by a KV connector
(`--kv-transfer-config`, NixlConnector; docs.vllm.ai "NixlConnector Usage Guide")."""

from __future__ import annotations

import json

from perfmodel.plan import Plan
from perfmodel.search.export._base import Export, Exporter, attention_dp, check_kv_attention, env_cmd, instances, register
from perfmodel.search.export._moe import moe_notes, vllm_moe
from perfmodel.search.export._quant import engine_kv, engine_quant, kv_host_bytes, offload_gb
from perfmodel.search.plan_file import PlanFile

QUANT = {"bf16": None, "fp16": None, "fp8": "fp8", "w4a16": "awq", "w8a8": "compressed-tensors"}
DTYPE = {"bf16": "bfloat16", "fp16": "float16"}
KV_CONNECTOR = {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
NIXL_SIDE_CHANNEL_PORT = 5600  # one per server on a host (vLLM NixlConnector guide uses 5600, 5601, ...)
DECODE_MIN_BATCHED_TOKENS = 2048  # decode servers still admit chunked work (vLLM V1 default 2048 floor)


@register
class VllmExporter(Exporter):
    name = "vllm"

    def args(self, plan: PlanFile, pool: Plan, *, dp_inside: bool) -> list:
        isl = plan.workload.isl
        a: list = ["--tensor-parallel-size", pool.tp]
        if pool.pp > 1:
            a += ["--pipeline-parallel-size", pool.pp]
        if dp_inside and pool.dp > 1:
            a += ["--data-parallel-size", pool.dp]
        if pool.ep > 1:
            a += ["--enable-expert-parallel"]
        batch = pool.max_batch or 256
        a += ["--max-num-seqs", batch]
        if pool.mode == "decode":
            tokens = max(batch, DECODE_MIN_BATCHED_TOKENS)
        else:
            tokens = pool.token_budget or batch * isl
        a += ["--max-num-batched-tokens", tokens]
        if pool.mode == "aggregated" and pool.token_budget:
            a += ["--enable-chunked-prefill"]
        q = engine_quant("vLLM", pool, QUANT)
        a += ["--quantization", q] if q else ["--dtype", DTYPE.get(pool.quant, "auto")]
        a += ["--kv-cache-dtype", engine_kv("vLLM", pool, "fp8")]
        a += ["--gpu-memory-utilization", pool.memory_utilization]
        gb = offload_gb(plan, pool)
        if gb:
            a += ["--cpu-offload-gb", gb]
        return a + vllm_moe(pool)

    def export(self, plan: PlanFile) -> Export:
        check_kv_attention("vllm", plan)
        ex = Export(engine="vllm")
        ex.notes += moe_notes(plan.pools[-1], "vllm")
        if plan.kv_offload:
            ex.notes.append(f"KV offload ({plan.kv_offload:.0%}, {kv_host_bytes(plan, plan.pools[-1]) / 1e9:.1f} GB "
                            "per device) goes through a KV connector such as LMCache in vLLM; not emitted here")
        if any(attention_dp(p) for p in plan.pools):
            ex.notes.append("attention-DP + EP: vLLM runs EP over data_parallel_size x tensor_parallel_size ranks")
        if plan.mode == "aggregated":
            pool = plan.pools[0]
            inst = instances(plan)["aggregated"]
            devices = sorted(d for i in inst for d in i.devices)
            env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, devices))}
            ex.commands.append(env_cmd(env, "vllm", "serve", plan.model_id, "--port", 8000,
                                       *self.args(plan, pool, dp_inside=True)))
            return ex
        conn = json.dumps(KV_CONNECTOR, separators=(",", ":"))
        side_port = NIXL_SIDE_CHANNEL_PORT
        for role, pool in (("prefill", plan.pool("prefill")), ("decode", plan.pool("decode"))):
            for inst in instances(plan, {"prefill": 8100, "decode": 8200})[role]:
                env = {"CUDA_VISIBLE_DEVICES": inst.visible, "VLLM_NIXL_SIDE_CHANNEL_PORT": str(side_port)}
                side_port += 1
                ex.commands.append(env_cmd(env, "vllm", "serve", plan.model_id, "--port", inst.port,
                                           *self.args(plan, pool, dp_inside=False), "--kv-transfer-config", conn) + " &")
        ex.notes.append("route requests prefill -> decode with a P/D proxy (vLLM examples/disaggregated); "
                        "prefill servers on ports 8100+, decode servers on 8200+")
        ex.commands.append("wait")
        return ex
