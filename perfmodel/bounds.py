"""Per-resource throughput bounds for a model + hardware + plan + workload (issue 4, part 1).

Every bound is an upper limit on the tokens/s one device can sustain, derived from one resource
alone with the most favourable assumptions the rest of the tool makes (best-shape GEMM rate,
achievable bandwidth, no overheads, no activation traffic), so that no prediction of the tool can
exceed it (tests/perfmodel/test_bounds.py checks this with hypothesis over random plans).

Token counting. A request has p = isl prompt tokens and g = osl generated tokens. As in NanoFlow
(s3.1), `tok_s` counts prefill + decode tokens (p + g per request); `output_tok_s` counts generated
tokens only, output = total x g / (p + g). A request passes p + g - 1 tokens through the layers
(its last token is sampled, never fed back) and samples g logit rows.

Bounds (all per device):
  compute            FLOPs per request at the best-shape GEMM rate (peak x measured gemm_efficiency,
                     tile utilisation 1) and the flash-attention rate of the same roof;
  memory_bandwidth   every pass reads the device's weights and every decode step its sequences' KV,
                     at the largest concurrency that fits (NanoFlow eq. 1: at the largest batch the
                     whole memory streams once per iteration);
  kv_capacity        MoE-Lens stage-1 form PME(p, g) x M / delta with delta = the time to read the
                     weights once: the tokens KV capacity M lets run per pass (MoE-Lens eq. 3-4);
  network            TP all-reduce (2 per layer) and EP all-to-all bytes per token over the group's
                     link (NanoFlow eq. 3 per device, with the link's achievable fraction);
  host_link, cpu_memory_bandwidth, cpu_memory_capacity, cpu_compute: only for plans that place
                     weights or KV in host memory (see perfmodel.offload).

`optimal_tok_s_per_device` is NanoFlow's optimum (eq. 5), Compute / (2 P_model), where Compute is
the achievable dense GEMM throughput at a 2048-token dense batch on this plan's own GEMM shapes
(peak x measured gemm_efficiency x tile/wave utilisation of `perfmodel.ops.gemm`), and P_model the
parameters taking part in a matmul per token. It is a reference, not a strict bound: a prefill
with more than 2048 tokens can use GEMMs a little more efficiently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from perfmodel.hardware.catalog import System
from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.memory import memory_breakdown
from perfmodel.moe import dispatch_copies, remote_share, scaleout_copies, scaleup_devices
from perfmodel.plan import Plan
from perfmodel.quant import Quant, get_quant
from perfmodel.limits import (Bound, Sizes, attn_dims, expected_active_fraction, max_concurrency, plan_sizes, pme,  # noqa: F401
                             weights_read_per_pass)
from perfmodel.speculative import tokens_per_step
from perfmodel.specs.layers import ATTENTION_MIXERS
from perfmodel.step import window_pairs
from perfmodel.stepmodel import StepModel
from perfmodel.specs.model import ModelSpec

# NanoFlow s3.5: Compute is the peak of a CUTLASS GEMM at a dense batch of 2048 tokens.
NANOFLOW_DENSE_BATCH = 2048
TOKEN_COUNT = "prefill+decode tokens (NanoFlow s3.1); *_output fields count generated tokens only"


@dataclass(frozen=True)
class Classification:
    """NanoFlow s3.3: T_R = T_mem / T_compute (eq. 4) and T_net / T_compute at the dense batch."""

    dense_batch_tokens: float
    t_compute_s: float
    t_memory_s: float
    t_network_s: float

    @property
    def t_r(self) -> float:
        return self.t_memory_s / self.t_compute_s

    @property
    def net_over_compute(self) -> float:
        return self.t_network_s / self.t_compute_s

    @property
    def regime(self) -> str:
        if self.t_r < 1 and self.net_over_compute < 1:
            return "compute"
        return "memory" if self.t_r >= self.net_over_compute else "network"

    def to_dict(self) -> dict:
        return {"T_R": self.t_r, "T_net/T_comp": self.net_over_compute, "regime": self.regime,
                "dense_batch_tokens": self.dense_batch_tokens, "t_compute_ms": self.t_compute_s * 1e3,
                "t_memory_ms": self.t_memory_s * 1e3, "t_network_ms": self.t_network_s * 1e3}


@dataclass(frozen=True)
class Bounds:
    model: str
    hardware: str
    plan: Plan
    isl: int
    osl: int
    optimal_tok_s_per_device: float
    gemm_tflops_at_dense_batch: float
    bounds: dict[str, Bound]
    classification: Classification
    max_concurrency: float          # sequences in flight at the largest batch that fits
    kv_capacity_tokens: float       # per replica

    @property
    def applicable(self) -> dict[str, float]:
        return {k: b.tok_s_per_device for k, b in self.bounds.items() if b.tok_s_per_device is not None}

    @property
    def binding(self) -> str:
        app = self.applicable
        return min(app, key=app.get)

    @property
    def limit_tok_s_per_device(self) -> float:
        """The tightest bound, total tokens/s per device."""
        return self.applicable[self.binding]

    @property
    def limit_output_tok_s_per_device(self) -> float:
        return self.limit_tok_s_per_device * self.osl / (self.isl + self.osl)

    def to_total(self, output_tok_s: float) -> float:
        return output_tok_s * (self.isl + self.osl) / self.osl

    def to_dict(self) -> dict:
        return {
            "model": self.model, "hardware": self.hardware, "plan": self.plan.model_dump(),
            "isl": self.isl, "osl": self.osl, "token_count": TOKEN_COUNT,
            "optimal_tok_s_per_device": self.optimal_tok_s_per_device,
            "optimal_output_tok_s_per_device": self.optimal_tok_s_per_device * self.osl / (self.isl + self.osl),
            "gemm_tflops_at_dense_batch": self.gemm_tflops_at_dense_batch,
            "bounds": {k: b.tok_s_per_device for k, b in self.bounds.items()},
            "bounds_output": {k: b.output(self.isl, self.osl) for k, b in self.bounds.items()},
            "bound_details": {k: b.detail for k, b in self.bounds.items()},
            "binding": self.binding,
            "classification": self.classification.to_dict(),
            "max_concurrency": self.max_concurrency, "kv_capacity_tokens": self.kv_capacity_tokens,
        }


class BoundViolation(PerfModelError):
    """A prediction above its own bound: a bug in the prediction or in the bound."""


def assert_within(b: Bounds, value: float, *, tokens: str = "output", what: str = "prediction",
                  rel_tol: float = 1e-9) -> None:
    """Raise BoundViolation if `value` (tokens/s per device; `tokens` = "output" or "total")
    exceeds the tightest bound."""
    limit = b.limit_output_tok_s_per_device if tokens == "output" else b.limit_tok_s_per_device
    if value > limit * (1 + rel_tol):
        raise BoundViolation(f"{what} {value:.6g} {tokens} tok/s/device exceeds the {b.binding} bound "
                             f"{limit:.6g} for {b.model} {b.plan.describe()} isl={b.isl} osl={b.osl}")


def clamp(b: Bounds, value: float, *, tokens: str = "output") -> float:
    limit = b.limit_output_tok_s_per_device if tokens == "output" else b.limit_tok_s_per_device
    return min(value, limit)


# ------------------------------------------------------------------------------------------
# Workload helpers
# ------------------------------------------------------------------------------------------
# ------------------------------------------------------------------------------------------
# The bounds
# ------------------------------------------------------------------------------------------
def flop_time_per_request(model: ModelSpec, system: System, q: Quant, isl: int, osl: int) -> dict[str, float]:
    """Device-seconds of tensor-core work one request needs at best-shape rates (whole model;
    divide by the devices sharing it). Splits: layer GEMMs, LM head, attention."""
    dev = system.device
    p, g = isl, osl
    lm_head = model.vocab_size * model.hidden_size
    layer_params = model.params_gemm_active - lm_head
    # the fastest main loop any component runs (per-component schemes; FP4 without its cores: BF16)
    gemm_rate = max(dev.peak_flops(d) * dev.gemm_fraction(d) for d in {s.gemm_path(dev)[0] for s in q.schemes()})
    bf16_rate = dev.peak_flops("bf16") * dev.gemm_fraction("bf16")
    attn_rate = dev.peak_flops(q.attn_dtype) * dev.gemm_fraction(q.attn_dtype) * dev.attn_prefill_efficiency
    qk, v = attn_dims(model)
    attn_flops = 0.0
    for mixer in ATTENTION_MIXERS:  # recurrent mixers' scan FLOPs left out: a lower bound
        n = model.count_mixer(mixer)
        if not n:
            continue
        w = model.window_of(mixer)
        w = float("inf") if w is None else w
        # causal prefill pairs + the decode steps' contexts (positions p+1 .. p+g-1), each capped by the window
        pairs = float(window_pairs(p, 0, w) + window_pairs(g - 1, p, w))
        attn_flops += 2.0 * pairs * model.num_heads * (qk + v) * n
    return {
        # the router runs in bf16; charging every layer GEMM the faster of the two rates keeps this a bound
        "layer_gemm_s": 2.0 * layer_params * (p + g - 1) / max(gemm_rate, bf16_rate),
        "lm_head_s": 2.0 * lm_head * g / bf16_rate,
        "attention_s": attn_flops / attn_rate,
        "gemm_tflops": gemm_rate / 1e12,
    }


def _devices_per_replica(plan: Plan) -> int:
    return plan.tp * plan.pp


def compute_bound(model: ModelSpec, system: System, plan: Plan, q: Quant, isl: int, osl: int) -> Bound:
    t = flop_time_per_request(model, system, q, isl, osl)
    secs = t["layer_gemm_s"] + t["lm_head_s"] + t["attention_s"]
    # Devices split the work at best evenly: one device's share of a request is secs / devices.
    return Bound("compute", (isl + osl) / secs, {k: (v * 1e3 if k.endswith("_s") else v) for k, v in t.items()}
                 | {"note": "best-shape GEMM rate (utilisation 1) incl. attention FLOPs; *_s keys in ms"})


def memory_bounds(model: ModelSpec, system: System, plan: Plan, q: Quant, s: Sizes, isl: int, osl: int,
                  concurrency: float) -> tuple[Bound, Bound]:
    """(memory_bandwidth, kv_capacity). Per request and device, g passes each read the weights
    shared by `concurrency` sequences, and g - 1 decode steps read its KV at mean context
    p + g/2. Throughput B / (W(B) + B c) grows with B (W concave, W(0) >= 0), so the largest B
    that fits gives the bound. With speculative decoding a decode pass is a round that emits E
    tokens on average (`perfmodel.speculative`): 1 + (g - 1) / E passes and KV reads (the drafter's
    reads are left out, which only raises the bound)."""
    dev = system.device
    bw = dev.memory_bw_gb_s * 1e9 * dev.mem_bw_efficiency
    p, g = isl, osl
    if concurrency <= 0:
        return (Bound("memory_bandwidth", 0.0, {"note": "nothing fits"}),
                Bound("kv_capacity", 0.0, {"note": "nothing fits"}))
    tokens_per_pass = concurrency * (p + g - 1) / g
    w = weights_read_per_pass(model, plan, s, tokens_per_pass)
    rounds = (g - 1) / tokens_per_step(plan)
    kv_read = s.kv_per_token * rounds * (p + g / 2)
    per_request_s = ((1 + rounds) * w / concurrency + kv_read) / bw
    weights_only_s = (1 + rounds) * w / concurrency / bw
    # per_request_s is one device's share; the replica's devices work in parallel on the same requests
    mem = Bound("memory_bandwidth", (p + g) / per_request_s / _devices_per_replica(plan),
                {"weights_read_gb": w / 1e9, "kv_read_mb_per_request": kv_read / 1e6,
                 "concurrency": concurrency, "bandwidth_gb_s": bw / 1e9})
    delta = w / bw
    kv = Bound("kv_capacity", (p + g) / weights_only_s / _devices_per_replica(plan),
               {"pme": pme(p, g), "kv_capacity_tokens": concurrency * (p + g / 2), "delta_ms": delta * 1e3,
                "note": "MoE-Lens stage 1: PME x M / delta, delta = one read of the device's weights"})
    return mem, kv


def network_per_token_s(model: ModelSpec, system: System, plan: Plan, q: Quant) -> float:
    """Seconds of link time per token through all layers on one device of the replica (the TP
    group's two all-reduces per layer and, with ep > tp, the MoE dispatch/combine all-to-all),
    bandwidth term only (latency ignored, so a lower bound)."""
    h, tp, ep = model.hidden_size, plan.tp, plan.ep
    t = 0.0
    if tp > 1:
        link, _ = system.link_for_group(tp)
        rate = link.bw_per_direction_gb_s * 1e9 * link.efficiency
        blocks = sum(n * ((m != "none") + (f != "none")) for m, f, n in model.layer_kinds)  # one all-reduce each
        t += blocks * (2.0 * (tp - 1) / tp * h * 2.0) / rate
    if model.moe is not None and ep > tp:
        link, _ = system.link_for_group(ep)
        rate = link.bw_per_direction_gb_s * 1e9 * link.rate_efficiency("all_to_all")
        # the fewest copies a dispatch sends: one per distinct destination rank (DeepEP normal
        # kernels, perfmodel.moe.dispatch_copies), never more than one per selected expert
        k = dispatch_copies(model.moe.experts_per_token, ep, low_latency=False) * (ep - 1) / ep
        # across scale-up domains the NIC carries one copy per remote node (DeepEP internode kernels)
        nic, nodes = scaleout_copies(model.moe.experts_per_token, ep, scaleup_devices(system), low_latency=False)
        if nodes > 1:  # step.moe_ops sends these point to point over the NIC, at the same all-to-all rate
            k = nic
        sent = q.part("experts").gemm_path(system.device)[1]  # dispatch bytes as step.moe_ops sends them
        local = remote_share(plan.expert_locality, ep)  # Speculative MoE keeps a share on its rank
        t += model.num_moe_layers * k * h * (sent + 2.0) / tp / rate * local
    return t


def network_bound(model: ModelSpec, system: System, plan: Plan, q: Quant, isl: int, osl: int) -> Bound:
    t_tok = network_per_token_s(model, system, plan, q)
    if t_tok == 0:
        return Bound("network", None, {"note": "no collectives (tp = 1, no expert all-to-all)"})
    # The replica's devices send in parallel; each device carries its stage's layers (L / pp).
    per_request_s = (isl + osl - 1) * t_tok / plan.pp
    return Bound("network", (isl + osl) / per_request_s / _devices_per_replica(plan),
                 {"per_token_us": t_tok * 1e6})


def nanoflow_optimum(model: ModelSpec, system: System, plan: Plan, dense_batch: int = NANOFLOW_DENSE_BATCH
                     ) -> tuple[float, float]:
    """(tokens/s per device, achievable GEMM TFLOPS) of NanoFlow eq. 5 on this plan's GEMMs at
    `dense_batch` tokens: Compute = sum of GEMM FLOPs / sum of their compute times (each at peak x
    measured efficiency x tile/wave utilisation, `perfmodel.ops.gemm`)."""
    sm = StepModel.build(model=model, system=system, plan=plan.model_copy(update={"nano_batches": 1, "pp": 1}))
    ops = sm.ops(BatchShape(decode_seqs=dense_batch, decode_context=dense_batch))
    gemms = [o for o in ops if o.kind == "gemm" and o.flops > 0]
    flops = sum(o.flops * o.count for o in gemms)
    secs = sum(o.t_compute * o.count for o in gemms)
    compute = flops / secs
    return compute / (2.0 * model.params_gemm_active), compute / 1e12


def classification(model: ModelSpec, system: System, plan: Plan, q: Quant, s: Sizes, compute_flops: float,
                   dense_batch: float) -> Classification:
    """NanoFlow eqs. 1-4 per device at `dense_batch` tokens per iteration: T_mem = MemSize/MemBW,
    T_compute = 2 B_dense P / (N Compute), T_net = B_dense x per-token link time."""
    dev = system.device
    mem_size = dev.memory_gb * 1e9 * plan.memory_utilization
    t_mem = mem_size / (dev.memory_bw_gb_s * 1e9 * dev.mem_bw_efficiency)
    t_comp = 2.0 * dense_batch * model.params_gemm_active / (_devices_per_replica(plan) * compute_flops)
    t_net = dense_batch * network_per_token_s(model, system, plan, q) / plan.pp
    return Classification(dense_batch_tokens=dense_batch, t_compute_s=t_comp, t_memory_s=t_mem, t_network_s=t_net)


def _resolve(model, system):
    from perfmodel.resolve import resolve_model, resolve_system

    return resolve_model(model), (system if isinstance(system, System) else resolve_system(system))


def check_lengths(isl: int, osl: int, model: ModelSpec) -> None:
    for name, v in (("isl", isl), ("osl", osl)):
        if not isinstance(v, int) or v < 1:
            raise PerfModelError(f"{name} must be a positive integer, got {v!r}")
    if isl + osl > model.max_context:
        raise PerfModelError(f"isl + osl = {isl + osl} exceeds the context length of {model.name} ({model.max_context})")


def compute_bounds(*, model: str | ModelSpec, system: str | System, plan: Plan, isl: int, osl: int,
                   dense_batch: int = NANOFLOW_DENSE_BATCH) -> Bounds:
    """All per-resource bounds of a plan for a fixed-length workload (see module docstring)."""
    spec, sysm = _resolve(model, system)
    check_lengths(isl, osl, spec)
    StepModel.build(model=spec, system=sysm, plan=plan)  # validates the plan (one-line errors)
    q = get_quant(plan.quant).with_kv(plan.kv_dtype)
    from perfmodel import offload

    s = offload.effective_sizes(spec, sysm, plan, q, plan_sizes(spec, sysm, plan, q, context_tokens=isl + osl / 2))
    conc = offload.max_concurrency(spec, sysm, plan, q, s, isl, osl)
    mem, kv = memory_bounds(spec, sysm, plan, q, s, isl, osl, conc)
    bounds = {b.resource: b for b in (compute_bound(spec, sysm, plan, q, isl, osl), mem, kv,
                                      network_bound(spec, sysm, plan, q, isl, osl))}
    for b in offload.host_bounds(spec, sysm, plan, q, s, isl, osl, conc):
        bounds[b.resource] = b
    opt, tflops = nanoflow_optimum(spec, sysm, plan, dense_batch)
    dense = conc * (isl + osl) / osl  # tokens per iteration at the largest batch (= PME x M)
    cls = classification(spec, sysm, plan, q, s, tflops * 1e12, dense)
    return Bounds(model=spec.name, hardware=sysm.id, plan=plan, isl=isl, osl=osl, optimal_tok_s_per_device=opt,
                  gemm_tflops_at_dense_batch=tflops, bounds=bounds, classification=cls, max_concurrency=conc,
                  kv_capacity_tokens=conc * (isl + osl / 2))


# ------------------------------------------------------------------------------------------
# The plan's predicted throughput (steady-state continuous batching, as NanoFlow's engine runs)
# ------------------------------------------------------------------------------------------
def steady_state_batch(concurrency: float, isl: int, osl: int, tokens_per_step: float = 1.0) -> BatchShape:
    """One iteration of continuous batching with `concurrency` sequences in flight: every
    sequence advances one token (E = `tokens_per_step` with speculative decoding); concurrency E / g
    sequences finish and as many are admitted, their prompts prefilled whole (NanoFlow s1.8 fills
    the dense batch with prefill tokens). Decoding sequences' mean context is p + g/2. Dense tokens
    per iteration: B (p + g - 1) / g without speculation."""
    p, g = isl, osl
    new = min(concurrency * tokens_per_step / g, concurrency)
    dec = concurrency - new
    return BatchShape(prefill_tokens=new * p, prefill_attn_pairs=new * p * (p + 1) / 2, prefill_kv_read=0,
                      prefill_seqs=new, decode_seqs=dec, decode_context=dec * (p + g / 2))


@dataclass(frozen=True)
class Prediction:
    concurrency: float
    iteration_s: float
    tok_s_per_device: float          # prefill + decode tokens
    output_tok_s_per_device: float
    batch: BatchShape

    def to_dict(self) -> dict:
        return {"concurrency": self.concurrency, "iteration_ms": self.iteration_s * 1e3,
                "tok_s_per_device": self.tok_s_per_device, "output_tok_s_per_device": self.output_tok_s_per_device,
                "dense_tokens_per_iteration": self.batch.tokens}


def predict(*, model: str | ModelSpec, system: str | System, plan: Plan, isl: int, osl: int,
            concurrency: float | None = None, bounds: Bounds | None = None) -> Prediction:
    """Steady-state throughput of `plan` at `concurrency` sequences per replica (default: the
    largest that fits, capped by plan.max_batch). The step time comes from `StepModel`, so it
    includes nano-batch overlap and offload when the plan asks for them."""
    spec, sysm = _resolve(model, system)
    check_lengths(isl, osl, spec)
    b = bounds or compute_bounds(model=spec, system=sysm, plan=plan, isl=isl, osl=osl)
    conc = b.max_concurrency if concurrency is None else float(concurrency)
    if plan.max_batch is not None:
        conc = min(conc, plan.max_batch)
    if conc > b.max_concurrency * (1 + 1e-9):
        raise PerfModelError(f"{conc:g} sequences in flight do not fit: at isl={isl} osl={osl} the plan holds at "
                             f"most {b.max_concurrency:.0f} ({spec.name}, {plan.describe()})")
    if conc < 1:
        raise PerfModelError(f"not even one sequence of isl={isl} osl={osl} fits ({spec.name}, {plan.describe()})")
    e = tokens_per_step(plan)
    shape = steady_state_batch(conc, isl, osl, e)
    sm = StepModel.build(model=spec, system=sysm, plan=plan, max_tokens=int(math.ceil(shape.tokens)))
    t = sm.iteration_time_s(shape)
    dpr = plan.tp * plan.pp
    out = shape.prefill_seqs + shape.decode_seqs * e  # output tokens per iteration (a prefill emits one)
    return Prediction(concurrency=conc, iteration_s=t, tok_s_per_device=out * (isl + osl) / osl / t / dpr,
                      output_tok_s_per_device=out / t / dpr, batch=shape)
