"""The searcher extension point: one small base class and one registry.

Contract of `Searcher.run(problem)`:
  * returns a `SearchResult` whose `table` holds only plans of `problem.space` (structurally valid;
    rows from `ResolvedSpace.enumerate`), with `metrics` = `search.evaluate.evaluate` of that table;
  * `best` is the row with the highest `metrics["score"]` among those evaluated (-1 if none meets
    the constraints) and `front` the Pareto front (tokens/s/device, tokens/s/user) of the plans
    that fit and meet the SLOs;
  * the same problem and seed give the same result (tests/search/test_conformance.py).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np

from perfmodel.errors import PerfModelError
from perfmodel.registry import Registry
from perfmodel.search.problem import Problem
from perfmodel.search.pareto import best_index, front_2d
from perfmodel.search.space import PlanTable

Progress = Callable[[int, int | None], None]  # (done, total or None)


@dataclass
class SearchResult:
    problem: Problem
    searcher: str
    table: PlanTable
    metrics: dict[str, np.ndarray]
    pruned: dict[str, int]
    seconds: float
    trials: int | None = None
    info: dict = field(default_factory=dict)
    best: int = field(init=False)
    front: np.ndarray = field(init=False)
    # rows whose nano-batched steps `search.refine` re-timed with the pipeline model
    retimed: np.ndarray = field(init=False)

    def __post_init__(self):
        self.retimed = np.zeros(len(self.table), dtype=bool)
        self.rescore()

    def rescore(self) -> None:
        """Recompute `best` and `front` from `metrics` (after `search.refine` changed rows)."""
        m = self.metrics
        self.best = best_index(m["score"], m["tok_s"], m["devices"], m["tok_s_per_user"], self.table["nano"]) \
            if len(self.table) else -1
        self.front = front_2d(m["tok_s_per_device"], m["tok_s_per_user"], m["meets_slo"], m["tok_s"]) if len(self.table) \
            else np.zeros(0, dtype=np.int64)

    @property
    def evaluated(self) -> int:
        return len(self.table)


class Searcher(abc.ABC):
    """Finds the plan of `problem.space` with the highest score (see module docstring)."""

    name: ClassVar[str]

    def __init__(self, *, seed: int = 0, trials: int | None = None, storage: str | None = None,
                 study: str | None = None, workers: int = 1, progress: Progress | None = None,
                 request: dict | None = None):
        self.seed = seed
        self.trials = trials
        self.storage = storage
        self.study = study
        self.workers = workers
        self.progress = progress
        self.request = request  # the tune() arguments, for worker processes that rebuild the problem

    @abc.abstractmethod
    def run(self, problem: Problem) -> SearchResult:
        ...


_REGISTRY: Registry[Searcher] = Registry("searcher")
register = _REGISTRY.register


# The module that registers each searcher: `get_searcher` imports only the one asked for (the ILP
# searcher's solver library alone takes ~0.6 s to import, a fifth of a cold `tune`).
_MODULES = {"grid": "grid", "optuna": "optuna_search", "nsga2": "optuna_search", "ilp": "ilp_search"}


def _load(module: str) -> None:
    # Importing a module registers its searchers.
    import importlib

    try:
        importlib.import_module(f"perfmodel.search.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"perfmodel.search.{module}":
            raise


def _load_all() -> None:
    for module in dict.fromkeys(_MODULES.values()):
        _load(module)


def get_searcher(name: str) -> type[Searcher]:
    if name in _MODULES:
        _load(_MODULES[name])
    if name not in _REGISTRY:  # unknown: the error lists every searcher
        _load_all()
    return _REGISTRY.get(name)


def searcher_names() -> list[str]:
    _load_all()
    return _REGISTRY.names()


# Most Optuna trials one study may ask for (the default is 300; each trial is one evaluation).
MAX_TRIALS = 100_000


def check_trials(trials: int | None) -> None:
    if trials is not None and not 1 <= trials <= MAX_TRIALS:
        raise PerfModelError(f"--trials must be between 1 and {MAX_TRIALS:,}, got {trials}")
