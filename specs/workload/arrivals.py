"""Arrival processes: Poisson, Gamma (bursty, by coefficient of variation) and offline."""

from __future__ import annotations

from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field

from perfmodel.common.errors import PerfModelError
from perfmodel.specs.workload.base import _Strict


class Poisson(_Strict):
    process: Literal["poisson"] = "poisson"
    rate_req_s: float | None = Field(default=None, gt=0, description="None: given by --rate")


class Gamma(_Strict):
    """Gamma-distributed inter-arrival times. `cv` is the burstiness coefficient: the coefficient of
    variation of the gaps (1 = Poisson, > 1 burstier). vLLM's `--burstiness` is the shape 1/cv^2."""

    process: Literal["gamma"] = "gamma"
    rate_req_s: float | None = Field(default=None, gt=0)
    cv: float = Field(gt=0)


class Offline(_Strict):
    process: Literal["offline"] = "offline"


Arrival = Annotated[Union[Poisson, Gamma, Offline], Field(discriminator="process")]


def arrival_times(process: Poisson | Gamma | Offline, n: int, rng: np.random.Generator,
                  rate: float | None) -> np.ndarray:
    """n arrival times in seconds, the first at t=0 (all zero for offline)."""
    if isinstance(process, Offline):
        return np.zeros(n)
    rate = rate or process.rate_req_s
    if rate is None:
        raise PerfModelError("the workload has no request rate: pass --rate R (requests/s) or --offline")
    if isinstance(process, Gamma):
        shape = 1.0 / process.cv ** 2
        gaps = rng.gamma(shape, 1.0 / (rate * shape), n)
    else:
        gaps = rng.exponential(1.0 / rate, n)
    return np.concatenate([[0.0], np.cumsum(gaps[:-1])])
