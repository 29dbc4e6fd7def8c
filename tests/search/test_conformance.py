"""One conformance suite for every searcher (optuna/samplers testing style): the same contract,
the same seed gives the same result, and the exact searchers find the exhaustive optimum."""

from __future__ import annotations

import numpy as np
import pytest

from perfmodel.errors import PerfModelError, UnknownNameError
from perfmodel.search._base import Searcher, SearchResult, get_searcher, register, searcher_names
from perfmodel.search.evaluate import evaluate
from perfmodel.search.pareto import front_nd

SEARCHERS = ["grid", "optuna", "nsga2", "ilp"]
EXACT = ["grid", "ilp"]


def _run(name, problem, seed=0, trials=60):
    return get_searcher(name)(seed=seed, trials=trials).run(problem)


def test_registry_lists_every_searcher():
    assert set(SEARCHERS) <= set(searcher_names())


def test_unknown_searcher_names_the_choices():
    with pytest.raises(UnknownNameError, match="unknown searcher 'gird'.*'grid'"):
        get_searcher("gird")


def test_duplicate_registration_is_an_error():
    class Dup(Searcher):
        name = "grid"

        def run(self, problem):  # pragma: no cover
            raise NotImplementedError

    with pytest.raises(ValueError, match="registered twice"):
        register(Dup)


@pytest.mark.parametrize("name", SEARCHERS)
def test_contract(name, small_problem):
    r = _run(name, small_problem)
    assert isinstance(r, SearchResult) and r.searcher == name
    t, m = r.table, r.metrics
    assert len(t) > 0
    # rows come from the space: every row of the result is a row the space enumerates
    space_rows = {tuple(small_problem.space.enumerate().row(i).items()) for i in range(len(small_problem.space.enumerate()))}
    for i in range(len(t)):
        assert tuple(t.row(i).items()) in space_rows
    # metrics are the evaluator's
    again = evaluate(small_problem, t)
    np.testing.assert_allclose(m["score"], again["score"])
    # best is the highest score and meets the SLOs; the front is the Pareto front of the SLO-meeting rows
    assert r.best >= 0 and m["meets_slo"][r.best]
    assert m["score"][r.best] == np.max(m["score"])
    assert_is_pareto_front(r.front, m)
    assert isinstance(r.pruned, dict) and r.seconds >= 0


@pytest.mark.parametrize("name", SEARCHERS)
def test_same_seed_same_result(name, small_problem):
    a, b = _run(name, small_problem, seed=3), _run(name, small_problem, seed=3)
    assert a.table.row(a.best) == b.table.row(b.best)
    np.testing.assert_array_equal(a.metrics["score"], b.metrics["score"])
    for col in a.table.cols:
        np.testing.assert_array_equal(a.table[col], b.table[col])


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("fixture", ["small_problem", "moe_problem"])
@pytest.mark.parametrize("objective", ["throughput", "goodput"])
def test_exact_searchers_find_the_exhaustive_optimum(name, fixture, objective, request):
    import dataclasses

    problem = dataclasses.replace(request.getfixturevalue(fixture), objective=objective)
    grid = _run("grid", problem)
    r = _run(name, problem)
    assert r.metrics["score"][r.best] == pytest.approx(grid.metrics["score"][grid.best], rel=1e-9)


@pytest.mark.parametrize("name", ["optuna", "nsga2"])
def test_optuna_reaches_the_optimum_of_a_tiny_space(name, tiny_problem):
    grid = _run("grid", tiny_problem)
    r = _run(name, tiny_problem, trials=60 if name == "optuna" else 150)  # NSGA-II spreads over a front
    assert r.metrics["score"][r.best] >= 0.99 * grid.metrics["score"][grid.best]


def test_disaggregated_only_space_exact(small_problem):
    import dataclasses

    sp = dataclasses.replace(small_problem.space, modes=("disaggregated",))
    problem = dataclasses.replace(small_problem, space=sp)
    grid, ilp = _run("grid", problem), _run("ilp", problem)
    assert ilp.metrics["score"][ilp.best] == pytest.approx(grid.metrics["score"][grid.best], rel=1e-9)
    assert grid.table["mode"][grid.best] == 1


@pytest.mark.parametrize("trials", [0, -3, 100_001])
def test_trials_must_be_in_range(trials):
    from perfmodel.search.tune import tune

    with pytest.raises(PerfModelError, match=f"--trials must be between 1 and 100,000, got {trials}"):
        tune(model="llama-3.1-8b", hardware="h100-sxm", workload="100/10", searcher="optuna", trials=trials)


def assert_is_pareto_front(front: np.ndarray, m: dict) -> None:
    """`front` holds exactly the non-dominated (tok/s/device, tok/s/user) points of the
    SLO-meeting rows, one row per point, checked by brute force (`front_nd`, O(n^2))."""
    ok = np.nonzero(m["meets_slo"])[0]
    pts = np.column_stack([m["tok_s_per_device"][ok], m["tok_s_per_user"][ok]])
    ok, pts = ok[np.all(np.isfinite(pts), axis=1)], pts[np.all(np.isfinite(pts), axis=1)]
    brute = {tuple(p) for p in pts[front_nd(pts)]}
    got = [(m["tok_s_per_device"][i], m["tok_s_per_user"][i]) for i in front]
    assert len(got) == len(set(got)) and set(got) == brute
    assert len(brute) >= 2 and all(m["meets_slo"][i] for i in front)
