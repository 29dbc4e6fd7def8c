"""Prepacking's bin packing of prompts into prefill batches (Zhao et al., "Prepacking", 2024):
prompts of different lengths are packed into rows of at most `capacity` tokens (block-diagonal
attention masks keep them independent), so no compute is spent on padding; fewer rows = fewer
padded tokens and fewer forward passes.

  variables   x[i, b] in {0, 1}: prompt i in row b;  y[b] in {0, 1}: row b used
  objective   min sum_b y[b]
  constraints sum_b x[i, b] = 1                      (every prompt packed once)
              sum_i len[i] x[i, b] <= capacity y[b]  (row capacity)
              y[b] >= y[b + 1]                       (symmetry: use rows in order)
              x[i, b] = 0 for b > i                  (symmetry: prompt i, longest first, goes to
                                                      one of the first i + 1 rows)
              sum_b y[b] >= ceil(sum len / capacity) (the volume bound)
Rows b range over the first-fit-decreasing solution's count (an upper bound); when FFD already
meets the volume bound it is optimal and no solver runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pulp

from perfmodel.errors import PerfModelError
from perfmodel.search.ilp._solver import Solve, solve, var


@dataclass
class Packing:
    rows: list[list[int]]      # prompt indices per row
    lengths: list[int]         # tokens per row
    optimal: bool
    seconds: float
    solve: Solve | None = None

    @property
    def count(self) -> int:
        return len(self.rows)

    def padding(self, capacity: int) -> int:
        """Padded tokens if each row is padded to `capacity`."""
        return capacity * self.count - sum(self.lengths)


def first_fit_decreasing(lengths, capacity: int) -> list[list[int]]:
    rows: list[list[int]] = []
    free: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        for r, f in enumerate(free):
            if lengths[i] <= f:
                rows[r].append(i)
                free[r] -= lengths[i]
                break
        else:
            rows.append([i])
            free.append(capacity - lengths[i])
    return rows


def pack_prompts(lengths, capacity: int, *, solver: str = "auto", time_limit: float | None = None) -> Packing:
    t0 = time.perf_counter()
    lengths = [int(v) for v in lengths]
    if capacity < 1:
        raise PerfModelError(f"row capacity must be >= 1 token, got {capacity}")
    too_long = [v for v in lengths if v > capacity]
    if too_long:
        raise PerfModelError(f"{len(too_long)} prompt(s) longer than the row capacity {capacity} (max {max(too_long)})")
    if not lengths:
        return Packing(rows=[], lengths=[], optimal=True, seconds=0.0)
    ffd = first_fit_decreasing(lengths, capacity)
    volume = math.ceil(sum(lengths) / capacity)
    if len(ffd) <= volume:
        return Packing(rows=ffd, lengths=[sum(lengths[i] for i in r) for r in ffd], optimal=True,
                       seconds=time.perf_counter() - t0)
    order = sorted(range(len(lengths)), key=lambda k: -lengths[k])
    n, nb = len(lengths), len(ffd)
    prob = pulp.LpProblem("prepack", pulp.LpMinimize)
    y = [var(prob, f"y_{b}", cat="Binary") for b in range(nb)]
    x = {(i, b): var(prob, f"x_{i}_{b}", cat="Binary") for rank, i in enumerate(order) for b in range(min(rank + 1, nb))}
    prob += pulp.lpSum(y)
    for i in range(n):
        prob += pulp.lpSum(x[i, b] for b in range(nb) if (i, b) in x) == 1
    for b in range(nb):
        prob += pulp.lpSum(lengths[i] * x[i, b] for i in range(n) if (i, b) in x) <= capacity * y[b]
        if b + 1 < nb:
            prob += y[b] >= y[b + 1]
    prob += pulp.lpSum(y) >= volume
    res = solve(prob, solver=solver, time_limit=time_limit)
    if res.objective is None:
        raise PerfModelError(f"prepacking ILP: {res.status}")
    rows = [[i for i in range(n) if (i, b) in x and x[i, b].value() > 0.5] for b in range(nb)]
    rows = [r for r in rows if r]
    return Packing(rows=rows, lengths=[sum(lengths[i] for i in r) for r in rows], optimal=res.optimal,
                   seconds=time.perf_counter() - t0, solve=res)


def brute_force_rows(lengths, capacity: int) -> int:
    """Fewest rows by exhaustive search over set partitions (small inputs only; for tests)."""
    lengths = sorted(lengths, reverse=True)
    best = [len(lengths)]

    def go(i: int, loads: list[int]) -> None:
        if len(loads) >= best[0]:
            return
        if i == len(lengths):
            best[0] = len(loads)
            return
        for r in range(len(loads)):
            if loads[r] + lengths[i] <= capacity:
                loads[r] += lengths[i]
                go(i + 1, loads)
                loads[r] -= lengths[i]
        loads.append(lengths[i])
        go(i + 1, loads)
        loads.pop()

    go(0, [])
    return best[0]


def sample_lengths(n: int, *, mean: float = 600, sigma: float = 0.8, cap: int = 4096, seed: int = 0) -> np.ndarray:
    """Log-normal prompt lengths (a chat-like workload) for examples and benchmarks."""
    rng = np.random.default_rng(seed)
    mu = math.log(mean) - sigma ** 2 / 2
    return np.clip(np.rint(rng.lognormal(mu, sigma, n)), 1, cap).astype(int)
