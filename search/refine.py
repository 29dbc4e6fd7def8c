"""Re-score the leading nano-batched plans with the pipeline model.

The searchers rank plans with `search.nanobatch`'s fluid overlap: the k nano-batches' compute-,
memory- and network-bound work share the device with no dependencies between operators, a
vectorized closed form that evaluates ~10^5 plans a second. It is optimistic: the list-scheduled
pipeline of `perfmodel.overlap` (what `perfmodel estimate/serve --nano-batches k` report) keeps
each nano-batch's operators in order and finds 5-15% less gain on chunked-prefill steps of a 70B
model (benchmarks/search_nano_refine.py). Ranking with the fluid model alone put nano-batched plans
at the top that the simulator then served 36-58% below the search's goodput (docs/search.md).

`refine` closes that gap where it matters: the nano-batched rows among the best `top` by score and
on the Pareto front are re-evaluated with `evaluate(..., nano_model="pipeline")` (a few ms a row,
one pipeline search per batch-size class), the best row and the front are recomputed, and this
repeats until the best `top` rows and the front hold no fluid-timed nano-batched plan. Rows with
one nano-batch are already exact, so the reported plans are timed as perfmodel times them.
"""

from __future__ import annotations

import time

import numpy as np

from perfmodel.search._base import SearchResult
from perfmodel.search.evaluate import evaluate

# Rows by score re-scored per round: the ranking the user sees (`--top`, default 10) with margin
# for ties between plans the closed forms cannot tell apart.
REFINE_TOP = 32


def refine(result: SearchResult, *, top: int = REFINE_TOP) -> int:
    """Re-score `result`'s leading nano-batched rows in place (see module docstring), marking them
    in `result.retimed`; returns how many rows were re-scored and records it, with the seconds
    spent, in `result.info`. Calling it again re-times only rows that have since reached the top."""
    t0 = time.perf_counter()
    table, m = result.table, result.metrics
    rescored = 0
    exact = result.retimed | (np.asarray(table["nano"]) <= 1) if len(table) else None
    while exact is not None:
        score = m["score"]
        ranked = np.argsort(-score, kind="stable")[:top]
        cand = np.union1d(ranked[np.isfinite(score[ranked])], result.front)
        todo = cand[~exact[cand]]
        if not len(todo):
            break
        new = evaluate(result.problem, table.take(todo), nano_model="pipeline")
        for k, v in new.items():
            m[k][todo] = v
        exact[todo] = result.retimed[todo] = True
        rescored += len(todo)
        result.rescore()
    result.info["nano_rescored"] = rescored
    result.info["nano_rescore_s"] = time.perf_counter() - t0
    return rescored
