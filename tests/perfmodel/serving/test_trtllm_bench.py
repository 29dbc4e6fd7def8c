"""trtllm-bench's own batch limits (perfmodel.serving.trtllm_bench): the heuristic's rounding as
its source writes it, per-rank sizing under attention DP, defaults for untuned quantizations."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from perfmodel.quant import get_quant
from perfmodel.resolve import resolve_model
from perfmodel.serving.trtllm_bench import (DEFAULT_MAX_BATCH, DEFAULT_MAX_NUM_TOKENS, MAX_BATCH_CAP,
                                            MAX_TOKENS_CAP, engine_settings, finetune)
from tests._hyp import examples


def test_finetune_rounds_as_trtllm_bench():
    # heuristics.py finetune_setting: at least 64 sequences and 2048 tokens, then multiples of 32/128/256
    assert finetune(10, isl=1024, osl=1024) == (64, 2048)
    assert finetune(293, isl=1000, osl=1000) == (384, 2048)
    assert finetune(1148.2, isl=1000, osl=1000) == (1280, 2304)
    assert finetune(5000, isl=1024, osl=1024) == (MAX_BATCH_CAP, 8192)
    assert finetune(5000, isl=32768, osl=1024)[1] == MAX_TOKENS_CAP
    assert finetune(1000, isl=1024, osl=1024, pp=2) == (512, 2048)


@settings(max_examples=examples(50))
@given(st.floats(1, 10_000), st.floats(1, 10_000), st.sampled_from([(1024, 1024), (8192, 1024), (1024, 8192)]))
def test_finetune_never_shrinks_when_more_requests_fit(a, b, lengths):
    lo, hi = sorted((a, b))
    isl, osl = lengths
    small, large = finetune(lo, isl=isl, osl=osl), finetune(hi, isl=isl, osl=osl)
    assert small[0] <= large[0] and small[1] <= large[1]


def _settings(model, hardware_gb, quant, ranks, *, attention_dp, isl=1024, osl=1024):
    return engine_settings(model=resolve_model(model), device_memory_gb=hardware_gb, quant=get_quant(quant),
                           ranks=ranks, attention_dp=attention_dp, isl=isl, osl=osl)


def test_mxfp4_is_untuned_and_keeps_the_torch_llm_args_defaults():
    s = _settings("gpt-oss-20b", 141, "bf16+experts=mxfp4", 1, attention_dp=False)
    assert (s.max_batch, s.max_num_tokens, s.tuned) == (DEFAULT_MAX_BATCH, DEFAULT_MAX_NUM_TOKENS, False)


def test_attention_dp_sizes_each_rank_on_one_gpu():
    # DeepSeek-R1 FP8 on 8 x H200 (DEP8): the heuristic counts one GPU less 1/8 of the checkpoint
    # per rank, MLA's 576-element latent per layer in FP8 -> a few hundred requests per rank.
    dep = _settings("deepseek-r1", 141, "fp8-block+kv=fp8", 8, attention_dp=True, isl=1000, osl=1000)
    assert dep.tuned and 500 < dep.kv_requests < 1000
    assert dep.max_batch % 128 == 0 and dep.max_num_tokens == 2048


def test_longer_sequences_and_less_memory_give_fewer_requests():
    base = _settings("qwen3-235b-a22b", 180, "nvfp4+kv=fp8", 4, attention_dp=True)
    longer = _settings("qwen3-235b-a22b", 180, "nvfp4+kv=fp8", 4, attention_dp=True, isl=8192)
    smaller = _settings("qwen3-235b-a22b", 141, "nvfp4+kv=fp8", 4, attention_dp=True)
    assert longer.kv_requests < base.kv_requests and smaller.kv_requests < base.kv_requests
