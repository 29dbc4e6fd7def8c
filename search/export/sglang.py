"""SGLang: `sglang serve` arguments (docs.sglang.io "Server Arguments"; the entry point that
replaces `python -m sglang.launch_server`); for disaggregated plans `--disaggregation-mode
prefill|decode` servers, each prefill server with its own `--disaggregation-bootstrap-port`, and
the PD router (`python -m sglang_router.launch_router --pd-disaggregation --prefill URL PORT`)."""

from __future__ import annotations

import math

from perfmodel.plan import Plan
from perfmodel.search.export._base import (Export, Exporter, attention_dp, check_kv_attention, cmd, env_cmd, instances,
                                           per_worker, register, unemitted_notes)
from perfmodel.search.export._moe import moe_notes, sglang_moe
from perfmodel.search.export._quant import GIB_BYTES, checkpoint_note, engine_kv, engine_quant, kv_host_bytes, offload_gib
from perfmodel.search.plan_file import PlanFile

QUANT = {"bf16": None, "fp16": None, "fp8": "fp8", "w4a16": "awq", "w8a8": "w8a8_int8"}
TRANSFER_BACKEND = "nixl"
BOOTSTRAP_PORT = 8998  # SGLang's default --disaggregation-bootstrap-port; one per prefill server on a host
SERVE = ("sglang", "serve")


@register
class SglangExporter(Exporter):
    name = "sglang"

    def args(self, plan: PlanFile, pool: Plan, *, dp_inside: bool) -> list:
        adp = attention_dp(pool)
        dp = pool.dp if (dp_inside or adp) else 1
        a: list = ["--tp-size", pool.tp * dp if adp else pool.tp]
        if pool.pp > 1:
            a += ["--pp-size", pool.pp]
        if adp:   # attention data parallel over the TP x DP ranks (replaces --dp-size N --enable-dp-attention)
            a += ["--attn-dp-size", dp]
        elif dp > 1:
            a += ["--dp-size", dp]
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
        gib = offload_gib(plan, pool)
        if gib:   # SGLang parses an int (GiB): round up
            a += ["--cpu-offload-gb", math.ceil(gib)]
        kv_host = kv_host_bytes(plan, pool)
        if kv_host:   # hierarchical cache: host KV pool per rank, GB (int)
            a += ["--enable-hierarchical-cache", "--hicache-size", math.ceil(kv_host / GIB_BYTES)]
        if pool.mode in ("prefill", "decode"):
            a += ["--disaggregation-mode", pool.mode, "--disaggregation-transfer-backend", TRANSFER_BACKEND]
        return a + sglang_moe(pool)

    def export(self, plan: PlanFile) -> Export:
        check_kv_attention("sglang", plan)
        ex = Export(engine="sglang")
        ex.notes += moe_notes(plan.pools[-1], "sglang")
        note = checkpoint_note(plan)
        if note:
            ex.notes.append(note)
        ex.notes += unemitted_notes("SGLang", plan)
        if plan.kv_offload:
            ex.notes.append("KV offload: SGLang's hierarchical cache (--enable-hierarchical-cache, --hicache-size GB "
                            f"per rank) sized for {plan.kv_offload:.0%} of the KV cache")
        if plan.mode == "aggregated":
            pool = plan.pools[0]
            devices = sorted(d for i in instances(plan)["aggregated"] for d in i.devices)
            env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, devices))}
            ex.commands.append(env_cmd(env, *SERVE, "--model-path", plan.model_id,
                                       "--host", "0.0.0.0", "--port", 30000, *self.args(plan, pool, dp_inside=True)))
            return ex
        urls: dict[str, list] = {"prefill": [], "decode": []}
        bootstrap = BOOTSTRAP_PORT
        for role, base in (("prefill", 30000), ("decode", 31000)):
            pool = plan.pool(role)
            groups = instances(plan, {role: base})[role]
            groups = per_worker(groups, pool)  # attention-DP: one server per worker
            for inst in groups:
                env = {"CUDA_VISIBLE_DEVICES": inst.visible}
                extra = ["--disaggregation-bootstrap-port", bootstrap] if role == "prefill" else []
                ex.commands.append(env_cmd(env, *SERVE, "--model-path", plan.model_id,
                                           "--host", "0.0.0.0", "--port", inst.port,
                                           *self.args(plan, pool, dp_inside=False), *extra) + " &")
                urls[role].append((f"http://127.0.0.1:{inst.port}", bootstrap))
                bootstrap += role == "prefill"
        router = ["python", "-m", "sglang_router.launch_router", "--pd-disaggregation"]
        for u, port in urls["prefill"]:
            router += ["--prefill", u, port]
        for u, _ in urls["decode"]:
            router += ["--decode", u]
        ex.commands.append(cmd(*router, "--host", "0.0.0.0", "--port", 8000))
        return ex
