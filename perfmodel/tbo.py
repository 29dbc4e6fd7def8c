"""Two-batch overlap (SGLang TBO, vLLM DBO; `Plan.two_batch_overlap`; issue 12).

The step's tokens split into two halves that alternate: while one half's EP dispatch / combine and
TP all-reduces run, the other half computes (DeepSeek's "dual micro-batch overlap", DeepSeek-V3
report s3.2 and its profile-data repository). It is the nano-batch overlap of
`perfmodel.overlap` with two equal nano-batches and the communication class on its own stream,
written in closed form: per layer kind with compute C and communication N of one half (costed by
the same `perfmodel.step` functions at half the tokens, so smaller GEMMs and a second weight read
are its cost), one stream does 2 C, the other 2 N, and a half's chain C + N <= max(2C, 2N), so the
steady period is max(2 C, 2 N) per layer; the first layer's min(C, N) cannot hide. The LM head
and sampling run once over the whole batch.

Communication kernels that run on SMs slow the computation they overlap: DeepEP's normal
kernels (prefill) take `DEEPEP_NORMAL_SM_FRACTION` of the device (DeepEP README: `Buffer.set_num_sms(24)`
in its normal-kernel example on H800); the low-latency kernels (decode) receive through a hook
and hold no SMs (DeepEP README, "hook-based communication-computation overlap").

Bounds (tests/perfmodel/test_tbo.py): max(2C, 2N) <= period and the step is never slower than the
two halves back to back with the stated SM share, 2 (C' + N) per layer, C' = C / (1 - SM share).
"""

from __future__ import annotations

import numpy as np

from perfmodel import ops as O
from perfmodel import step as S
from perfmodel.collectives import collective
from perfmodel.iteration import BatchShape
from perfmodel.moe import DEEPEP_NORMAL_SM_FRACTION


def _split(ops: list[O.OpCost]) -> tuple[float, float]:
    comm = sum(op.time_s for op in ops if op.kind == "comm")
    return sum(op.time_s for op in ops if op.kind != "comm"), comm


def stage_parts(model, system, q, par, batch: BatchShape) -> dict[str, float]:
    """One pipeline stage of `batch` with two-batch overlap: the overlapped layers, the exposed
    fill, the head, and what the halves would take back to back (seconds)."""
    half = S.scale_batch(batch, 0.5)
    # vectorized plans (search) pass arrays: np.where / vmax keep both paths on one formula
    sm_share = np.where((par.ep > par.tp) & (np.asarray(batch.prefill_tokens) > 0), DEEPEP_NORMAL_SM_FRACTION, 0.0)
    if np.ndim(sm_share) == 0:
        sm_share = float(sm_share)
    # each layer kind (token mixer x MLP, ModelSpec.layer_kinds), the most numerous first
    # (NAS models: of each group of one layer shape, ModelSpec.layer_groups)
    kinds = sorted(((n, S.layer_ops(group, system, q, par, half, mixer, mlp))
                    for group in model.layer_groups for mixer, mlp, n in group.layer_kinds), key=lambda kind: -kind[0])
    share = np.ceil(model.num_layers / par.pp) / model.num_layers
    overlapped = sequential = 0.0
    fill = None
    for count, ops in kinds:
        c, n = _split(ops)
        c_slow = c / (1 - sm_share)
        overlapped = overlapped + count * share * O.vmax(2 * c_slow, 2 * n)
        sequential = sequential + count * share * 2 * (c_slow + n)
        if fill is None:  # the first (most numerous) layer kind starts the pipeline
            fill = O.vmin(c_slow, n)
    head = sum(op.total_s for op in S.head_ops(model, system, q, par, batch))
    if np.any(np.asarray(par.pp) > 1):
        send = collective("pp_send", "p2p", batch.tokens * model.hidden_size * q.base_bytes, 2, system).total_s
        head = head + send * (np.asarray(par.pp) > 1) if np.ndim(par.pp) else head + send
    return {"overlapped_s": overlapped, "fill_s": fill, "head_s": head, "sequential_s": sequential + head}


def iteration_time(model, system, q, par, batch: BatchShape, *, cold: bool = False) -> float:
    """`perfmodel.step.iteration_time` with two-batch overlap inside every stage."""
    pp = par.pp
    micro = S.scale_batch(batch, 1.0 / pp)
    p = stage_parts(model, system, q, par, micro)
    stage = p["overlapped_s"] + p["fill_s"] + p["head_s"]
    return stage * ((2 * pp - 1) if cold else pp)
