"""Synthetic workloads: length distributions, an arrival process, shared prefixes, conversations."""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from perfmodel.common.errors import PerfModelError
from perfmodel.specs.workload.arrivals import Arrival, Offline, Poisson, arrival_times
from perfmodel.specs.workload.base import Requests, _Strict
from perfmodel.specs.workload.lengths import LengthDist


class Conversation(_Strict):
    """Multi-turn chats: each turn's prompt is the system prompt, the whole history and a new user
    message; the next turn arrives `think_time_s` after the previous one."""

    turns: LengthDist
    think_time_s: float = Field(default=30.0, ge=0)


class Workload(_Strict):
    name: str
    description: str = ""
    input: LengthDist = Field(description="new user tokens per request (per turn)")
    output: LengthDist
    arrival: Arrival = Field(default_factory=Poisson)
    system_prompt_tokens: int = Field(default=0, ge=0, description="prefix shared by every request")
    reuse_tokens: int = Field(default=0, ge=0, description="non-prefix tokens with reusable KV (RAG chunks)")
    conversation: Conversation | None = None
    source: str = ""

    @property
    def mean_input(self) -> float:
        if self.conversation is not None:  # history makes it depend on the turn mix: estimate by sampling
            return float(self.sample(20000, offline=True, seed=0).input_tokens.mean())
        return self.system_prompt_tokens + self.reuse_tokens + _mean(self.input)

    @property
    def mean_output(self) -> float:
        return _mean(self.output)

    def sample(self, n: int, *, rate: float | None = None, offline: bool = False, seed: int = 0) -> Requests:
        if n < 1:
            raise PerfModelError(f"--num-requests must be >= 1, got {n}")
        rng = np.random.default_rng(seed)
        process = Offline() if offline else self.arrival
        if self.conversation is not None:
            return self._sample_conversations(n, process, rate, rng)
        arrivals = arrival_times(process, n, rng, rate)
        new = self.input.sample(rng, n)
        out = self.output.sample(rng, n)
        sys_ = self.system_prompt_tokens
        return Requests.build(arrivals, new + sys_ + self.reuse_tokens, out,
                              prefix_tokens=np.full(n, sys_), prefix_group=np.full(n, 0 if sys_ else -1),
                              reuse_tokens=np.full(n, self.reuse_tokens))

    def _sample_conversations(self, n, process, rate, rng) -> Requests:
        conv = self.conversation
        assert conv is not None
        mean_turns = max(_mean(conv.turns), 1.0)
        n_conv = int(math.ceil(1.2 * n / mean_turns)) + 8
        starts = arrival_times(process, n_conv, rng, None if rate is None else rate / mean_turns)
        turns = np.maximum(conv.turns.sample(rng, n_conv), 1)
        while turns.sum() < n:  # rare: too few turns drawn; give the last conversation the rest
            turns[-1] += n - turns.sum()
        rows = []
        for c in range(n_conv):
            history = self.system_prompt_tokens
            new = self.input.sample(rng, int(turns[c]))
            out = self.output.sample(rng, int(turns[c]))
            for t in range(int(turns[c])):
                prefix = history
                group = c + 1 if t > 0 else (0 if self.system_prompt_tokens else -1)
                rows.append((starts[c] + t * conv.think_time_s, prefix + new[t], out[t], prefix, group, c))
                history = prefix + new[t] + out[t]
        a = np.array(rows, dtype=np.float64)
        req = Requests.build(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], conversation=a[:, 5])
        return req.head(n)


def _mean(dist) -> float:
    return float(dist.mean)
