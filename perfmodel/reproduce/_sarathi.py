"""Sarathi-Serve's capacity gain: the largest request rate whose P99 time between tokens (TBT) stays
within the strict SLO while the median scheduling delay stays under 2 s, for stall-free chunked
prefill against vLLM's prefill-first iterations, through the serving simulator's per-token gaps."""

from __future__ import annotations

import numpy as np

from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.reproduce._entry import Context, Entry, computed
from perfmodel.resolve import resolve_model
from perfmodel.serving import goodput
from perfmodel.serving.deployment import Pool, build_pool, simulate_pool
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.serving.metrics import token_gaps_ms
from perfmodel.specs.workload.lengths import LogNormal, Normal
from perfmodel.specs.workload.synthetic import Workload

SRC = "Sarathi-Serve OSDI'24 abstract (2.6x for Mistral-7B on one A100); methods.md s4 (SLO, capacity, budgets)"
SLO_FACTOR = 5              # methods.md s4: strict P99 TBT SLO = 5x the decode iteration at 4k context, batch 32
SLO_BATCH, SLO_CONTEXT = 32, 4096
TOKEN_BUDGET = 512          # methods.md s4: Sarathi-Serve's budget under the strict SLO (Fig. 12)
MAX_BATCH = 128             # methods.md s4: max batch 128 (Fig. 12)
DELAY_LIMIT_S = 2.0         # methods.md s4: capacity keeps the median scheduling delay <= 2 s
REQUESTS = 600              # our choice: long enough that the judged 80% run at steady state
# arxiv_summarization (one of the paper's two datasets) as the Sarathi-Serve authors' simulator ships it
# (microsoft/vidur data/processed_traces/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv, commit
# 6d98aa8, its first 100 rows): prompts mean 2,501 / sd 963 / max 3,930 tokens; outputs mean 285 / median 170
# / max 2,958. Prompts are left-skewed (median 2,629 > mean), so a clipped normal; outputs a log-normal.
TRACE = "vidur arxiv_summarization trace (commit 6d98aa8), first 100 rows"
ARXIV = Workload(name="arxiv-summarization", input=Normal(mean=2501, std=963, max_tokens=3930),
                 output=LogNormal(mean=285, median=170, max_tokens=2958), source=TRACE)


def _meets(pool: Pool, rate: float, slo_ms: float) -> bool:
    req = ARXIV.sample(REQUESTS, rate=rate, seed=0)
    run = simulate_pool(pool, arrival_s=req.arrival_s, input_tokens=req.input_tokens,
                        output_tokens=req.output_tokens)
    judged = np.argsort(req.arrival_s, kind="stable")[int(REQUESTS * goodput.WARMUP):]
    delay_s = np.median(run.first_token_s[judged] - req.arrival_s[judged])
    return token_gaps_ms(run.token_gap_s, run.token_gap_count)["p99"] <= slo_ms and delay_s <= DELAY_LIMIT_S


def sarathi(ctx: Context) -> Entry:
    system = ctx.system("a100-sxm-80gb")
    model = resolve_model("mistral-7b")
    engine = get_engine("vllm-0.5")
    vllm = build_pool(model=model, system=system, engine=engine, plan=Plan(tp=1, quant="fp16", max_batch=MAX_BATCH),
                      scheduler="prefill_first")
    chunked = build_pool(model=model, system=system, engine=engine, scheduler="chunked",
                         plan=Plan(tp=1, quant="fp16", max_batch=MAX_BATCH, token_budget=TOKEN_BUDGET))
    slo_ms = SLO_FACTOR * 1e3 * vllm.timer.shape(BatchShape.decode(SLO_BATCH, SLO_CONTEXT))
    cap = {name: goodput.search(lambda r, p=pool: float(_meets(p, r, slo_ms)), target=1.0, guess=0.5)
           for name, pool in (("vllm", vllm), ("sarathi", chunked))}
    setup = {"model": "mistral-7b", "hardware": "1x a100-sxm-80gb", "precision": "fp16",
             "workload": f"arxiv_summarization-like prompts (mean 2,501 tokens), Poisson arrivals, {REQUESTS} requests; "
                         f"P99 TBT SLO {slo_ms:.0f} ms (strict), median TTFT <= {DELAY_LIMIT_S:.0f} s",
             "baseline": f"vLLM prefill-first (engine profile vllm-0.5), max batch {MAX_BATCH}; Sarathi-Serve: "
                         f"the same engine with stall-free chunks of {TOKEN_BUDGET} tokens",
             "sources": {"claim, model, hardware": SRC, "SLO, budget, max batch, capacity rule": "methods.md s4",
                         "lengths": TRACE, "request count": "our choice"}}
    return computed(seed="Sarathi-Serve", claim="2.6x vLLM's serving capacity for Mistral-7B on one A100 under a "
                    "strict P99 TBT SLO (3.7x for Yi-34B on two A100s)", setup=setup, published=2.6,
                    predicted=cap["sarathi"] / cap["vllm"], unit="x capacity (req/s) vs vLLM", kind="ratio",
                    source=SRC,
                    detail=f"capacity {cap['sarathi']:.2f} vs {cap['vllm']:.2f} req/s (vLLM held by prefill stalls in "
                           "the P99 TBT, chunked by the delay); the scheduling delay is read as TTFT (the simulator "
                           "does not record when a request is first scheduled)",
                    why="the paper's capacity is the best over its two datasets and SLOs; one dataset and the "
                        "strict SLO are run here")
