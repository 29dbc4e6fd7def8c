"""What a replica of the serving simulator takes and gives besides requests: the prefix-cache
setting, one iteration's work (`Replica.prepare` / `Replica.commit`) and the run's result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from perfmodel.cacheblend import RECOMPUTE_FRACTION


@dataclass(frozen=True)
class PrefixCache:
    """Prefix caching: a request whose shared prefix is resident skips computing it. `hit_rate` is
    the chance the prefix is still resident (eviction); CacheBlend-style engines also reuse the KV
    of non-prefix chunks, computing `recompute_fraction` of those tokens' work
    (perfmodel.cacheblend.effective_recompute_fraction)."""

    hit_rate: float = 1.0
    cacheblend: bool = False
    recompute_fraction: float = RECOMPUTE_FRACTION


class Work(NamedTuple):
    """One iteration a replica is about to run (`Replica.prepare`): its prefill chunks, whether its
    running sequences decode, the static-batch padding, the decode steps it runs at once (1 with
    chunks) and the batch shape its first step is timed at (`StepTimer.step`'s arguments:
    prefill tokens, attention pairs, KV re-read, prefill sequences, decode sequences, summed
    decode context)."""

    chunks: tuple
    decode: bool
    pad: tuple[int, int, bool] | None
    steps: int
    shape: tuple[int, float, int, int, int, float]


WAIT = Work((), False, None, 0, (0, 0.0, 0, 0, 0, 0.0))  # nothing to run before the next arrival


@dataclass
class ReplicaResult:
    arrival_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    emitted: np.ndarray            # tokens each request produced (padded batches produce extra)
    prefill_tokens_computed: int
    cached_tokens: int
    preemptions: int
    iterations: int
    busy_s: float                  # time with work in the replica
    area_req_s: float              # integral of requests in the replica over time (Little's law)
    step_model_calls: int
    token_gap_s: np.ndarray        # time between consecutive tokens of a sequence (see module docstring)
    token_gap_count: np.ndarray    # tokens that waited each gap
