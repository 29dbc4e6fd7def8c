"""SGLang: `python -m sglang.launch_server` arguments (docs.sglang.io "Server Arguments"); for
disaggregated plans `--disaggregation-mode prefill|decode` servers and the PD router
(`python -m sglang_router.launch_router --pd-disaggregation`)."""

from __future__ import annotations

from perfmodel.plan import Plan
from perfmodel.search.export._base import (Export, Exporter, attention_dp, check_kv_attention, cmd, env_cmd,
                                           instances, per_worker, register)
from perfmodel.search.export._moe import moe_notes, sglang_moe
from perfmodel.search.export._quant import engine_kv, engine_quant, offload_gb
from perfmodel.search.plan_file import PlanFile

QUANT = {"bf16": None, "fp16": None, "fp8": "fp8", "w4a16": "awq", "w8a8": "w8a8_int8"}
TRANSFER_BACKEND = "nixl"


@register
class SglangExporter(Exporter):
    name = "sglang"

    def args(self, plan: PlanFile, pool: Plan, *, dp_inside: bool) -> list:
        adp = attention_dp(pool)
        dp = pool.dp if (dp_inside or adp) else 1
        a: list = ["--tp-size", pool.tp * dp if adp else pool.tp]
        if pool.pp > 1:
            a += ["--pp-size", pool.pp]
        if dp > 1:
            a += ["--dp-size", dp]
        if adp:
            a += ["--enable-dp-attention"]
        if pool.ep > 1:
            a += ["--ep-size", pool.ep]
        batch = pool.max_batch or 256
        a += ["--max-running-requests", batch * (dp if adp else 1)]
        if pool.mode == "aggregated":
            a += ["--chunked-prefill-size", pool.token_budget or -1]   # -1 disables chunked prefill
        elif pool.mode == "prefill":
            a += ["--chunked-prefill-size", pool.token_budget or -1]
        q = engine_quant("SGLang", pool, QUANT)
        if q:
            a += ["--quantization", q]
        a += ["--kv-cache-dtype", engine_kv("SGLang", pool, "fp8_e4m3")]
        a += ["--mem-fraction-static", pool.memory_utilization]
        gb = offload_gb(plan, pool)
        if gb:
            a += ["--cpu-offload-gb", gb]
        if pool.mode in ("prefill", "decode"):
            a += ["--disaggregation-mode", pool.mode, "--disaggregation-transfer-backend", TRANSFER_BACKEND]
        return a + sglang_moe(pool)

    def export(self, plan: PlanFile) -> Export:
        check_kv_attention("sglang", plan)
        ex = Export(engine="sglang")
        ex.notes += moe_notes(plan.pools[-1], "sglang")
        if plan.kv_offload:
            ex.notes.append("KV offload: enable SGLang's hierarchical cache (--enable-hierarchical-cache); "
                            f"sized for {plan.kv_offload:.0%} of the KV cache")
        if plan.mode == "aggregated":
            pool = plan.pools[0]
            devices = sorted(d for i in instances(plan)["aggregated"] for d in i.devices)
            env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, devices))}
            ex.commands.append(env_cmd(env, "python", "-m", "sglang.launch_server", "--model-path", plan.model_id,
                                       "--host", "0.0.0.0", "--port", 30000, *self.args(plan, pool, dp_inside=True)))
            return ex
        urls: dict[str, list[str]] = {"prefill": [], "decode": []}
        for role, base in (("prefill", 30000), ("decode", 31000)):
            pool = plan.pool(role)
            groups = instances(plan, {role: base})[role]
            groups = per_worker(groups, pool)  # attention-DP: one server per worker
            for inst in groups:
                env = {"CUDA_VISIBLE_DEVICES": inst.visible}
                ex.commands.append(env_cmd(env, "python", "-m", "sglang.launch_server", "--model-path", plan.model_id,
                                           "--host", "0.0.0.0", "--port", inst.port,
                                           *self.args(plan, pool, dp_inside=False)) + " &")
                urls[role].append(f"http://127.0.0.1:{inst.port}")
        router = ["python", "-m", "sglang_router.launch_router", "--pd-disaggregation"]
        for u in urls["prefill"]:
            router += ["--prefill", u]
        for u in urls["decode"]:
            router += ["--decode", u]
        ex.commands.append(cmd(*router, "--host", "0.0.0.0", "--port", 8000))
        return ex
