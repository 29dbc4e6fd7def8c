"""Iteration-level schedulers: what each iteration of a replica runs.

Contract (`Scheduler.plan`): given the replica state, admit waiting requests through
`state.try_admit(rid)` (which checks batch and KV limits and allocates) and return a `Plan`:
the prefill chunks `(rid, tokens)` to run and whether the running sequences decode one token.
The simulator computes the iteration's time from that and applies it; a plan with no chunks and
`decode=True` lets it run many identical decode steps at once, so a scheduler must return the same
decision until an arrival, a completion or a change in KV occupancy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

from perfmodel.errors import PerfModelError
from perfmodel.registry import Registry


class Plan(NamedTuple):
    chunks: list[tuple[int, int]]
    decode: bool
    pad: tuple[int, int, bool] | None = None  # static batches: (isl, osl, padded prefill)


IDLE = Plan([], False)


class Scheduler(ABC):
    name: str = ""
    describes: str = ""
    mixes_prefill_and_decode: bool = False
    reserves_batch: bool = False  # admission reserves each sequence's whole KV (static batches)

    @abstractmethod
    def plan(self, s) -> Plan:
        """Choose this iteration's work; see the module docstring."""


REGISTRY: Registry[Scheduler] = Registry("scheduler")
register = REGISTRY.register


def get_scheduler(name: str) -> Scheduler:
    return REGISTRY.get(name)()


def scheduler_names() -> list[str]:
    return REGISTRY.names()


def _whole_prompts(s, budget: int, *, chunk_first: bool) -> list[tuple[int, int]]:
    """Admit waiting requests FCFS with their whole remaining prompt while it fits `budget`.
    The first may exceed the budget: with `chunk_first` it is cut to the budget, else it runs alone."""
    chunks: list[tuple[int, int]] = []
    while s.waiting:
        rid = s.waiting[0]
        need = s.prompt_left(rid)
        if chunks and need > budget:
            break
        if not s.try_admit(rid):
            break
        take = min(need, budget) if chunk_first else need
        chunks.append((rid, take))
        budget -= take
        if budget <= 0:
            break
    return chunks


@register
class PrefillFirst(Scheduler):
    name = "prefill_first"
    describes = "continuous batching, prefill-only iterations first (vLLM v0 / Orca-style iteration scheduling)"

    def plan(self, s) -> Plan:
        if s.prefilling:  # a prompt longer than the budget still running (only after a recompute)
            rid = s.prefilling[0]
            return Plan([(rid, s.prompt_left(rid))], False)
        chunks = _whole_prompts(s, s.token_budget, chunk_first=False)
        if chunks:
            return Plan(chunks, False)
        return Plan([], s.n_run > 0)


@register
class PrefillFirstChunked(Scheduler):
    name = "prefill_first_chunked"
    describes = "prefill-first with long prompts chunked to the token budget; no mixing (SGLang default)"

    def plan(self, s) -> Plan:
        budget = s.token_budget
        chunks = []
        for rid in s.prefilling:
            take = min(s.prompt_left(rid), budget)
            chunks.append((rid, take))
            budget -= take
            if budget <= 0:
                return Plan(chunks, False)
        chunks += _whole_prompts(s, budget, chunk_first=True) if budget > 0 else []
        if chunks:
            return Plan(chunks, False)
        return Plan([], s.n_run > 0)


@register
class InflightBatching(Scheduler):
    name = "inflight"
    describes = ("in-flight fused batching: running decodes plus whole new prompts up to max_num_tokens "
                 "(TensorRT-LLM, chunked context off)")
    mixes_prefill_and_decode = True

    def plan(self, s) -> Plan:
        budget = s.token_budget - s.n_run * s.slots  # verified drafts count (vLLM)
        chunks = _whole_prompts(s, max(budget, 0), chunk_first=False) if budget > 0 or s.n_run == 0 else []
        return Plan(chunks, s.n_run > 0)


@register
class ChunkedPrefill(Scheduler):
    name = "chunked"
    describes = "stall-free batching: decodes first, then prompt chunks up to the token budget (Sarathi-Serve)"
    mixes_prefill_and_decode = True

    def plan(self, s) -> Plan:
        budget = s.token_budget - s.n_run * s.slots  # verified drafts count (vLLM)
        chunks = []
        for rid in s.prefilling:
            if budget <= 0:
                break
            take = min(s.prompt_left(rid), budget)
            chunks.append((rid, take))
            budget -= take
        while budget > 0 and s.waiting and s.try_admit(s.waiting[0]):
            rid = s.prefilling[-1]
            take = min(s.prompt_left(rid), budget)
            chunks.append((rid, take))
            budget -= take
        if s.n_run == 0 and not chunks and s.prefilling:  # budget below the decode count cannot starve prefill
            rid = s.prefilling[0]
            chunks.append((rid, min(s.prompt_left(rid), s.token_budget)))
        return Plan(chunks, s.n_run > 0)


@register
class SplitFuse(ChunkedPrefill):
    name = "splitfuse"
    describes = ("Dynamic SplitFuse: every iteration filled to the token budget with decodes and prompt "
                 "pieces (DeepSpeed-FastGen); the same stall-free rule as Sarathi-Serve, FastGen's budget")


@register
class DecodeOnly(Scheduler):
    name = "decode_only"
    describes = "decode instance of a disaggregated deployment: admits prefilled requests (KV transferred)"

    def plan(self, s) -> Plan:
        while s.waiting and s.try_admit(s.waiting[0]):
            pass
        return Plan([], s.n_run > 0)


@register
class StaticBatching(Scheduler):
    name = "static"
    describes = ("static batching with padding: a batch of up to max_num_seqs runs to its longest output; "
                 "prompts and contexts padded to the longest (the baseline Prepacking beats)")
    padded_prefill = True
    reserves_batch = True

    def plan(self, s) -> Plan:
        if s.n_run or s.prefilling:
            return Plan([], s.n_run > 0)
        batch, isl, osl = s.take_static_batch()
        if not batch:
            return IDLE
        return Plan([(rid, s.prompt_left(rid)) for rid in batch], False, (isl, osl, self.padded_prefill))


@register
class Prepacked(StaticBatching):
    name = "prepack"
    describes = ("static batching with prepacked prefill: prompts bin-packed without padding, attention "
                 "masked per prompt (Prepacking, Zhao et al. 2024); decode as static")
    padded_prefill = False


def check_budget(name: str, token_budget: int, max_num_seqs: int) -> None:
    if token_budget < 1 or max_num_seqs < 1:
        raise PerfModelError(f"scheduler {name}: token budget and max sequences must be >= 1, "
                             f"got ({token_budget}, {max_num_seqs})")
