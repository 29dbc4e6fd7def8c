"""Co-serving PEFT finetuning with inference (FlexLLM, Oliaro et al., arXiv:2402.18789): finetuning
tokens fill each inference iteration's slack under a TPOT SLO.

Token-level finetuning (FlexLLM s4): an iteration carries the decode batch and `f` finetuning
tokens of a sequence of `seq_len` tokens. The base model is frozen, so the backward pass computes
activation gradients only (one GEMM per forward GEMM, no weight gradients for the base; LoRA's
own gradients are rank-sized and left out): a finetuning token costs a forward and a backward,
each priced as a prompt token of the step model. The largest `f` whose iteration stays within the
SLO is chosen; the activations kept for backward (ACT_HIDDEN_PER_TOKEN x hidden per layer per
token of the sequence) must fit next to the KV cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.stepmodel import StepModel

BACKWARD_PER_FORWARD = 1.0   # frozen base: activation gradients only, one GEMM per forward GEMM (FlexLLM s4.2)
# Activations a layer keeps per token for the backward: its input, the attention output and the
# MLP input, 16-bit values of hidden_size each. Assumption (first principles; FlexLLM's graph
# pruning keeps only what the LoRA gradients need).
ACT_HIDDEN_PER_TOKEN = 3
ACT_BYTES = 2.0


@dataclass(frozen=True)
class CoServe:
    finetune_tokens: int          # per iteration
    iteration_s: float
    inference_only_s: float
    finetune_tok_s: float
    activation_gb: float


def finetune_shape(tokens: int, seq_len: int) -> BatchShape:
    """Forward and backward of `tokens` finetuning tokens of a sequence of `seq_len` tokens, priced as
    prompt tokens attending to half the sequence on average."""
    work = int(round(tokens * (1 + BACKWARD_PER_FORWARD)))
    return BatchShape(prefill_tokens=work, prefill_attn_pairs=work * seq_len / 2, prefill_seqs=1 if work else 0)


def activation_bytes(step: StepModel, seq_len: int) -> float:
    """Bytes of activations one finetuning sequence keeps for its backward, on one device."""
    m = step.model
    return seq_len * m.num_layers * ACT_HIDDEN_PER_TOKEN * m.hidden_size * ACT_BYTES / step.plan.tp


def inference_load(*, rate_req_s: float, input_tokens: float, output_tokens: float, tpot_s: float) -> BatchShape:
    """The inference work of one iteration lasting `tpot_s` at `rate_req_s` (Little's law): the
    decode batch rate x output x tpot at a mean context of input + output / 2, and the prompt
    tokens that arrive during the iteration."""
    decode = int(round(rate_req_s * output_tokens * tpot_s))
    prompt = int(round(rate_req_s * input_tokens * tpot_s))
    shape = BatchShape.decode(decode, int(input_tokens + output_tokens / 2)) if decode else BatchShape()
    return shape + (BatchShape.prefill(1, prompt) if prompt else BatchShape())


def coserve(*, step: StepModel, inference: BatchShape, tpot_slo_s: float, seq_len: int,
            max_tokens: int = 16384) -> CoServe:
    """The most finetuning tokens per iteration that keep the iteration carrying `inference` within
    `tpot_slo_s` (an empty `inference`: finetuning alone)."""
    if tpot_slo_s <= 0 or seq_len < 1:
        raise PerfModelError(f"finetuning needs tpot_slo_s > 0 and seq_len >= 1, got {tpot_slo_s}, {seq_len}")
    kv_gb = inference.decode_context * step.memory.kv_bytes_per_token_device / 1e9
    act_gb = activation_bytes(step, seq_len) / 1e9
    if kv_gb + act_gb > step.memory.free_for_kv_gb:
        raise PerfModelError(f"the inference KV ({kv_gb:.1f} GB) and one finetuning sequence's activations "
                             f"({act_gb:.1f} GB) exceed the {step.memory.free_for_kv_gb:.1f} GB left for them")
    base = step.iteration_time_s(inference) if inference.tokens else 0.0

    def time(f: int) -> float:
        return step.iteration_time_s(inference + finetune_shape(f, seq_len))

    if base > tpot_slo_s:  # inference alone misses the SLO: no slack to fill
        return CoServe(0, base, base, 0.0, act_gb)
    lo, hi = 0, max_tokens  # bisection on the iteration time, which grows with f
    if time(hi) <= tpot_slo_s:
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if time(mid) <= tpot_slo_s else (lo, mid)
    t = time(lo) if lo else base
    return CoServe(lo, t, base, lo / t if lo else 0.0, act_gb)


def peak_finetune_tok_s(*, step: StepModel, seq_len: int, tokens: int = 8192) -> float:
    """Finetuning alone: `tokens` finetuning tokens per iteration (compute-bound)."""
    return tokens / step.iteration_time_s(finetune_shape(tokens, seq_len))
