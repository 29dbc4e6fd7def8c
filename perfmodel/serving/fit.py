"""Fit the per-engine numbers no engine document gives, on measured serving runs.

For each of today's engine profiles (`engine_profiles.TODAY`) the fit finds
  - `device_time_scale`: the engine's kernels' time relative to the step model's (kernel efficiency),
  - `cpu_base_ms`: host time per iteration the device waits for (what async / overlap scheduling
    leaves exposed: sampling sync, graph launch, bookkeeping),
  - `frontend_ms`: latency a request spends before the scheduler sees it (HTTP, tokenization),
by `scipy.optimize.least_squares` (soft-L1 loss) on the log ratio predicted / measured of mean TPOT
and mean TTFT over the train rows of `measured_serving.csv`, each row a closed-loop `serve()` run
as `perfmodel.accuracy` expresses it. Only rows whose clients the simulator models are used
(`accuracy.clients_modeled`: InferenceMAX's 0.8 length spread, SGLang bench_serving's lockstep
grid); the genai-perf grid rows (TRT-LLM 1.0.0rc3, vLLM 0.12.0 without an image) are left out, as
their clients drift apart by a mechanism not modelled and a fitted number would absorb their
waiting. The front end is bounded by the rows it must not contradict: at most the measured mean
TTFT minus the model's one-request prefill on every train row with at most 4 clients and a short
prompt (`frontend_bound`); an engine without such rows is bounded by the sources (SOURCE_FRONTEND_MS).
The split is by model: Qwen3-32B rows are held out (no Qwen3 row is seen by the fit), so the
held-out error says how the fitted values carry to a model they were not fitted on.

    python -m perfmodel.serving.fit [--csv PATH] [--max-rows 24] [--json]

prints the fitted values, the front-end bound and the train / held-out median |error|; the values
are then written into `engine_profiles.py` by hand (with this command as their source).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys

import numpy as np

from perfmodel.accuracy import Case, case_from_row, clients_modeled, read_rows
from perfmodel.errors import PerfModelError
from perfmodel.serving.engine_profiles import TODAY, EngineProfile

HOLDOUT_MODELS = ("qwen3-32b",)       # by preset name: every checkpoint of the model is held out
PARAMS = ("device_time_scale", "cpu_base_ms", "cpu_per_seq_us", "frontend_ms")
START = (1.0, 0.5, 20.0, 20.0)
# Bounds keep each number physical: kernels within 0.8-1.25x of the step model's time (the spread
# of measured GEMM / attention efficiencies across engines), at most 20 ms of exposed host time per
# step and 200 us per running sequence, at most 200 ms of front-end latency per request.
LOWER = (0.8, 0.0, 0.0, 0.0)
UPPER = (1.25, 20.0, 200.0, 200.0)
# Which numbers each engine fits (the others keep their sourced values). vLLM and TRT-LLM: kernel
# scale, exposed host time per step, front end. SGLang's overlap scheduler hides host work behind
# the device step (its source), so a fixed per-step host cost never shows, but the per-sequence
# part does once it outgrows the step: at 512 clients the Llama-3.1-8B rows' TPOT stays at 23-34 ms
# from TP1 to TP8 while the device step shrinks 3x. SGLang fits that per-sequence host cost and
# the front end; its kernels stay the step model's (fitting the scale on the 8B rows missed the
# held-out Qwen3-32B rows by 91%).
FREE = {"sglang-0.5": ("cpu_per_seq_us", "frontend_ms")}
# The front end's data bound: train rows with at most this many clients, where a request rarely
# queues behind another's prefill, so measured TTFT - one prefill is the front end plus a small queue,
# and prompts of at most BOUND_MAX_ISL tokens: their one-request prefill is short (27-125 ms for
# Llama-3.1-70B at 1,024 tokens on TP1-8), so the kernel-efficiency spread the fit allows (0.8-1.25x)
# moves it by less than the front end's size; an 8,192-token prefill (180-1,030 ms) by 10x more, so
# there the slack measures the prefill model's error, not the front end (InferenceMAX r956: 395 ms
# measured against 383 ms of modelled prefill at scale 1.044 and 398 ms at 1.085).
BOUND_MAX_CLIENTS = 4
BOUND_MAX_ISL = 2048
# An engine with no such row: HTTP, chat template and tokenization of a few thousand tokens. Source:
# tenstorrent/tt-inference-server issue #2173 measures tokenizer encode at 10-21 us/token (131-token
# chat prompts, 1.3-2.8 ms), i.e. 10-20 ms for a 1,000-token prompt; the data bounds of the engines
# that have such rows are of that size (vLLM V1 22.2 ms, TRT-LLM 1.x 23.6 ms: `frontend_bound`).
SOURCE_FRONTEND_MS = 20.0
SINGLE_OSL = 16                       # output tokens of the one-request prefill run (only its TTFT is read)
NOT_FREE = ("cpu_per_seq_us",)        # engines not in FREE fit every PARAMS but these
DEFAULT_MAX_ROWS = 24                 # train rows per engine (every k-th): the fit runs them ~50 times


def modeled_cases(rows: list[dict]) -> list[Case]:
    """The expressible rows whose clients the simulator models (`accuracy.clients_modeled`)."""
    out = []
    for i, r in enumerate(rows, start=2):              # key: the CSV line, as accuracy.cases
        if clients_modeled(r) and isinstance(c := case_from_row(f"r{i}", r), Case):
            out.append(c)
    return out


def one_prefill_ms(case: Case, profile: EngineProfile, cache: dict) -> float | None:
    """TTFT of the row's plan with one client, its prompt length, SINGLE_OSL output tokens and no
    front end: one prefill on an idle engine (None: the plan does not run)."""
    from perfmodel.serve_api import serve

    kw = dict(case.kwargs)
    isl = int(kw["workload"].split(":")[1])
    key = (profile.name, *(getattr(profile, n) for n in PARAMS), isl) + tuple(
        sorted((k, str(v)) for k, v in kw.items() if k not in ("workload", "concurrency", "num_requests", "engine")))
    if key not in cache:
        kw.update(workload=f"random:{isl}:{SINGLE_OSL}:1", concurrency=1, num_requests=2,
                  engine=profile.model_copy(update={"frontend_ms": 0.0}))
        try:
            cache[key] = serve(**kw, goodput_search=False).to_dict()["ttft_ms"]["mean"]
        except PerfModelError:
            cache[key] = None
    return cache[key]


def frontend_bound(profile: EngineProfile, rows: list[Case], cache: dict | None = None) -> dict:
    """The largest front end the rows allow: min over rows with <= BOUND_MAX_CLIENTS clients and
    prompts of <= BOUND_MAX_ISL tokens of measured mean TTFT - the profile's one-request prefill (a
    per-request latency cannot exceed what the measured TTFT leaves after the prefill). `ms` None:
    no such row."""
    cache = {} if cache is None else cache
    slack = []
    for c in rows:
        short = int(c.kwargs["workload"].split(":")[1]) <= BOUND_MAX_ISL
        if c.kwargs["concurrency"] <= BOUND_MAX_CLIENTS and short and (one := one_prefill_ms(c, profile, cache)):
            slack.append((c.ttft_ms - one, c.key))
    if not slack:
        return {"ms": None, "row": None, "rows": 0}
    ms, key = min(slack)
    return {"ms": round(max(ms, 0.0), 1), "row": key, "rows": len(slack)}


def split(items: list[Case]) -> tuple[list[Case], list[Case]]:
    held = [c for c in items if c.kwargs["model"] in HOLDOUT_MODELS]
    return [c for c in items if c.kwargs["model"] not in HOLDOUT_MODELS], held


def thin(items: list[Case], n: int) -> list[Case]:
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def log_errors(profile: EngineProfile, rows: list[Case]) -> np.ndarray:
    """log(predicted / measured) of mean TPOT and mean TTFT per row (a row that does not run: 0)."""
    from perfmodel.serve_api import serve

    out = []
    for c in rows:
        try:
            d = serve(**{**c.kwargs, "engine": profile}, goodput_search=False).to_dict()
        except PerfModelError:
            out += [0.0, 0.0]
            continue
        out += [math.log(d["tpot_ms"]["mean"] / c.tpot_ms), math.log(d["ttft_ms"]["mean"] / c.ttft_ms)]
    return np.array(out)


def with_params(profile: EngineProfile, x, names: tuple[str, ...] = PARAMS) -> EngineProfile:
    return profile.model_copy(update=dict(zip(names, (float(v) for v in x))))


def median_abs_pct(profile: EngineProfile, rows: list[Case]) -> dict:
    e = log_errors(profile, rows)
    if not len(e):
        return {"rows": 0, "tpot": None, "ttft": None}
    tpot, ttft = np.expm1(e[0::2]), np.expm1(e[1::2])
    return {"rows": len(rows), "tpot": 100 * statistics.median(np.abs(tpot)),
            "ttft": 100 * statistics.median(np.abs(ttft))}


def fit_engine(profile: EngineProfile, train: list[Case], *, frontend_max_ms: float = UPPER[-1]) -> EngineProfile:
    """Least squares over the engine's free numbers (FREE), the front end at most `frontend_max_ms`."""
    from scipy.optimize import least_squares

    names = FREE.get(profile.name, tuple(p for p in PARAMS if p not in NOT_FREE))
    pick = [PARAMS.index(n) for n in names]
    start, lo, hi = ([v[i] for i in pick] for v in (START, LOWER, UPPER))
    if "frontend_ms" in names:
        j = names.index("frontend_ms")
        hi[j] = max(min(hi[j], frontend_max_ms), 1e-3)          # least_squares needs lo < hi
        start[j] = min(start[j], hi[j] / 2)
    res = least_squares(lambda x: log_errors(with_params(profile, x, names), train), start, bounds=(lo, hi),
                        loss="soft_l1", f_scale=0.1, diff_step=0.05, xtol=1e-3, ftol=1e-3, max_nfev=60)
    return with_params(profile, np.round(res.x, 3), names)


def run(csv_path: str | None = None, *, max_rows: int = DEFAULT_MAX_ROWS, engines: list[str] | None = None) -> dict:
    """Per engine: the fitted values, the front end's bound (on the train rows, with the fitted kernels)
    and the train / held-out median |error| over the rows whose clients the simulator models."""
    rows = read_rows(csv_path)
    items = modeled_cases(rows)
    out = {}
    for profile in TODAY:
        if engines and profile.name not in engines:
            continue
        mine = [c for c in items if c.kwargs["engine"] == profile.name]
        train, held = split(mine)
        if not train:
            continue
        cache: dict = {}
        bound = frontend_bound(profile, train, cache)
        cap = bound["ms"] if bound["ms"] is not None else SOURCE_FRONTEND_MS
        fitted = fit_engine(profile, thin(train, max_rows), frontend_max_ms=cap)
        after = frontend_bound(fitted, train, cache)    # the fitted kernels move the prefill
        if after["ms"] is not None and fitted.frontend_ms > after["ms"]:
            fitted = fit_engine(fitted, thin(train, max_rows), frontend_max_ms=after["ms"])
            after = frontend_bound(fitted, train, cache)
            if fitted.frontend_ms > after["ms"]:                # the refit's kernels moved it again: clip
                fitted = fitted.model_copy(update={"frontend_ms": after["ms"]})
        out[profile.name] = {
            "fitted": {k: getattr(fitted, k) for k in PARAMS},
            "frontend_bound": {**after, "source": "data" if after["ms"] is not None else
                               f"sources: no train row with <= {BOUND_MAX_CLIENTS} clients",
                               "ms": after["ms"] if after["ms"] is not None else SOURCE_FRONTEND_MS},
            "rows_modeled": len(mine), "rows_left_out": _left_out(rows, profile.name),
            "train": median_abs_pct(fitted, thin(train, max_rows)),
            "held_out": median_abs_pct(fitted, thin(held, 2 * max_rows)),
        }
    return out


def _left_out(rows: list[dict], engine: str) -> int:
    """Expressible rows of the engine whose clients the simulator does not model."""
    n = 0
    for i, r in enumerate(rows, start=2):
        if not clients_modeled(r) and isinstance(c := case_from_row(f"r{i}", r), Case) and c.kwargs["engine"] == engine:
            n += 1
    return n


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m perfmodel.serving.fit", description=__doc__.split("\n")[0])
    ap.add_argument("--csv", default=None, help="measured serving CSV (default: the packaged copy)")
    ap.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS, help="train rows per engine")
    ap.add_argument("--engine", action="append", help="fit only this profile (repeatable)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        res = run(a.csv, max_rows=a.max_rows, engines=a.engine)
    except PerfModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    if a.json:
        print(json.dumps(res, indent=1))
        return
    for name, r in res.items():
        f = r["fitted"]
        print(f"{name}: " + ", ".join(f"{k}={v:g}" for k, v in f.items()))
        b = r["frontend_bound"]
        where = f", binding row {b['row']} of {b['rows']}" if b["row"] else ""
        print(f"  front end <= {b['ms']:g} ms ({b['source']}{where}); {r['rows_modeled']} rows modelled, "
              f"{r['rows_left_out']} left out (client drift not modelled)")
        for part in ("train", "held_out"):
            s = r[part]
            if s["rows"]:
                print(f"  {part:8s} {s['rows']:3d} rows: median |error| TPOT {s['tpot']:.1f}%, TTFT {s['ttft']:.1f}%")


if __name__ == "__main__":
    main()
