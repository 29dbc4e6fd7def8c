"""`Plan`: everything a deployment decides. The one object search produces, the model evaluates,
the executor runs and export turns into launch configs."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from perfmodel.errors import PerfModelError
from perfmodel.moe_overlap import MoeOverlap
from perfmodel.specs.model import ModelSpec

PLAN_SCHEMA_VERSION = 1
SparseKv = Literal["shadowkv", "topk", "a2ats"]   # perfmodel.offload._sparse
SPARSE_KV_METHODS: tuple[str, ...] = get_args(SparseKv)
SpecMethod = Literal["mtp", "eagle3", "ngram"]  # perfmodel.speculative
SPEC_METHODS: tuple[str, ...] = get_args(SpecMethod)


# Upper limits on a plan's sizes (README "Limits"; issue 15: --nano-batches 100000 never
# finished, the overlap list scheduler is superlinear in K). NanoFlow uses 2-4 nano-batches; the
# largest scale-up domains hold 384 devices (CloudMatrix384).
MAX_NANO_BATCHES = 16
MAX_PARALLEL = 4096
MAX_BATCH = 1 << 20
MAX_TOKEN_BUDGET = 1 << 24


class Plan(BaseModel):
    """Parallelism, quantization and batching of one deployment (one pool if disaggregated).

    Semantics: `tp` shards attention and dense layers; `pp` splits layers into stages; `dp`
    replicates the tp x pp group; `ep` splits routed experts. With ep <= tp the experts live inside
    the TP group (expert TP = tp / ep); with ep > tp the expert group spans ep / tp data-parallel
    replicas (DeepSeek-style attention-DP + EP: attention is data parallel, experts are not).
    `workers` counts identical engine instances of the whole tp x pp x dp group, as a
    disaggregated pool is deployed (e.g. 2 decode workers, each DP8 x EP8); each worker holds
    its own copy of the weights, so `replicas` = dp * workers serve requests.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    tp: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    pp: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    dp: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    ep: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    workers: int = Field(default=1, ge=1, le=MAX_PARALLEL, description="engine instances of the tp x pp x dp "
                                                                       "group (a disaggregated pool's workers)")
    quant: str = "bf16"
    kv_dtype: str | None = Field(default=None, description="None: the quantization scheme's KV dtype")
    max_batch: int | None = Field(default=None, ge=1, le=MAX_BATCH, description="max concurrent sequences per replica")
    token_budget: int | None = Field(default=None, ge=1, le=MAX_TOKEN_BUDGET,
                                     description="chunked-prefill tokens per iteration")
    nano_batches: int = Field(default=1, ge=1, le=MAX_NANO_BATCHES, description="nano-batches overlapped inside a step")
    memory_utilization: float = Field(default=0.9, gt=0, le=1,
                                      description="fraction of device memory the engine may use "
                                                  "(vLLM gpu_memory_utilization default 0.9)")
    mode: Literal["aggregated", "prefill", "decode"] = "aggregated"
    # --- issue 4 (perfmodel.overlap / perfmodel.offload) --------------------------------------
    # Relative sizes of the nano-batches (NanoFlow s1.6, e.g. (768, 1280)); None: equal split.
    nano_split: tuple[float, ...] | None = Field(default=None, description="relative nano-batch sizes")
    # FlexGen placement fractions (s4.2: w_c, c_c, h_c) of weights, KV cache and activations kept
    # in host memory; attention_on_cpu runs decode attention over host KV on the CPU (FlexGen
    # s4.3, MoE-Lightning CGOPipe). All zero: the on-device model, unchanged.
    weights_offload: float = Field(default=0.0, ge=0, le=1, description="fraction of weights in host memory")
    kv_offload: float = Field(default=0.0, ge=0, le=1, description="fraction of the KV cache in host memory")
    activations_offload: float = Field(default=0.0, ge=0, le=1, description="fraction of activations in host memory")
    attention_on_cpu: bool = Field(default=False, description="decode attention over host KV runs on the CPU")
    # Sparse long-context decode (perfmodel.offload._sparse): ShadowKV keeps low-rank keys and
    # landmarks on the device and the values in host memory; "topk" keeps key codes on the device
    # and K and V in host memory, fetching the top tokens each step; "a2ats" keeps the codes on the
    # device too, but the host CPU attends over the top tokens where their K and V live.
    sparse_kv: SparseKv | None = Field(
        default=None, description="sparse decode attention over host KV: shadowkv, topk or a2ats")

    # --- issue 12 (perfmodel.moe / perfmodel.speculative) ---------------------------------------
    routing_skew: float = Field(default=0.0, ge=0, le=4,
                                description="Zipf exponent of expert popularity (0: uniform routing)")
    redundant_experts: int = Field(default=0, ge=0, description="EPLB redundant expert slots (all EP ranks)")
    two_batch_overlap: bool = Field(default=False, description="two micro-batches overlap EP/TP "
                                                               "communication with computation (SGLang TBO, vLLM DBO)")
    spec_method: SpecMethod | None = Field(default=None, description="speculative decoding: mtp, eagle3 or ngram")
    spec_tokens: int = Field(default=1, ge=1, le=16, description="draft tokens proposed per step")
    spec_acceptance: tuple[float, ...] | None = Field(
        default=None, description="per-position acceptance rates (None: the method's published default)")
    expert_locality: float | None = Field(
        default=None, gt=0, le=1, description="Speculative MoE (Sem-MoE) token shuffling and expert grouping: "
                                               "share of token-expert activations served on the token's own EP rank "
                                               "(None: placement-agnostic routing, 1/ep)")
    expert_load_share: float | None = Field(
        default=None, gt=0, le=1, description="measured static share of the routed token-expert pairs on the busiest "
                                               "EP rank, e.g. an expert placement under a routing profile (MoETuner); "
                                               "replaces routing_skew's Zipf estimate (None: from routing_skew)")

    # --- issue 13 (perfmodel.moe_overlap) --------------------------------------------------
    moe_overlap: MoeOverlap = Field(default="none", description="MoE layer communication-computation overlap: none "
                                                                "(serial), chunked (Tutel-style K chunks) or tile "
                                                                "(COMET)")
    moe_chunks: int = Field(default=2, ge=1, le=MAX_NANO_BATCHES, description="chunks of moe_overlap=chunked "
                                                                              "(Tutel's pipelining degree)")

    @model_validator(mode="after")
    def _issue13_fields(self):
        if self.moe_overlap != "none" and (self.two_batch_overlap or self.nano_batches > 1 or self.offloaded):
            raise ValueError(f"moe_overlap={self.moe_overlap} overlaps inside the MoE layer; it cannot be combined "
                             f"with two_batch_overlap={self.two_batch_overlap}, nano_batches={self.nano_batches} "
                             f"or host offload")
        return self

    @model_validator(mode="after")
    def _issue12_fields(self):
        if self.expert_load_share is not None and (self.routing_skew or self.redundant_experts):
            raise ValueError(f"expert_load_share={self.expert_load_share:g} is a measured load; it cannot be combined "
                             f"with routing_skew={self.routing_skew:g} or redundant_experts={self.redundant_experts}")
        if self.two_batch_overlap and (self.nano_batches > 1 or self.offloaded):
            raise ValueError(f"two_batch_overlap is its own two-way overlap; it cannot be combined with "
                             f"nano_batches={self.nano_batches} or host offload")
        if self.spec_acceptance is not None:
            if self.spec_method is None:
                raise ValueError("spec_acceptance needs spec_method (mtp, eagle3 or ngram)")
            if len(self.spec_acceptance) != self.spec_tokens:
                raise ValueError(f"spec_acceptance has {len(self.spec_acceptance)} rates but spec_tokens is "
                                 f"{self.spec_tokens}")
            if any(not 0 <= a <= 1 for a in self.spec_acceptance):
                raise ValueError(f"spec_acceptance rates must lie in [0, 1], got {self.spec_acceptance}")
        return self

    @model_validator(mode="after")
    def _issue4_fields(self):
        if self.nano_split is not None:
            if len(self.nano_split) != self.nano_batches:
                raise ValueError(f"nano_split has {len(self.nano_split)} sizes but nano_batches is {self.nano_batches}")
            if any(x <= 0 for x in self.nano_split):
                raise ValueError(f"nano_split sizes must be > 0, got {self.nano_split}")
        if self.attention_on_cpu and self.kv_offload == 0:
            raise ValueError("attention_on_cpu needs kv_offload > 0 (the CPU attends over host KV)")
        if self.sparse_kv and (self.kv_offload or self.attention_on_cpu):
            raise ValueError(f"sparse_kv={self.sparse_kv} places the KV cache itself; it cannot be combined with "
                             f"kv_offload={self.kv_offload:g} or attention_on_cpu={self.attention_on_cpu}")
        return self

    @property
    def offloaded(self) -> bool:
        """Anything in host memory (the offload model, perfmodel.offload, times the plan)."""
        return self.weights_offload > 0 or self.kv_offload > 0 or self.activations_offload > 0 \
            or self.sparse_kv is not None

    @property
    def devices_per_replica(self) -> int:
        return self.tp * self.pp

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.dp * self.workers

    @property
    def replicas(self) -> int:
        """Model replicas that take requests: attention-DP ranks of every worker."""
        return self.dp * self.workers

    @property
    def moe_tp(self) -> int:
        return max(1, self.tp // self.ep)

    @property
    def moe_group(self) -> int:
        """Devices that share one copy of the routed experts."""
        return self.ep * self.moe_tp

    def describe(self) -> str:
        parts = [f"tp{self.tp}"]
        for name in ("pp", "dp", "ep"):
            v = getattr(self, name)
            if v > 1:
                parts.append(f"{name}{v}")
        if self.workers > 1:
            parts.append(f"x{self.workers} workers")
        parts.append(self.quant + (f"/kv-{self.kv_dtype}" if self.kv_dtype else ""))
        if self.nano_batches > 1:
            parts.append(f"nano{self.nano_batches}" +
                         (":" + "/".join(f"{x:g}" for x in self.nano_split) if self.nano_split else ""))
        for name, short in (("weights_offload", "w"), ("kv_offload", "kv"), ("activations_offload", "act")):
            if getattr(self, name):
                parts.append(f"{short}-host{getattr(self, name):g}")
        if self.attention_on_cpu:
            parts.append("cpu-attn")
        if self.sparse_kv:
            parts.append(self.sparse_kv)
        if self.redundant_experts:
            parts.append(f"eplb+{self.redundant_experts}")
        if self.routing_skew:
            parts.append(f"skew{self.routing_skew:g}")
        if self.expert_load_share is not None:
            parts.append(f"load{self.expert_load_share:.3g}")
        if self.two_batch_overlap:
            parts.append("tbo")
        if self.moe_overlap != "none":
            parts.append(f"moe-{self.moe_overlap}" + (str(self.moe_chunks) if self.moe_overlap == "chunked" else ""))
        if self.spec_method:
            parts.append(f"{self.spec_method}{self.spec_tokens}")
        return " ".join(parts)


def check_plan(plan: Plan, model: ModelSpec, *, max_devices: int | None = None) -> None:
    """Raise PerfModelError naming the rule a plan breaks for a model (and device count)."""
    tp = plan.tp
    if model.num_heads % tp:
        raise PerfModelError(f"--tp {tp} must divide the number of attention heads ({model.num_heads}) of {model.name}")
    for kvh in model.kv_head_counts:  # NAS models: every layer's KV heads
        if model.mla is None and kvh % tp and tp % kvh:
            raise PerfModelError(f"--tp {tp} must divide, or be a multiple of, the KV heads ({kvh}) of {model.name}")
    if plan.pp > model.num_layers:
        raise PerfModelError(f"--pp {plan.pp} exceeds the number of layers ({model.num_layers}) of {model.name}")
    if model.moe is None and plan.ep > 1:
        raise PerfModelError(f"--ep {plan.ep} needs a mixture-of-experts model; {model.name} is dense")
    if model.moe is not None:
        e = model.moe.num_experts
        if e % plan.ep and not plan.redundant_experts:
            raise PerfModelError(f"--ep {plan.ep} must divide the number of experts ({e}) of {model.name}")
        if plan.ep <= tp and tp % plan.ep:
            raise PerfModelError(f"--ep {plan.ep} must divide --tp {tp} when ep <= tp")
        if plan.ep > tp and (plan.ep % tp or plan.ep > tp * plan.dp):
            raise PerfModelError(
                f"--ep {plan.ep} > --tp {tp} spans data-parallel replicas: ep must be a multiple of tp and "
                f"<= tp * dp ({tp * plan.dp})")
        if (e + plan.redundant_experts) % plan.ep:
            raise PerfModelError(f"--ep {plan.ep} must divide the experts plus redundant experts "
                                 f"({e} + {plan.redundant_experts}) of {model.name}: EPLB gives every rank as many slots")
        if model.moe.expert_intermediate_size % plan.moe_tp:
            raise PerfModelError(f"expert TP {plan.moe_tp} must divide the expert width {model.moe.expert_intermediate_size}")
    if model.moe is None and plan.redundant_experts:
        raise PerfModelError(f"--redundant-experts {plan.redundant_experts} needs a mixture-of-experts model; "
                             f"{model.name} is dense")
    if plan.spec_method == "mtp" and getattr(model, "num_nextn_predict_layers", None) == 0:
        raise PerfModelError(f"--spec-method mtp needs the model's own next-token (MTP) layers; {model.name} has none")
    if plan.sparse_kv and model.mla is not None:
        raise PerfModelError(f"--kv-attention {plan.sparse_kv} needs per-head keys and values (GQA/MHA); {model.name} "
                             f"uses MLA's compressed latent KV")
    if plan.kv_offload and model.hybrid:
        raise PerfModelError(f"--kv-offload {plan.kv_offload:g} models full-attention KV only; {model.name} has "
                             f"{', '.join(sorted({m for m, _, _ in model.layer_kinds if m != 'full'}))} layers")
    if plan.sparse_kv and model.hybrid:
        raise PerfModelError(f"--sparse-kv {plan.sparse_kv} models full-attention layers only; {model.name} has "
                             f"{', '.join(sorted({m for m, _, _ in model.layer_kinds if m != 'full'}))} layers")
    if max_devices is not None and plan.devices > max_devices:
        raise PerfModelError(f"the plan needs {plan.devices} devices (tp*pp*dp*workers) but the hardware has {max_devices}")
