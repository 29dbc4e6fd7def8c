"""Exhaustive search: enumerate the whole space and evaluate it with numpy in chunks. The ground
truth the other searchers are tested against on small spaces."""

from __future__ import annotations

import time

import numpy as np

from perfmodel.search._base import SearchResult, Searcher, register
from perfmodel.search.evaluate import evaluate
from perfmodel.search.problem import Problem
from perfmodel.search.space import PlanTable

CHUNK_ROWS = 200_000  # bounds peak memory (~40 float64 columns per row) and paces the progress bar


@register
class GridSearcher(Searcher):
    name = "grid"

    def run(self, problem: Problem) -> SearchResult:
        t0 = time.perf_counter()
        table = problem.space.enumerate()
        n = len(table)
        parts = []
        for start in range(0, n, CHUNK_ROWS):
            sub = table.take(slice(start, start + CHUNK_ROWS))
            parts.append(evaluate(problem, sub))
            if self.progress:
                self.progress(min(start + CHUNK_ROWS, n), n)
        metrics = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else evaluate(problem, table)
        return SearchResult(problem=problem, searcher=self.name, table=table, metrics=metrics,
                            pruned=dict(problem.space.pruned), seconds=time.perf_counter() - t0)


def evaluate_all(problem: Problem) -> tuple[PlanTable, dict]:
    """Enumerate and evaluate the whole space (a convenience for tests and the ILP searcher)."""
    table = problem.space.enumerate()
    return table, evaluate(problem, table)
