"""Compare predictions with published measurements (shared/reference/published_figures.csv layout).

Every row is read generically from its columns (system, model, hardware, precision, parallelism,
workload, metric, unit, notes), so rows from other papers in the same layout are expressed the same
way. A row becomes one or more cases (a figure's other bars, listed in the workload or notes as
`label=value` or `Engine = value`, become cases of their own); a row the model cannot express is
listed with the reason. Nothing here is fitted to the published values.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from perfmodel.common.textfile import read_text
from perfmodel.errors import PerfModelError
from perfmodel.quant import mxfp4_experts_as_run
from perfmodel.serving.engine_profiles import ENGINES

# Requests per simulated run. trtllm-bench perf-overview runs use 3000 requests of fixed length;
# trace runs (NanoFlow: 19k-50k requests) need more for the long-output tail not to dominate the
# end of an offline run.
OFFLINE_REQUESTS = 3000
OFFLINE_TRACE_REQUESTS = 10000
ONLINE_REQUESTS = 2000
# Engines whose published offline throughput is a window of iterations in the middle of a run, not
# the whole run: NanoFlow's eval scripts (efeslab/Nanoflow pipeline/eval/eval-fix-offline/run.py and
# eval-real-offline/run.py, `--skip_cycles 2000` (10000 for longer outputs) `--run_cycles 1500`)
# leave out the ramp-up and the drain, so its rows compare with the simulated run's steady window
# (perfmodel.serving.metrics.steady_window_tok_s).
STEADY_WINDOW_ENGINES = frozenset({"nanoflow"})
# NanoFlow's dense batch (tokens per iteration) where its own config for the model differs from the
# engine profile's 2048 (llama2-70B/2048.json, which the eval scripts pass): `global_batch_size` in
# efeslab/Nanoflow pipeline/config_all/mixtral-8-7B/1024.json (4096, on 8 GPUs) and
# llama3-8B/1024.json (1024, on one GPU). Qwen2-72B has both a 1024 and a 2048 config and
# DeepSeek-67B none, so they keep the profile's 2048.
NANOFLOW_DENSE_BATCH = {"mixtral-8x7b": 4096, "llama-3-8b": 1024}


@dataclass
class Case:
    key: str
    row: str
    label: str
    published: float
    unit: str
    metric: str
    kwargs: dict = field(default_factory=dict)
    steady_window: bool = False  # measured between ramp-up and drain (STEADY_WINDOW_ENGINES)
    trtllm_bench: bool = False   # trtllm-bench (PyTorch backend) sizes its own batch limits (serving.trtllm_bench)
    cuda_graph_max_batch: int | None = None  # the run's largest CUDA-graph batch (cuda_graph_config batch_sizes)


@dataclass
class Skip:
    key: str
    row: str
    reason: str


# ---- column parsers ----------------------------------------------------------------------------
_DEVICES = [  # (pattern, catalog id), first match wins
    (r"a100.*40\s*gb", "a100-sxm-40gb"), (r"a100.*pcie", "a100-pcie-80gb"), (r"a100", "a100-sxm-80gb"),
    (r"h100.*pcie", "h100-pcie"), (r"h100", "h100-sxm"), (r"h200", "h200-sxm"), (r"gb200", "gb200"), (r"b200", "b200"),
    (r"l40s", "l40s"), (r"\bl4\b", "l4"), (r"a10g", "a10g"), (r"mi300x", "mi300x"),
    (r"910c", "ascend-910c"), (r"910b", "ascend-910b"),
]


def parse_hardware(text: str) -> tuple[str, int] | None:
    low = text.lower()
    device = next((dev for pat, dev in _DEVICES if re.search(pat, low)), None)
    if device is None:
        return None
    m = re.match(r"\s*(\d+)\s*x\s", low)
    return device, int(m.group(1)) if m else 1


def parse_quant(text: str) -> str | None:
    """A `--quant` id from a precision column: 'NVFP4 (...), FP8 KV cache' is `nvfp4+kv=fp8`, gpt-oss's
    'MXFP4 experts, BF16 elsewhere' is `bf16+experts=mxfp4`, DeepSeek's 'FP8 block-scaled' is
    `fp8-block` (perfmodel.quant grammar)."""
    low = text.lower()
    kv = "+kv=fp8" if re.search(r"fp8 kv", low) else ""
    for pat, q in ((r"nvfp4", "nvfp4"), (r"mxfp4 experts", "bf16+experts=mxfp4"), (r"fp8 block", "fp8-block")):
        if re.search(pat, low):
            return q + kv
    for pat, q in ((r"w4a8kv4", "w4a8kv4"), (r"w4a4kv4", "w4a4kv4"), (r"w4a16", "w4a16"), (r"w8a8|int8", "w8a8"),
                   (r"fp8", "fp8"), (r"bf16", "bf16"), (r"fp16|16-bit", "fp16")):
        if re.search(pat, low):
            return q
    return None


def weight_group(precision: str, device: str) -> int | None:
    """The weight-quantization group size a precision names for this device, e.g. QServe's
    'W4A8KV4 (QoQ; per-channel on A100, g128 on L40S)' is per-channel (None) on an A100 and
    group-128 on an L40S."""
    for m in re.finditer(r"\b(per-channel|g(\d+))\s+on\s+([^,;)]+)", precision, flags=re.I):
        named = parse_hardware(m.group(3))
        if named is not None and named[0] == device:
            return int(m.group(2)) if m.group(2) else None
    return None


def parse_parallelism(text: str, devices: int) -> dict:
    low = text.lower()
    out = {}
    for name in ("tp", "pp", "ep", "dp"):
        m = re.search(rf"\b{name}\s*=?\s*(\d+)", low)
        if m:
            out[name] = int(m.group(1))
    if "single gpu" in low:
        out["tp"] = 1
    dep = re.search(r"\bdep(\d+)", low)  # TRT-LLM's DEP<n>: attention data parallel n x expert parallel n
    if dep:
        out.update(tp=1, dp=int(dep.group(1)), ep=int(dep.group(1)))
    out.setdefault("tp", devices)
    return out


def parse_engine(system: str, versions: dict[str, str]) -> tuple[str | None, str]:
    """(engine profile, why not) from a system name; a name without a version takes the version the
    same source gives it elsewhere. Parenthesised remarks ('NanoFlow (vLLM baseline in same fig.)')
    do not name the system."""
    low = re.sub(r"\(.*?\)", "", system).lower()
    if "analytic bound" in low or "not a measurement" in low:
        return None, "an analytic bound, not a measurement"
    if "swiftkv" in low:
        return None, "SwiftKV skips layers for prompt tokens (a modified model): `perfmodel reproduce SwiftKV`"
    if "tensorrt-llm" in low or "trt-llm" in low:
        if "pytorch" in low:  # the 1.x PyTorch backend (trtllm-bench --backend pytorch)
            return "trtllm-pytorch", ""
        m = re.search(r"v?(\d+)\.(\d+)", low)
        if m and (int(m.group(1)), int(m.group(2))) < (0, 12):
            return "trtllm-0.8", ""
        return "trtllm", ""
    if "vllm" in low:
        m = re.search(r"vllm\s*v?(\d+)\.(\d+)", low) or re.search(r"vllm\s*v?(\d+)\.(\d+)", versions.get("vllm", ""))
        if m and (int(m.group(1)), int(m.group(2))) < (0, 6):
            return "vllm-0.5", ""
        return "vllm", ""
    if "sglang" in low:
        return "sglang", ""
    if "deepspeed" in low or "fastgen" in low:
        return "fastgen", ""
    if "qserve" in low:
        return "qserve", ""
    if "nanoflow" in low:
        return "nanoflow", ""
    if "cloudmatrix" in low:
        return None, "CloudMatrix-Infer (EP over UB with multi-token prediction) has no engine profile"
    return None, f"no engine profile for {system!r}"


def parse_metric(metric: str, unit: str) -> tuple[str | None, str]:
    low, u = metric.lower(), unit.lower()
    per_device = "/gpu" in u or "/npu" in u or "per-gpu" in low or "per npu" in low
    if "optimal" in low or "bound" in low:
        return None, "an analytic bound, not a measurement"
    if "normalized latency" in low:
        return "normalized_latency_s_per_token", ""
    if "per tpot" in low or "at tpot" in low or "prefill throughput" in low:
        return None, "a phase-only throughput at a fixed batch (not a serving run)"
    if "output token" in low or "generation throughput" in low:
        return ("output_tok_s_per_device" if per_device else "output_tok_s"), ""
    if "throughput" in low:
        return ("total_tok_s_per_device" if per_device else "total_tok_s"), ""
    return None, f"metric {metric!r} not produced by serve"


_TRACES = (("splitwise", "splitwise"), ("lmsys", "lmsys"), ("sharegpt", "sharegpt"), ("burstgpt", "burstgpt"))


def parse_workload(text: str) -> tuple[dict | None, str]:
    """serve() keyword arguments (workload, offline/rate, batch, kv fraction) from a description."""
    low = text.lower()
    kw: dict = {}
    m = (re.search(r"in\s*=\s*(\d+)\s*/\s*out\s*=\s*(\d+)", low) or re.search(r"isl/osl\s*=\s*(\d+)/(\d+)", low)
         or re.search(r"\bin\s+(\d+)\s*/\s*out\s+(\d+)", low) or re.search(r"const\s+(\d+)/(\d+)", low))
    if m:
        kw["workload"] = f"fixed:{m.group(1)}:{m.group(2)}"
    else:
        for needle, preset in _TRACES:
            if needle in low:
                kw["workload"] = preset
                break
    if "workload" not in kw:
        return None, "input/output lengths not stated"
    if re.search(r"^\s*(prefill|decode)\b", low):
        return None, "a single phase, not a serving run"
    rate = re.search(r"(\d+(?:\.\d+)?)\s*req/s", low)
    if "offline" in low or "infinite request rate" in low:
        kw["offline"] = True
    elif rate:
        kw["rate"] = float(rate.group(1))
    else:
        return None, "neither offline nor a request rate"
    n = re.search(r"\b(\d+) requests\b", low)  # the run's request count where the source states it
    if n:
        kw["num_requests"] = int(n.group(1))
    b = re.search(r"batch\s*=\s*(\d+)", low)
    if b:
        kw["max_batch"] = int(b.group(1))
    if "in-flight batching off" in low or "static batch" in low:
        kw["scheduler"] = "static"
    f = re.search(r"(?:kv_cache_free_gpu_mem_fraction|gpu_memory_utilization|mem_fraction_static)\s*=?\s*([\d.]+)", low)
    if f:
        kw["kv_fraction"] = float(f.group(1))
    return kw, ""


def _model_name(text: str) -> str:
    name = re.sub(r"\(.*?\)", "", text).strip().lower()
    return re.sub(r"-(instruct|chat|hf)$", "", name)


# ---- rows -> cases -----------------------------------------------------------------------------
def _number(s: str) -> float:
    return float(s.replace(",", ""))


def _sub_values(workload: str) -> list[tuple[str, float]]:
    """`label=value` pairs listing a figure's bars, e.g. 'const 512/512=735; Splitwise=831'."""
    return [(m.group(1).strip(), _number(m.group(2)))
            for m in re.finditer(r"([A-Za-z][\w\- /.]*?)\s*=\s*([\d][\d,]*(?:\.\d+)?)(?=\s*(?:;|$))", workload)]


def cases_from_rows(rows: list[dict]) -> tuple[list[Case], list[Skip]]:
    versions: dict[str, dict[str, str]] = {}
    for r in rows:  # engine versions named anywhere in a source
        for eng in ("vllm", "tensorrt-llm", "sglang"):
            if eng in r["system"].lower() and re.search(r"v?\d+\.\d+", r["system"]):
                versions.setdefault(r["source"], {}).setdefault(eng, r["system"].lower())
    cases: list[Case] = []
    skips: list[Skip] = []
    for r in rows:
        rid = r["id"]
        base = _base_kwargs(r)
        if isinstance(base, str):
            skips.append(Skip(rid, rid, base))
            continue
        engine, why = parse_engine(r["system"], versions.get(r["source"], {}))
        metric, mwhy = parse_metric(r["metric"], r["unit"])
        subs = _sub_values(r["workload"]) if ";" in r["workload"] else []
        if metric is None:
            skips.append(Skip(rid, rid, mwhy))
        elif subs and engine:
            for label, value in subs:
                wl, wwhy = parse_workload(("offline " if "offline" in r["workload"].lower() else "") + label)
                key = f"{rid}:{label}"
                if wl is None:
                    skips.append(Skip(key, rid, wwhy))
                else:
                    cases.append(_case(key, rid, r, engine, base, wl, metric, value))
        elif engine:
            wl, wwhy = parse_workload(r["workload"])
            if wl is None:
                skips.append(Skip(rid, rid, wwhy))
            else:
                cases.append(_case(rid, rid, r, engine, base, wl, metric, _number(r["value"])))
        else:
            skips.append(Skip(rid, rid, why))
        cases += _note_cases(r, base, metric, versions.get(r["source"], {}), skips)
    return cases, skips


def _base_kwargs(r: dict) -> dict | str:
    hw = parse_hardware(r["hardware"])
    if hw is None:
        return f"hardware {r['hardware']!r} not in the catalog"
    quant = parse_quant(r["precision"])
    if quant is None:
        return f"precision {r['precision']!r} not modelled"
    device, count = hw
    group = weight_group(r["precision"], device)
    if group is not None and re.fullmatch(r"w\d+a\d+(kv\d+)?", quant):
        quant = f"{quant}-g{group}"  # an FP16 scale and a zero point per group (perfmodel.quant)
    kw = {"model": _model_name(r["model"]), "hardware": device, "quant": quant}
    kw.update(parse_parallelism(r["parallelism"], count))
    return kw


def _case(key, rid, r, engine, base, wl, metric, value) -> Case:
    kw = {**base, **wl, "engine": engine}
    # MXFP4 experts with the activations the engine feeds them (EngineProfile.mxfp4_experts)
    profile = ENGINES.get(engine)
    kw["quant"] = mxfp4_experts_as_run(kw["quant"], profile.mxfp4_experts if profile else None)
    if engine == "nanoflow" and kw["model"] in NANOFLOW_DENSE_BATCH:
        kw["token_budget"] = NANOFLOW_DENSE_BATCH[kw["model"]]
    if "num_requests" in wl:
        pass
    elif kw.get("scheduler") == "static":
        kw["num_requests"] = kw.get("max_batch") or OFFLINE_REQUESTS
    elif kw.get("offline"):
        kw["num_requests"] = OFFLINE_REQUESTS if kw["workload"].startswith("fixed:") else OFFLINE_TRACE_REQUESTS
    else:
        kw["num_requests"] = ONLINE_REQUESTS
    mode = "offline" if kw.get("offline") else f"{kw.get('rate')} req/s"
    par = " ".join(f"{k}{kw[k]}" for k in ("tp", "pp", "ep", "dp") if k in kw and (k == "tp" or kw[k] > 1))
    label = (f"{engine}: {kw['model']} {par} {kw['quant']} on {kw['hardware']}; {kw['workload']} {mode}"
             + (f", static batch {kw.get('max_batch') or 'as large as fits'}" if kw.get("scheduler") == "static"
                else "")
             + (f", dense batch {kw['token_budget']}" if "token_budget" in kw else ""))
    steady = engine in STEADY_WINDOW_ENGINES and bool(kw.get("offline"))
    bench = engine == "trtllm-pytorch" and "trtllm-bench" in r["workload"].lower() and bool(kw.get("offline"))
    graphs = re.search(r"batch_sizes 1\.\.(\d+)", r["notes"])
    return Case(key=key, row=rid, label=label + (", steady window" if steady else "")
                + (", trtllm-bench batch limits" if bench else ""), published=value,
                unit=r["unit"], metric=metric, kwargs=kw, steady_window=steady, trtllm_bench=bench,
                cuda_graph_max_batch=int(graphs.group(1)) if graphs else None)


def _note_cases(r, base, metric, versions, skips) -> list[Case]:
    """Other systems' values a row's notes give for the same figure: 'vLLM = 593 tok/s/GPU' or
    'Baselines same table: TRT-LLM FP16 2503, W4A16 2370'."""
    if isinstance(base, str) or metric is None:
        return []
    out = []
    notes = r["notes"]
    for m in re.finditer(r"\b(vLLM|SGLang|TensorRT-LLM|TRT-LLM)\s*=\s*([\d,]+(?:\.\d+)?)", notes):
        engine, _ = parse_engine(m.group(1), versions)
        wl, _ = parse_workload(r["workload"])
        if engine and wl:
            out.append(_case(f"{r['id']}:{m.group(1)}", r["id"], r, engine, base, wl, metric, _number(m.group(2))))
    b = re.search(r"Baselines same table:\s*(TRT-LLM|vLLM)\s+(.*?)(?:\.\s|\.$|\"|$)", notes)
    if b:
        engine, _ = parse_engine(b.group(1), versions)
        for item in re.finditer(r"\b(FP16|BF16|FP8|W4A16|W8A8)\s+([\d,]+)", b.group(2)):
            wl, _ = parse_workload(r["workload"])
            if engine and wl:
                wl = {**wl}
                wl.pop("max_batch", None)  # the baseline's best batch is not given: the largest that fits
                case = _case(f"{r['id']}:{b.group(1)} {item.group(1)}", r["id"], r, engine,
                             {**base, "quant": parse_quant(item.group(1))}, wl, metric, _number(item.group(2)))
                out.append(case)
        for item in re.finditer(r"\b(FP16|BF16|FP8|W4A16|W8A8)\s+OOM", b.group(2)):
            skips.append(Skip(f"{r['id']}:{b.group(1)} {item.group(1)}", r["id"], "published as out of memory"))
    return out


# ---- running -----------------------------------------------------------------------------------
@dataclass
class Outcome:
    case: Case
    predicted: float | None
    analytic: float | None
    error: float | None      # (predicted - published) / published
    note: str = ""


def run_case(case: Case) -> Outcome:
    from perfmodel.serve_api import serve
    from perfmodel.serving.metrics import steady_window_tok_s

    try:
        r = serve(**_bench_kwargs(case), goodput_search=False)
    except PerfModelError as exc:
        return Outcome(case, None, None, None, f"not expressible: {exc}")
    d = r.to_dict()
    pred = d[case.metric]
    a = d["analytic"]
    devices = d["devices"]
    window = steady_window_tok_s(r.timeline) if case.steady_window and r.timeline is not None else None
    if window is not None:
        out_s, total_s, _ = window
        pred = {"output_tok_s": out_s, "total_tok_s": total_s, "output_tok_s_per_device": out_s / devices,
                "total_tok_s_per_device": total_s / devices}.get(case.metric, pred)
    analytic = {"output_tok_s": a["saturation_output_tok_s"], "total_tok_s": a["saturation_total_tok_s"],
                "output_tok_s_per_device": a["saturation_output_tok_s"] / devices,
                "total_tok_s_per_device": a["saturation_total_tok_s"] / devices}.get(case.metric)
    if not case.kwargs.get("offline"):
        analytic = None
    return Outcome(case, pred, analytic, (pred - case.published) / case.published)


def _bench_kwargs(case: Case) -> dict:
    """serve() arguments with the benchmark's own settings: trtllm-bench's max batch size and max
    num tokens (perfmodel.serving.trtllm_bench) and the CUDA-graph batch sizes the run captured."""
    from perfmodel.quant import get_quant
    from perfmodel.resolve import resolve_model, resolve_system
    from perfmodel.serving.engine_profiles import get_engine
    from perfmodel.serving.trtllm_bench import DEFAULT_KV_FRACTION, engine_settings

    kw = dict(case.kwargs)
    if case.cuda_graph_max_batch is not None:
        kw["engine"] = get_engine(kw["engine"]).model_copy(update={"cuda_graph_max_batch": case.cuda_graph_max_batch})
    if case.trtllm_bench:
        model = resolve_model(kw["model"])
        _, isl, osl = kw["workload"].split(":")
        attention_dp = kw.get("dp", 1) > 1 and kw.get("ep", 1) > 1  # DEP<n>: attention DP with EP
        ranks = kw["dp"] if attention_dp else kw.get("tp", 1)
        fraction = kw.setdefault("kv_fraction", DEFAULT_KV_FRACTION)
        s = engine_settings(model=model, device_memory_gb=resolve_system(kw["hardware"]).device.memory_gb,
                            quant=get_quant(kw["quant"]), ranks=ranks, pp=kw.get("pp", 1), attention_dp=attention_dp,
                            isl=int(isl), osl=int(osl), kv_fraction=fraction)
        kw.setdefault("max_batch", s.max_batch)
        kw.setdefault("token_budget", s.max_num_tokens)
    return kw


def default_csv() -> Path | None:
    env = os.environ.get("PERFMODEL_PUBLISHED_CSV")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[1]
    for up in (root.parent, root.parent.parent, root):
        p = up / "shared" / "reference" / "published_figures.csv"
        if p.is_file():
            return p
    shipped = Path(__file__).resolve().parent / "data" / "published_figures.csv"  # the installed package's copy
    return shipped if shipped.is_file() else None


def read_rows(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise PerfModelError(f"--csv {p}: no such file")
    with io.StringIO(read_text(p, what="a published-figures CSV"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = {"id", "source", "system", "model", "hardware", "precision", "parallelism", "workload", "metric",
            "value", "unit", "notes"}
    if not rows or not need <= set(rows[0]):
        raise PerfModelError(f"{p} line 1: expected the columns {', '.join(sorted(need))}")
    return rows


def report(path: str | Path, *, only: list[str] | None = None) -> dict:
    rows = read_rows(path)
    value_of = {r["id"]: _float(r["value"]) for r in rows}
    cases, skips = cases_from_rows(rows)  # all rows: a source names engine versions once
    if only:
        cases = [c for c in cases if c.row in only]
        skips = [s for s in skips if s.row in only]
    outcomes = [run_case(c) for c in cases]
    errs = [abs(o.error) for o in outcomes if o.error is not None]
    # The CSV's own `value` column (one figure per row); the other figures come from its notes.
    primary = [abs(o.error) for o in outcomes if o.error is not None
               and value_of.get(o.case.row) is not None and math.isclose(o.case.published, value_of[o.case.row])]
    return {
        "csv": str(path),
        "rows": [{"key": o.case.key, "row": o.case.row, "run": o.case.label, "metric": o.case.metric,
                  "predicted": o.predicted, "analytic": o.analytic, "published": o.case.published,
                  "unit": o.case.unit, "error_pct": None if o.error is None else 100 * o.error, "note": o.note}
                 for o in outcomes],
        "not_expressible": [{"key": s.key, "row": s.row, "reason": s.reason} for s in skips]
                           + [{"key": o.case.key, "row": o.case.row, "reason": o.note} for o in outcomes
                              if o.error is None],
        "median_abs_error_pct": 100 * statistics.median(errs) if errs else math.nan,
        "expressed": len(errs),
        "median_abs_error_pct_value_column": 100 * statistics.median(primary) if primary else math.nan,
        "expressed_value_column": len(primary),
    }


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
