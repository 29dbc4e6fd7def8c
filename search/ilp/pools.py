"""Prefill and decode pools: which configuration each pool runs and how many replicas, so a
deployment serves a request rate on the fewest devices, or serves the most on a device budget
(DistServe, Zhong et al. OSDI'24: goodput per device; replicas n = ceil(R / goodput), methods.md s5).

Inputs: candidate configurations per pool (from the cost model), each with its devices per replica
s, its capacity per replica (requests/s at the SLOs) and a class; a prefill candidate may only be
paired with decode candidates of its `pair_class` (its KV-transfer time, hence TTFT and capacity,
depends on the decode replica's width), -1 = any.

`min_devices_for_rate` (the DistServe question):
  variables   z_c in {0, 1}: pool runs configuration c;  n_c in Z>=0: replicas of c
  objective   min sum_c s_c n_c
  constraints sum_{c in P} cap_c n_c >= R,  sum_{c in D} cap_c n_c >= R   (both pools serve R)
              sum_c s_c n_c <= N                                          (device budget)
              sum_{c in P} z_c = 1,  sum_{c in D} z_c = 1                  (one configuration per pool)
              z_c <= n_c <= U_c z_c                                       (replicas only of the chosen one)
              z_p <= sum_{d in D, class d = pair_class p} z_d             (compatible pair)

`max_rate` (what the `ilp` searcher solves for every device total N):
  variables   as above, and X >= 0 (requests/s served)
  objective   max X
  constraints X <= sum_{c in P} cap_c n_c,  X <= sum_{c in D} cap_c n_c,  sum_c s_c n_c = N,
              and the one-configuration, replica and pairing constraints above.
Aggregated deployments are the special case of one pool (no decode pool, X <= sum cap_c n_c).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pulp

from perfmodel.search.ilp._solver import Solve, solve, var


@dataclass
class Candidates:
    devices: np.ndarray                 # per replica
    capacity: np.ndarray                # requests/s per replica
    max_replicas: np.ndarray | None = None
    cls: np.ndarray | None = None       # decode: class; prefill: required decode class (-1 any)

    def __post_init__(self):
        self.devices = np.asarray(self.devices, dtype=np.int64)
        self.capacity = np.asarray(self.capacity, dtype=float)
        n = len(self.devices)
        self.max_replicas = np.full(n, 10**6, dtype=np.int64) if self.max_replicas is None else \
            np.asarray(self.max_replicas, dtype=np.int64)
        self.cls = np.full(n, -1, dtype=np.int64) if self.cls is None else np.asarray(self.cls, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.devices)


@dataclass
class PoolPlan:
    prefill: int | None          # chosen candidate index (the aggregated pool's when decode is None)
    prefill_replicas: int
    decode: int | None
    decode_replicas: int
    rate: float                  # requests/s served
    devices: int
    solve: Solve | None
    seconds: float

    @property
    def optimal(self) -> bool:
        return self.solve is None or self.solve.optimal


def _pool_vars(prob, name: str, c: Candidates, limit: int):
    z = [var(prob, f"z{name}_{i}", cat="Binary") for i in range(len(c))]
    ub = [int(min(c.max_replicas[i], limit // max(c.devices[i], 1))) for i in range(len(c))]
    n = [var(prob, f"n{name}_{i}", low=0, up=ub[i], cat="Integer") for i in range(len(c))]
    prob += pulp.lpSum(z) == 1
    for i in range(len(c)):
        prob += n[i] <= ub[i] * z[i]
        prob += n[i] >= z[i]
    return z, n


def _pairing(prob, prefill: Candidates, decode: Candidates, zp, zd) -> None:
    for i in range(len(prefill)):
        k = prefill.cls[i]
        if k >= 0:
            prob += zp[i] <= pulp.lpSum(zd[j] for j in range(len(decode)) if decode.cls[j] == k)


def _read(z, n) -> tuple[int, int]:
    i = int(np.argmax([v.value() or 0 for v in z]))
    return i, int(round(n[i].value() or 0))


def max_rate(prefill: Candidates, decode: Candidates | None, devices: int, *, solver: str = "auto") -> PoolPlan | None:
    """Most requests/s on exactly `devices` devices (None when no combination uses them)."""
    t0 = time.perf_counter()
    if not len(prefill) or (decode is not None and not len(decode)):
        return None
    prob = pulp.LpProblem("pools_max_rate", pulp.LpMaximize)
    x = var(prob, "X", low=0)
    prob += x
    zp, np_ = _pool_vars(prob, "p", prefill, devices)
    used = pulp.lpSum(int(prefill.devices[i]) * np_[i] for i in range(len(prefill)))
    prob += x <= pulp.lpSum(float(prefill.capacity[i]) * np_[i] for i in range(len(prefill)))
    if decode is not None:
        zd, nd = _pool_vars(prob, "d", decode, devices)
        used = used + pulp.lpSum(int(decode.devices[j]) * nd[j] for j in range(len(decode)))
        prob += x <= pulp.lpSum(float(decode.capacity[j]) * nd[j] for j in range(len(decode)))
        _pairing(prob, prefill, decode, zp, zd)
    prob += used == devices
    res = solve(prob, solver=solver)
    if res.objective is None:
        return None
    pi, pn = _read(zp, np_)
    di, dn = _read(zd, nd) if decode is not None else (None, 0)
    return PoolPlan(prefill=pi, prefill_replicas=pn, decode=di, decode_replicas=dn, rate=float(x.value()),
                    devices=devices, solve=res, seconds=time.perf_counter() - t0)


def min_devices_for_rate(prefill: Candidates, decode: Candidates | None, rate: float, *, max_devices: int,
                         solver: str = "auto") -> PoolPlan | None:
    """Fewest devices serving `rate` requests/s within `max_devices` (None when impossible)."""
    t0 = time.perf_counter()
    if not len(prefill) or (decode is not None and not len(decode)):
        return None
    prob = pulp.LpProblem("pools_min_devices", pulp.LpMinimize)
    zp, np_ = _pool_vars(prob, "p", prefill, max_devices)
    used = pulp.lpSum(int(prefill.devices[i]) * np_[i] for i in range(len(prefill)))
    prob += pulp.lpSum(float(prefill.capacity[i]) * np_[i] for i in range(len(prefill))) >= rate
    if decode is not None:
        zd, nd = _pool_vars(prob, "d", decode, max_devices)
        used = used + pulp.lpSum(int(decode.devices[j]) * nd[j] for j in range(len(decode)))
        prob += pulp.lpSum(float(decode.capacity[j]) * nd[j] for j in range(len(decode))) >= rate
        _pairing(prob, prefill, decode, zp, zd)
    prob += used <= max_devices
    prob += used
    res = solve(prob, solver=solver)
    if res.objective is None:
        return None
    pi, pn = _read(zp, np_)
    di, dn = _read(zd, nd) if decode is not None else (None, 0)
    served = prefill.capacity[pi] * pn if decode is None else min(prefill.capacity[pi] * pn, decode.capacity[di] * dn)
    return PoolPlan(prefill=pi, prefill_replicas=pn, decode=di, decode_replicas=dn, rate=float(served),
                    devices=int(round(res.objective)), solve=res, seconds=time.perf_counter() - t0)


def brute_force(prefill: Candidates, decode: Candidates | None, *, devices: int | None = None,
                rate: float | None = None, max_devices: int | None = None) -> tuple[float, int] | None:
    """Exhaustive answer for tests: (best rate, devices) at exactly `devices`, or (rate, fewest
    devices) serving `rate` within `max_devices`."""
    limit = devices if devices is not None else max_devices
    best = None
    dec = [(None, 0)] if decode is None else [(j, m) for j in range(len(decode))
                                              for m in range(1, min(decode.max_replicas[j], limit) + 1)]
    for i in range(len(prefill)):
        for n in range(1, min(prefill.max_replicas[i], limit) + 1):
            for j, m in dec:
                if j is not None and prefill.cls[i] >= 0 and decode.cls[j] != prefill.cls[i]:
                    continue
                used = prefill.devices[i] * n + (decode.devices[j] * m if j is not None else 0)
                served = prefill.capacity[i] * n if j is None else min(prefill.capacity[i] * n, decode.capacity[j] * m)
                if devices is not None:
                    if used == devices and (best is None or served > best[0] + 1e-12):
                        best = (served, int(used))
                elif used <= max_devices and served >= rate - 1e-9 and (best is None or used < best[1]):
                    best = (served, int(used))
    return best


def dominant(devices: np.ndarray, capacity: np.ndarray, cls: np.ndarray | None = None) -> np.ndarray:
    """Indices keeping, per (devices, class), only the highest-capacity candidate: the programs
    above see a candidate only through those, so the others can never do better."""
    cls = np.full(len(devices), -1) if cls is None else cls
    keep = {}
    for i, key in enumerate(zip(devices.tolist(), cls.tolist())):
        if key not in keep or capacity[i] > capacity[keep[key]]:
            keep[key] = i
    return np.array(sorted(keep.values()), dtype=np.int64)


__all__ = ["Candidates", "PoolPlan", "brute_force", "dominant", "max_rate", "min_devices_for_rate"]
