"""The strict pydantic base of workload specs, and `Requests`: the table every workload samples
into (one row per request, numpy columns)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class Requests:
    """One row per request, sorted by arrival. Token counts include any shared prefix.

    prefix_tokens: leading prompt tokens identical to an earlier request's (system prompt,
                   conversation history): a prefix cache can serve them.
    prefix_group:  which cached prefix they are: -1 none, 0 the shared system prompt, k >= 1 the
                   history of conversation k (available only once the previous turn finished).
    reuse_tokens:  further prompt tokens whose KV exists but not as a prefix (RAG chunks):
                   CacheBlend-style engines recompute only a fraction of them.
    conversation:  -1, or the conversation a turn belongs to (its history becomes prefix group
                   conversation + 1 for the next turn once this turn finishes).
    """

    arrival_s: np.ndarray      # float64 [n]
    input_tokens: np.ndarray   # int64 [n]
    output_tokens: np.ndarray  # int64 [n], >= 1
    prefix_tokens: np.ndarray  # int64 [n]
    prefix_group: np.ndarray   # int64 [n]
    reuse_tokens: np.ndarray   # int64 [n]
    conversation: np.ndarray   # int64 [n]

    def __len__(self) -> int:
        return len(self.arrival_s)

    @staticmethod
    def build(arrival_s, input_tokens, output_tokens, prefix_tokens=None, prefix_group=None,
              reuse_tokens=None, conversation=None) -> "Requests":
        n = len(arrival_s)
        zeros = np.zeros(n, dtype=np.int64)
        order = np.argsort(arrival_s, kind="stable")
        cols = [np.asarray(arrival_s, dtype=np.float64), np.asarray(input_tokens, dtype=np.int64),
                np.asarray(output_tokens, dtype=np.int64),
                zeros if prefix_tokens is None else np.asarray(prefix_tokens, dtype=np.int64),
                zeros - 1 if prefix_group is None else np.asarray(prefix_group, dtype=np.int64),
                zeros if reuse_tokens is None else np.asarray(reuse_tokens, dtype=np.int64),
                zeros - 1 if conversation is None else np.asarray(conversation, dtype=np.int64)]
        return Requests(*(c[order] for c in cols))

    def head(self, n: int) -> "Requests":
        return Requests(*(getattr(self, f)[:n] for f in self.__dataclass_fields__))

    def summary(self) -> dict:
        span = float(self.arrival_s[-1] - self.arrival_s[0]) if len(self) > 1 else 0.0
        return {"requests": len(self), "mean_input": float(self.input_tokens.mean()),
                "mean_output": float(self.output_tokens.mean()),
                "request_rate": (len(self) - 1) / span if span > 0 else math.inf}
