"""Two-batch overlap (SGLang TBO, vLLM DBO; `Plan.two_batch_overlap`; issue 12).

The step's tokens split into two halves A and B that alternate: while one half's EP dispatch /
combine and TP all-reduces run, the other half computes (DeepSeek's "dual micro-batch overlap",
DeepSeek-V3 report s3.2 and its profile-data repository). Each half is costed by the same
`perfmodel.step` functions at half the tokens, so smaller GEMMs and a second weight read are its
cost. A layer of one half has five parts, in the order SGLang's prefill strategy runs them
(sglang python/sglang/srt/operations_strategy.py, `_compute_moe_deepseek_blog_prefill`: stages
end at the yields after `dispatch_a` and `combine_a`, shared experts open the next stage):

  att  attention side: the token mixer, post-norm, router, top-k         (compute stream)
  d    dispatch (and the attention's TP all-reduce)                     (communication stream)
  e    routed experts' grouped GEMMs                                    (compute stream)
  cb   combine (and the MoE TP all-reduce)                              (communication stream)
  sh   shared experts, run while the combine is in flight               (compute stream)

Both streams are in order: compute runs att_A, att_B, e_A, e_B, then sh_A, att_A', sh_B, att_B', ...;
communication runs d_A, d_B, cb_A, cb_B, ...; d_X waits for att_X, e_X for d_X, cb_X for e_X and
att_X' for cb_X (`schedule_s`: a two-resource list schedule, max-plus). The steady period per layer
is therefore a sum of per-slot maxima (att_B with d_A, e_A with d_B, e_B with cb_A, sh_A + att_A'
with cb_B, plus the waits the chain forces), never below max(2C, 2N) (each stream's own work) and
never above the two halves back to back, 2 (C + N). A dense layer (no dispatch) maps its MLP to
`e` and its all-reduces to `d` / `cb`. The LM head and sampling run once over the whole batch.
`att` is split at the attention kernel: `ap` the projections before it, `ac` the kernel, o_proj,
post-norm, router and top-k (prefill runs them together).

Decode-only steps run SGLang's decode strategy (`_compute_moe_deepseek_blog_decode`,
`tbo_delta_stages=2`), five stages per half-layer with B two stages behind A:

  S0 ap        S1 ac        S2 dispatch sent, sh        S3 wait d, e, combine sent        S4 wait cb

in the compute order A_S0, B_S3, A_S1, B_S4, A_S2, B_S0, A_S3, B_S1, A_S4, B_S2 (`decode_schedule_s`).
A dispatch has only sh_X and B's S0 (ap) to hide behind before X's experts wait for it, and a
combine only B's S1 (ac) before X's S4 waits: the low-latency kernels' receive hooks hold the
compute stream until the data is in (DeepEP README, `return_recv_hook`), so whatever of a
transfer outlasts the stages between its send and its receive stands exposed, however idle the
network is later. The same bounds hold (each stream's work is a floor, the halves back to back a
ceiling: at every instant one stream is busy).

Communication kernels that run on SMs slow the computation they overlap: DeepEP's normal
kernels (prefill) take `DEEPEP_NORMAL_SM_FRACTION` of the device (DeepEP README: `Buffer.set_num_sms(24)`
in its normal-kernel example on H800; SGLang gives DeepGEMM the remaining SMs under TBO,
`deep_gemm_num_sms`); the low-latency kernels (decode) receive through a hook and hold no SMs
(DeepEP README, "hook-based communication-computation overlap").

Bounds (tests/perfmodel/test_tbo.py): max(2C', 2N) <= period <= 2 (C' + N) per layer, with
C' = C / (1 - SM share), and the stage is never slower than the two halves back to back.
"""

from __future__ import annotations

import numpy as np

from perfmodel import ops as O
from perfmodel import step as S
from perfmodel.collectives import collective
from perfmodel.iteration import BatchShape
from perfmodel.moe import DEEPEP_NORMAL_SM_FRACTION

# Layers simulated to read the steady period off the list schedule: the two-stream max-plus
# recursion's per-layer increment is constant from the third layer on (checked on 20,000 random
# part times); the period is the mean over the last half.
_SETTLE_LAYERS = 8


def phases(mixer_ops: list[O.OpCost], ffn_ops: list[O.OpCost]) -> dict:
    """One half-layer's ap / ac / d / e / cb / sh times, and att = ap + ac (seconds; module doc)."""
    p = {"ap": 0.0, "ac": 0.0, "d": 0.0, "e": 0.0, "cb": 0.0, "sh": 0.0}
    core = False  # projections up to the attention kernel are `ap`, the kernel and after `ac`
    for op in mixer_ops:
        core = core or op.name.startswith("attn_")
        key = "d" if op.kind == "comm" else "ac" if core else "ap"
        p[key] = p[key] + op.time_s
    # a MoE block's post-norm, router and top-k run before its dispatch, on the attention side;
    # a dense MLP is all `e` (the same split whether or not this plan's dispatch is empty)
    stage = "before" if any(op.name.startswith("expert_") for op in ffn_ops) else "experts"
    for op in ffn_ops:
        if op.name.startswith("expert_"):  # the dispatch came before: it is `d`
            stage = "experts"
        if op.kind == "comm":
            key = "d" if stage == "before" else "cb"
        elif op.name.startswith("shared_"):
            key = "sh"
        else:
            key = "ac" if stage == "before" else "e"
        p[key] = p[key] + op.time_s
    p["att"] = p["ap"] + p["ac"]
    return p


def schedule_s(p: dict, layers: int):
    """Makespan of `layers` identical layers of two halves on an in-order compute stream and an
    in-order communication stream, in SGLang's operation order (module doc)."""
    tc = tm = 0.0  # when each stream is next free
    cb_done = {"A": 0.0, "B": 0.0}
    for layer in range(layers):
        d_done = {}
        for x in ("A", "B"):
            if layer:  # shared experts of the previous layer open the stage, then wait for its combine
                tc = tc + p["sh"]
            tc = O.vmax(tc, cb_done[x]) + p["att"]
            tm = d_done[x] = O.vmax(tm, tc) + p["d"]
        for x in ("A", "B"):
            tc = O.vmax(tc, d_done[x]) + p["e"]
            tm = cb_done[x] = O.vmax(tm, tc) + p["cb"]
    tc = tc + 2 * p["sh"]
    return O.vmax(tc, tm)


def decode_schedule_s(p: dict, layers: int):
    """Makespan of `layers` identical layers of two halves in SGLang's decode order (module doc):
    B two stages behind A, each receive holding the compute stream until its transfer is in."""
    tc = tm = 0.0  # when the compute stream and the network are next free
    d_done = {"A": 0.0, "B": 0.0}
    cb_done = {"A": 0.0, "B": 0.0}

    def stage(x: str, s: int):
        nonlocal tc, tm
        if s == 0:
            tc = tc + p["ap"]
        elif s == 1:  # the dispatch is sent when the router is done
            tc = tc + p["ac"]
            tm = d_done[x] = O.vmax(tm, tc) + p["d"]
        elif s == 2:
            tc = tc + p["sh"]
        elif s == 3:  # wait for the dispatch, run the experts, send the combine
            tc = O.vmax(tc, d_done[x]) + p["e"]
            tm = cb_done[x] = O.vmax(tm, tc) + p["cb"]
        else:  # wait for the combine
            tc = O.vmax(tc, cb_done[x])

    # A runs two stages ahead, then the halves alternate; B finishes its last two stages alone
    stages = 5 * layers
    stage("A", 0)
    stage("A", 1)
    for k in range(2, stages):
        stage("A", k % 5)
        stage("B", (k - 2) % 5)
    stage("B", (stages - 2) % 5)
    stage("B", (stages - 1) % 5)
    return O.vmax(tc, tm)


def overlap_period_s(p: dict, *, decode=False):
    """Steady time per layer of the two-half schedule, and the exposed fill of a run of layers.
    `decode` (bool or array): SGLang's decode order rather than its prefill order."""
    half = _SETTLE_LAYERS // 2
    if isinstance(decode, (bool, np.bool_)):
        run = decode_schedule_s if decode else schedule_s
        t_half, t_all = run(p, half), run(p, _SETTLE_LAYERS)
    else:
        t_half = np.where(decode, decode_schedule_s(p, half), schedule_s(p, half))
        t_all = np.where(decode, decode_schedule_s(p, _SETTLE_LAYERS), schedule_s(p, _SETTLE_LAYERS))
    period = (t_all - t_half) / (_SETTLE_LAYERS - half)
    return period, O.vmax(t_half - half * period, 0.0)


def stage_parts(model, system, q, par, batch: BatchShape) -> dict[str, float]:
    """One pipeline stage of `batch` with two-batch overlap: the overlapped layers, the exposed
    fill, the head, and what the halves would take back to back (seconds)."""
    half = S.scale_batch(batch, 0.5)
    # vectorized plans (search) pass arrays: np.where / vmax keep both paths on one formula
    sm_share = np.where((par.ep > par.tp) & (np.asarray(batch.prefill_tokens) > 0), DEEPEP_NORMAL_SM_FRACTION, 0.0)
    if np.ndim(sm_share) == 0:
        sm_share = float(sm_share)
    slow = 1 / (1 - sm_share)
    decode = np.asarray(batch.prefill_tokens) == 0  # decode-only steps run SGLang's decode order
    if np.ndim(decode) == 0:
        decode = bool(decode)
    # each layer kind (token mixer x MLP, ModelSpec.layer_kinds), the most numerous first
    # (NAS models: of each group of one layer shape, ModelSpec.layer_groups)
    kinds = sorted(((group, mixer, mlp, n) for group in model.layer_groups for mixer, mlp, n in group.layer_kinds),
                   key=lambda kind: -kind[3])
    share = np.ceil(model.num_layers / par.pp) / model.num_layers
    overlapped = sequential = 0.0
    fill = None
    for group, mixer, mlp, count in kinds:
        p = phases(S.mixer_ops(group, system, q, par, half, mixer), S.ffn_ops(group, system, q, par, half, mlp))
        p.update({k: p[k] * slow for k in ("ap", "ac", "att", "e", "sh")})
        period, start = overlap_period_s(p, decode=decode)
        overlapped = overlapped + count * share * period
        sequential = sequential + count * share * 2 * (p["att"] + p["e"] + p["sh"] + p["d"] + p["cb"])
        if fill is None:  # the first (most numerous) layer kind starts the pipeline
            fill = start
    head = sum(op.total_s for op in S.head_ops(model, system, q, par, batch))
    if np.any(np.asarray(par.pp) > 1):
        send = collective("pp_send", "p2p", batch.tokens * model.hidden_size * q.base_bytes, 2, system).total_s
        head = head + send * (np.asarray(par.pp) > 1) if np.ndim(par.pp) else head + send
    # a stage too short for the schedule to settle never costs more than its halves back to back
    fill = O.vmin(fill, O.vmax(sequential - overlapped, 0.0))
    return {"overlapped_s": overlapped, "fill_s": fill, "head_s": head, "sequential_s": sequential + head}


def iteration_time(model, system, q, par, batch: BatchShape, *, cold: bool = False) -> float:
    """`perfmodel.step.iteration_time` with two-batch overlap inside every stage."""
    pp = par.pp
    micro = S.scale_batch(batch, 1.0 / pp)
    p = stage_parts(model, system, q, par, micro)
    stage = p["overlapped_s"] + p["fill_s"] + p["head_s"]
    return stage * ((2 * pp - 1) if cold else pp)
