"""Whether a measured closed-loop serving run is reachable on its devices at all.

A benchmark client with C clients (each sends its next request when its previous one completes)
reports mean TTFT and mean TPOT. A request's cycle is E2E = TTFT + (g - 1) x TPOT for g output
tokens, so by Little's law the loop completes X = C / E2E requests per second and holds on average

    N_dec = X x (g - 1) x TPOT = C (g - 1) TPOT / E2E

sequences in their decode phase. Each of them keeps at least its prompt's p tokens of KV on the
replica's devices, and every decode step reads that KV and the weights from HBM. Two bounds follow
(per device; Little, Operations Research 9(3), 1961, for the occupancy; the roofline for the step):

  kv_capacity  N_dec x p x KV bytes per token <= HBM - weights. Put as the queue a KV-bound loop
               must build: with at most n_fit sequences decoding, X <= n_fit / ((g - 1) TPOT), so
               TTFT >= (g - 1) x TPOT x (C / n_fit - 1).
  bandwidth    a decode step lasts at least (weights + N_dec x p x KV bytes per token) / peak HBM
               bandwidth, and a sequence's mean gap between tokens (its TPOT) is at least one step:
               TPOT >= that.

Both are taken with the most favourable hardware figures, so that a row below them is out of reach
of any engine, not just of this model: the spec-sheet HBM bandwidth (no achievable fraction), the
whole HBM for weights + KV (no runtime reserve, no activations), an FP8 KV cache where the plan's is
wider, the prompt alone as context (the generated tokens' KV left out), and for MoE models only the
weights every token reads (routed experts left out). A row that breaks any bound is "inconsistent with
the hardware bound": `perfmodel accuracy` lists and counts it and leaves it out of its medians.

A third bound is on compute: X requests per second each need their FLOPs (prefill, decode, LM head,
attention; `perfmodel.bounds.flop_time_per_request`). `compute_load` is the device-seconds per second
that takes at the best-shape rates measured on the device (the fastest GEMMs, not the spec sheet);
above 1 the run needs more than the fastest measured kernels deliver, every step of it, which this
report states but does not count as a violation. `peak_compute_load` is the same FLOPs at the
spec-sheet peaks; above 1 the row breaks the `compute` bound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from perfmodel.bounds import flop_time_per_request
from perfmodel.hardware.catalog import resolve
from perfmodel.limits import plan_sizes
from perfmodel.plan import Plan
from perfmodel.quant import get_quant
from perfmodel.specs.registry import load_model

FP8_KV_BYTES = 1.0   # the narrowest KV cache the measured engines store by default (FP8, 1 byte per element)


@dataclass(frozen=True)
class LoopBounds:
    consistent: bool
    violations: tuple[str, ...]      # 'kv_capacity', 'bandwidth', 'compute'
    requests_per_s: float            # X = C / E2E, measured
    decoding_sequences: float        # N_dec, Little's law on the measured means
    sequences_that_fit: float        # n_fit: prompts of p tokens the devices' HBM holds beside the weights
    ttft_bound_ms: float             # the queue a KV-bound loop builds (0 when C <= n_fit)
    tpot_bound_ms: float             # weights + N_dec prompts' KV at peak bandwidth
    compute_load: float              # fraction of the best-shape (measured) GEMM rate the throughput needs
    peak_compute_load: float         # the fraction of spec-sheet peak it needs

    def to_dict(self) -> dict:
        d = asdict(self)
        d["violations"] = list(self.violations)
        return d

    def describe(self) -> str:
        """One line naming each broken bound with its figures."""
        parts = []
        if "kv_capacity" in self.violations:
            parts.append(f"{self.decoding_sequences:.0f} sequences decoding (Little's law) but KV for "
                         f"{self.sequences_that_fit:.0f} fits: TTFT >= {self.ttft_bound_ms:.0f} ms")
        if "bandwidth" in self.violations:
            parts.append(f"weights + KV of {self.decoding_sequences:.0f} sequences at peak bandwidth: "
                         f"TPOT >= {self.tpot_bound_ms:.2f} ms")
        if "compute" in self.violations:
            parts.append(f"{self.requests_per_s:.1f} requests/s need {self.peak_compute_load:.1f}x the devices' peak FLOP/s")
        return "; ".join(parts)


def loop_bounds(*, model: str, hardware: str, quant: str, tp: int = 1, pp: int = 1, dp: int = 1, ep: int = 1,
                isl: float, osl: float, concurrency: int, ttft_ms: float, tpot_ms: float) -> LoopBounds:
    """The bounds of one aggregated deployment (tp x pp GPUs per replica, dp replicas) serving a
    closed loop of `concurrency` clients with mean prompt `isl` and mean output `osl` tokens,
    against the measured mean TTFT / TPOT (module docstring)."""
    spec = load_model(model)
    system = resolve(hardware)
    dev = system.device
    q = get_quant(quant)
    if q.kv_bytes > FP8_KV_BYTES:
        q = q.with_kv("fp8")
    plan = Plan(tp=tp, pp=pp, dp=dp, ep=ep, quant=quant)
    sizes = plan_sizes(spec, system, plan, q, context_tokens=int(isl))
    weights_b = sizes.weights_fixed + sizes.weights_experts
    read_b = sizes.weights_fixed if spec.moe is not None else weights_b     # bytes every step reads
    seq_kv_b = isl * sizes.kv_per_token                                      # one prompt's KV on one device
    ttft_s, tpot_s = ttft_ms / 1e3, tpot_ms / 1e3
    e2e_s = ttft_s + (osl - 1) * tpot_s
    rate = concurrency / e2e_s
    n_dec = rate * (osl - 1) * tpot_s / dp                                   # per replica
    n_fit = max(dev.memory_gb * 1e9 - weights_b, 0.0) / seq_kv_b if seq_kv_b > 0 else float("inf")
    per_replica = concurrency / dp
    ttft_bound_s = (osl - 1) * tpot_s * (per_replica / n_fit - 1) if per_replica > n_fit else 0.0
    tpot_bound_s = (read_b + n_dec * seq_kv_b) / (dev.memory_bw_gb_s * 1e9)
    flops = flop_time_per_request(spec, system, q, int(round(isl)), max(int(round(osl)), 1))
    devices = tp * pp * dp
    load = rate * (flops["layer_gemm_s"] + flops["lm_head_s"] + flops["attention_s"]) / devices
    # the same FLOPs at spec-sheet peak: each term's time times its rate's measured fraction (the layer
    # GEMMs at the highest peak of the dtypes they may run in, as flop_time_per_request charges them)
    dtypes = {s.gemm_path(dev)[0] for s in q.schemes()} | {"bf16"}
    gemm_rate = max(dev.peak_flops(d) * dev.gemm_fraction(d) for d in dtypes)
    peak_s = (flops["layer_gemm_s"] * gemm_rate / max(dev.peak_flops(d) for d in dtypes)
              + flops["lm_head_s"] * dev.gemm_fraction("bf16")
              + flops["attention_s"] * dev.gemm_fraction(q.attn_dtype) * dev.attn_prefill_efficiency)
    peak_load = rate * peak_s / devices
    violations = tuple(name for name, broken in (("kv_capacity", ttft_s < ttft_bound_s),
                                                 ("bandwidth", tpot_s < tpot_bound_s),
                                                 ("compute", peak_load > 1.0)) if broken)
    return LoopBounds(consistent=not violations, violations=violations, requests_per_s=rate,
                      decoding_sequences=n_dec, sequences_that_fit=n_fit, ttft_bound_ms=ttft_bound_s * 1e3,
                      tpot_bound_ms=tpot_bound_s * 1e3, compute_load=load,
                      peak_compute_load=peak_load)
