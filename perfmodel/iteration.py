"""The contract between the step-time model and everything that schedules iterations.

A serving engine runs iterations; each iteration processes some prefill chunks and some decode
tokens. `BatchShape` summarises one iteration by the aggregates the cost model needs (the cost of
every operator is a function of these), so simulators can build it in O(1) per iteration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BatchShape:
    """One iteration's work on one model replica.

    prefill_tokens:     new prompt tokens processed (all chunks together)
    prefill_attn_pairs: causal query-key pairs of those chunks: sum over chunks of
                        new * (cached + (new + 1) / 2), `cached` = tokens already in KV
    prefill_kv_read:    KV tokens re-read by the chunks (sum over chunks of `cached`)
    prefill_seqs:       number of sequences with a prefill chunk
    decode_seqs:        sequences producing one token each
    decode_context:     sum of their context lengths (KV tokens each reads)
    decode_queries:     query tokens per decoding sequence: 1, or 1 + draft tokens when a
                        speculative step verifies drafts (perfmodel.speculative); they share
                        the sequence's KV read
    """

    prefill_tokens: int = 0
    prefill_attn_pairs: float = 0.0
    prefill_kv_read: int = 0
    prefill_seqs: int = 0
    decode_seqs: int = 0
    decode_context: int = 0
    decode_queries: float = 1

    @property
    def tokens(self):
        return self.prefill_tokens + self.decode_seqs * self.decode_queries

    @property
    def logit_rows(self):
        """Rows of logits: one per prefilling sequence, one per decode query."""
        return self.prefill_seqs + self.decode_seqs * self.decode_queries

    @staticmethod
    def prefill(batch: int, isl: int, cached: int = 0) -> "BatchShape":
        """`batch` sequences each prefilling `isl` new tokens after `cached` cached ones."""
        pairs = batch * isl * (cached + (isl + 1) / 2)
        return BatchShape(prefill_tokens=batch * isl, prefill_attn_pairs=pairs,
                          prefill_kv_read=batch * cached, prefill_seqs=batch)

    @staticmethod
    def decode(batch: int, context: int) -> "BatchShape":
        """`batch` sequences decoding one token each with `context` tokens of KV."""
        return BatchShape(decode_seqs=batch, decode_context=batch * context)

    def __add__(self, other: "BatchShape") -> "BatchShape":
        return BatchShape(
            self.prefill_tokens + other.prefill_tokens,
            self.prefill_attn_pairs + other.prefill_attn_pairs,
            self.prefill_kv_read + other.prefill_kv_read,
            self.prefill_seqs + other.prefill_seqs,
            self.decode_seqs + other.decode_seqs,
            self.decode_context + other.decode_context,
            self.decode_queries if self.decode_seqs else other.decode_queries,
        )


class IterationModel(Protocol):
    """What a scheduler needs from the cost model for one replica of a plan."""

    devices: int               # devices in one replica (tp * pp * ...)
    kv_capacity_tokens: int    # KV tokens that fit in the replica after weights and workspace
    kv_bytes_per_token: float  # KV bytes per token for the whole model (replica total)

    def iteration_time_s(self, batch: BatchShape) -> float:
        """Wall time of one iteration (all pipeline stages for PP), seconds."""
        ...
