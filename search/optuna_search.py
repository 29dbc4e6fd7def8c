"""Optuna searchers: TPE for one objective (`optuna`), NSGA-II for the tokens/s/device versus
tokens/s/user front (`nsga2`). Seeded; SLOs and memory are constraints (`constraints_func`).

A trial samples the structure of a plan (mode, parallelism, token budget, nano-batches, prefill
batch, quantization, ...). The two knobs a deployment sizes last are then swept inside the trial
with numpy, and the best kept: the replica counts (rate matching, as DistServe sizes replicas after
choosing each phase's parallelism: n = ceil(R / goodput), methods.md s5) and the decode batch (the
largest batch that still meets the TPOT SLO and fits, Sarathi's rule for the token budget). A trial
stores its plan row in `user_attrs["row"]`, so any process can rebuild the result from the storage.

Shared storages (`--storage`): each worker process runs the same loop on one study. A trial
numbered past the target (two workers asked at once) is pruned and marked surplus, so the study
ends with exactly `trials` complete trials; a dead worker's trial is failed by the heartbeat and
retried with the same parameters (`search.storage`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import socket
import time
import warnings

import numpy as np

from perfmodel.errors import PerfModelError
from perfmodel.search._base import SearchResult, Searcher, register
from perfmodel.search.evaluate import evaluate
from perfmodel.search.problem import Problem
from perfmodel.search.pareto import best_index
from perfmodel.search.space import PlanTable
from perfmodel.search.storage import describe, open_storage

DEFAULT_TRIALS = 300
FINALIZE_TIMEOUT_S = 120  # how long the coordinator waits for a dead worker's trial to go stale

COMMON = (("hw", "hardware"), ("quant", "quant"), ("kv", "kv_dtype"), ("place", "expert_placement"),
          ("woff", "offload_weights"), ("kvoff", "offload_kv"), ("attn", "kv_attention"), ("xopt", "serving_options"))
AGGREGATED = (("tp", "tp"), ("pp", "pp"), ("ep", "ep"), ("budget", "token_budget"), ("nano", "nano_batches"))
DISAGGREGATED = (("p_tp", "prefill_tp"), ("p_pp", "prefill_pp"), ("p_ep", "ep"), ("p_batch", "prefill_batch"),
                 ("d_tp", "decode_tp"), ("d_pp", "decode_pp"), ("d_ep", "ep"), ("d_nano", "nano_batches"))


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")


def _suggest(trial, space) -> dict:
    """Sample one plan structure; dimensions with a single value are not Optuna parameters."""
    def pick(name, values):
        return trial.suggest_categorical(name, list(values)) if len(values) > 1 else values[0]

    s = {"mode": pick("mode", space.modes)}
    for name, attr in COMMON:
        values = getattr(space, attr)
        if name == "xopt":  # ServingOption objects: sample their index
            s[name] = pick(name, list(range(len(values))))
            continue
        s[name] = values.index(pick(name, values)) if name in ("hw", "quant", "kv", "place", "attn") \
            else pick(name, values)
    dims = AGGREGATED if s["mode"] == "aggregated" else DISAGGREGATED
    for name, attr in dims:
        s[name] = pick(name, getattr(space, attr))
    return s


def rows_for(space, s: dict) -> PlanTable:
    """Every valid plan with structure `s` (all replica counts and decode batches), with
    full-space indices."""
    common = dict(hardware=(space.hardware[s["hw"]],), systems=[space.systems[s["hw"]]],
                  quant=(space.quant[s["quant"]],), kv_dtype=(space.kv_dtype[s["kv"]],),
                  expert_placement=(space.expert_placement[s["place"]],), offload_weights=(s["woff"],),
                  offload_kv=(s["kvoff"],), kv_attention=(space.kv_attention[s["attn"]],), modes=(s["mode"],),
                  serving_options=(space.serving_options[s["xopt"]],), pruned={})
    if s["mode"] == "aggregated":
        sub = dataclasses.replace(space, tp=(s["tp"],), pp=(s["pp"],), ep=(s["ep"],),
                                  token_budget=(s["budget"],), nano_batches=(s["nano"],), **common)
    else:
        sub = dataclasses.replace(space, prefill_tp=(s["p_tp"],), prefill_pp=(s["p_pp"],), prefill_ep=(s["p_ep"],),
                                  prefill_batch=(s["p_batch"],), decode_tp=(s["d_tp"],), decode_pp=(s["d_pp"],),
                                  decode_ep=(s["d_ep"],), nano_batches=(s["d_nano"],), **common)
    table = sub.enumerate()
    for col in ("hw", "quant", "kv", "place", "attn", "xopt"):
        table.cols[col][:] = s[col]
    return table


def _violations(problem: Problem, m: dict, i: int) -> list[float]:
    """Optuna constraints (<= 0 feasible): relative excess of TTFT, TPOT and memory."""
    slo = problem.slo
    ttft = m["ttft_ms"][i] / slo.ttft_ms - 1 if slo.ttft_ms else -1.0
    tpot = m["tpot_ms"][i] / slo.tpot_ms - 1 if slo.tpot_ms else -1.0
    mem = m["memory_gb"][i] / m["capacity_gb"][i] - 1
    return [float(min(ttft, 1e3)), float(min(tpot, 1e3)), float(min(mem, 1e3))]


def _constraints(trial) -> list[float]:
    return trial.user_attrs.get("constraints", [1.0, 1.0, 1.0])


NOT_PART_OF_THE_PROBLEM = ("trial_delay_s",)


def problem_fingerprint(request: dict | None) -> str:
    """Digest of what defines the study's problem (model, hardware, workload, SLOs, space, ...)."""
    data = {k: v for k, v in (request or {}).items() if k not in NOT_PART_OF_THE_PROBLEM}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@register
class OptunaSearcher(Searcher):
    """TPE (multivariate, grouped for the aggregated/disaggregated branches), one objective."""

    name = "optuna"
    multi_objective = False

    def sampler(self, seed: int):
        import optuna

        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constraints_func=_constraints,
                                          n_startup_trials=20)

    def directions(self) -> list[str]:
        return ["maximize", "maximize"] if self.multi_objective else ["maximize"]

    def run(self, problem: Problem) -> SearchResult:
        _quiet()
        import optuna

        t0 = time.perf_counter()
        target = self.trials or DEFAULT_TRIALS
        storage = open_storage(self.storage)
        name = self.study or f"perfmodel-{problem_fingerprint(self.request)}"
        study = self._study(storage, name)
        workers = max(1, self.workers)
        if workers > 1 and self.storage is None:
            raise PerfModelError("--workers > 1 needs a shared --storage (sqlite:///FILE.db, journal:FILE or "
                                 "postgresql://...): in-memory studies live in one process")
        if workers > 1:
            if self.request is None:
                raise PerfModelError("worker processes need the tune request to rebuild the problem")
            ctx = multiprocessing.get_context("spawn")
            procs = [ctx.Process(target=_worker_main, args=(self.request, self.storage, name, target,
                                                            self.seed + w, type(self).name))
                     for w in range(workers)]
            for p in procs:
                p.start()
            self._watch(study, target, procs)
        else:
            self.work(problem, study, target, self.seed)
        if self.storage is not None:
            self._finalize(problem, study, target)
        trials = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
        with_row = [t for t in sorted(trials, key=lambda t: t.number) if t.user_attrs.get("row")]
        rows = [t.user_attrs["row"] for t in with_row]
        table = PlanTable.from_rows(rows) if rows else PlanTable.empty()
        metrics = evaluate(problem, table)
        info = {"study": name, "storage": describe(self.storage), "workers": workers,
                "rows_evaluated": int(sum(t.user_attrs.get("rows", 0) for t in trials)),
                "failed_trials": len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))),
                "row_trials": [t.number for t in with_row]}
        return SearchResult(problem=problem, searcher=self.name, table=table, metrics=metrics,
                            pruned=_pruned_counts(trials), seconds=time.perf_counter() - t0, trials=len(trials),
                            info=info)

    # ---- one study -------------------------------------------------------------------------------
    def _study(self, storage, name: str):
        import optuna

        try:
            study = optuna.create_study(storage=storage, study_name=name, directions=self.directions(),
                                        load_if_exists=True, sampler=self.sampler(self.seed))
        except ValueError as exc:  # existing study with other directions
            raise PerfModelError(f"--study {name}: {exc}") from None
        fp = problem_fingerprint(self.request)
        stored = study.user_attrs.get("perfmodel_problem")
        if stored is None:
            study.set_user_attr("perfmodel_problem", fp)
            request = {k: v for k, v in (self.request or {}).items() if k not in NOT_PART_OF_THE_PROBLEM}
            study.set_user_attr("perfmodel_request", json.loads(json.dumps(request, default=str)))
        elif stored != fp:
            raise PerfModelError(f"--study {name} in {describe(self.storage)} was created for a different tune "
                                 f"request (model, hardware, workload, space or objective); use another --study")
        return study

    def work(self, problem: Problem, study, target: int, seed: int) -> None:
        """One worker's loop: run trials until the study holds `target` of them."""
        import optuna

        study.sampler = self.sampler(seed)
        shared = self.storage is not None
        delay = float((self.request or {}).get("trial_delay_s") or 0.0)
        counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING,
                   optuna.trial.TrialState.WAITING)

        def objective(trial):
            trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
            if shared:
                ahead = [t for t in study.get_trials(deepcopy=False, states=counted) if t.number < trial.number]
                if len(ahead) >= target:
                    trial.set_user_attr("surplus", True)
                    study.stop()
                    raise optuna.TrialPruned()
            values = self.evaluate_trial(problem, trial)
            if delay:
                time.sleep(delay)
            return values

        callbacks = [self._progress_cb(target)] if self.progress else []
        if shared:
            while _complete(study) < target and not _only_running_left(study, target):
                study.optimize(objective, n_trials=max(1, target - _complete(study)), callbacks=callbacks,
                               catch=())
                if _surplus_seen(study):
                    break
        else:
            done = _complete(study)
            if done < target:
                study.optimize(objective, n_trials=target - done, callbacks=callbacks)

    def evaluate_trial(self, problem: Problem, trial):
        s = _suggest(trial, problem.space)
        table = rows_for(problem.space, s)
        trial.set_user_attr("rows", len(table))
        if not len(table):
            reasons = [r for r, n in problem.space.pruned.items() if n]
            trial.set_user_attr("pruned_reason", reasons[0] if reasons else "no_valid_plan")
            trial.set_user_attr("constraints", [1.0, 1.0, 1.0])
            return (0.0, 0.0) if self.multi_objective else 0.0
        m = evaluate(problem, table)
        i = best_index(m["score"], m["tok_s"], m["devices"], m["tok_s_per_user"], table["nano"])
        if i < 0:  # nothing meets the constraints: report the least-violating plan
            viol = np.array([max(0.0, max(_violations(problem, m, j))) for j in range(len(table))])
            i = int(np.argmin(viol))
        trial.set_user_attr("row", table.row(i))
        trial.set_user_attr("constraints", _violations(problem, m, i))
        value = {"throughput": m["tok_s_per_device"], "goodput": m["goodput_tok_s_per_device"],
                 "cost": -m["cost_per_mtok"]}[problem.objective][i]
        value = float(value) if np.isfinite(value) else -1e12
        if self.multi_objective:
            user = m["tok_s_per_user"][i]
            return value, float(user) if np.isfinite(user) else 0.0
        return value

    def _progress_cb(self, target: int):
        def cb(study, trial):
            self.progress(min(_complete(study), target), target)
        return cb

    def _watch(self, study, target: int, procs) -> None:
        while any(p.is_alive() for p in procs):
            if self.progress:
                self.progress(min(_complete(study), target), target)
            time.sleep(0.2)
        for p in procs:
            p.join()

    def _finalize(self, problem: Problem, study, target: int) -> None:
        """After the workers stop: wait for dead workers' trials to go stale (they are then failed
        and re-enqueued by the retry callback) and run what is missing here."""
        import optuna
        from optuna.storages import fail_stale_trials

        deadline = time.monotonic() + FINALIZE_TIMEOUT_S
        while _complete(study) < target:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fail_stale_trials(study)
            running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            if running:
                if time.monotonic() > deadline:
                    raise PerfModelError(f"study {study.study_name}: {len(running)} trial(s) still running after "
                                         f"{FINALIZE_TIMEOUT_S} s; is a worker on another machine still busy?")
                time.sleep(0.5)
                continue
            self.work(problem, study, target, self.seed + 1000)


@register
class NSGA2Searcher(OptunaSearcher):
    """NSGA-II over (objective, tokens/s/user): the throughput/latency front."""

    name = "nsga2"
    multi_objective = True

    def sampler(self, seed: int):
        import optuna

        return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=_constraints, population_size=30)


def _complete(study) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _only_running_left(study, target: int) -> bool:
    """True when complete + running trials reach the target (others are finishing them)."""
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING)
    return len(study.get_trials(deepcopy=False, states=states)) >= target


def _surplus_seen(study) -> bool:
    import optuna

    pruned = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))
    return any(t.user_attrs.get("surplus") for t in pruned)


def _pruned_counts(trials) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        r = t.user_attrs.get("pruned_reason")
        if r:
            out[r] = out.get(r, 0) + 1
    return out


def _worker_main(request: dict, storage: str, study: str, target: int, seed: int, searcher: str) -> None:
    """Entry point of a worker process: rebuild the problem from the request and run trials."""
    from perfmodel.search._base import get_searcher
    from perfmodel.search.problem import build_problem

    _quiet()
    problem = build_problem(**{k: v for k, v in request.items() if k in _PROBLEM_KEYS})
    cls = get_searcher(searcher)
    s = cls(seed=seed, trials=target, storage=storage, study=study, request=request)
    st = s._study(open_storage(storage), study)
    s.work(problem, st, target, seed)


_PROBLEM_KEYS = ("model", "hardware", "devices", "workload", "isl", "osl", "ttft_slo", "tpot_slo", "objective",
                 "space", "routing", "price_per_device_hour", "calibration")
