"""Throughput-interactivity curves: output tokens/s per device against tokens/s per user
(1000 / mean TPOT ms) over client concurrency, for one or more deployments, with the Pareto
frontier across them; and latency against load over request rates.

By default the points come from the analytic steady state: concurrency points from the closed loop
(`perfmodel.serving.analytic.SteadyState.at_concurrency`: Little's law on the mean-value replica
model, a few step-model evaluations a point), rate points from the open-loop estimate (M/D/1
prefill queue). With `simulate=True` every point is simulated instead (discrete events: closed
loop with `concurrency` clients and as many warm-up requests left out, or Poisson arrivals at the
rate): slower, and it has percentiles and heavy-tailed workloads right. Each point says which
(`method`). tokens/s per user is 1000 / mean TPOT on both (simulated points also carry the mean of
the requests' own 1 / TPOT, `requests_tok_s_per_user`, as vLLM's benchmark reports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perfmodel.errors import PerfModelError
from perfmodel.search.pareto import front_2d
from perfmodel.search.plan_file import PlanFile
from perfmodel.search.serving_options import parse_speculative
from perfmodel.search.verify import serve_kwargs
from perfmodel.serve_api import serve

ANALYTIC_CLOSED = "analytic closed-loop steady state"
ANALYTIC_OPEN = "analytic open-loop steady state"
SIMULATED = "simulated"
# Simulated closed-loop points measure at least this many requests per client, so the ramp-down at
# the end (fewer than C in flight; counted by benchmarks too) stays a small share of the run.
CLOSED_LOOP_REQUESTS_PER_CLIENT = 8
# serve() keywords a --plan may set (the deployment, not the workload or engine)
PLAN_KEYS = ("tp", "pp", "ep", "dp", "quant", "kv_dtype", "max_batch", "token_budget", "nano_batches", "scheduler",
             "prefill_tp", "prefill_dp", "prefill_ep", "prefill_workers", "decode_tp", "decode_dp", "decode_ep",
             "decode_workers", "router", "speculative")
INT_KEYS = {k for k in PLAN_KEYS if k not in ("quant", "kv_dtype", "scheduler", "router", "speculative")}


@dataclass
class Curve:
    label: str
    devices: int
    kind: str                       # concurrency | rate
    points: list[dict] = field(default_factory=list)


@dataclass
class SweepResult:
    curves: list[Curve]
    config: dict

    def rows(self) -> list[dict]:
        return [{"plan": c.label, "devices": c.devices, "sweep": c.kind, **p} for c in self.curves for p in c.points]

    def frontier(self) -> list[dict]:
        return [r for r in self.rows() if r.get("pareto")]

    def to_dict(self) -> dict:
        return {"config": self.config, "points": self.rows(), "pareto": self.frontier()}


def parse_plan(text: str) -> dict:
    """`tp=8,ep=8,quant=fp8` (serve keywords; `speculative=mtp:2` in tune's grammar) or a plan file
    written by `perfmodel tune --out`."""
    if text.endswith(".json"):
        from perfmodel.search.plan_file import load_plan_file
        return plan_file_kwargs(load_plan_file(text))
    out: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in PLAN_KEYS:
            raise PerfModelError(f"--plan {text!r}: expected key=value pairs with keys from "
                                 f"{', '.join(PLAN_KEYS)} (or a plan .json), got {part!r}")
        try:
            out[key] = int(value) if key in INT_KEYS else value.strip()
        except ValueError:
            raise PerfModelError(f"--plan {text!r}: {key} must be an integer, got {value!r}") from None
    if "speculative" in out:
        out.update(speculative_kwargs(out.pop("speculative")))
    return out


def speculative_kwargs(text: str) -> dict:
    """serve() keywords of a `--speculative` value (tune's grammar); none gives no keywords."""
    method, k, rates = parse_speculative(text)
    return {"spec_method": method, "spec_tokens": k, "spec_acceptance": rates} if method else {}


def plan_file_kwargs(pf: PlanFile) -> dict:
    """serve() keywords for the deployment a plan file describes."""
    return serve_kwargs(pf.pools)


def label(kw: dict) -> str:
    """The plan as `--plan` spells it (speculative decoding in tune's grammar)."""
    parts = [f"{k}={v}" for k, v in kw.items() if v is not None and not k.startswith("spec_")]
    if kw.get("spec_method"):
        rates = kw.get("spec_acceptance")
        same = rates and len(set(rates)) == 1
        parts.append(f"speculative={kw['spec_method']}:{kw.get('spec_tokens', 1)}" + (f":{rates[0]:g}" if same else ""))
    return ",".join(parts) or "tp=1"


def sweep(*, model: str, hardware: str, workload: str, plans: list[dict], concurrency: list[int] | None = None,
          rates: list[float] | None = None, simulate: bool = False, num_requests: int = 1000, engine: str = "vllm",
          calibration: str | None = None, seed: int = 0, speculative: str | None = None) -> SweepResult:
    """Curves of each plan (serve() keywords) over `concurrency` clients and/or request `rates`.
    `speculative` (tune's grammar, e.g. mtp:2) applies to every plan that sets none itself."""
    if not plans:
        raise PerfModelError("give at least one --plan")
    if not concurrency and not rates:
        raise PerfModelError("give --concurrency C1,C2,... and/or --rates R1,R2,...")
    for c in concurrency or []:
        if c < 1:
            raise PerfModelError(f"--concurrency values must be >= 1, got {c}")
    for r in rates or []:
        if r <= 0:
            raise PerfModelError(f"--rates values must be > 0 requests/s, got {r}")
    if speculative is not None:
        spec = speculative_kwargs(speculative)
        plans = [kw if kw.get("spec_method") else {**kw, **spec} for kw in plans]
    curves: list[Curve] = []
    base = dict(model=model, hardware=hardware, workload=workload, engine=engine, calibration=calibration,
                seed=seed, goodput_search=False)
    for kw in plans:
        res = serve(**base, **kw, offline=True, num_requests=num_requests, simulate=False)
        st, devices, name = res.steady, res.devices, label(kw)
        if concurrency:
            cur = Curve(name, devices, "concurrency")
            for c in sorted(set(concurrency)):
                if simulate:
                    n = max(num_requests, CLOSED_LOOP_REQUESTS_PER_CLIENT * c)
                    cur.points.append(_simulated(serve(**base, **kw, concurrency=c, num_requests=n, warmup=c).to_dict(),
                                                 devices, concurrency=c))
                    continue
                p = st.at_concurrency(c)
                cur.points.append(_point(p.rate_req_s * st.mean_output, devices, p.ttft_ms, p.tpot_ms, p.e2e_ms,
                                         concurrency=c, rate_req_s=p.rate_req_s, saturated=p.saturated,
                                         method=ANALYTIC_CLOSED))
            curves.append(cur)
        if rates:
            cur = Curve(name, devices, "rate")
            for r in sorted(set(rates)):
                if simulate:
                    cur.points.append(_simulated(serve(**base, **kw, rate=r, num_requests=num_requests).to_dict(),
                                                 devices, rate_req_s=r))
                    continue
                sat = r >= st.saturation_req_s
                ttft, tpot = st.open_loop(min(r, st.saturation_req_s * (1 - 1e-6)))
                served = min(r, st.saturation_req_s)
                cur.points.append(_point(served * st.mean_output, devices, np.inf if sat else ttft * 1e3, tpot * 1e3,
                                         np.inf if sat else (ttft + (st.mean_output - 1) * tpot) * 1e3,
                                         rate_req_s=r, saturated=sat, method=ANALYTIC_OPEN))
            curves.append(cur)
    _mark_frontier([c for c in curves if c.kind == "concurrency"])
    config = {"model": model, "hardware": hardware, "workload": workload, "engine": engine,
              "plans": [c.label for c in curves if c.kind == ("concurrency" if concurrency else "rate")],
              "tok_s_per_user": "1000 / mean TPOT (ms)", "pareto": "over every concurrency point of every plan"}
    return SweepResult(curves=curves, config=config)


def _point(output_tok_s: float, devices: int, ttft_ms: float, tpot_ms: float, e2e_ms: float, **extra) -> dict:
    return {**{k: v for k, v in extra.items() if k in ("concurrency", "rate_req_s")},
            "output_tok_s": output_tok_s, "output_tok_s_per_device": output_tok_s / devices,
            "tok_s_per_user": 1e3 / tpot_ms if tpot_ms > 0 else None, "ttft_ms": ttft_ms, "tpot_ms": tpot_ms,
            "e2e_ms": e2e_ms, **{k: v for k, v in extra.items() if k not in ("concurrency", "rate_req_s")},
            "pareto": False}


def _simulated(d: dict, devices: int, **where) -> dict:
    extra = {} if "rate_req_s" in where else {"rate_req_s": d["request_rate"]}
    return _point(d["output_tok_s"], devices, d["ttft_ms"]["mean"], d["tpot_ms"]["mean"], d["e2e_ms"]["mean"],
                  **where, **extra, ttft_p99_ms=d["ttft_ms"]["p99"], tpot_p99_ms=d["tpot_ms"]["p99"],
                  requests_tok_s_per_user=d.get("tok_s_per_user"), method=SIMULATED)


def _mark_frontier(curves: list[Curve]) -> None:
    pts = [p for c in curves for p in c.points]
    if not pts:
        return
    x = np.array([p["output_tok_s_per_device"] for p in pts], dtype=float)
    y = np.array([p["tok_s_per_user"] or 0.0 for p in pts], dtype=float)
    for i in front_2d(x, y):
        pts[i]["pareto"] = True


def best_at(result: SweepResult, *, min_tok_s_per_user: float) -> dict | None:
    """The concurrency point with the most output tokens/s per device at >= min tokens/s per user."""
    ok = [r for r in result.rows() if r["sweep"] == "concurrency" and (r["tok_s_per_user"] or 0) >= min_tok_s_per_user]
    return max(ok, key=lambda r: r["output_tok_s_per_device"], default=None)
