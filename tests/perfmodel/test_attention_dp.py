"""Attention-DP padding (perfmodel.attention_dp, issue 12): the ranks that share the MoE layers step
at the largest rank's batch; unequal rank loads are never faster, equal ones lose nothing; the
scalar and numpy paths agree."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfmodel import hardware, specs
from perfmodel.attention_dp import group_ranks, pad_to_largest, padded_share
from perfmodel.iteration import BatchShape
from perfmodel.plan import Plan
from perfmodel.quant import get_quant
from perfmodel.serving.analytic import ReplicaModel
from perfmodel.serving.deployment import build_pool
from perfmodel.serving.engine_profiles import get_engine
from perfmodel.step import iteration_time

MOE = specs.load_model("qwen3-30b-a3b")
H100 = hardware.resolve("dgx-h100")
Q = get_quant("fp8")
ADP = Plan(tp=1, dp=4, ep=4, quant="fp8")  # attention-DP x 4, experts over the 4 ranks
LAW = settings(max_examples=40, deadline=None, derandomize=True)


@st.composite
def rank_batch(draw):
    pre = draw(st.sampled_from([0, 0, 64, 512, 2048]))
    dec = draw(st.integers(0, 64))
    ctx = draw(st.integers(1, 4000))
    return BatchShape(prefill_tokens=pre, prefill_attn_pairs=pre * (pre + 1) / 2, prefill_seqs=1 if pre else 0,
                      decode_seqs=dec, decode_context=dec * ctx)


def _t(batch: BatchShape) -> float:
    return iteration_time(MOE, H100, Q, ADP, batch)


@LAW
@given(st.lists(rank_batch(), min_size=2, max_size=4))
def test_unequal_rank_loads_are_never_faster(ranks):
    ranks = [b for b in ranks if b.tokens] or [BatchShape.decode(1, 100)]
    group = _t(pad_to_largest(ranks))
    assert group >= max(_t(b) for b in ranks) * (1 - 1e-12)


@LAW
@given(rank_batch(), st.integers(1, 8))
def test_equal_ranks_lose_nothing(batch, r):
    assert pad_to_largest([batch] * r) == batch


def test_scalar_and_numpy_paths_agree():
    ranks = [BatchShape(prefill_tokens=np.array([0, 512, 2048]), prefill_attn_pairs=np.array([0.0, 131328, 2098176]),
                        prefill_seqs=np.array([0, 1, 1]), decode_seqs=np.array([8, 4, 0]),
                        decode_context=np.array([8000, 4000, 0])),
             BatchShape(decode_seqs=np.array([16, 16, 16]), decode_context=np.array([16000, 16000, 16000]))]
    padded = pad_to_largest(ranks)
    par = Plan(tp=1, dp=4, ep=4, quant="fp8")
    t_vec = iteration_time(MOE, H100, Q, par, padded)
    for i in range(3):
        one = [BatchShape(*(np.asarray(getattr(b, f))[i].item() if np.ndim(getattr(b, f)) else getattr(b, f)
                            for f in BatchShape.__slots__)) for b in ranks]
        assert iteration_time(MOE, H100, Q, par, pad_to_largest(one)) == pytest.approx(float(t_vec[i]), rel=1e-12)
    f = np.array([0.0, 0.05, 0.3, 1.0])
    r = np.array([1, 2, 4, 8])
    np.testing.assert_allclose(padded_share(f, r), [padded_share(float(a), int(b)) for a, b in zip(f, r)])


def test_group_ranks_and_share():
    assert group_ranks(ADP) == 4
    assert group_ranks(Plan(tp=4, ep=4)) == 1 and group_ranks(Plan(tp=2, dp=4, ep=8)) == 4
    arr = SimpleNamespace(tp=np.array([1, 4, 2]), ep=np.array([4, 4, 8]), moe_group=np.array([4, 4, 8]))
    np.testing.assert_array_equal(group_ranks(arr), [4, 1, 4])
    for f in (0.0, 0.01, 0.2, 0.7, 1.0):
        assert padded_share(f, 1) == pytest.approx(f)
        for r in (2, 4, 8):
            assert f - 1e-12 <= padded_share(f, r) <= min(1.0, r * f) + 1e-12


def test_analytic_chunked_steps_of_an_attention_dp_rank_are_padded():
    pool = build_pool(model=MOE, system=H100, engine=get_engine("vllm"), plan=ADP, scheduler="chunked")
    rm = ReplicaModel(timer=pool.timer, kv=pool.kv, scheduler="chunked", max_num_seqs=pool.max_num_seqs,
                      token_budget=pool.token_budget, mean_input=2000, mean_output=200)
    assert rm.ranks == 4
    padded = rm._t_mixed_at(32, 0.01)
    rm.ranks = 1  # the same rank stepping alone
    alone = rm._t_mixed_at(32, 0.01)
    assert padded > alone
