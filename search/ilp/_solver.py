"""Solve a PuLP problem with HiGHS when it is installed (highspy), else the CBC that PuLP ships.
Single-threaded, no time limit unless asked: the shipped cases are solved to proven optimality."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from dataclasses import dataclass

import pulp

from perfmodel.errors import PerfModelError

SOLVERS = ("auto", "highs", "cbc")


@dataclass
class Solve:
    status: str            # optimal | feasible (time limit hit with a solution) | infeasible | ...
    objective: float | None
    solver: str
    seconds: float

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"


def var(prob: pulp.LpProblem, name: str, *, low: float | None = None, up: float | None = None,
        cat: str = "Continuous") -> pulp.LpVariable:
    """A variable owned by `prob` (PuLP >= 3.3 `add_variable`; older PuLP: LpVariable)."""
    if hasattr(prob, "add_variable"):
        return prob.add_variable(name, low, up, cat)
    return pulp.LpVariable(name, lowBound=low, upBound=up, cat=cat)


def available(name: str) -> bool:
    if name == "cbc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return pulp.PULP_CBC_CMD(msg=False).available()
    if name == "highs":
        try:
            return pulp.HiGHS(msg=False).available()
        except Exception:
            return False
    return False


def make_solver(name: str = "auto", *, time_limit: float | None = None, gap: float = 0.0, warm_start: bool = False):
    if name not in SOLVERS:
        raise PerfModelError(f"solver {name!r} must be one of {', '.join(SOLVERS)}")
    if name == "auto":
        name = "highs" if available("highs") else "cbc"
    if name == "highs":
        if not available("highs"):
            raise PerfModelError("solver 'highs' needs the highspy package (pip install highspy)")
        return "highs", pulp.HiGHS(msg=False, timeLimit=time_limit, gapRel=gap, threads=1, warmStart=warm_start)
    with warnings.catch_warnings():  # PuLP 3.3 marks its bundled-CBC class for removal in 4.0
        warnings.simplefilter("ignore", DeprecationWarning)
        return "cbc", pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, gapRel=gap, threads=1, warmStart=warm_start)


def solve(prob: pulp.LpProblem, *, solver: str = "auto", time_limit: float | None = None, gap: float = 0.0,
          warm_start: bool = False) -> Solve:
    name, s = make_solver(solver, time_limit=time_limit, gap=gap, warm_start=warm_start)
    t0 = time.perf_counter()
    with _quiet_stdout():
        prob.solve(s)
    dt = time.perf_counter() - t0
    status = pulp.LpStatus[prob.status].lower()
    sol_status = getattr(prob, "sol_status", None)
    if status == "optimal" and sol_status not in (None, pulp.LpSolutionOptimal):
        status = "feasible"  # stopped at the time limit with an integer solution
    if status == "not solved" and sol_status == pulp.LpSolutionIntegerFeasible:
        status = "feasible"
    obj = pulp.value(prob.objective) if status in ("optimal", "feasible") else None
    return Solve(status=status, objective=obj, solver=name, seconds=dt)


@contextlib.contextmanager
def _quiet_stdout():
    """HiGHS prints its banner on the C-level stdout even with msg=False; keep it off ours."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # captured stdout (pytest, CliRunner)
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)
