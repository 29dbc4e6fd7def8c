"""`tune(...)`: search the deployment space of a model on some hardware for a workload.

    from perfmodel.search import tune
    r = tune(model="llama-3.1-70b", hardware="h100-sxm", devices=8, workload="4000/500",
             ttft_slo=1000, tpot_slo=50, space={"quant": "bf16"})
    r.best_plan()          # PlanFile (export it with search.export)
    r.to_dict()            # best, pareto, evaluated, pruned, seconds, ...

The searcher ranks every plan with the vectorized closed forms; the leading nano-batched plans are
then re-timed with the list-scheduled pipeline model (`search.refine`) before the best plan and
the Pareto front are reported.

Raises `NoPlanMeetsSLO` (a PerfModelError carrying the result and the closest plans) when no
plan fits and meets the SLOs.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfmodel.common.outpath import out_dir, staged_dir
from perfmodel.errors import PerfModelError
from perfmodel.plan import SPARSE_KV_METHODS, Plan
from perfmodel.search._base import Progress, SearchResult, check_trials, get_searcher
from perfmodel.search.evaluate import BOUNDS, LIMITERS, fraction_of_bound
from perfmodel.search.plan_file import (PlanFile, Prediction, Provenance, Slo, Workload, calibration_used, catalog_digest,
                              now, write_plan_file)
from perfmodel.search.launchable import restrict_space
from perfmodel.search.problem import Problem, build_problem, serving_model_id
from perfmodel.search.refine import refine
from perfmodel.search.space import PlanTable, SearchSpace

# Finalists `--verify` may re-run through the serving simulator (each takes seconds).
MAX_VERIFY = 64
# Worker processes one `tune` may start on this machine.
MAX_WORKERS = 64
# `auto` runs the exhaustive search when the space has at most this many plans (about 10 s of
# numpy on a laptop core), Optuna otherwise or when a shared storage is given.
AUTO_GRID_LIMIT = 2_000_000


class NoPlanMeetsSLO(PerfModelError):
    """No evaluated plan fits and meets the SLOs; `closest` lists the nearest misses."""

    def __init__(self, message: str, result: "TuneResult"):
        super().__init__(message)
        self.result = result


def tune(*, model: str, hardware: str | list[str], devices: int | None = None, workload: str | None = None,
         isl: int | None = None, osl: int | None = None, ttft_slo: float | None = None, tpot_slo: float | None = None,
         objective: str = "throughput", searcher: str = "auto", trials: int | None = None,
         storage: str | None = None, study: str | None = None, workers: int = 1, seed: int = 0,
         space: SearchSpace | dict | None = None, routing: str | None = None,
         price_per_device_hour: float | list[float] | None = None, calibration: str | None = None,
         out: str | Path | None = None, progress: Progress | None = None,
         trial_delay_s: float | None = None, verify: int = 0, verify_engine: str = "vllm",
         engine: str | None = None, retime_nano: bool = True) -> "TuneResult":
    """Search and return a TuneResult (see module docstring). Keyword-only, named as the CLI options.
    `verify` > 0 re-runs that many of the best plans through the serving simulator
    (`search.verify`) under the `verify_engine` profile; the result's `verified` holds them.
    `engine` (vllm, sglang, trtllm, ...) searches only what that engine can launch
    (`search.launchable`) and is the profile `verify` simulates; None searches every technique.
    `retime_nano=False` skips `search.refine` (the fluid overlap model's ranking, for comparison)."""
    check_trials(trials)
    if not 0 <= verify <= MAX_VERIFY:
        raise PerfModelError(f"--verify must be between 0 and {MAX_VERIFY} plans, got {verify}")
    if not 1 <= workers <= MAX_WORKERS:
        raise PerfModelError(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}")
    out_dir = check_out_dir(out)  # before the search, not after it
    space_dict = space.model_dump(exclude={"hardware"}) if isinstance(space, SearchSpace) else dict(space or {})
    space_dict = restrict_space(engine, space_dict)
    if engine is not None:
        verify_engine = engine
    problem_args = dict(model=model, hardware=hardware, devices=devices, workload=workload, isl=isl, osl=osl,
                        ttft_slo=ttft_slo, tpot_slo=tpot_slo, objective=objective, space=space_dict,
                        routing=routing, price_per_device_hour=price_per_device_hour, calibration=calibration)
    problem = build_problem(**problem_args)
    name = searcher
    if name == "auto":
        name = "optuna" if storage or len(problem.space.enumerate()) > AUTO_GRID_LIMIT else "grid"
    cls = get_searcher(name)
    request = {**problem_args, "searcher": name}
    if trial_delay_s:
        request["trial_delay_s"] = trial_delay_s
    result = cls(seed=seed, trials=trials, storage=storage, study=study, workers=workers, progress=progress,
                 request=request).run(problem)
    if retime_nano:
        refine(result)   # the leading nano-batched plans, timed by the pipeline model (search.refine)
    spec_name = problem.space.model.name
    tr = TuneResult(result=result, model=spec_name, model_id=serving_model_id(model, spec_name),
                    calibration=calibration, model_source=model)
    if verify and tr.result.best >= 0:
        from perfmodel.search.verify import recommend, verify as simulate_finalists

        tr.verified = simulate_finalists(tr, verify, engine=verify_engine)
        tr.recommended = recommend(tr.verified)
    if tr.result.best < 0:  # nothing written: an --out folder holds a result or nothing
        raise NoPlanMeetsSLO(tr.no_plan_message(), tr)
    if out_dir is not None:
        tr.write(out_dir)
    return tr


def check_out_dir(out: str | Path | None) -> Path | None:
    """`--out` as a directory that can be created or reused: not empty, not a file, not under one."""
    if out is None:
        return None
    return out_dir("--out", out, what="a directory for plans.csv, pareto.json, best_plan.json")


@dataclass
class TuneResult:
    result: SearchResult
    model: str
    model_id: str
    calibration: str | None = None
    model_source: str | None = None              # the model as the user named it (preset, HF id, file)
    verified: list[dict] | None = None           # search.verify: finalists re-run in the simulator
    recommended: int | None = None               # the verified finalist the simulation serves best

    # ---- plans -----------------------------------------------------------------------------------
    @property
    def problem(self) -> Problem:
        return self.result.problem

    @property
    def table(self) -> PlanTable:
        return self.result.table

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        return self.result.metrics

    def pools(self, i: int) -> list[Plan]:
        sp, r = self.problem.space, self.table.row(i)
        attn = sp.kv_attention[r["attn"]]
        common = dict(quant=sp.quant[r["quant"]], kv_dtype=sp.kv_dtype[r["kv"]],
                      memory_utilization=sp.memory_utilization, weights_offload=r["woff"], kv_offload=r["kvoff"],
                      attention_on_cpu=attn == "cpu", sparse_kv=attn if attn in SPARSE_KV_METHODS else None,
                      **sp.serving_options[r["xopt"]].plan_fields())
        if r["mode"] == 0:
            return [Plan(tp=r["tp"], pp=r["pp"], dp=r["dp"], ep=r["ep"], max_batch=r["batch"],
                         token_budget=r["budget"] or None, nano_batches=r["nano"], mode="aggregated", **common)]
        return [Plan(tp=r["tp"], pp=r["pp"], dp=r["dp"], ep=r["ep"], max_batch=r["batch"],
                     token_budget=r["batch"] * self.problem.isl, nano_batches=1, mode="prefill", **common),
                Plan(tp=r["dtp"], pp=r["dpp"], dp=r["ddp"], ep=r["dep"], max_batch=r["dbatch"],
                     nano_batches=r["nano"], mode="decode", **common)]

    def describe(self, i: int) -> str:
        """A short plan label: `agg tp2 pp2 x2 b64 chunk512 kv-fp8` / `disagg P[..] D[..]`."""
        sp, r = self.problem.space, self.table.row(i)

        def pool(tp, pp, ep, n, b, extra=""):
            parts = [f"tp{tp}"] + ([f"pp{pp}"] if pp > 1 else []) + ([f"ep{ep}"] if ep > 1 else [])
            return " ".join(parts + [f"x{n}", f"b{b}"]) + extra

        tail = []
        if len(sp.hardware) > 1:
            tail.append(sp.hardware[r["hw"]])
        tail.append(sp.quant[r["quant"]])
        if sp.kv_dtype[r["kv"]]:
            tail.append(f"kv-{sp.kv_dtype[r['kv']]}")
        if r["woff"] or r["kvoff"]:
            tail.append(f"offload w{r['woff']:.2g}/kv{r['kvoff']:.2g}")
        attn = sp.kv_attention[r["attn"]]
        if attn != "gpu":
            tail.append("cpu-attn" if attn == "cpu" else attn)
        if sp.expert_placement[r["place"]] != "contiguous":
            tail.append(sp.expert_placement[r["place"]])
        tail += sp.serving_options[r["xopt"]].label()
        nano = f" nano{r['nano']}" if r["nano"] > 1 else ""
        if r["mode"] == 0:
            chunk = f" chunk{r['budget']}" if r["budget"] else ""
            return f"agg {pool(r['tp'], r['pp'], r['ep'], r['dp'], r['batch'], chunk + nano)} " + " ".join(tail)
        return (f"disagg P[{pool(r['tp'], r['pp'], r['ep'], r['dp'], r['batch'])}] "
                f"D[{pool(r['dtp'], r['dpp'], r['dep'], r['ddp'], r['dbatch'], nano)}] " + " ".join(tail))

    def binding(self, i: int) -> str:
        m = self.metrics
        b = BOUNDS[int(m["bound"][i])]
        lim = LIMITERS[int(m["limiter"][i])]
        return f"{b} ({lim})" if lim else b

    def row_dict(self, i: int) -> dict:
        m, sp, r = self.metrics, self.problem.space, self.table.row(i)
        frac = float(fraction_of_bound(self.problem, self.table, m, i)[0])
        user = float(m["tok_s_per_user"][i])
        return {
            "plan": self.describe(i), "mode": "aggregated" if r["mode"] == 0 else "disaggregated",
            "hardware": sp.hardware[r["hw"]], "devices": int(m["devices"][i]),
            "pools": [p.model_dump() for p in self.pools(i)],
            "offload": {"weights_fraction": r["woff"], "kv_fraction": r["kvoff"],
                        "kv_attention": sp.kv_attention[r["attn"]]},
            "expert_placement": sp.expert_placement[r["place"]],
            "output_tok_s_per_device": float(m["tok_s_per_device"][i]), "output_tok_s": float(m["tok_s"][i]),
            "tok_s_per_user": user if math.isfinite(user) else None,
            "ttft_ms": float(m["ttft_ms"][i]), "tpot_ms": float(m["tpot_ms"][i]), "e2e_ms": float(m["e2e_ms"][i]),
            "goodput_tok_s_per_device": float(m["goodput_tok_s_per_device"][i]),
            "cost_per_mtok": float(m["cost_per_mtok"][i]),
            "memory_per_device_gb": float(m["memory_gb"][i]), "fits": bool(m["fits"][i]),
            "meets_slo": bool(m["meets_slo"][i]), "fraction_of_optimal": frac, "binding": self.binding(i),
        }

    def nano_split(self, i: int, pool: Plan) -> tuple[float, ...] | None:
        """Relative nano-batch sizes for a pool with nano_batches = 2, from NanoFlow's stage-I
        program (`search.ilp.nanoflow`) on the pool's decode (or mixed) batch; None otherwise."""
        if pool.nano_batches != 2 or pool.mode == "prefill":
            return None
        cache = self.__dict__.setdefault("_splits", {})
        if i in cache:
            return cache[i]
        from perfmodel.search.ilp.nanoflow import Instance, stage_one

        p, sp = self.problem, self.problem.space
        system = sp.systems[int(self.table["hw"][i])]
        decode = pool.max_batch or 1
        prefill = 0
        if pool.mode == "aggregated" and pool.token_budget:   # the chunked-prefill iteration's mix
            n_pre = -(-p.isl // pool.token_budget)
            decode = max(1, round(min(decode * p.osl / (n_pre + p.osl), pool.token_budget * p.osl / (p.isl + p.osl))))
            prefill = round(decode * p.isl / p.osl)
        tokens = decode + prefill
        split = None
        if tokens >= 4:
            gran = max(1, tokens // 8)
            try:
                inst = Instance.from_plan(model=sp.model, system=system, plan=pool.model_copy(update={"nano_batches": 1}),
                                          batch=tokens, decode_fraction=decode / tokens,
                                          context=int(p.isl + p.osl / 2), granularity=gran)
                one = stage_one(inst, 2, granularity=gran, time_limit=20)
                split = tuple(float(x) / tokens for x in one.split)
            except Exception:  # a split is a refinement: the plan stands without it
                split = None
        cache[i] = split
        return split

    @property
    def chosen(self) -> int:
        """The plan to launch: the simulation's pick among verified finalists, else the search's best."""
        return self.recommended if self.recommended is not None else self.result.best

    def selected_by(self, i: int) -> str | None:
        if self.recommended is None or i != self.recommended:
            return None
        n = sum(1 for v in self.verified or [] if v.get("simulated"))
        return (f"highest simulated output tok/s/device of {n} verified finalists "
                f"(perfmodel serve, {self.verified[0]['engine']} profile)")

    def plan_file(self, i: int) -> PlanFile:
        d, sp = self.row_dict(i), self.problem.space
        r = self.table.row(i)
        system = sp.systems[r["hw"]]
        pools = [p.model_copy(update={"nano_split": self.nano_split(i, p)}) if self.nano_split(i, p) else p
                 for p in self.pools(i)]
        return PlanFile(
            model=self.model, model_id=self.model_id, hardware=sp.hardware[r["hw"]], devices=d["devices"],
            mode=d["mode"], pools=pools,
            expert_placement=d["expert_placement"], workload=Workload(isl=self.problem.isl, osl=self.problem.osl),
            slo=Slo(ttft_ms=self.problem.slo.ttft_ms, tpot_ms=self.problem.slo.tpot_ms),
            prediction=Prediction(ttft_ms=d["ttft_ms"], tpot_ms=d["tpot_ms"], e2e_ms=d["e2e_ms"],
                                  output_tok_s=d["output_tok_s"], output_tok_s_per_device=d["output_tok_s_per_device"],
                                  tok_s_per_user=d["tok_s_per_user"],
                                  goodput_tok_s_per_device=d["goodput_tok_s_per_device"],
                                  memory_per_device_gb=d["memory_per_device_gb"], devices=d["devices"],
                                  bound=d["binding"], fraction_of_bound=d["fraction_of_optimal"]),
            provenance=Provenance(version=_version(), catalog=f"{system.id}@{catalog_digest()}",
                                  calibration=calibration_used(system.device.id, self.calibration),
                                  searcher=self.result.searcher, objective=self.problem.objective,
                                  selected_by=self.selected_by(i), created=now()),
        )

    def best_plan(self) -> PlanFile | None:
        """The plan file of `chosen` (what `--out` writes as best_plan.json)."""
        return self.plan_file(self.chosen) if self.chosen >= 0 else None

    def pareto(self) -> list[dict]:
        return [self.row_dict(int(i)) for i in self.result.front]

    def closest(self, n: int = 5) -> list[dict]:
        """Plans that fit in memory, nearest to the SLOs (largest relative excess, ascending)."""
        m, slo = self.metrics, self.problem.slo
        excess = np.zeros(len(self.table))
        if slo.ttft_ms:
            excess = np.maximum(excess, m["ttft_ms"] / slo.ttft_ms - 1)
        if slo.tpot_ms:
            excess = np.maximum(excess, m["tpot_ms"] / slo.tpot_ms - 1)
        excess = np.where(m["fits"], excess, np.inf)
        order = np.lexsort((-m["tok_s_per_device"], excess))
        return [{**self.row_dict(int(i)), "slo_excess": float(excess[i])}
                for i in order[:n] if np.isfinite(excess[i])]

    def slo_violations(self) -> dict[str, int]:
        m, slo = self.metrics, self.problem.slo
        fits = m["fits"]
        out = {}
        if slo.ttft_ms is not None:
            out["ttft"] = int((fits & (m["ttft_ms"] > slo.ttft_ms)).sum())
        if slo.tpot_ms is not None:
            out["tpot"] = int((fits & (m["tpot_ms"] > slo.tpot_ms)).sum())
        return out

    def pruned(self) -> dict[str, int]:
        out = {k: v for k, v in self.result.pruned.items() if v}
        not_fit = int((~self.metrics["fits"]).sum())
        if not_fit:
            out["does_not_fit"] = not_fit
        return out

    def no_plan_message(self) -> str:
        slo = self.problem.slo
        parts = ([f"TTFT <= {slo.ttft_ms:g} ms"] if slo.ttft_ms else []) + \
                ([f"TPOT <= {slo.tpot_ms:g} ms"] if slo.tpot_ms else [])
        goal = " and ".join(parts) if parts else "the memory limit"
        if not self.result.evaluated:
            rules = ", ".join(f"{k} {v:,}" for k, v in self.pruned().items())
            return f"the search space holds no valid plan; pruned: {rules or 'none'}"
        close = self.closest(1)
        near = (f"; closest: {close[0]['plan']} (TTFT {close[0]['ttft_ms']:.0f} ms, TPOT {close[0]['tpot_ms']:.1f} ms)"
                if close else "; no plan even fits in memory")
        return f"no plan meets {goal} among {self.result.evaluated} evaluated{near}"

    def to_dict(self) -> dict:
        r = self.result
        best = self.row_dict(r.best) if r.best >= 0 else None
        if best is not None:
            best["plan_file"] = json.loads(self.plan_file(r.best).model_dump_json())
        return {
            "model": self.model, "hardware": list(self.problem.space.hardware),
            "devices": self.problem.space.devices,
            "workload": {"isl": self.problem.isl, "osl": self.problem.osl},
            "slo": {"ttft_ms": self.problem.slo.ttft_ms, "tpot_ms": self.problem.slo.tpot_ms},
            "objective": self.problem.objective, "searcher": r.searcher, "trials": r.trials,
            "best": best, "pareto": self.pareto(), "evaluated": r.evaluated, "pruned": self.pruned(),
            "slo_violations": self.slo_violations(), "seconds": r.seconds, "info": r.info,
            **({"verified": self.verified} if self.verified is not None else {}),
            **({"recommended": {**self.row_dict(self.recommended), "selected_by": self.selected_by(self.recommended),
                                "plan_file": json.loads(self.plan_file(self.recommended).model_dump_json())}}
               if self.recommended is not None else {}),
        }

    # ---- files -----------------------------------------------------------------------------------
    def write(self, out: str | Path) -> dict[str, Path]:
        """plans.csv (every evaluated plan), pareto.json, best_plan.json (`chosen`, if any) and pareto.png."""
        d = check_out_dir(out)
        # Each file is written to a temporary folder in `d` and renamed into it once all are
        # written: an interrupted or failed write leaves no half-written result.
        with staged_dir(d) as tmp:
            staged = {"plans": tmp / "plans.csv", "pareto": tmp / "pareto.json", "plot": tmp / "pareto.png"}
            self._write_csv(staged["plans"])
            staged["pareto"].write_text(json.dumps(_clean(self.pareto()), indent=2) + "\n")
            if self.chosen >= 0:
                staged["best"] = tmp / "best_plan.json"
                write_plan_file(self.best_plan(), staged["best"])
            from perfmodel.search.plots import pareto_png

            pareto_png(self, staged["plot"])
        return {k: d / p.name for k, p in staged.items()}

    def plan_rows(self) -> list[dict]:
        """Every evaluated plan, one dict per plan: the columns of plans.csv (numbers as numbers)."""
        m, t, sp = self.metrics, self.table, self.problem.space
        nano_model = np.where(t["nano"] <= 1, "", np.where(self.result.retimed, "pipeline", "fluid"))
        rows = []
        for i in range(len(t)):
            r = t.row(i)
            row = {"plan": self.describe(i), "mode": "aggregated" if r["mode"] == 0 else "disaggregated",
                   "hardware": sp.hardware[r["hw"]], "quant": sp.quant[r["quant"]], "kv_dtype": sp.kv_dtype[r["kv"]],
                   "tp": r["tp"], "pp": r["pp"], "ep": r["ep"], "dp": r["dp"], "batch": r["batch"],
                   "token_budget": r["budget"] or None, "nano_batches": r["nano"], "decode_tp": r["dtp"] or None,
                   "decode_pp": r["dpp"] or None, "decode_ep": r["dep"] or None, "decode_replicas": r["ddp"] or None,
                   "decode_batch": r["dbatch"] or None, "offload_weights": r["woff"], "offload_kv": r["kvoff"],
                   "kv_attention": sp.kv_attention[r["attn"]], "expert_placement": sp.expert_placement[r["place"]]}
            for c in PLAN_METRICS:
                v = m[c][i]
                row[c] = bool(v) if isinstance(v, (np.bool_, bool)) else _number(v)
            row["binding"] = self.binding(i)
            row["nano_model"] = str(nano_model[i])
            rows.append(row)
        return rows

    def to_frame(self):
        """Every evaluated plan as a DataFrame (the rows of plans.csv); needs pandas."""
        from perfmodel.common.frames import to_frame

        return to_frame(self.plan_rows(), what="TuneResult")

    def _write_csv(self, path: Path) -> None:
        rows = self.plan_rows()
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(list(rows[0]) if rows else ["plan"])
            for row in rows:
                w.writerow([_fmt(v) if k in PLAN_METRICS else ("" if v is None else v) for k, v in row.items()])


PLAN_METRICS = ("ttft_ms", "tpot_ms", "e2e_ms", "tok_s", "tok_s_per_device", "tok_s_per_user", "devices", "memory_gb",
                "fits", "meets_slo", "goodput_tok_s_per_device", "cost_per_mtok")


def _number(v) -> float | int | None:
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _fmt(v):
    """A plans.csv metric cell: booleans 0/1, numbers to 6 significant digits, None empty."""
    if v is None:
        return ""
    if isinstance(v, (np.bool_, bool)):
        return int(v)
    v = float(v)
    return "" if not math.isfinite(v) else f"{v:.6g}"


def _clean(obj):
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _version() -> str:
    from perfmodel.version import __version__

    return __version__
