"""Attention-DP padding (issue 12): ranks that share the MoE layers step together.

With attention data parallelism and expert parallelism across the ranks (`Plan.ep > Plan.tp`),
every MoE layer is a collective over the group's ranks (DeepEP dispatch / combine, or the
all-gather and reduce-scatter of SGLang's DP attention), so no rank runs ahead of the slowest:
engines pad each rank's batch to the largest one (SGLang DP attention pads to the group's maximum
token count, `global_num_tokens`; ranks without work run idle batches), and the group's iteration
is the iteration of the component-wise largest batch. Ranks with equal batches lose nothing;
unequal ones never gain (every operator's time grows with every batch component).

In a chunked-prefill steady state a rank carries a prompt chunk in a share f of its iterations;
its group runs at the chunked rank's batch whenever any of its r ranks carries one. Ranks take
their prompts independently (round-robin routing, no cross-rank scheduling), so that share is
1 - (1 - f)^r: f for one rank, between f and min(1, r f) for more.
"""

from __future__ import annotations

import numpy as np

from perfmodel.iteration import BatchShape

_FIELDS = ("prefill_tokens", "prefill_attn_pairs", "prefill_kv_read", "prefill_seqs", "decode_seqs",
           "decode_context", "decode_queries")


def group_ranks(par):
    """Attention-DP ranks whose MoE layers run together: moe_group / tp when experts span data-
    parallel ranks (ep > tp), else 1. Scalars or numpy arrays (the search's plan columns)."""
    if isinstance(par.ep, (int, np.integer)) and isinstance(par.tp, (int, np.integer)):
        return par.moe_group // par.tp if par.ep > par.tp else 1
    return np.where(np.asarray(par.ep) > np.asarray(par.tp), np.asarray(par.moe_group) // np.asarray(par.tp), 1)


def pad_to_largest(ranks: list[BatchShape]) -> BatchShape:
    """The batch every rank of a group runs at: the component-wise largest of the ranks' batches."""
    if not ranks:
        raise ValueError("pad_to_largest needs at least one rank's batch")
    return BatchShape(*(_max([getattr(b, f) for b in ranks]) for f in _FIELDS))


def padded_share(share, ranks):
    """Share of a group's iterations that run at a chunked rank's batch when each of `ranks` ranks
    carries a chunk in `share` of its own (see the module docstring)."""
    return 1.0 - (1.0 - np.clip(share, 0.0, 1.0)) ** ranks


def _max(values):
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return max(values)
    return np.maximum.reduce(np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values)))
