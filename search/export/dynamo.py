"""NVIDIA Dynamo: a DynamoGraphDeployment (nvidia.com/v1beta1, the form Dynamo 1.6's own
templates use: `spec.components`, each with a `type` frontend | worker | prefill | decode and a
pod template) running the vLLM or SGLang worker (`python3 -m dynamo.vllm | dynamo.sglang`) with
the same engine arguments the plain exporters emit. Aggregated plans get one worker component,
disaggregated plans a prefill and a decode component; replicas are the pool's replicas, or one
replica spanning them when the engine runs them as one server (DP + EP).
"""

from __future__ import annotations

import re

import yaml

from perfmodel.plan import Plan
from perfmodel.search.export import sglang as sglang_export
from perfmodel.search.export import vllm as vllm_export
from perfmodel.search.export._base import Export, Exporter, attention_dp, check_kv_attention, register
from perfmodel.search.plan_file import PlanFile

API_VERSION = "nvidia.com/v1beta1"
DYNAMO_VERSION = "1.6.1"   # the runtime images and the DGD form of Dynamo 1.6.1's templates
IMAGES = {"vllm": f"nvcr.io/nvidia/ai-dynamo/vllm-runtime:{DYNAMO_VERSION}",
          "sglang": f"nvcr.io/nvidia/ai-dynamo/sglang-runtime:{DYNAMO_VERSION}"}
HF_SECRET = "hf-token-secret"
# flags the Dynamo worker owns (it serves through the Dynamo frontend, not its own port/host)
_DROP = {"--port", "--host", "--disaggregation-bootstrap-port"}


def _without(args: list, drop: set[str]) -> list:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if isinstance(a, str) and a in drop:
            skip = True
            continue
        out.append(a)
    return out


def _name(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:50] or "perfmodel"


class _DynamoExporter(Exporter):
    engine: str

    def worker_args(self, plan: PlanFile, pool: Plan, *, one: bool) -> list:
        raise NotImplementedError

    def component(self, plan: PlanFile, pool: Plan, kind: str) -> dict:
        one = self.one_server(pool)
        gpus = pool.tp * pool.pp * (pool.dp if one else 1)
        args = [str(a) for a in self.worker_args(plan, pool, one=one)]
        container = {"name": "main", "image": IMAGES[self.engine], "command": ["python3", "-m", f"dynamo.{self.engine}"],
                     "args": args, "envFrom": [{"secretRef": {"name": HF_SECRET}}],
                     "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
        # one server per worker spans its dp replicas; otherwise one per replica (Plan.replicas)
        return {"name": kind, "type": kind, "replicas": pool.workers if one else pool.replicas,
                "podTemplate": {"spec": {"containers": [container]}}}

    def one_server(self, pool: Plan) -> bool:
        raise NotImplementedError

    def export(self, plan: PlanFile) -> Export:
        check_kv_attention(self.name, plan)
        inner = {"vllm": vllm_export.VllmExporter, "sglang": sglang_export.SglangExporter}[self.engine]().export(plan)
        ex = Export(engine=self.name, notes=[n for n in inner.notes if "route requests" not in n])
        frontend = {"name": "Frontend", "type": "frontend", "replicas": 1,
                    "podTemplate": {"spec": {"containers": [{
                        "name": "main", "image": IMAGES[self.engine], "command": ["python3"],
                        "args": ["-m", "dynamo.frontend"], "envFrom": [{"secretRef": {"name": HF_SECRET}}]}]}}}
        if plan.mode == "aggregated":
            components = [frontend, self.component(plan, plan.pools[0], "worker")]
        else:
            components = [frontend, self.component(plan, plan.pool("prefill"), "prefill"),
                          self.component(plan, plan.pool("decode"), "decode")]
        name = _name(f"{plan.model}-{self.engine}-{'agg' if plan.mode == 'aggregated' else 'disagg'}")
        dgd = {"apiVersion": API_VERSION, "kind": "DynamoGraphDeployment", "metadata": {"name": name},
               "spec": {"components": components}}
        ex.files["dynamo.yaml"] = yaml.safe_dump(dgd, sort_keys=False)
        ex.commands.append(f"kubectl apply -f dynamo.yaml   # Dynamo {DYNAMO_VERSION} operator; secret {HF_SECRET} "
                           "holds HF_TOKEN")
        ex.notes.append(f"the Dynamo frontend routes requests (prefill -> decode for disaggregated plans); "
                        f"images are Dynamo {DYNAMO_VERSION}'s runtime images")
        return ex


@register
class DynamoVllmExporter(_DynamoExporter):
    name = "dynamo-vllm"
    engine = "vllm"

    def one_server(self, pool: Plan) -> bool:
        return pool.mode == "aggregated" or vllm_export.one_server(pool)

    def worker_args(self, plan: PlanFile, pool: Plan, *, one: bool) -> list:
        args = ["--model", plan.model_id, *_without(vllm_export.VllmExporter().args(plan, pool, dp_inside=one), _DROP)]
        if pool.mode in ("prefill", "decode"):
            role = "kv_producer" if pool.mode == "prefill" else "kv_consumer"
            args += ["--disaggregation-mode", pool.mode,
                     "--kv-transfer-config", f'{{"kv_connector":"NixlConnector","kv_role":"{role}"}}']
        return args


@register
class DynamoSglangExporter(_DynamoExporter):
    name = "dynamo-sglang"
    engine = "sglang"

    def one_server(self, pool: Plan) -> bool:
        return pool.mode == "aggregated" or attention_dp(pool)

    def worker_args(self, plan: PlanFile, pool: Plan, *, one: bool) -> list:
        return ["--model-path", plan.model_id,
                *_without(sglang_export.SglangExporter().args(plan, pool, dp_inside=one), _DROP)]
