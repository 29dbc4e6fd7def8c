"""Accuracy against measured serving runs (shared/reference/measured_serving.csv layout).

Each row is one benchmark run: an engine (backend + version), a model, a system, a precision, the
parallelism of an aggregated deployment or of a disaggregated one's prefill and decode workers,
fixed ISL/OSL and a number of concurrent clients, with the measured mean TTFT and mean TPOT. A row
becomes one closed-loop `serve()` run as the benchmark client ran it (InferenceMAX-style
`benchmark_serving.py --max-concurrency C --num-prompts 10C --request-rate inf`: no warm-up, the
first C requests sent at once); a row the model cannot express is listed with the reason. Nothing
here is fitted: the engine fits live in `perfmodel.serving.fit`.

A row measured faster than its devices allow (`perfmodel.closed_loop_bounds`: the KV its decoding
sequences hold by Little's law, the bytes a decode step must read, the FLOPs its throughput needs,
each at the most favourable hardware figures) is "inconsistent with the hardware bound": it stays in
the row list, marked, is counted and listed with its bound's figures, and is left out of the medians.
The rule is the same for every aggregated row; disaggregated rows are not checked.
"""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from perfmodel.closed_loop_bounds import LoopBounds, loop_bounds
from perfmodel.common.textfile import read_text
from perfmodel.errors import PerfModelError
from perfmodel.quant import mxfp4_experts_as_run
from perfmodel.serving.engine_profiles import ENGINES

# benchmark_serving.py runs of the InferenceMAX recipe send 10 requests per client
# (InferenceMAX README: `--num-prompts $(( $CONC * 10 )) --max-concurrency $CONC`).
PROMPTS_PER_CLIENT = 10
MIN_PROMPTS = 20
# ... with lengths drawn from [0.8 x ISL, ISL] and [0.8 x OSL, OSL] (InferenceMAX README:
# RANDOM_RANGE_RATIO 0.8). The spread matters: equal lengths would keep the clients in lockstep,
# every wave of C requests arriving together.
LENGTH_RATIO = 0.8
# The grid of AIConfigurator's eval runners (ai-dynamo/aiconfigurator src/aiconfigurator/eval/benchmarks/:
# genai-perf `--synthetic-input-tokens-stddev 0 --output-tokens-stddev 0 --extra-inputs
# min_tokens:OSL,max_tokens:OSL,ignore_eos:true --concurrency C --request-count 10C` for TRT-LLM and
# vLLM, SGLang `bench_serving --random-range-ratio 1` with 10C prompts): these campaigns, rows
# without an image or a measurement date, sent every request exactly ISL / OSL tokens. genai-perf's
# `--warmup-request-count 2C` leaves no trace in the measured phase: perf_analyzer runs the warm-up
# as its own load and joins every worker (`LoadManager::WaitForWarmupAndCleanup`, load_manager.cc)
# before the measured load starts with C requests at once, so the simulation has no warm-up either.
EQUAL_LENGTH_CAMPAIGNS = {("trtllm", "1.0.0rc3"), ("vllm", "0.12.0"), ("sglang", "0.5.1.post1")}
# Of those, the clients whose measured runs keep the lockstep that equal lengths impose: SGLang's
# bench_serving (an asyncio closed loop) measures, at every concurrency of the grid, the mean TTFT of
# a whole wave of C prompts served in 8192-token prefill chunks (measured TTFT / the model's
# one-request prefill: 12.0 at 16 clients against 10.0 for a full wave, 66.4 at 128 against 66.0;
# `PYTHONPATH=. python benchmarks/ttft_waves.py --campaign sglang:0.5.1.post1`), so the report runs
# those rows with their documented equal lengths. genai-perf's rows do not: vLLM's measure 3.1 / 4.4 /
# 10.3 prefills at 8 / 32 / 128 clients against a full wave's 6.5 / 18.5 / 66.5, TRT-LLM's Qwen3-32B
# rows 4.9 / 6.5 / 16.2 against 4.5 / 16.5 / 64.5 (a full wave at 8 clients only). Their clients
# drift apart by a mechanism not yet found (docs/serving.md lists those ruled out), and
# a simulation with equal lengths holds them in a lockstep the measurements do not show (vLLM
# Qwen3-32B 1024-token rows 1.5-3x too high, docs/serving.md), so they keep InferenceMAX's spread,
# which desynchronizes the clients as drifting ones are.
LOCKSTEP_CLIENTS = {"sglang"}
# concurrency bands of the report (clients): low latency, interactive, throughput, saturation
BANDS = ((1, 8), (9, 64), (65, 256), (257, 1 << 30))
GROUP_KEYS = ("engine", "system", "model", "band", "mode")
REQUIRED = {"backend", "backend_version", "model", "system", "precision", "mode", "isl", "osl", "concurrency",
            "tp", "ttft_ms_mean", "tpot_ms_mean"}

# backend, lowest version -> engine profile (perfmodel.serving.engine_profiles); per backend the
# first line whose lowest version the row's reaches wins. An empty version is the newest line.
#   vLLM >= 0.8: the V1 engine (default since 0.8; vllm-v1 is fitted on 0.11+ rows, the same engine
#   core); 0.5-0.7: the V0 engine (vllm-0.5). SGLang >= 0.4: the overlap scheduler (on by default
#   since 0.4) that sglang-0.5 describes. TRT-LLM >= 1.0: the PyTorch backend of trtllm-serve;
#   0.12-0.21: the C++ runtime (trtllm); older: trtllm-0.8.
_ENGINES = (("trtllm", (1, 0), "trtllm-pytorch"), ("trtllm", (0, 12), "trtllm"), ("trtllm", (0, 0), "trtllm-0.8"),
            ("sglang", (0, 4), "sglang-0.5"), ("vllm", (0, 8), "vllm-v1"), ("vllm", (0, 5), "vllm-0.5"))
_SYSTEMS = {"h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm", "b200_sxm": "b200", "b300_sxm": "b300",
            "gb200": "gb200", "gb300": "gb300"}
# precision / gemm_quant / moe_quant names (the CSV's, and AIConfigurator's GEMMQuantMode / MoEQuantMode
# names the same columns use elsewhere, aiconfigurator src/aiconfigurator/sdk/common.py: float16,
# bfloat16, int8_wo, int4_wo, fp8_static, fp8_ootb, sq, w4afp8, nvfp4_wo, w4a16_nvfp4, w4a16_mxfp4,
# w4a8_mxfp4_mxfp8; RedHatAI's fp8_dynamic; 'int4' as Kimi-K2-Thinking's card names its INT4
# weight-only QAT experts) -> quantization scheme (perfmodel.quant)
_PRECISION = {"bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "float16": "bf16", "fp8": "fp8",
              "fp8_static": "fp8", "fp8_dynamic": "fp8", "fp8_ootb": "fp8", "fp8_block": "fp8-block",
              "nvfp4": "nvfp4", "fp4": "nvfp4", "nvfp4_wo": "w4.5a16", "w4a16_nvfp4": "w4.5a16",
              "mxfp4": "mxfp4", "w4a16_mxfp4": "w4.25a16", "w4a8_mxfp4_mxfp8": "mxfp4-mxfp8",
              "w4a8_mxfp4_mxfp8_trtllm": "mxfp4-mxfp8",
              "int8_wo": "w8a16", "int4_wo": "w4a16", "int4": "w4a16", "w4a16": "w4a16", "sq": "w8a8", "int8": "w8a8",
              "w8a8": "w8a8", "w8a8_dynamic": "w8a8", "w4afp8": "w4a8", "w4a8": "w4a8"}
# A row that names one width for the whole model ('fp4', 'fp8'; no GEMM / MoE split), on a checkpoint
# released in a format of that width: the engines load the checkpoint as released, so the row runs
# the checkpoint's own scheme (InferenceMAX names gpt-oss 'fp4': its MXFP4 experts, BF16 elsewhere,
# as its quantization_config leaves attention and the router unquantized).
_WIDTH_FAMILY = {"fp4": ("nvfp4", "mxfp4"), "mxfp4": ("mxfp4",), "fp8": ("fp8", "fp8-block")}

@dataclass
class Case:
    key: str
    fields: dict            # engine, system, model, band, mode (for grouping)
    kwargs: dict            # serve() keyword arguments
    ttft_ms: float
    tpot_ms: float
    label: str = ""
    mean_lengths: tuple[float, float] = (0.0, 0.0)   # mean prompt / output tokens the row's client sent


@dataclass
class Skip:
    key: str
    fields: dict
    reason: str


@dataclass
class Outcome:
    case: Case
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    note: str = ""
    errors: dict = field(default_factory=dict)   # metric -> (predicted - measured) / measured
    bounds: LoopBounds | None = None             # None: not checked (disaggregated)

    @property
    def consistent(self) -> bool:
        return self.bounds is None or self.bounds.consistent


# ---- rows -> cases -----------------------------------------------------------------------------
def _int(text: str) -> int | None:
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return None


def _version(text: str) -> tuple[int, int] | None:
    m = re.match(r"\s*v?(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def engine_for(backend: str, version: str) -> tuple[str | None, str]:
    """(engine profile, why not) for a backend and version as the CSV names them."""
    v = _version(version)
    lines = [(lowest, profile) for name, lowest, profile in _ENGINES if backend.lower() == name]
    if not lines:
        return None, f"no engine profile for backend {backend!r}"
    for lowest, profile in lines:
        if v is None or v >= lowest:
            return profile, ""
    oldest = lines[-1][0]
    return None, f"{backend} {version} predates the profiled lines (>= {oldest[0]}.{oldest[1]})"


def model_name(text: str) -> str:
    """The preset a checkpoint name resolves to (`specs.registry.resolve_checkpoint`: a quantized or
    dated re-upload such as 'nvidia/DeepSeek-R1-0528-FP4-v2' is its base architecture); a name no
    rule reaches is returned lower-cased without its organisation, for serve() to refuse."""
    from perfmodel.specs.registry import resolve_checkpoint

    try:
        return resolve_checkpoint(text)[0]
    except PerfModelError:
        return text.split("/")[-1].lower()


def _has_experts(model: str) -> bool:
    """Whether the model has MoE layers. A run table fills moe_ep / moe_tp for every row, and a dense
    model's row may carry its TP or GPU count there (no expert layer to split): such a value is
    ignored rather than refused. An unknown model counts as MoE, so serve() names the real problem."""
    from perfmodel.specs.registry import load_model

    try:
        return load_model(model).moe is not None
    except PerfModelError:
        return True


def band_of(concurrency: int) -> str:
    for lo, hi in BANDS:
        if lo <= concurrency <= hi:
            return f"{lo}-{hi}" if hi < 1 << 30 else f">={lo}"
    return "?"


def length_ratio(r: dict) -> float:
    """Shortest request / ISL and OSL the row's benchmark client sent: 1 (equal lengths) on the
    AIConfigurator eval grid (EQUAL_LENGTH_CAMPAIGNS), else InferenceMAX's LENGTH_RATIO."""
    campaign = (r["backend"].lower(), r["backend_version"].strip())
    if campaign in EQUAL_LENGTH_CAMPAIGNS and not (r.get("image") or r.get("measured")):
        return 1.0
    return LENGTH_RATIO


def simulated_length_ratio(r: dict) -> float:
    """The lengths the report simulates a row with: its documented equal lengths where its client
    keeps the lockstep they impose (LOCKSTEP_CLIENTS), else InferenceMAX's LENGTH_RATIO."""
    ratio = length_ratio(r)
    return ratio if r["backend"].lower() in LOCKSTEP_CLIENTS else LENGTH_RATIO


def clients_modeled(r: dict) -> bool:
    """Whether the report simulates the row's clients as its benchmark ran them: its documented
    lengths (`length_ratio`) are the simulated ones. False for the genai-perf grid rows (equal
    lengths, clients that drift apart by a mechanism not modelled: LOCKSTEP_CLIENTS), whose waiting
    a fitted engine number must not absorb (perfmodel.serving.fit)."""
    return length_ratio(r) == simulated_length_ratio(r)


def case_from_row(key: str, r: dict, *, documented_clients: bool = False) -> Case | Skip:
    """The serve() run of a measured row, with the lengths `simulated_length_ratio` gives;
    `documented_clients`: with the lengths every campaign's client sent (`length_ratio`)."""
    c = _int(r["concurrency"])
    fields = {"engine": r["backend"], "system": r["system"], "model": r["model"],
              "band": band_of(c) if c else "?", "mode": r["mode"]}
    engine, why = engine_for(r["backend"], r["backend_version"])
    if engine is None:
        return Skip(key, fields, why)
    if not c or c < 1:
        return Skip(key, fields, "concurrency not given")
    isl, osl = _int(r["isl"]), _int(r["osl"])
    if not isl or not osl:
        return Skip(key, fields, "ISL/OSL not given")
    ttft, tpot = _float(r["ttft_ms_mean"]), _float(r["tpot_ms_mean"])
    if ttft is None or tpot is None:
        return Skip(key, fields, "mean TTFT or TPOT not measured")
    hardware = _SYSTEMS.get(r["system"].lower(), r["system"].lower().replace("_", "-"))
    quant, why = quant_of(r)
    if quant is None:
        return Skip(key, fields, why)
    model = model_name(r["model"])
    quant = mxfp4_experts_as_run(_checkpoint_scheme(r, model) or quant, ENGINES[engine].mxfp4_experts)
    ratio = length_ratio(r) if documented_clients else simulated_length_ratio(r)
    kw = {"model": model, "hardware": hardware, "quant": quant, "engine": engine,
          "workload": f"random:{isl}:{osl}:{ratio:g}", "concurrency": c, "num_requests": max(PROMPTS_PER_CLIENT * c, MIN_PROMPTS)}
    if r["mode"] == "disagg":
        p_tp, d_tp = _int(r.get("prefill_tp")), _int(r.get("decode_tp"))
        if not p_tp or not d_tp:
            return Skip(key, fields, "disaggregated row without prefill/decode TP")
        pw, dw = _size(r.get("prefill_workers")), _size(r.get("decode_workers"))
        p_dp, d_dp = _size(r.get("prefill_attention_dp")), _size(r.get("decode_attention_dp"))
        kw.update(scheduler="disagg", prefill_tp=p_tp, prefill_dp=p_dp, prefill_workers=pw,
                  decode_tp=d_tp, decode_dp=d_dp, decode_workers=dw)
        for role in ("prefill", "decode"):
            if (ep := _size(r.get(f"{role}_moe_ep"))) > 1 and _has_experts(kw["model"]):
                kw[f"{role}_ep"] = ep
        devices = pw * p_tp * p_dp * _size(r.get("prefill_pp")) + dw * d_tp * d_dp * _size(r.get("decode_pp"))
        par = f"P{pw}x{_par(p_tp, p_dp, kw.get('prefill_ep'))} D{dw}x{_par(d_tp, d_dp, kw.get('decode_ep'))}"
    else:
        tp = _int(r["tp"])
        if not tp:
            return Skip(key, fields, "tensor parallelism not given")
        tp, dp = _attention_split(tp, _size(r.get("attention_dp")), _size(r.get("moe_tp")), _size(r.get("moe_ep")))
        kw["tp"] = tp
        if dp > 1:
            kw["dp"] = dp
        for column, name in (("pp", "pp"), ("moe_ep", "ep")):
            if (v := _size(r.get(column))) > 1 and (name != "ep" or _has_experts(kw["model"])):
                kw[name] = v
        devices = tp * kw.get("pp", 1) * kw.get("dp", 1)
        par = _par(tp, kw.get("dp", 1), kw.get("ep")) + (f" PP{kw['pp']}" if "pp" in kw else "")
    eps = [v for k, v in kw.items() if k in ("ep", "prefill_ep", "decode_ep")]
    if redundant := redundant_slots(kw["model"], eps):
        kw["redundant_experts"] = redundant
        par += f" +{redundant} redundant experts"
    kw["hardware"] = hardware_for(hardware, devices)
    label = f"{engine}: {kw['model']} {par} {quant} on {kw['hardware']}; {isl}/{osl} C={c}"
    spread = (1 + length_ratio(r)) / 2          # mean of uniform [ratio, 1] x length
    return Case(key, fields, kw, ttft, tpot, label, mean_lengths=(isl * spread, osl * spread))


def _attention_split(tp: int, dp: int, moe_tp: int, moe_ep: int) -> tuple[int, int]:
    """(attention TP, attention-DP ranks) of an aggregated worker. The CSV's convention
    (AIConfigurator's) is tp x attention_dp = moe_tp x moe_ep GPUs. SGLang's own flags count the
    worker's GPUs in `--tp` and split them into `--dp` attention ranks of tp / dp GPUs each
    (`--tp 8 --dp 8 --enable-dp-attention` is 8 GPUs, attention TP 1; SGLang server_args: attention
    TP size = tp_size // dp_size): a row written that way (tp = moe_tp x moe_ep, dp dividing it)
    is read as that worker rather than tp x dp GPUs."""
    experts = moe_tp * moe_ep
    if dp > 1 and tp * dp != experts and experts == tp and tp % dp == 0:
        return tp // dp, dp
    return tp, dp


def _checkpoint_scheme(r: dict, model: str) -> str | None:
    """The checkpoint's own scheme (`_WIDTH_FAMILY`) when the row names one width for the whole model
    (precision alone, or gemm_quant and moe_quant naming the same scheme as it), else None."""
    precision = (r.get("precision") or "").strip().lower()
    named = {(r.get(c) or "").strip().lower() for c in ("gemm_quant", "moe_quant")} - {""}
    if any(_PRECISION.get(n, n) != _PRECISION.get(precision, precision) for n in named):
        return None
    family = _WIDTH_FAMILY.get(precision)
    if family is None:
        return None
    from perfmodel.specs.registry import load_model

    try:
        own = load_model(model).quant
    except PerfModelError:
        return None
    schemes = [part.partition("=")[2] or part for part in (own or "").split("+") if not part.startswith("kv=")]
    return own if any(s in family for s in schemes[1:] or schemes) else None


def redundant_slots(model: str, eps: list[int]) -> int:
    """Redundant expert slots a run with these EP sizes must have had: none when every EP size
    divides the experts, else the fewest that give every rank as many slots. Engines refuse an EP
    size that does not divide the slots (EPLB: experts + redundant), and wide-EP recipes add them:
    SGLang `--ep-num-redundant-experts 32` (DeepSeek's 256 -> 288 slots: 6 per rank at EP48, 4 at
    EP72; lmsys.org/blog/2025-05-05-large-scale-ep), TRT-LLM wide-EP `num_slots` 288."""
    from perfmodel.specs.registry import load_model

    try:
        moe = load_model(model).moe
    except PerfModelError:
        return 0
    if moe is None or not eps or all(moe.num_experts % ep == 0 for ep in eps):
        return 0
    return next((r for r in range(1, moe.num_experts + 1) if all((moe.num_experts + r) % ep == 0 for ep in eps)), 0)


def _size(text) -> int:
    """A parallel size column: empty or 0 (not set) is 1."""
    v = _int(text)
    return v if v and v > 0 else 1


def _par(tp: int, dp: int, ep: int | None) -> str:
    return f"TP{tp}" + (f" DP{dp}" if dp > 1 else "") + (f" EP{ep}" if ep else "")


def quant_of(r: dict) -> tuple[str | None, str]:
    """The quantization scheme of a row (gemm_quant, else precision; experts in moe_quant when it
    differs, as gpt-oss's bf16 + MXFP4 experts), or None and why."""
    base = (r.get("gemm_quant") or r["precision"]).lower()
    quant = _PRECISION.get(base)
    if quant is None:
        return None, f"precision {base!r} not modelled"
    moe = (r.get("moe_quant") or "").lower()
    if moe and _PRECISION.get(moe) is None:
        return None, f"MoE precision {moe!r} not modelled"
    if moe and _PRECISION[moe] != quant:
        quant = f"{quant}+experts={_PRECISION[moe]}"
    return quant, ""


def hardware_for(name: str, devices: int) -> str:
    """The system a row's devices fit on: the named one, or that many of its nodes (`IDxN`) when the
    deployment spans nodes (disaggregated pools of 8-GPU nodes)."""
    from perfmodel.hardware.catalog import resolve

    try:
        system = resolve(name)
    except PerfModelError:
        return name            # serve() names the unknown system
    have = system.max_devices
    if devices <= have or system.cluster is not None:
        return name
    return f"{name}x{-(-devices // have)}"


def _float(text: str) -> float | None:
    try:
        x = float(text)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def read_rows(path: str | Path | None = None) -> list[dict]:
    """Rows of a measured-serving CSV; None: the copy shipped in the package."""
    if path is None:
        text = resources.files("perfmodel").joinpath("data/measured_serving.csv").read_text()
        rows = list(csv.DictReader(text.splitlines()))
        source = "perfmodel/data/measured_serving.csv"
    else:
        p = Path(path)
        if not p.is_file():
            raise PerfModelError(f"--csv {p}: no such file")
        rows = list(csv.DictReader(io.StringIO(read_text(p, what="a measured serving CSV"), newline="")))
        source = str(p)
    if not rows or not REQUIRED <= set(rows[0]):
        raise PerfModelError(f"{source} line 1: expected the columns {', '.join(sorted(REQUIRED))}")
    return rows


def cases(rows: list[dict]) -> list[Case | Skip]:
    return [case_from_row(f"r{i}", r) for i, r in enumerate(rows, start=2)]  # key: the CSV line


# ---- running -----------------------------------------------------------------------------------
def run_case(case: Case) -> Outcome:
    from perfmodel.serve_api import serve

    try:
        d = serve(**case.kwargs, goodput_search=False).to_dict()
    except PerfModelError as exc:
        return Outcome(case, note=f"not expressible: {exc}")
    out = Outcome(case, d["ttft_ms"]["mean"], d["tpot_ms"]["mean"], bounds=case_bounds(case))
    out.errors = {"ttft": (out.ttft_ms - case.ttft_ms) / case.ttft_ms, "tpot": (out.tpot_ms - case.tpot_ms) / case.tpot_ms}
    return out


def case_bounds(case: Case) -> LoopBounds | None:
    """The hardware bounds of an aggregated row at its measured means (perfmodel.closed_loop_bounds)."""
    kw = case.kwargs
    if kw.get("scheduler") == "disagg":
        return None
    isl, osl = case.mean_lengths
    return loop_bounds(model=kw["model"], hardware=kw["hardware"], quant=kw["quant"], tp=kw["tp"],
                       pp=kw.get("pp", 1), dp=kw.get("dp", 1), ep=kw.get("ep", 1), isl=isl, osl=osl,
                       concurrency=kw["concurrency"], ttft_ms=case.ttft_ms, tpot_ms=case.tpot_ms)


def _median_pct(xs: list[float]) -> float | None:
    return 100 * statistics.median(abs(x) for x in xs) if xs else None


def summarize(outcomes: list[Outcome]) -> dict:
    """Median |error| of mean TPOT and mean TTFT overall and per group value, over the rows consistent
    with the hardware bound; `overall_all_rows`: over every expressed row."""
    done = [o for o in outcomes if o.errors and o.consistent]

    def stats(sel: list[Outcome]) -> dict:
        return {"rows": len(sel), "tpot_median_abs_error_pct": _median_pct([o.errors["tpot"] for o in sel]),
                "ttft_median_abs_error_pct": _median_pct([o.errors["ttft"] for o in sel])}
    groups = {}
    for g in GROUP_KEYS:
        values = sorted({o.case.fields[g] for o in done}, key=lambda v: (_band_start(v), v) if g == "band" else (0, v))
        groups[g] = {v: stats([o for o in done if o.case.fields[g] == v]) for v in values}
    return {"overall": stats(done), "overall_all_rows": stats([o for o in outcomes if o.errors]), "groups": groups}


def report(path: str | Path | None = None, *, only: list[str] | None = None) -> dict:
    rows = read_rows(path)
    items = cases(rows)
    if only:
        items = [c for c in items if c.key in only]
    outcomes = [run_case(c) for c in items if isinstance(c, Case)]
    skips = [s for s in items if isinstance(s, Skip)]
    not_expr = [{"key": s.key, **s.fields, "reason": s.reason} for s in skips] + \
               [{"key": o.case.key, **o.case.fields, "reason": o.note} for o in outcomes if not o.errors]
    return {
        "csv": str(path) if path is not None else "perfmodel/data/measured_serving.csv (packaged)",
        "rows_total": len(items),
        "expressible": sum(1 for o in outcomes if o.errors),
        "rows": [{"key": o.case.key, "run": o.case.label, **o.case.fields,
                  "ttft_ms": {"predicted": o.ttft_ms, "measured": o.case.ttft_ms,
                              "error_pct": _pct(o.errors.get("ttft"))},
                  "tpot_ms": {"predicted": o.tpot_ms, "measured": o.case.tpot_ms,
                              "error_pct": _pct(o.errors.get("tpot"))},
                  "consistent": o.consistent, "bounds": o.bounds.to_dict() if o.bounds else None}
                 for o in outcomes if o.errors],
        "inconsistent": [{"key": o.case.key, "run": o.case.label, "violations": list(o.bounds.violations),
                          "why": o.bounds.describe()} for o in outcomes if o.errors and not o.consistent],
        "not_expressible": not_expr,
        "reasons": _count_reasons(not_expr),
        **summarize(outcomes),
    }


def _band_start(band: str) -> int:
    m = re.search(r"\d+", band)
    return int(m.group()) if m else 0


def _pct(x: float | None) -> float | None:
    return None if x is None else 100 * x


def _count_reasons(items: list[dict]) -> dict[str, int]:
    """Reasons without their suggestions ('use one of ...', 'did you mean ...'), most frequent first."""
    counts: dict[str, int] = {}
    for it in items:
        reason = re.split(r": use one of|; did you mean", it["reason"])[0]
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
