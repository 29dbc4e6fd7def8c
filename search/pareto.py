"""Pareto fronts of evaluated plans (maximize every objective)."""

from __future__ import annotations

import numpy as np


def front_2d(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None,
             prefer: np.ndarray | None = None) -> np.ndarray:
    """Indices of the non-dominated points maximizing x and y, sorted by x descending. Of several
    points with equal (x, y) the one with the highest `prefer` (then the lowest index) is kept.
    O(n log n)."""
    idx = np.arange(len(x)) if mask is None else np.nonzero(mask)[0]
    idx = idx[np.isfinite(x[idx]) & np.isfinite(y[idx])]
    if not len(idx):
        return idx
    tie = np.zeros(len(idx)) if prefer is None else -prefer[idx]
    order = idx[np.lexsort((idx, tie, -y[idx], -x[idx]))]
    ys = y[order]
    prev_best = np.concatenate([[-np.inf], np.maximum.accumulate(ys)[:-1]])
    return order[ys > prev_best]


def front_nd(points: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of `points` (n x k, maximize all); O(n^2 k), for checks."""
    n = len(points)
    keep = []
    for i in range(n):
        p = points[i]
        dominated = np.any(np.all(points >= p, axis=1) & np.any(points > p, axis=1))
        duplicate = np.any(np.all(points[:i] == p, axis=1))
        if not dominated and not duplicate:
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def best_index(score: np.ndarray, tok_s: np.ndarray, devices: np.ndarray,
               user: np.ndarray | None = None, nano: np.ndarray | None = None) -> int:
    """Row with the highest score; ties (1e-9 relative) go to more total tokens/s, then more
    tokens/s per user, then fewer devices, then fewer nano-batches (a nano-batched plan that runs
    its steps unsplit ties with its twin), then the lower index. -1 when no score is finite."""
    finite = np.isfinite(score)
    if not finite.any():
        return -1
    top = score[finite].max()
    tie = finite & (score >= top - 1e-9 * max(abs(top), 1.0))
    cand = np.nonzero(tie)[0]
    speed = np.zeros(len(cand)) if user is None else -np.nan_to_num(user[cand], posinf=1e300)
    simpler = np.zeros(len(cand)) if nano is None else nano[cand]
    order = np.lexsort((cand, simpler, devices[cand], speed, -tok_s[cand]))
    return int(cand[order[0]])
