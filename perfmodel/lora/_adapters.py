"""Many LoRA adapters on one base model (S-LoRA, Sheng et al., arXiv:2311.03285): adapter sizes,
Zipf popularity and how many distinct adapters a batch touches.

S-LoRA s3: every adapter lives in host memory; those used by the running batch are copied to the
GPU into a pool shared with the KV cache (Unified Paging, s4), so a resident adapter takes KV room.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfmodel.errors import PerfModelError
from perfmodel.specs.model import ModelSpec

# S-LoRA s7.1: adapters on the attention projections q, k, v, o (as the LoRA paper, Hu et al. s4.2)
TARGETS = ("q", "k", "v", "o")
ADAPTER_BYTES_PER_PARAM = 2.0  # fp16 adapter weights (S-LoRA s7.1)


# Upper limits (README "Limits"): S-LoRA serves up to 2,000 adapters (s7); 100,000 keeps the
# per-adapter arrays small. A rank above the model width (at most 2^20) means nothing.
MAX_ADAPTERS = 100_000
MAX_RANK = 2**20


@dataclass(frozen=True)
class LoraSetup:
    """`adapters` LoRA adapters of rank `rank` (or `ranks`, cycled over the adapters: S-LoRA's
    heterogeneous ranks), requested with Zipf(`popularity`) frequencies; popularity 0 is uniform."""

    adapters: int
    rank: int = 8
    ranks: tuple[int, ...] = ()
    popularity: float = 1.0

    def __post_init__(self):
        if not 1 <= self.adapters <= MAX_ADAPTERS:
            raise PerfModelError(f"--lora-adapters must be between 1 and {MAX_ADAPTERS:,}, got {self.adapters}")
        for r in (self.rank, *self.ranks):
            if not 1 <= r <= MAX_RANK:
                raise PerfModelError(f"--lora-rank must be between 1 and {MAX_RANK:,}, got {r}")
        if self.popularity < 0:
            raise PerfModelError(f"--lora-popularity (Zipf exponent) must be >= 0, got {self.popularity}")

    def adapter_ranks(self) -> np.ndarray:
        """Rank of every adapter, in popularity order."""
        pool = np.array(self.ranks or (self.rank,))
        return pool[np.arange(self.adapters) % len(pool)]

    def probabilities(self) -> np.ndarray:
        """Request share of each adapter: p_i proportional to i^-popularity (Zipf)."""
        w = np.arange(1, self.adapters + 1, dtype=float) ** -self.popularity
        return w / w.sum()

    def max_rank(self) -> int:
        return int(self.adapter_ranks().max())


def target_shapes(model: ModelSpec, tp: int) -> list[tuple[int, int]]:
    """(in, out) features of each adapted projection on one device (column-parallel q, k, v split
    their outputs by TP, row-parallel o its inputs; S-LoRA s6)."""
    h, kv = model.hidden_size, model.num_kv_heads * model.head_dim
    q = model.num_heads * model.head_dim
    return [(h, q // tp), (h, max(kv // tp, model.head_dim)), (h, max(kv // tp, model.head_dim)), (q // tp, h)]


def adapter_bytes(model: ModelSpec, rank: int, *, tp: int = 1) -> float:
    """Bytes of one adapter on one device: A (in x r) and B (r x out) per target and layer."""
    per_layer = sum(rank * (i + o) for i, o in target_shapes(model, tp))
    return per_layer * model.num_layers * ADAPTER_BYTES_PER_PARAM


def expected_distinct(setup: LoraSetup, requests: float) -> np.ndarray:
    """Probability that each adapter is used by at least one of `requests` independent requests:
    1 - (1 - p_i)^n. Its sum is the expected number of distinct adapters in the batch."""
    return 1.0 - (1.0 - setup.probabilities()) ** max(requests, 0.0)


def resident_bytes(model: ModelSpec, setup: LoraSetup, requests: float, *, tp: int = 1) -> float:
    """Expected bytes of the adapters a running batch of `requests` keeps on the device."""
    per_rank = {int(r): adapter_bytes(model, int(r), tp=tp) for r in set(setup.adapter_ranks().tolist())}
    sizes = np.array([per_rank[int(r)] for r in setup.adapter_ranks()])
    return float((expected_distinct(setup, requests) * sizes).sum())


def miss_probability(setup: LoraSetup, running: float) -> float:
    """Chance that a new request's adapter is not already resident for the `running` batch:
    sum_i p_i (1 - p_i)^running (S-LoRA keeps only the running batch's adapters, s4.1)."""
    p = setup.probabilities()
    return float((p * (1.0 - p) ** max(running, 0.0)).sum())
