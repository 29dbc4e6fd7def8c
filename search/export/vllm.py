"""vLLM: `vllm serve` arguments (docs.vllm.ai, "Engine Arguments" / "vllm serve"), and for
disaggregated plans prefill and decode servers joined by a KV connector (`--kv-transfer-config`,
NixlConnector; docs.vllm.ai "NixlConnector Usage Guide"). A pool with expert parallelism and
several replicas is one server with `--data-parallel-size` (vLLM runs EP over DP x TP ranks)."""

from __future__ import annotations

import json
import math

from perfmodel.plan import Plan
from perfmodel.search.export._base import (Export, Exporter, attention_dp, check_kv_attention, env_cmd, instances,
                                           per_worker, register, unemitted_notes)
from perfmodel.search.export._moe import moe_notes, vllm_moe
from perfmodel.search.export._quant import (GIB_BYTES, UNQUANTIZED, checkpoint_note, engine_kv, engine_quant,
                                            kv_host_bytes, offload_gib)
from perfmodel.search.plan_file import PlanFile

# Schemes vLLM serves from a checkpoint of that scheme (the value is what its config reports; the
# export does not pass --quantization: vLLM reads it from the checkpoint's quantization_config).
QUANT = {"bf16": None, "fp16": None, "fp8": "fp8", "w4a16": "awq", "w8a8": "compressed-tensors"}
DTYPE = {"bf16": "bfloat16", "fp16": "float16"}
KV_CONNECTOR = {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
KV_OFFLOADING_BACKEND = "native"  # vLLM >= 0.11 CPU KV offloading (--kv-offloading-backend native|lmcache)
NIXL_SIDE_CHANNEL_PORT = 5600  # one per server on a host (vLLM NixlConnector guide uses 5600, 5601, ...)
DECODE_MIN_BATCHED_TOKENS = 2048  # decode servers still admit chunked work (vLLM V1 default 2048 floor)


def one_server(pool: Plan) -> bool:
    """Replicas of an expert-parallel pool form one vLLM server (--data-parallel-size)."""
    return pool.dp > 1 and (pool.ep > 1 or attention_dp(pool))


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
        if pool.mode != "decode":   # static batches (no token budget) turn chunked prefill off (vLLM 0.34: --disable-chunked-prefill)
            a += ["--enable-chunked-prefill" if pool.token_budget else "--disable-chunked-prefill"]
        engine_quant("vLLM", pool, QUANT)           # refuses a scheme vLLM cannot serve
        a += ["--dtype", DTYPE[pool.quant.lower()] if pool.quant.lower() in UNQUANTIZED else "auto"]
        a += ["--kv-cache-dtype", engine_kv("vLLM", pool, "fp8")]
        a += ["--gpu-memory-utilization", pool.memory_utilization]
        gib = offload_gib(plan, pool)
        if gib:
            a += ["--cpu-offload-gb", gib]
        kv_host = kv_host_bytes(plan, pool)
        if kv_host:   # the buffer is the total over the server's TP x PP ranks, GiB
            a += ["--kv-offloading-size", math.ceil(kv_host * pool.tp * pool.pp / GIB_BYTES * 10) / 10,
                  "--kv-offloading-backend", KV_OFFLOADING_BACKEND]
        return a + vllm_moe(pool)

    def export(self, plan: PlanFile) -> Export:
        check_kv_attention("vllm", plan)
        ex = Export(engine="vllm")
        ex.notes += moe_notes(plan.pools[-1], "vllm")
        note = checkpoint_note(plan)
        if note:
            ex.notes.append(note)
        ex.notes += unemitted_notes("vLLM", plan)
        if plan.kv_offload:
            ex.notes.append(f"KV offload ({plan.kv_offload:.0%} of the KV cache in host memory): "
                            f"--kv-offloading-size (GiB over the server's ranks) with the {KV_OFFLOADING_BACKEND} "
                            "CPU offloading backend (vLLM >= 0.11)")
        if any(p.ep > 1 for p in plan.pools):
            ex.notes.append("expert parallel: vLLM runs EP over data_parallel_size x tensor_parallel_size ranks; "
                            "a pool's replicas are one server with --data-parallel-size")
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
        bases = {"prefill": 8100, "decode": 8200}
        urls: dict[str, list[str]] = {"prefill": [], "decode": []}
        for role in ("prefill", "decode"):
            pool = plan.pool(role)
            group = instances(plan, bases)[role]
            inside = one_server(pool)
            group = per_worker(group, pool, merge=inside)
            for inst in group:
                env = {"CUDA_VISIBLE_DEVICES": inst.visible, "VLLM_NIXL_SIDE_CHANNEL_PORT": str(side_port)}
                side_port += 1
                ex.commands.append(env_cmd(env, "vllm", "serve", plan.model_id, "--port", inst.port,
                                           *self.args(plan, pool, dp_inside=inside), "--kv-transfer-config", conn)
                                   + " &")
                urls[role].append(f"http://127.0.0.1:{inst.port}")
        ex.notes.append("route requests prefill -> decode with a P/D proxy (vLLM examples/online_serving/"
                        "disaggregated_serving); prefill servers: " + ", ".join(urls["prefill"])
                        + "; decode servers: " + ", ".join(urls["decode"]))
        ex.commands.append("wait")
        return ex
