"""Iteration wall time for schedulers: the step model's device time, memoised, plus engine host cost.

Every operator of a step is affine in the summed decode context (only decode attention reads it,
and its compute and bytes are both proportional to it), so for one batch composition the device
time is `a + b * context`. Two calls of `IterationModel.iteration_time_s` give (a, b); any context,
and any run of k decode-only steps whose context grows by n per step, then costs no further call.
Prefill attention pairs and KV re-reads are snapped to a log grid (below) so that chunked-prefill
iterations share cache entries; token counts stay exact (GEMM wave quantization makes the step
time jump by a few percent between nearby token counts).

Plans with anything in host memory (`Plan.offloaded`) break the premise: their step is the largest
of the device, host-link and CPU times, and sparse KV selects at most a fixed budget of tokens, so
the time is not affine in the context. For them the fit is local: a secant between the two points
of a 1/8-octave grid of the per-sequence context that enclose it (exact on the grid, and within
the curvature of one grid cell between).
"""

from __future__ import annotations

import math

from perfmodel.iteration import BatchShape, IterationModel
from perfmodel.serving.engine_profiles import EngineProfile

# Prefill attention (pairs, KV re-read) is a minor part of a mixed iteration, so a 1/16-octave
# grid (+-2.2 % on that part) costs < 0.5 % of the step.
_ATTN_GRID = 16.0
_CTX_LO, _CTX_HI = 64, 4096  # per-sequence contexts at which the affine fit is taken
_LOCAL_GRID = 8.0            # points per octave of per-sequence context for local fits (offloaded plans)


def _snap(x: float, grid: float) -> tuple[int, float]:
    if x <= 0:
        return -1 << 30, 0.0
    k = round(math.log2(x) * grid)
    return k, 2.0 ** (k / grid)


class StepTimer:
    """Seconds per iteration for one replica under one engine profile."""

    def __init__(self, model: IterationModel, engine: EngineProfile, *, kernels_per_step: int = 0):
        self.model = model
        self.engine = engine
        self.launch_floor_s = kernels_per_step * engine.launch_us_per_kernel * 1e-6
        self.paged = 1.0 + engine.paged_attention_overhead
        self.scale = engine.device_time_scale
        self._cache: dict[tuple, tuple[float, float]] = {}
        self._slopes: dict[int, float] = {}
        self.calls = 0
        plan = getattr(model, "plan", None)
        self.local = bool(plan is not None and plan.offloaded)  # see the module docstring
        # Speculative decoding (perfmodel.speculative): an iteration with decoding sequences is a
        # round (drafts + verification) in which each advances `tokens_per_step` tokens on average
        # and holds KV slots for its `draft_tokens` drafts while they are verified.
        self.tokens_per_step = float(getattr(model, "tokens_per_step", 1.0))
        self.draft_tokens = plan.spec_tokens if plan is not None and plan.spec_method else 0

    # ---- device time ----------------------------------------------------------------------
    def affine(self, prefill_tokens: int, pairs: float, kv_read: float, prefill_seqs: int,
               decode_seqs: int, decode_context: float = 0.0) -> tuple[float, float]:
        """(a, b) with device time = a + b * decode_context for this batch composition (near
        `decode_context` for plans fitted locally)."""
        kp, rp = _snap(pairs, _ATTN_GRID)
        kr, rr = _snap(kv_read, _ATTN_GRID)
        key = (prefill_tokens, prefill_seqs, kp, kr, decode_seqs)
        if self.local and decode_seqs:
            return self._local(key, rp, rr, decode_context)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        return self._exact(key, prefill_tokens, rp, rr, prefill_seqs, decode_seqs)

    def _local(self, key: tuple, rp: float, rr: float, decode_context: float) -> tuple[float, float]:
        """Secant of the device time over the grid cell of the per-sequence context."""
        prefill_tokens, prefill_seqs, _, _, n = key
        k = math.floor(math.log2(max(decode_context / n, 1.0)) * _LOCAL_GRID)
        hit = self._cache.get((*key, k))
        if hit is not None:
            return hit
        lo, hi = n * 2.0 ** (k / _LOCAL_GRID), n * 2.0 ** ((k + 1) / _LOCAL_GRID)
        base = BatchShape(prefill_tokens=prefill_tokens, prefill_attn_pairs=rp, prefill_kv_read=int(round(rr)),
                          prefill_seqs=prefill_seqs, decode_seqs=n)
        t_lo, t_hi = self._call(_with_ctx(base, lo)), self._call(_with_ctx(base, hi))
        b = (t_hi - t_lo) / (hi - lo)   # (no paged-attention factor: this slope is not attention's alone)
        out = self._cache[(*key, k)] = (t_lo - b * lo, b)
        return out

    def _exact(self, key: tuple, prefill_tokens: int, rp: float, rr: float, prefill_seqs: int,
               decode_seqs: int) -> tuple[float, float]:
        base = BatchShape(prefill_tokens=prefill_tokens, prefill_attn_pairs=rp, prefill_kv_read=int(round(rr)),
                          prefill_seqs=prefill_seqs, decode_seqs=decode_seqs)
        if decode_seqs == 0:
            out = (self._call(base), 0.0)
        else:
            # The context slope is decode attention's alone, whatever else the batch holds: take it
            # from the decode-only batch of the same size, then one call fixes the intercept.
            b = self._slope(decode_seqs)
            lo = decode_seqs * _CTX_LO
            out = (self._call(_with_ctx(base, lo)) - b * lo, b * self.paged)
        self._cache[key] = out
        return out

    def _device(self, decode_seqs: int, decode_context: float) -> float:
        """Device time of a decode-only step."""
        a, b = self.affine(0, 0.0, 0.0, 0, decode_seqs, decode_context)
        return a + b * decode_context

    def _slope(self, n: int) -> float:
        b = self._slopes.get(n)
        if b is None:
            lo, hi = n * _CTX_LO, n * _CTX_HI
            b = (self._call(BatchShape.decode(n, _CTX_HI)) - self._call(BatchShape.decode(n, _CTX_LO))) / (hi - lo)
            self._slopes[n] = b
        return b

    def _call(self, shape: BatchShape) -> float:
        self.calls += 1
        return self.model.iteration_time_s(shape) * self.scale

    # ---- wall time ------------------------------------------------------------------------
    def _host(self, seqs: int) -> float:
        return self.engine.host_s(seqs)

    def _graphed(self, prefill_tokens: int, decode_seqs: int) -> bool:
        mode = self.engine.cuda_graphs
        if mode == "none":
            return False
        if mode == "decode" and prefill_tokens:
            return False
        return prefill_tokens + decode_seqs <= self.engine.cuda_graph_max_batch

    def _combine(self, device: float, host: float, graphed: bool, seqs: int) -> float:
        if not graphed:
            device = max(device, self.launch_floor_s)
        device = max(device, self.engine.cpu_hidden_per_seq_us * seqs * 1e-6)
        return max(device, host) if self.engine.cpu_overlapped else device + host

    def step(self, prefill_tokens: int, pairs: float, kv_read: float, prefill_seqs: int, decode_seqs: int,
             decode_context: int) -> float:
        a, b = self.affine(prefill_tokens, pairs, kv_read, prefill_seqs, decode_seqs, decode_context)
        return self._combine(a + b * decode_context, self._host(prefill_seqs + decode_seqs),
                             self._graphed(prefill_tokens, decode_seqs), prefill_seqs + decode_seqs)

    def shape(self, batch: BatchShape) -> float:
        return self.step(batch.prefill_tokens, batch.prefill_attn_pairs, batch.prefill_kv_read,
                         batch.prefill_seqs, batch.decode_seqs, batch.decode_context)

    def decode_run(self, n: int, ctx0: float, k: int, *, growth: float | None = None) -> float:
        """Total time of k decode-only steps of n sequences, the summed context starting at ctx0
        and growing by `growth` per step (default n * tokens_per_step, the sequences' own tokens;
        an attention-DP group padded to its largest rank grows as that rank does)."""
        if growth is None:
            growth = n * self.tokens_per_step
        host = self._host(n)
        graphed = self._graphed(0, n)
        floor = 0.0 if graphed else self.launch_floor_s
        floor = max(floor, self.engine.cpu_hidden_per_seq_us * n * 1e-6)
        if self.engine.cpu_overlapped:
            floor = max(floor, host)
            host = 0.0
        if self.local:  # the secant from the first step to the last, each timed by its own local fit
            first, last = (self._device(n, c) for c in (ctx0, ctx0 + growth * (k - 1)))
            return _sum_max_affine((last - first) / (k - 1) if k > 1 else 0.0, first, k, floor) + k * host
        a, b = self.affine(0, 0.0, 0.0, 0, n)
        return _sum_max_affine(b * growth, a + b * ctx0, k, floor) + k * host


def _sum_max_affine(slope: float, first: float, k: int, floor: float) -> float:
    """sum_{j<k} max(first + slope * j, floor), slope >= 0."""
    linear = k * first + slope * k * (k - 1) / 2
    if first >= floor:
        return linear
    if slope <= 0:
        return k * floor
    j = min(k, math.ceil((floor - first) / slope))  # steps still below the floor
    return j * floor + (k - j) * first + slope * (k * (k - 1) - j * (j - 1)) / 2


def _with_ctx(b: BatchShape, ctx: int) -> BatchShape:
    return BatchShape(b.prefill_tokens, b.prefill_attn_pairs, b.prefill_kv_read, b.prefill_seqs,
                      b.decode_seqs, ctx)
