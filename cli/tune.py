"""`perfmodel tune`: search parallelism, batching, quantization and aggregated/disaggregated
serving for a model on some hardware and a workload; print the Pareto front and the best plan."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer
from rich.markup import escape

from perfmodel.cli._common import HardwareOpt, JsonOpt, ModelOpt, console, err_console, fmt, print_json
from perfmodel.cli.estimate import CalOpt
from perfmodel.errors import PerfModelError

ListOpt = Optional[str]


def _opt(flag: str, help: str, **kw):
    return Annotated[ListOpt, typer.Option(flag, help=help + " Fixes the dimension; a comma list allows several.",
                                           **kw)]


# Plan-fixing options: name -> (flag, parser, help)
def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise PerfModelError(f"{flag} takes integers (e.g. 4 or 1,2,4), got {text!r}") from None


def _floats(text: str, flag: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise PerfModelError(f"{flag} takes numbers (e.g. 0.25 or 0,0.5), got {text!r}") from None


def _budgets(text: str, flag: str) -> tuple[int | None, ...]:
    out = []
    for x in text.split(","):
        x = x.strip().lower()
        if x in ("none", "static", "0"):
            out.append(None)
        elif x:
            out.extend(_ints(x, flag))
    return tuple(out)


def _localities(text: str, flag: str) -> tuple[float | None, ...]:
    """none (placement-agnostic) or shares in (0, 1]."""
    out = []
    for x in _strs(text, flag):
        if x.lower() in ("none", "off"):
            out.append(None)
            continue
        try:
            v = float(x)
        except ValueError:
            raise PerfModelError(f"{flag} takes none or shares in (0, 1] (e.g. none,0.5,0.8), got {x!r}") from None
        if not 0 < v <= 1:
            raise PerfModelError(f"{flag} shares must be in (0, 1], got {v}")
        out.append(v)
    return tuple(out)


def _strs(text: str, flag: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _kv(text: str, flag: str) -> tuple[str | None, ...]:
    return tuple(None if x in ("auto", "default") else x for x in _strs(text, flag))


def _modes(text: str, flag: str) -> tuple[str, ...]:
    names = {"agg": "aggregated", "aggregated": "aggregated", "disagg": "disaggregated",
             "disaggregated": "disaggregated"}
    out = []
    for x in _strs(text, flag):
        if x.lower() not in names:
            raise PerfModelError(f"{flag} must be agg or disagg (aggregated, disaggregated), got {x!r}")
        out.append(names[x.lower()])
    return tuple(out)


def _bools(text: str, flag: str) -> tuple[bool, ...]:
    vals = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}
    out = []
    for x in _strs(text, flag):
        if x.lower() not in vals:
            raise PerfModelError(f"{flag} takes on/off (true/false), got {x!r}")
        out.append(vals[x.lower()])
    return tuple(out)


FIXING = {
    "modes": ("--mode", _modes), "tp": ("--tp", _ints), "pp": ("--pp", _ints), "dp": ("--dp", _ints),
    "ep": ("--ep", _ints), "attention_dp": ("--attention-dp", _bools), "max_batch": ("--max-batch", _ints),
    "token_budget": ("--token-budget", _budgets), "nano_batches": ("--nano-batches", _ints),
    "quant": ("--quant", _strs), "kv_dtype": ("--kv-dtype", _kv), "offload_weights": ("--weights-offload", _floats),
    "offload_kv": ("--kv-offload", _floats), "kv_attention": ("--kv-attention", _strs),
    "expert_placement": ("--expert-placement", _strs),
    "prefill_tp": ("--prefill-tp", _ints), "prefill_pp": ("--prefill-pp", _ints),
    "prefill_batch": ("--prefill-batch", _ints), "prefill_replicas": ("--prefill-replicas", _ints),
    "decode_tp": ("--decode-tp", _ints), "decode_pp": ("--decode-pp", _ints),
    "decode_replicas": ("--decode-replicas", _ints), "device_counts": ("--device-counts", _ints),
    "two_batch_overlap": ("--tbo", _bools), "redundant_experts": ("--redundant-experts", _ints),
    "speculative": ("--speculative", _strs), "expert_locality": ("--expert-locality", _localities),
}


class _LazyProgress:
    """A rich progress bar on stderr that appears only once a run has lasted a second."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.t0 = time.monotonic()
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled or time.monotonic() - self.t0 < 1.0:
            return
        if self.bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=err_console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("searching", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def register(app: typer.Typer) -> None:
    @app.command()
    def tune(
        model: ModelOpt,
        hardware: HardwareOpt,
        devices: Annotated[Optional[int], typer.Option("--devices", help="Devices available (default: the node's).")] = None,
        workload: Annotated[Optional[str], typer.Option("--workload", "-w", help="ISL/OSL (e.g. 4000/500), fixed:ISL:OSL or a workload preset.")] = None,
        ttft_slo: Annotated[Optional[float], typer.Option("--ttft-slo", help="Time-to-first-token target, ms.")] = None,
        tpot_slo: Annotated[Optional[float], typer.Option("--tpot-slo", help="Time-per-output-token target, ms.")] = None,
        min_tok_s_per_user: Annotated[Optional[float], typer.Option(
            "--min-tok-s-per-user", help="Interactivity floor: the best plan with at least this many tokens/s per "
                                         "user (a TPOT limit of 1000 / value ms, with --tpot-slo the tighter).")] = None,
        objective: Annotated[str, typer.Option("--objective", help="throughput (tokens/s/device), goodput (DistServe M/D/1) or cost ($/Mtok).")] = "throughput",
        searcher: Annotated[str, typer.Option("--searcher", help="auto, grid (exhaustive), optuna (TPE), nsga2 (Optuna NSGA-II front) or ilp.")] = "auto",
        trials: Annotated[Optional[int], typer.Option("--trials", help="Optuna trials in the whole study (default 300).")] = None,
        storage: Annotated[Optional[str], typer.Option("--storage", help="Optuna storage: sqlite:///f.db, journal:FILE or postgresql://user@host/db.")] = None,
        study: Annotated[Optional[str], typer.Option("--study", help="Study name in --storage (resumed if it exists).")] = None,
        workers: Annotated[int, typer.Option("--workers", help="Worker processes on this machine (needs --storage).")] = 1,
        seed: Annotated[int, typer.Option("--seed", help="Sampler seed: the same seed gives the same result.")] = 0,
        out: Annotated[Optional[str], typer.Option("--out", help="Directory for plans.csv, pareto.json, best_plan.json, pareto.png.")] = None,
        mode: _opt("--mode", "agg or disagg.") = None,
        tp: _opt("--tp", "Tensor-parallel degree.") = None,
        pp: _opt("--pp", "Pipeline-parallel stages.") = None,
        dp: _opt("--dp", "Data-parallel replicas (aggregated).") = None,
        ep: _opt("--ep", "Expert-parallel degree (MoE).") = None,
        attention_dp: _opt("--attention-dp", "Attention data parallel with EP across replicas (on/off).") = None,
        max_batch: _opt("--max-batch", "Max concurrent sequences per replica (decode batch).") = None,
        token_budget: _opt("--token-budget", "Chunked-prefill tokens per iteration; 'none' = static batches.") = None,
        nano_batches: _opt("--nano-batches", "Nano-batches overlapped within a step (NanoFlow).") = None,
        quant: _opt("--quant", "Quantization: bf16, fp8, w4a16, ...") = None,
        kv_dtype: _opt("--kv-dtype", "KV-cache dtype ('auto' = the scheme's).") = None,
        offload_weights: _opt("--weights-offload", "Fraction of weights in host memory.") = None,
        offload_kv: _opt("--kv-offload", "Fraction of the KV cache in host memory.") = None,
        kv_attention: _opt("--kv-attention", "Decode attention over the KV: gpu, cpu (over host KV, needs "
                           "--kv-offload > 0), shadowkv, topk, a2ats (sparse over host KV).") = None,
        expert_placement: _opt("--expert-placement", "contiguous or balanced (MoETuner ILP on --routing).") = None,
        prefill_tp: _opt("--prefill-tp", "TP of the prefill pool (disaggregated).") = None,
        prefill_pp: _opt("--prefill-pp", "PP of the prefill pool.") = None,
        prefill_batch: _opt("--prefill-batch", "Requests per prefill batch.") = None,
        prefill_replicas: _opt("--prefill-replicas", "Prefill replicas.") = None,
        decode_tp: _opt("--decode-tp", "TP of the decode pool (disaggregated).") = None,
        decode_pp: _opt("--decode-pp", "PP of the decode pool.") = None,
        decode_replicas: _opt("--decode-replicas", "Decode replicas.") = None,
        device_counts: _opt("--device-counts", "Allowed total device counts.") = None,
        tbo: _opt("--tbo", "Two-batch overlap of communication with computation (on/off).") = None,
        redundant_experts: _opt("--redundant-experts", "EPLB redundant expert slots (MoE, 0 = none).") = None,
        speculative: _opt("--speculative", "Speculative decoding: none, mtp[:K], eagle3[:K[:RATE]], "
                          "ngram:K:RATE (K draft tokens, RATE acceptance per position).") = None,
        expert_locality: _opt("--expert-locality", "Speculative MoE token shuffling and expert grouping: none or "
                              "shares of token-expert activations served on the token's own EP rank, e.g. "
                              "none,0.5,0.8.") = None,
        memory_utilization: Annotated[Optional[float], typer.Option("--memory-utilization", help="Fraction of device memory the engine may use (default 0.9).")] = None,
        routing: Annotated[Optional[str], typer.Option("--routing", help="Expert-routing profile (MoE): a routing file, or uniform / zipf:S / correlated:S.")] = None,
        price: Annotated[Optional[str], typer.Option("--price-per-device-hour", help="Price per device-hour for --objective cost (comma list per hardware).")] = None,
        calibration: CalOpt = None,
        top: Annotated[int, typer.Option("--top", min=0, max=10_000, help="Rows of the Pareto table to show.")] = 15,
        verify: Annotated[int, typer.Option("--verify", help="Re-run the N best distinct plans through the serving "
                                            "simulator (goodput under the SLOs, else offline throughput).")] = 0,
        engine: Annotated[Optional[str], typer.Option("--engine", help="Search only what this engine can launch "
                                                      "(vllm, sglang, trtllm: no nano-batches, sparse or CPU "
                                                      "attention, balanced experts) and simulate --verify with its "
                                                      "profile; default: every technique, --verify with vllm.")] = None,
        trial_delay_s: Annotated[Optional[float], typer.Option("--trial-delay-s", hidden=True)] = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Search deployments; print the Pareto front (tokens/s/device vs tokens/s/user) and the best plan."""
        from perfmodel.search.tune import NoPlanMeetsSLO
        from perfmodel.search.tune import tune as run

        given = dict(modes=mode, tp=tp, pp=pp, dp=dp, ep=ep, attention_dp=attention_dp, max_batch=max_batch,
                     token_budget=token_budget, nano_batches=nano_batches, quant=quant, kv_dtype=kv_dtype,
                     offload_weights=offload_weights, offload_kv=offload_kv, kv_attention=kv_attention,
                     expert_placement=expert_placement,
                     prefill_tp=prefill_tp, prefill_pp=prefill_pp, prefill_batch=prefill_batch,
                     prefill_replicas=prefill_replicas, decode_tp=decode_tp, decode_pp=decode_pp,
                     decode_replicas=decode_replicas, device_counts=device_counts, two_batch_overlap=tbo,
                     redundant_experts=redundant_experts, speculative=speculative, expert_locality=expert_locality)
        space = {k: FIXING[k][1](v, FIXING[k][0]) for k, v in given.items() if v is not None}
        if min_tok_s_per_user is not None:  # tokens/s per user = 1000 / TPOT (ms)
            if min_tok_s_per_user <= 0:
                raise PerfModelError(f"--min-tok-s-per-user must be > 0, got {min_tok_s_per_user}")
            tpot_slo = min(tpot_slo or float("inf"), 1e3 / min_tok_s_per_user)
        if memory_utilization is not None:
            space["memory_utilization"] = memory_utilization
        prices = list(_floats(price, "--price-per-device-hour")) if price else None
        progress = _LazyProgress(enabled=not json_out and err_console.is_terminal)
        try:
            result = run(model=model, hardware=hardware, devices=devices, workload=workload, ttft_slo=ttft_slo,
                         tpot_slo=tpot_slo, objective=objective, searcher=searcher, trials=trials, storage=storage,
                         study=study, workers=workers, seed=seed, space=space, routing=routing,
                         price_per_device_hour=prices, calibration=calibration, out=out, progress=progress,
                         trial_delay_s=trial_delay_s, verify=verify, engine=engine)
        except NoPlanMeetsSLO as exc:
            progress.close()
            close = exc.result.closest(5)
            if json_out:
                print_json({**exc.result.to_dict(), "closest": close})
            elif close:
                err_console.print(_plain_table("closest plans (none meets the SLOs)",
                                               ["plan", "tok/s/device", "TTFT ms", "TPOT ms", "SLO excess"],
                                               [[c["plan"], c["output_tok_s_per_device"], c["ttft_ms"], c["tpot_ms"],
                                                 f"{c['slo_excess']:.0%}"] for c in close], numeric=4))
            raise
        finally:
            progress.close()
        if json_out:
            print_json(result.to_dict())
            return
        _render(result, top, out)


def _plain_table(title: str, columns: list[str], rows: list[list], *, numeric: int = 0):
    """A rich table whose cells are plain text (plan labels contain brackets): the next `numeric`
    columns after the first are right-aligned numbers at their header width."""
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, title_justify="left")
    t.add_column(columns[0], min_width=20)
    for c in columns[1:1 + numeric]:
        t.add_column(c, justify="right", no_wrap=True, min_width=len(c))
    for c in columns[1 + numeric:]:
        t.add_column(c, min_width=10)
    for r in rows:
        t.add_row(*[Text(v) if isinstance(v, str) else Text(fmt(v)) for v in r])
    return t


def _render(r, top: int, out: str | None) -> None:
    from perfmodel.search.plots import pareto_terminal

    d = r.to_dict()
    p = r.problem
    rows = [[f["plan"], f["output_tok_s_per_device"], f["tok_s_per_user"], f["ttft_ms"], f["tpot_ms"],
             f"{f['fraction_of_optimal']:.0%}", f["binding"]] for f in d["pareto"][:top]]
    slo = " ".join(x for x in (f"TTFT<={p.slo.ttft_ms:g}ms" if p.slo.ttft_ms else "",
                               f"TPOT<={p.slo.tpot_ms:g}ms" if p.slo.tpot_ms else "") if x)
    console.print(_plain_table(f"Pareto front: {r.model} on {p.space.devices} x {', '.join(p.space.hardware)}, "
                               f"{p.isl}/{p.osl} {slo}".rstrip(),
                               ["plan", "tok/s/dev", "tok/s/user", "TTFT ms", "TPOT ms", "% opt", "binding"],
                               rows, numeric=5))
    console.print("tok/s/dev: output tokens/s per device; tok/s/user: 1000 / TPOT; % opt: of the NanoFlow "
                  "compute bound (all tokens); binding: the resource that bounds the step (the pool that limits)",
                  style="dim")
    if len(d["pareto"]) > top:
        console.print(f"... {len(d['pareto']) - top} more on the front (--top, --out or --json for all)")
    console.print(pareto_terminal(r, width=min(console.width, 90)))
    b = d["best"]
    console.print(f"[bold]best ({p.objective})[/bold]: {escape(b['plan'])}  {fmt(b['output_tok_s_per_device'])} tok/s/device, "
                  f"TTFT {fmt(b['ttft_ms'])} ms, TPOT {fmt(b['tpot_ms'])} ms, {b['devices']} devices, "
                  f"bound: {b['binding']}")
    if d.get("verified"):
        key = next(k for k in d["verified"][0] if k.startswith("analytic_"))
        what = "goodput" if "goodput" in key else "throughput"
        console.print(_plain_table(f"verified in the serving simulator ({d['verified'][0]['engine']} profile), "
                                   f"output tok/s/device {what}",
                                   ["plan", "search", "simulated", "difference", "note"],
                                   [[v["plan"], v[key], v.get("simulated_" + key[len("analytic_"):]),
                                     "" if v.get("difference") is None else f"{v['difference']:+.0%}",
                                     v.get("why_not", "")] for v in d["verified"]], numeric=3))
        if d.get("recommended"):
            rec = d["recommended"]
            same = rec["plan"] == b["plan"]
            console.print(f"[bold]recommended[/bold]: {escape(rec['plan'])}, the {rec['selected_by']}"
                          + ("" if same else "; it replaces the search's best in --out best_plan.json"))
    pruned = ", ".join(f"{k} {v:,}" for k, v in d["pruned"].items()) or "none"
    slo_v = ", ".join(f"{k} {v:,}" for k, v in d["slo_violations"].items())
    trials = f" in {d['trials']} trials" if d["trials"] else ""
    console.print(f"{d['searcher']}: {d['evaluated']:,} plans evaluated{trials} in {d['seconds']:.2f} s; "
                  f"pruned: {pruned}" + (f"; over SLO: {slo_v}" if slo_v else ""))
    if d["info"].get("nano_rescored"):
        console.print(f"nano-batched plans re-timed with the pipeline model: {d['info']['nano_rescored']:,} "
                      f"in {d['info']['nano_rescore_s']:.2f} s")
    if out:
        console.print(f"wrote {out}/plans.csv, pareto.json, pareto.png" +
                      (", best_plan.json" if b else ""))
