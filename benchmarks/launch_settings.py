"""Launch settings of the AIConfigurator grid campaigns (issue 11): what-if runs of `perfmodel accuracy`.

The rows of TRT-LLM 1.0.0rc3 without an image or a date (measured_serving.csv: Qwen3-32B fp8 and
Llama-3.1-8B bf16 on H100, ISL 1024-4096 x OSL 128-512 x 8-128 clients) were run with equal lengths
(`accuracy.length_ratio`). The CSV does not give the servers' settings; AIConfigurator's generator
gives the ones it launches benchmarks with (ai-dynamo/aiconfigurator, src/aiconfigurator/generator/):
`config/backend_templates/trtllm/extra_engine_args.1.0.0rc3.yaml.j2` (enable_chunked_prefill false,
kv_cache_config.free_gpu_memory_fraction 0.80, max_batch_size and max_num_tokens from the generator)
and `rule_plugin/benchmark/trtllm.rule` (agg: max_num_tokens = max_batch_size + ISL + 1500; the
benchmark's concurrency = workers x max_batch_size, so max_batch_size = C with one worker); for
SGLang 0.5.1.post1 (campaign `sglang`) `rule_plugin/benchmark/sglang.rule`. Each variant runs every
row of the chosen campaigns; printed: median |error| of mean TTFT and TPOT. Variants (default: the
first five):

  shipped      the row as `perfmodel accuracy` runs it (0.8 length spread, fitted front end)
  aic          equal lengths, AIConfigurator's launch settings above, front end 0 ms
  aic-fitted   the same with the profile's fitted front end
  slots-1      one engine slot fewer than clients (max_batch_size = C - 1), front end 0 ms, 0.8 spread
  slots-1-eq   the same with equal lengths
  host-per-seq the shipped run with 60 us of exposed host time per running sequence per step
  equal        equal lengths, the profile as shipped
  sglang-mixed (campaign sglang) equal lengths, AIConfigurator's SGLang benchmark settings:
               enable_mixed_chunk (decodes and prompt chunks in one batch), ISL + 1500 prefill tokens

`slots-1` is a hypothesis, not a sourced setting: it is what the Llama-3.1-8B rows' TTFT looks like
(TTFT - one prefill ~ 0.9 x E2E / C, one client always waiting for the next completion).

`--throughput` prints, instead, what the measured rows at 128 clients delivered (no simulation):
output tokens/s = C x OSL / (TTFT + (OSL - 1) x TPOT) and requests/s = C / that E2E, per TP.

Run: python benchmarks/launch_settings.py [--campaign llama,qwen,sglang] [--variants shipped,aic,slots-1]
     [--clients 8,16,32] [--rows] [--throughput]
(every variant over both campaigns' 353 rows: about 2.5 min on a 2-core machine)
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import perfmodel.accuracy as A
from perfmodel.serving.engine_profiles import ENGINES

# campaign name -> (backend, version, checkpoint) of the grid rows (no image, no date)
CAMPAIGNS = {"llama": ("trtllm", "1.0.0rc3", "meta-llama/Llama-3.1-8B-Instruct"),
             "qwen": ("trtllm", "1.0.0rc3", "Qwen/Qwen3-32B"),
             "sglang": ("sglang", "0.5.1.post1", "Qwen/Qwen3-32B")}
# AIConfigurator rule_plugin/benchmark/trtllm.rule: agg max_num_tokens = max_batch_size + ISL + 1500
AIC_EXTRA_TOKENS = 1500
# extra_engine_args.1.0.0rc3.yaml.j2: kv_cache_config.free_gpu_memory_fraction default 0.80
AIC_KV_FREE_FRACTION = 0.80
# rule_plugin/benchmark/sglang.rule: agg enable_mixed_chunk = true, max_prefill_tokens = ISL + 1500,
# max_running_requests = max_batch_size (= C)
AIC_SGLANG = {"scheduler": "chunked"}


def _aic(c: int, isl: int) -> dict:
    return {"max_num_seqs": c, "token_budget": c + isl + AIC_EXTRA_TOKENS, "kv_memory_fraction": AIC_KV_FREE_FRACTION}


# a per-running-sequence host cost per step, exposed (trtllm-pytorch fits none: perfmodel.serving.fit
# NOT_FREE); 60 us is a trial value of the size SGLang's fit gives (47.8 us), not a fit
HOST_US_PER_SEQ = 60.0

# variant -> (length ratio or None for the shipped one, engine-profile update from (clients, ISL))
VARIANTS: dict[str, tuple[float | None, Callable[[int, int], dict]]] = {
    "shipped": (None, lambda c, isl: {}),
    "aic": (1.0, lambda c, isl: {**_aic(c, isl), "frontend_ms": 0.0}),
    "aic-fitted": (1.0, _aic),
    "slots-1": (A.LENGTH_RATIO, lambda c, isl: {"max_num_seqs": c - 1, "frontend_ms": 0.0}),
    "slots-1-eq": (1.0, lambda c, isl: {"max_num_seqs": c - 1, "frontend_ms": 0.0}),
    "host-per-seq": (None, lambda c, isl: {"cpu_per_seq_us": HOST_US_PER_SEQ}),
    "equal": (1.0, lambda c, isl: {}),
    "sglang-mixed": (1.0, lambda c, isl: {**AIC_SGLANG, "token_budget": isl + AIC_EXTRA_TOKENS, "max_num_seqs": c}),
}


DEFAULT_VARIANTS = ("shipped", "aic", "aic-fitted", "slots-1", "slots-1-eq")


def campaign_rows(rows: list[dict], campaign: str, clients: set[int] | None) -> list[tuple[int, dict]]:
    """(CSV line, row) of one grid campaign."""
    out = []
    for line, r in enumerate(rows, start=2):
        if (r["backend"], r["backend_version"], r["model"]) != CAMPAIGNS[campaign]:
            continue
        if r["image"] or r["measured"] or (clients and A._int(r["concurrency"]) not in clients):
            continue
        out.append((line, r))
    return out


def run_variant(line: int, r: dict, variant: str) -> A.Outcome:
    ratio, update = VARIANTS[variant]
    case = A.case_from_row(f"r{line}", r)
    isl, osl = A._int(r["isl"]), A._int(r["osl"])
    if ratio is not None:
        case.kwargs["workload"] = f"random:{isl}:{osl}:{ratio:g}"
    if upd := update(case.kwargs["concurrency"], isl):
        case.kwargs["engine"] = ENGINES[case.kwargs["engine"]].model_copy(update=upd)
    return A.run_case(case)


def measured_throughput(rows: list[dict], campaign: str, clients: int = 128) -> None:
    """Output tokens/s and requests/s the campaign's rows at `clients` delivered, by ISL/OSL and TP."""
    print(f"{' '.join(CAMPAIGNS[campaign])}, {clients} clients: measured output tok/s | req/s "
          "| TTFT ms | TPOT ms")
    by_shape: dict[tuple[int, int], dict[int, str]] = {}
    for _, r in campaign_rows(rows, campaign, {clients}):
        isl, osl, tp = A._int(r["isl"]), A._int(r["osl"]), A._int(r["tp"])
        ttft, tpot = float(r["ttft_ms_mean"]), float(r["tpot_ms_mean"])
        e2e_s = (ttft + (osl - 1) * tpot) / 1000
        by_shape.setdefault((isl, osl), {})[tp] = (f"TP{tp} {clients * osl / e2e_s:,.0f} | {clients / e2e_s:.1f} "
                                                   f"| {ttft:,.0f} | {tpot:.1f}")
    for (isl, osl), cells in sorted(by_shape.items()):
        print(f"  {isl}/{osl}: " + "; ".join(cells[tp] for tp in sorted(cells)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--campaign", default="llama,qwen", help="campaigns: " + ", ".join(CAMPAIGNS))
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help="variants: " + ", ".join(VARIANTS))
    ap.add_argument("--clients", default="", help="only rows with these client counts (e.g. 8,16,32)")
    ap.add_argument("--rows", action="store_true", help="print every row's predicted and measured TTFT")
    ap.add_argument("--throughput", action="store_true", help="measured throughput at 128 clients, per TP")
    a = ap.parse_args()
    variants = [v for v in a.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)}; use one of {', '.join(VARIANTS)}")
    clients = {int(x) for x in a.clients.split(",") if x} or None
    rows = A.read_rows(None)
    campaigns = [c for c in a.campaign.split(",") if c]
    if a.throughput:
        for campaign in campaigns:
            measured_throughput(rows, campaign)
        return
    for campaign in campaigns:
        errors: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
        for line, r in campaign_rows(rows, campaign, clients):
            cells = []
            for v in variants:
                o = run_variant(line, r, v)
                if o.errors:
                    errors[v].append((abs(o.errors["ttft"]), abs(o.errors["tpot"])))
                    cells.append(f"{v} {o.ttft_ms:,.0f}")
            if a.rows:
                print(f"  r{line} TP{r['tp']} C={r['concurrency']} {r['isl']}/{r['osl']}: measured "
                      f"{float(r['ttft_ms_mean']):,.0f} ms; " + ", ".join(cells), flush=True)
        n = max((len(e) for e in errors.values()), default=0)
        print(f"{' '.join(CAMPAIGNS[campaign])} ({n} rows): median |error| TTFT / TPOT")
        for v in variants:
            e = errors[v]
            ttft = 100 * statistics.median(x[0] for x in e) if e else float("nan")
            tpot = 100 * statistics.median(x[1] for x in e) if e else float("nan")
            print(f"  {v:<11} {ttft:5.1f}% / {tpot:5.1f}%", flush=True)


if __name__ == "__main__":
    main()
