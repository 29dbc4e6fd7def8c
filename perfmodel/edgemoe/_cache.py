"""Which share of an expert's reads the cache serves, for a cache of `capacity` bytes.

Items are (layer, expert) pairs; every MoE layer has the same popularity, so item i of a layer is
read in a step with probability a_i and has size s_i.

  lru      Che's approximation (Che, Tung, Wang, IEEE JSAC 20(7) 2002) under the independent
           reference model: an item is in the cache when it was read within the characteristic
           time T, hit_i = 1 - exp(-a_i T), with T solving  layers * sum_i s_i (1 - exp(-a_i T)) = C.
  hottest  the items with the most reads per byte stay pinned (the best static choice under the
           same model: a fractional knapsack), the last one in part of the layers.
"""

from __future__ import annotations

import numpy as np

BISECTION_STEPS = 200  # T doubles then halves: 200 steps reach double precision for any T


def hit_rates(reads: np.ndarray, sizes: np.ndarray, *, layers: int, capacity: float, policy: str) -> np.ndarray:
    """Per-expert hit probability for `reads` (a_i per step) and `sizes` (bytes, one layer's copy)."""
    total = layers * float(sizes.sum())
    if capacity >= total:
        return np.ones_like(reads)
    if capacity <= 0:
        return np.zeros_like(reads)
    if policy == "hottest":
        return _pinned(reads, sizes, capacity / layers)
    return _che(reads, sizes, capacity / layers)


def _che(reads: np.ndarray, sizes: np.ndarray, per_layer: float) -> np.ndarray:
    def filled(t: float) -> float:
        return float((sizes * -np.expm1(-reads * t)).sum())

    lo, hi = 0.0, 1.0
    while filled(hi) < per_layer:
        hi *= 2
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if filled(mid) < per_layer else (lo, mid)
    return -np.expm1(-reads * lo)


def _pinned(reads: np.ndarray, sizes: np.ndarray, per_layer: float) -> np.ndarray:
    hit = np.zeros_like(reads)
    left = per_layer
    for i in np.argsort(-reads / sizes, kind="stable"):
        take = min(1.0, left / sizes[i])
        hit[i] = take
        left -= take * sizes[i]
        if left <= 0:
            break
    return hit
