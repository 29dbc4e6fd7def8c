"""The search space: every dimension a deployment decides, each a tuple of allowed values.

`SearchSpace` is what users write (pydantic, validated; `None` means "the default values for this
model and hardware"). `SearchSpace.resolve(model)` turns it into a `ResolvedSpace` of concrete
value lists, and `ResolvedSpace.enumerate()` into a `PlanTable`: one row per candidate deployment,
numpy columns, with the rows that break a structural rule removed and counted by reason.

Dimensions: device type (hardware) and count; TP, PP, DP, EP and attention-DP (EP spanning the
data-parallel replicas, `ep = tp * dp`); aggregated vs disaggregated (prefill and decode pools,
each with its own TP, PP, batch and replica count); max batch; token budget (chunked-prefill
tokens per iteration, `None` = static batches); nano-batch count; quantization and KV dtype;
fractions of weights and KV cache offloaded to host memory; expert placement; and (issue 12)
two-batch overlap, EPLB redundant experts and speculative decoding, resolved into one list of
`ServingOption`s (column `xopt`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from perfmodel.errors import PerfModelError
from perfmodel.hardware.catalog import System
from perfmodel.plan import SPARSE_KV_METHODS
from perfmodel.quant import KV_DTYPES, get_quant
from perfmodel.search.serving_options import ServingOption, parse_speculative
from perfmodel.vectorized import feasibility
from perfmodel.specs.model import ModelSpec

Mode = Literal["aggregated", "disaggregated"]
Placement = Literal["contiguous", "balanced"]
# Where and how decode attention reads the KV cache (perfmodel.offload): dense on the device
# ("gpu", over host KV fetched when offload_kv > 0), on the CPU over the host part ("cpu", needs
# offload_kv > 0), or sparse over host KV (ShadowKV, top-K retrieval, A2ATS; no offload_kv).
KvAttention = Literal["gpu", "cpu", "shadowkv", "topk", "a2ats"]
MODES: tuple[str, ...] = ("aggregated", "disaggregated")
PLACEMENTS: tuple[str, ...] = ("contiguous", "balanced")

# Sequences per replica. Powers of two with midpoints: the throughput/latency curve bends slowly
# in batch, so a 1.5x grid loses < ~3% against a dense sweep (checked in tests/search).
DEFAULT_BATCHES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
# Requests per prefill batch in a disaggregated prefill pool (DistServe forms prefill batches up
# to the saturation length L_m, a few thousand tokens: 1-8 prompts of typical length).
DEFAULT_PREFILL_BATCHES = (1, 2, 4, 8)
# Chunked-prefill token budgets (Sarathi-Serve s4.3 uses 512 strict / 2048 relaxed; vLLM's
# default max_num_batched_tokens is 8192 for online serving). None = static batches.
DEFAULT_TOKEN_BUDGETS: tuple[int | None, ...] = (None, 512, 2048, 8192)
DEFAULT_NANO_BATCHES = (1, 2)


def _pow2_upto(n: int) -> tuple[int, ...]:
    out, v = [], 1
    while v <= n:
        out.append(v)
        v *= 2
    return tuple(out)


class SearchSpace(BaseModel):
    """Allowed values per dimension. Fixing a dimension = giving it one value (`tp=(4,)`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    hardware: tuple[str, ...] = Field(min_length=1, description="device, node or cluster ids")
    devices: int | None = Field(default=None, ge=1, description="devices available (default: the system's)")
    device_counts: tuple[int, ...] | None = Field(default=None, description="allowed totals (default: any <= devices)")
    modes: tuple[Mode, ...] = Field(default=MODES, min_length=1)
    tp: tuple[int, ...] | None = None
    pp: tuple[int, ...] | None = None
    dp: tuple[int, ...] | None = None
    ep: tuple[int, ...] | None = None
    attention_dp: tuple[bool, ...] | None = None
    max_batch: tuple[int, ...] = DEFAULT_BATCHES
    token_budget: tuple[int | None, ...] = DEFAULT_TOKEN_BUDGETS
    nano_batches: tuple[int, ...] = DEFAULT_NANO_BATCHES
    quant: tuple[str, ...] | None = None
    kv_dtype: tuple[str | None, ...] | None = None
    offload_weights: tuple[float, ...] = (0.0,)
    offload_kv: tuple[float, ...] = (0.0,)
    kv_attention: tuple[KvAttention, ...] = Field(default=("gpu",), min_length=1)
    expert_placement: tuple[Placement, ...] = ("contiguous",)
    two_batch_overlap: tuple[bool, ...] = Field(default=(False,), min_length=1)
    redundant_experts: tuple[Annotated[int, Field(ge=0)], ...] = Field(default=(0,), min_length=1)
    speculative: tuple[str, ...] = Field(default=("none",), min_length=1,
                                         description="none, mtp[:K], eagle3[:K[:RATE]], ngram:K:RATE")
    expert_locality: tuple[Annotated[float, Field(gt=0, le=1)] | None, ...] = Field(
        default=(None,), min_length=1, description="Speculative MoE: share of token-expert activations served on "
                                                   "the token's own EP rank (None: placement-agnostic, 1/ep)")
    prefill_batch: tuple[int, ...] = DEFAULT_PREFILL_BATCHES
    prefill_tp: tuple[int, ...] | None = None
    prefill_pp: tuple[int, ...] | None = None
    decode_tp: tuple[int, ...] | None = None
    decode_pp: tuple[int, ...] | None = None
    prefill_replicas: tuple[int, ...] | None = None
    decode_replicas: tuple[int, ...] | None = None
    memory_utilization: float = Field(default=0.9, gt=0, le=1)

    @field_validator("tp", "pp", "dp", "ep", "max_batch", "nano_batches", "prefill_batch", "prefill_tp",
                     "prefill_pp", "decode_tp", "decode_pp", "prefill_replicas", "decode_replicas",
                     "device_counts")
    @classmethod
    def _positive(cls, v, info):
        if v is not None:
            if len(v) == 0:
                raise ValueError(f"{info.field_name} must list at least one value")
            bad = [x for x in v if x < 1]
            if bad:
                raise ValueError(f"{info.field_name} values must be >= 1, got {bad}")
        return v

    @field_validator("token_budget")
    @classmethod
    def _budgets(cls, v):
        bad = [x for x in v if x is not None and x < 1]
        if bad or not v:
            raise ValueError(f"token budgets must be >= 1 (or None for static batches), got {list(v)}")
        return v

    @field_validator("offload_weights", "offload_kv")
    @classmethod
    def _fractions(cls, v, info):
        bad = [x for x in v if not 0.0 <= x < 1.0]
        if bad or not v:
            raise ValueError(f"{info.field_name} fractions must be in [0, 1), got {list(v)}")
        return v

    @field_validator("speculative")
    @classmethod
    def _speculative(cls, v):
        for x in v:
            parse_speculative(x)  # raises PerfModelError naming the bad option
        return v

    @field_validator("quant")
    @classmethod
    def _quants(cls, v):
        if v is not None:
            for q in v:
                get_quant(q)  # raises PerfModelError naming the bad id
        return v

    @field_validator("kv_dtype")
    @classmethod
    def _kv(cls, v):
        if v is not None:
            bad = [k for k in v if k is not None and k not in KV_DTYPES]
            if bad:
                raise ValueError(f"kv dtypes must be among {', '.join(KV_DTYPES)}, got {bad}")
        return v

    def resolve(self, model: ModelSpec, systems: list[System]) -> "ResolvedSpace":
        """Concrete values for every dimension (defaults depend on the model and hardware)."""
        n = self.devices or max(s.max_devices for s in systems)
        pow2 = _pow2_upto(n)
        tp = self.tp or pow2
        pp = self.pp or tuple(p for p in pow2 if p <= model.num_layers)
        if model.moe is None:
            ep = self.ep or (1,)
            adp = self.attention_dp or (False,)
        else:
            ep = self.ep or tuple(e for e in pow2 if model.moe.num_experts % e == 0)
            adp = self.attention_dp or (False, True)
        if self.quant:
            quants = self.quant
        elif model.quant:  # a quantized checkpoint is deployed as it ships
            quants = (model.quant,)
        else:
            fp8 = all(s.device.has_dtype("fp8") for s in systems)
            quants = ("bf16", "fp8") if fp8 else ("bf16",)
        kvs = self.kv_dtype or ((None, "fp8") if all(s.device.has_dtype("fp8") for s in systems) else (None,))
        placements = self.expert_placement if model.moe is not None else ("contiguous",)
        redundant = self.redundant_experts if model.moe is not None else (0,)
        locality = self.expert_locality if model.moe is not None else (None,)
        options = tuple(ServingOption(tbo, n, *parse_speculative(spec), expert_locality=loc) for tbo, n, spec, loc in
                        itertools.product(self.two_batch_overlap, redundant, self.speculative, locality))
        return ResolvedSpace(
            model=model, systems=systems, hardware=self.hardware, devices=n,
            device_counts=self.device_counts, modes=self.modes, tp=tp, pp=pp, dp=self.dp, ep=ep,
            attention_dp=adp, max_batch=self.max_batch, token_budget=self.token_budget,
            nano_batches=self.nano_batches, quant=quants, kv_dtype=kvs, offload_weights=self.offload_weights,
            offload_kv=self.offload_kv, kv_attention=self.kv_attention, expert_placement=placements,
            prefill_batch=self.prefill_batch,
            prefill_tp=self.prefill_tp or tp, prefill_pp=self.prefill_pp or pp, decode_tp=self.decode_tp or tp,
            decode_pp=self.decode_pp or pp, prefill_replicas=self.prefill_replicas,
            decode_replicas=self.decode_replicas, memory_utilization=self.memory_utilization,
            serving_options=tuple(dict.fromkeys(options)))


# Columns of a PlanTable. Pool 1 (tp, pp, ep, dp, batch) is the aggregated pool, or the prefill
# pool of a disaggregated plan (dp = its replicas, batch = requests per prefill batch); pool 2
# (dtp, dpp, dep, ddp, dbatch) is the decode pool (zeros for aggregated plans).
INT_COLUMNS = ("mode", "hw", "quant", "kv", "place", "attn", "xopt", "tp", "pp", "ep", "dp", "batch", "budget", "nano",
               "dtp", "dpp", "dep", "ddp", "dbatch")
FLOAT_COLUMNS = ("woff", "kvoff")
COLUMNS = INT_COLUMNS + FLOAT_COLUMNS

# Pruning reasons, in the order they are checked (a plan is counted under its first reason).
STRUCTURAL_REASONS = (
    "tp_not_dividing_heads", "tp_vs_kv_heads", "pp_exceeds_layers", "ep_on_dense_model",
    "ep_not_dividing_experts", "ep_vs_tp", "expert_tp_not_dividing_width", "too_many_devices",
    "device_count_not_allowed", "budget_below_batch",
    # kv_attention rules (perfmodel.plan.Plan): CPU attention needs host KV; sparse KV places the
    # KV itself (no offload_kv) and needs per-head keys (not MLA)
    "cpu_attention_without_host_kv", "sparse_kv_with_offload_kv", "sparse_kv_on_mla",
    # issue 12 (perfmodel.plan.Plan / check_plan): EPLB slots per rank, overlap models that exclude
    # each other, MTP only with the model's own next-token layers
    "redundant_experts_not_dividing", "redundant_experts_without_ep", "tbo_with_offload",
    "tbo_with_nano_batches", "mtp_without_nextn_layers",
    # Speculative MoE (perfmodel.moe.remote_share): locality moves only the all-to-all of experts
    # that span attention-DP ranks (ep > tp), and only above the 1/ep that any placement keeps
    "expert_locality_without_attention_dp", "expert_locality_not_above_uniform",
)


@dataclass
class PlanTable:
    """Candidate deployments as numpy columns (see COLUMNS). Categorical columns hold indices into
    the ResolvedSpace's value lists (hw -> hardware, quant, kv -> kv_dtype, place -> placement);
    budget 0 means static batches (no chunked prefill)."""

    cols: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.cols["mode"])

    def __getitem__(self, key: str) -> np.ndarray:
        return self.cols[key]

    def take(self, idx) -> "PlanTable":
        return PlanTable({k: v[idx] for k, v in self.cols.items()})

    @staticmethod
    def concat(tables: list["PlanTable"]) -> "PlanTable":
        tables = [t for t in tables if len(t)]
        if not tables:
            return PlanTable.empty()
        return PlanTable({k: np.concatenate([t.cols[k] for t in tables]) for k in COLUMNS})

    @staticmethod
    def empty() -> "PlanTable":
        return PlanTable({k: np.zeros(0, dtype=np.int64 if k in INT_COLUMNS else np.float64) for k in COLUMNS})

    @staticmethod
    def from_rows(rows: list[dict]) -> "PlanTable":
        cols = {k: np.array([r.get(k, 0) for r in rows], dtype=np.int64 if k in INT_COLUMNS else np.float64)
                for k in COLUMNS}
        return PlanTable(cols)

    def row(self, i: int) -> dict:
        return {k: (int(v[i]) if k in INT_COLUMNS else float(v[i])) for k, v in self.cols.items()}

    def devices(self) -> np.ndarray:
        return self["tp"] * self["pp"] * self["dp"] + self["dtp"] * self["dpp"] * self["ddp"]


@dataclass
class ResolvedSpace:
    """Concrete value lists (no None left except `dp`/replica lists meaning "any that fits")."""

    model: ModelSpec
    systems: list[System]
    hardware: tuple[str, ...]
    devices: int
    device_counts: tuple[int, ...] | None
    modes: tuple[str, ...]
    tp: tuple[int, ...]
    pp: tuple[int, ...]
    dp: tuple[int, ...] | None
    ep: tuple[int, ...]
    attention_dp: tuple[bool, ...]
    max_batch: tuple[int, ...]
    token_budget: tuple[int | None, ...]
    nano_batches: tuple[int, ...]
    quant: tuple[str, ...]
    kv_dtype: tuple[str | None, ...]
    offload_weights: tuple[float, ...]
    offload_kv: tuple[float, ...]
    expert_placement: tuple[str, ...]
    prefill_batch: tuple[int, ...]
    prefill_tp: tuple[int, ...]
    prefill_pp: tuple[int, ...]
    decode_tp: tuple[int, ...]
    decode_pp: tuple[int, ...]
    prefill_replicas: tuple[int, ...] | None
    decode_replicas: tuple[int, ...] | None
    memory_utilization: float = 0.9
    prefill_ep: tuple[int, ...] | None = None   # None: `ep`
    decode_ep: tuple[int, ...] | None = None
    kv_attention: tuple[str, ...] = ("gpu",)
    serving_options: tuple[ServingOption, ...] = (ServingOption(),)
    pruned: dict[str, int] = field(default_factory=dict)

    # ---- structure -------------------------------------------------------------------------------
    def _pool_grid(self, tps, pps, eps, replicas) -> tuple[np.ndarray, ...]:
        """(tp, pp, ep, replicas) of one pool within the attention-DP choice: ep > tp only when
        attention-DP is allowed, ep <= tp (with ep > 1) only when it may be off. Unless fixed,
        replica counts run from 1 to what the devices hold (devices // (tp * pp), at least 1);
        with attention-DP the expert group spans the replicas, so their count is ep / tp."""
        rows = []
        for tp, pp, ep in itertools.product(tps, pps, eps):
            if replicas:
                counts = replicas
            elif ep > tp:
                counts = (max(1, ep // tp),)
            else:
                counts = range(1, max(1, self.devices // (tp * pp)) + 1)
            rows += [(tp, pp, ep, n) for n in counts]
        g = np.array(rows, dtype=np.int64).reshape(-1, 4)
        tp, pp, ep, n = g.T
        adp = ep > tp
        keep = np.where(adp, True in self.attention_dp, (False in self.attention_dp) | (ep == 1))
        return tp[keep], pp[keep], ep[keep], n[keep]

    def pool_reasons(self, tp, pp, ep, dp, redundant: int = 0) -> np.ndarray:
        """Index into STRUCTURAL_REASONS of the first rule a pool breaks, -1 where none (the rules of
        `perfmodel.plan.check_plan`, on arrays)."""
        m = self.model
        rules = feasibility(m, tp=tp, pp=pp, ep=ep, dp=dp, max_devices=np.iinfo(np.int64).max)
        del rules["too_many_devices"]  # device budgets are checked per plan, not per pool
        if m.moe is not None:
            # A pool is exactly one expert group: with attention-DP (ep > tp) it spans all its replicas.
            rules["ep_vs_tp"] = rules["ep_vs_tp"] | ((ep > tp) & (ep != tp * dp))
            if redundant:
                rules["redundant_experts_not_dividing"] = (m.moe.num_experts + redundant) % ep != 0
                rules["redundant_experts_without_ep"] = ep == 1
        code = np.full(len(tp), -1, dtype=np.int64)
        for name, bad in rules.items():
            code = np.where((code < 0) & np.asarray(bad), STRUCTURAL_REASONS.index(name), code)
        return code

    def _count(self, codes: np.ndarray, weight: int) -> None:
        for i, c in zip(*np.unique(codes[codes >= 0], return_counts=True)):
            self.pruned[STRUCTURAL_REASONS[int(i)]] += int(c) * weight

    def categorical(self) -> dict[str, tuple]:
        """Dimensions shared by both pools: values of the categorical columns."""
        return {"hw": self.hardware, "quant": self.quant, "kv": self.kv_dtype, "place": self.expert_placement,
                "woff": self.offload_weights, "kvoff": self.offload_kv, "attn": self.kv_attention,
                "xopt": self.serving_options}

    def groups(self) -> list[tuple[dict, str | None]]:
        """The shared-dimension combinations (hw, quant, kv, place, woff, kvoff, attn, xopt) as
        PlanTable base columns, each with the group-level rule it breaks (None if valid)."""
        out = []
        for hw, q, kv, place, woff, kvoff, attn, xopt in itertools.product(
                range(len(self.hardware)), range(len(self.quant)), range(len(self.kv_dtype)),
                range(len(self.expert_placement)), self.offload_weights, self.offload_kv,
                range(len(self.kv_attention)), range(len(self.serving_options))):
            a = self.kv_attention[attn]
            reason = None
            opt = self.serving_options[xopt]
            if opt.two_batch_overlap and (woff or kvoff or a != "gpu"):
                reason = "tbo_with_offload"
            elif opt.spec_method == "mtp" and getattr(self.model, "num_nextn_predict_layers", None) == 0:
                reason = "mtp_without_nextn_layers"
            elif a == "cpu" and kvoff == 0:
                reason = "cpu_attention_without_host_kv"
            elif a in SPARSE_KV_METHODS and kvoff > 0:
                reason = "sparse_kv_with_offload_kv"
            elif a in SPARSE_KV_METHODS and self.model.mla is not None:
                reason = "sparse_kv_on_mla"
            elif a in SPARSE_KV_METHODS and self.model.hybrid:
                reason = "sparse_kv_on_hybrid"
            elif kvoff > 0 and self.model.hybrid:
                reason = "kv_offload_on_hybrid"
            out.append(({"hw": hw, "quant": q, "kv": kv, "place": place, "woff": woff, "kvoff": kvoff,
                         "attn": attn, "xopt": xopt}, reason))
        return out

    def enumerate(self) -> PlanTable:
        """Every structurally valid candidate; `self.pruned` gets the counts of the others (in plans)."""
        self.pruned = {r: 0 for r in STRUCTURAL_REASONS}
        tables = []
        for base, reason in self.groups():
            limit = min(self.devices, self.systems[base["hw"]].max_devices)
            group = []
            if "aggregated" in self.modes:
                group.append(self._aggregated(base, limit))
            if "disaggregated" in self.modes:
                group.append(self._disaggregated(base, limit))
            if reason is None:
                tables += group
            else:
                self.pruned[reason] += sum(len(t) for t in group)
        return PlanTable.concat(tables)

    def _device_codes(self, total: np.ndarray, limit: int) -> np.ndarray:
        code = np.where(total > limit, STRUCTURAL_REASONS.index("too_many_devices"), -1)
        if self.device_counts:
            code = np.where((code < 0) & ~np.isin(total, self.device_counts),
                            STRUCTURAL_REASONS.index("device_count_not_allowed"), code)
        return code

    def _aggregated(self, base: dict, limit: int) -> PlanTable:
        budgets = [b or 0 for b in self.token_budget]
        opt = self.serving_options[base["xopt"]]
        tp, pp, ep, dp = self._pool_grid(self.tp, self.pp, self.ep, self.dp)
        inner = np.array(list(itertools.product(self.max_batch, budgets, self.nano_batches)), dtype=np.int64)
        code = self.pool_reasons(tp, pp, ep, dp, opt.redundant_experts)
        code = np.where(code < 0, self._device_codes(tp * pp * dp, limit), code)
        self._count(code, len(inner))
        ok = code < 0
        tp, pp, ep, dp = tp[ok], pp[ok], ep[ok], dp[ok]
        n_outer, n_inner = len(tp), len(inner)
        rep = lambda a: np.repeat(a, n_inner)  # noqa: E731
        cols = {"mode": np.zeros(n_outer * n_inner, dtype=np.int64), "tp": rep(tp), "pp": rep(pp), "ep": rep(ep),
                "dp": rep(dp), "batch": np.tile(inner[:, 0], n_outer), "budget": np.tile(inner[:, 1], n_outer),
                "nano": np.tile(inner[:, 2], n_outer)}
        # A token budget must hold one decode token per running sequence (Sarathi: budget >= batch).
        ok = (cols["budget"] == 0) | (cols["budget"] >= cols["batch"])
        self.pruned["budget_below_batch"] += int((~ok).sum())
        ok = self._option_rules(opt, cols, ok)
        return _with_base({k: v[ok] for k, v in cols.items()}, base)

    def _option_rules(self, opt: ServingOption, cols: dict, ok: np.ndarray) -> np.ndarray:
        """Rows a group's serving option rules out: two-batch overlap is its own two-way overlap (no
        nano-batches); expert locality where no pool's experts span attention-DP ranks or the share
        is at most 1/ep (the plan would repeat the placement-agnostic one)."""
        loc = opt.expert_locality
        pools = [(cols["tp"], cols["ep"])] + ([(cols["dtp"], cols["dep"])] if "dep" in cols else [])
        spans = np.zeros(len(ok), dtype=bool)
        above = np.zeros(len(ok), dtype=bool)
        for tp, ep in pools:
            spans |= ep > tp
            above |= (ep > tp) & (loc is not None and loc * ep > 1)
        for name, bad in (("tbo_with_nano_batches", opt.two_batch_overlap and cols["nano"] > 1),
                          ("expert_locality_without_attention_dp", loc is not None and ~spans),
                          ("expert_locality_not_above_uniform", loc is not None and ~above)):
            bad = ok & np.asarray(bad)
            self.pruned[name] += int(bad.sum())
            ok = ok & ~bad
        return ok

    def _disaggregated(self, base: dict, limit: int) -> PlanTable:
        ptp, ppp, pep, pn = self._pool_grid(self.prefill_tp, self.prefill_pp, self.prefill_ep or self.ep,
                                             self.prefill_replicas)
        dtp, dpp, dep, dn = self._pool_grid(self.decode_tp, self.decode_pp, self.decode_ep or self.ep,
                                             self.decode_replicas)
        inner = np.array(list(itertools.product(self.prefill_batch, self.max_batch, self.nano_batches)), dtype=np.int64)
        n_inner = len(inner)
        opt = self.serving_options[base["xopt"]]
        pc = self.pool_reasons(ptp, ppp, pep, pn, opt.redundant_experts)
        dc = self.pool_reasons(dtp, dpp, dep, dn, opt.redundant_experts)
        # Plans pruned for the prefill pool's rule, then for the decode pool's, then device totals.
        self._count(pc, len(dtp) * n_inner)
        self._count(dc, int((pc < 0).sum()) * n_inner)
        pv, dv = pc < 0, dc < 0
        ptp, ppp, pep, pn, dtp, dpp, dep, dn = ptp[pv], ppp[pv], pep[pv], pn[pv], dtp[dv], dpp[dv], dep[dv], dn[dv]
        total = (ptp * ppp * pn)[:, None] + (dtp * dpp * dn)[None, :]
        code = self._device_codes(total.ravel(), limit)
        self._count(code, n_inner)
        pi, di = np.unravel_index(np.nonzero(code < 0)[0], total.shape)
        n_outer = len(pi)
        rep = lambda a: np.repeat(a, n_inner)  # noqa: E731
        cols = {"mode": np.ones(n_outer * n_inner, dtype=np.int64),
                "tp": rep(ptp[pi]), "pp": rep(ppp[pi]), "ep": rep(pep[pi]), "dp": rep(pn[pi]),
                "dtp": rep(dtp[di]), "dpp": rep(dpp[di]), "dep": rep(dep[di]), "ddp": rep(dn[di]),
                "batch": np.tile(inner[:, 0], n_outer), "dbatch": np.tile(inner[:, 1], n_outer),
                "nano": np.tile(inner[:, 2], n_outer), "budget": np.zeros(n_outer * n_inner, dtype=np.int64)}
        ok = self._option_rules(opt, cols, np.ones(n_outer * n_inner, dtype=bool))
        return _with_base({k: v[ok] for k, v in cols.items()}, base)


def _with_base(cols: dict, base: dict) -> PlanTable:
    n = len(cols["mode"])
    out = {}
    for k in COLUMNS:
        if k in cols:
            out[k] = cols[k]
        elif k in base:
            out[k] = np.full(n, base[k], dtype=np.int64 if k in INT_COLUMNS else np.float64)
        else:
            out[k] = np.zeros(n, dtype=np.int64)
    return PlanTable(out)
