"""A2ATS as a plan option (`sparse_kv="a2ats"`, perfmodel.offload._sparse / _placement): the host CPU
attends over the top 3% of the context where the KV lives, so only queries and outputs cross the
host link; checked by hand on Llama-3.1-8B with one A100 on one Sapphire Rapids socket."""

import pytest

from perfmodel import bounds as B
from perfmodel import offload as OF
from perfmodel.iteration import BatchShape
from perfmodel.offload import _sparse as sparse
from perfmodel.plan import Plan
from perfmodel.reproduce._offload import a2ats_file
from perfmodel.resolve import resolve_model, resolve_system
from perfmodel.stepmodel import StepModel

MODEL = resolve_model("llama-3.1-8b")
SYSTEM = resolve_system(a2ats_file())                  # one A100-80GB, one Xeon 8480 socket
KV_PER_TOKEN = 2 * 8 * 128 * 2 * 32                     # K and V x 8 KV heads x 128 x bf16 x 32 layers = 131072 B
SEQS, CONTEXT = 4, 100_000


def _parts(method):
    sm = StepModel.build(model=MODEL, system=SYSTEM, plan=Plan(tp=1, quant="bf16", sparse_kv=method))
    return sm, OF.step_parts(sm, BatchShape.decode(SEQS, CONTEXT))


def test_selected_tokens_by_hand():
    plan = Plan(sparse_kv="a2ats")
    assert sparse.cpu_attended_tokens(plan, CONTEXT) == pytest.approx(3000)   # README: topk=0.03
    assert sparse.fetched_tokens(plan, CONTEXT) == 0
    assert sparse.cpu_attended_tokens(Plan(sparse_kv="topk"), CONTEXT) == 0


def test_the_host_cpu_reads_the_selected_kv_and_the_link_carries_queries_and_outputs():
    sm, parts = _parts("a2ats")
    host = OF.host_of(SYSTEM)
    assert host.mem_rate == pytest.approx(307.2e9 * 0.61)          # one socket of 8 x DDR5-4800, STREAM fraction
    assert OF.kv_bytes_per_token(sm) == pytest.approx((8 * 2.0 * 32, KV_PER_TOKEN))   # key codes / whole KV
    reads = SEQS * 3000 * KV_PER_TOKEN                                # 1.57 GB of selected K and V
    # DRAM-bound: the attention FLOPs (2 x 12,000 x 32 heads x 256 x 32 layers = 6.3 GFLOP) take far less
    assert parts["cpu"] == pytest.approx(reads / host.mem_rate + 32 * 10e-6)   # + one 10 us kernel per layer
    outputs = SEQS * 32 * 128 * 2 * 32                                # per layer, bf16, back to the GPU
    assert parts["h2d"] == pytest.approx(outputs / host.link_rate)
    queries, new_kv = SEQS * 32 * 128 * 2 * 32, SEQS * KV_PER_TOKEN
    assert parts["d2h"] == pytest.approx((queries + new_kv) / host.link_rate)
    assert parts["dram"] == pytest.approx((reads + new_kv) / host.mem_rate)


def test_top_k_over_pcie_moves_kv_that_a2ats_does_not():
    _, topk = _parts("topk")
    _, a2ats = _parts("a2ats")
    # top-K fetches 40% of 2048 tokens per sequence over the link: 4 x 819.2 x 131072 B
    fetched = SEQS * 2048 * 0.4 * KV_PER_TOKEN
    assert topk["h2d"] * OF.host_of(SYSTEM).link_rate == pytest.approx(fetched)
    assert a2ats["h2d"] < topk["h2d"] / 100
    assert topk.get("cpu", 0.0) == 0.0 < a2ats["cpu"]


def test_a2ats_fits_more_sequences_and_stays_under_its_bounds():
    for isl in (32_768, 126_976):
        dense, plan = Plan(tp=1, quant="bf16"), Plan(tp=1, quant="bf16", sparse_kv="a2ats")
        bd, ba = (B.compute_bounds(model=MODEL, system=SYSTEM, plan=p, isl=isl, osl=1024) for p in (dense, plan))
        assert ba.max_concurrency > 10 * bd.max_concurrency    # the host holds the KV, the GPU only codes
        pred = B.predict(model=MODEL, system=SYSTEM, plan=plan, isl=isl, osl=1024, bounds=ba)
        B.assert_within(ba, pred.tok_s_per_device, tokens="total", what="a2ats prediction")
        assert "cpu_compute" in ba.applicable and "cpu_compute" not in bd.applicable    # the CPU attends
