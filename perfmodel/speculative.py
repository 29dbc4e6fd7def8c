"""Speculative decoding: MTP, EAGLE-3 draft heads and n-gram lookup (issue 12).

One speculative round: the drafter proposes k tokens (`Plan.spec_tokens`), the target model
verifies them in one step with k + 1 query tokens per sequence (they share the sequence's KV read:
`BatchShape.decode_queries`), and the sequence advances by the accepted prefix plus the target's
own token. With conditional acceptance a_i at draft position i (`Plan.spec_acceptance`; a draft is
accepted only if all before it were), the expected tokens per round are (Leviathan et al., ICML
2023, s3.1, per-position form)
    E = 1 + sum_{i=1..k} prod_{j<=i} a_j,
so TPOT = (draft time + verify time) / E. With a = 0, E = 1 and the round costs the verify step
plus the drafts: speculation's overhead, never a gain.

Drafters, each costed with the target's own operators (`perfmodel.step`) on this plan:
  mtp     the model's next-token module (DeepSeek-V3 report s2.2: one transformer block of the
          model's kind plus a 2h -> h projection, sharing embedding and LM head); SGLang runs it
          once over the k + 1 verified positions (draft extend) and k - 1 more single-token steps.
  eagle3  one dense decoder layer over fused low/mid/high target features (a 3h -> h fc) and an
          LM head over a reduced draft vocabulary (EAGLE-3, Li et al. 2025, s3; released heads use
          a 32k draft vocabulary); the same k passes.
  ngram   prompt lookup on the host (vLLM `ngram`, SGLang `NGRAM`): no device work.
Memory: mtp and eagle3 add one layer's weights and one layer of KV per token; ngram adds none.
"""

from __future__ import annotations

from perfmodel import ops as O
from perfmodel import step as S
from perfmodel.collectives import collective
from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape

# Conditional acceptance of each draft position when the plan gives none.
#   mtp: DeepSeek-V3 technical report s5.4.3 "acceptance rate of the second token prediction
#        ranges between 85% and 90%" (k = 1, its one MTP module); the low end, 0.85. For k > 1 the
#        report gives nothing: the same rate repeats (assumption; pass measured rates).
#   eagle3: EAGLE-3 paper (arXiv:2503.01840) Fig. 7 n-alpha acceptance on LLaMA-3.1-8B, chain
#        drafting, stays near 0.7-0.8 across positions 1-7; 0.75 (read off the figure).
#   ngram: no published default; acceptance depends on how much the output repeats the prompt.
DEFAULT_ACCEPTANCE = {"mtp": 0.85, "eagle3": 0.75}
EAGLE3_DRAFT_VOCAB = 32000  # EAGLE-3 released heads' draft_vocab_size


def acceptance(plan) -> tuple[float, ...]:
    """Per-position conditional acceptance rates of the plan (its own, or the method default)."""
    if plan.spec_acceptance is not None:
        return tuple(plan.spec_acceptance)
    if plan.spec_method not in DEFAULT_ACCEPTANCE:
        raise PerfModelError(f"--spec-method {plan.spec_method} has no published acceptance rate; pass "
                             f"--spec-acceptance with {plan.spec_tokens} rate(s), e.g. 0.4")
    return (DEFAULT_ACCEPTANCE[plan.spec_method],) * plan.spec_tokens


def expected_tokens(rates) -> float:
    """Tokens a round emits on average: 1 + sum over positions of the chance all up to it pass."""
    total, run = 1.0, 1.0
    for a in rates:
        run *= a
        total += run
    return total


def tokens_per_step(plan) -> float:
    """Expected tokens per decode step (1 without speculative decoding)."""
    return expected_tokens(acceptance(plan)) if plan.spec_method else 1.0


def verify_batch(plan, decode: BatchShape) -> BatchShape:
    """The target model's verification step: k + 1 query tokens per decoding sequence."""
    if not plan.spec_method:
        return decode
    return BatchShape(decode.prefill_tokens, decode.prefill_attn_pairs, decode.prefill_kv_read,
                      decode.prefill_seqs, decode.decode_seqs, decode.decode_context, 1 + plan.spec_tokens)


def _pass_ops(model, system, q, par, b: BatchShape) -> list[O.OpCost]:
    """One drafter forward pass over `b` (decode sequences of the target's batch)."""
    h, dev, tp = model.hidden_size, system.device, par.tp
    T, rows = b.tokens, b.decode_seqs  # the last position of each sequence proposes a token
    out = S.attention_ops(model, system, q, par, b)
    if par.spec_method == "mtp":
        out.append(O.gemm("mtp_eh_proj", T, h, 2 * h, dev, q))
        out += S.moe_ops(model, system, q, par, b) if model.moe else S.mlp_ops(model, system, q, par, b)
        vocab = model.vocab_size
    else:  # eagle3
        out.append(O.gemm("eagle3_fc", T, h, 3 * h, dev, q))
        out += S.mlp_ops(model, system, q, par, b)
        vocab = EAGLE3_DRAFT_VOCAB
    out.append(O.gemm("draft_lm_head", rows, vocab / tp, h, dev, q, weight_quantized=False))
    out.append(collective("draft_logits_gather", "all_gather", rows * vocab / tp * 4.0, tp, system))
    out.append(O.sample("draft_sampling", rows, vocab, dev))
    return out


def draft_ops(model, system, q, par, decode: BatchShape) -> list[O.OpCost]:
    """The drafter's operators for one round over a decode micro-batch: one pass over the k + 1
    verified positions, then k - 1 single-token passes (none for n-gram lookup)."""
    if par.spec_method in (None, "ngram"):
        return []
    k = par.spec_tokens
    one = BatchShape(decode_seqs=decode.decode_seqs, decode_context=decode.decode_context)
    ops = _pass_ops(model, system, q, par, verify_batch(par, one))
    if k > 1:
        ops += [op.scaled(k - 1) for op in _pass_ops(model, system, q, par, one)]
    return ops


def draft_time_s(model, system, q, par, decode: BatchShape) -> float:
    """Drafting time of one round for the whole batch (pp micro-batches, drafted one after another
    on the last stage)."""
    pp = par.pp
    micro = S.scale_batch(decode, 1.0 / pp)
    return pp * sum((op.total_s for op in draft_ops(model, system, q, par, micro)), 0.0)


def draft_memory(model, plan, q) -> tuple[float, float]:
    """(weight bytes, KV layers per token) the drafter adds on a device: MTP one MoE (or dense)
    block plus its 2h x h projection, EAGLE-3 one dense layer, the 3h x h fc and a 32k-row LM head."""
    if plan.spec_method in (None, "ngram"):
        return 0.0, 0.0
    h, tp = model.hidden_size, plan.tp
    attn = model.attention_params() / tp * q.part("attention").weight_bytes  # per-component schemes
    mlp_b = q.part("mlp").weight_bytes
    if plan.spec_method == "mtp":
        if model.moe:
            e = model.moe
            slots = e.num_experts + plan.redundant_experts
            ffn = (model.mlp_params(e.expert_intermediate_size) * slots / plan.ep / plan.moe_tp
                   * q.part("experts").weight_bytes + model.mlp_params(e.shared_intermediate_size) / tp
                   * q.part("shared_experts").weight_bytes + h * e.num_experts * 2.0)
        else:
            ffn = model.mlp_params(model.intermediate_size) / tp * mlp_b
        return attn + ffn + 2 * h * h / tp * mlp_b, 1.0
    ffn = (model.mlp_params(model.intermediate_size) + 3 * h * h) / tp * mlp_b
    return attn + ffn + EAGLE3_DRAFT_VOCAB * h / tp * 2.0, 1.0
