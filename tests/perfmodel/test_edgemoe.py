"""On-device MoE (perfmodel.edgemoe): hand-checked step parts, memory laws and bad setups."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfmodel.edgemoe import edge_moe_step, edge_setup
from perfmodel.edgemoe._cache import hit_rates
from perfmodel.edgemoe._matryoshka import expert_bytes, plane_bytes
from perfmodel.edgemoe._pipeline import flow_shop, johnson_order
from perfmodel.errors import PerfModelError
from perfmodel.hardware.catalog import System
from perfmodel.hardware.schema import Device, Node, Storage
from perfmodel.specs.model import MoE, ModelSpec

LAW = settings(max_examples=30, deadline=None, derandomize=True)

# A round-number MoE: 2 layers, 4 experts of 3 x 1024 x 1024 = 3,145,728 params, top-1.
TINY = ModelSpec(name="tiny-moe", family="mixtral", hidden_size=1024, num_layers=2, num_heads=8, num_kv_heads=8,
                 head_dim=128, intermediate_size=1024, vocab_size=1000,
                 moe=MoE(num_experts=4, experts_per_token=1, expert_intermediate_size=1024))
P_EXPERT = 3 * 1024 * 1024
S_EXPERT = P_EXPERT * (1 + 32 / 8 / 128)   # int8 + one fp16 scale and zero per 128 weights = 3,244,032 B
_SRC = {k: "test" for k in ("peak_dense_tflops", "memory_gb", "memory_bw_gb_s", "compute_units", "mem_bw_efficiency",
                            "kernel_overhead_us", "gemm_efficiency", "devices_per_node", "scaleup_domain_devices",
                            "storage")}
# 100 GB/s memory, compute far from binding, 1 GB/s flash
EDGE = System(
    device=Device(id="edge-test", name="t", vendor="t", kind="gpu", peak_dense_tflops={"fp16": 1000.0},
                  gemm_efficiency={"fp16": 1.0}, memory_gb=1, memory_bw_gb_s=100, compute_units=1,
                  mem_bw_efficiency=1.0, kernel_overhead_us=0, sources=_SRC),
    node=Node(id="edge-test-node", name="t", device="edge-test", devices_per_node=1, topology="single",
              scaleup_domain_devices=1, storage=Storage(name="flash", seq_read_gb_s=1.0), sources=_SRC))
# non-expert weights read per step: 2 x (q,k,v,o 4 x 1024^2 + router 1024 x 4) + LM head 1000 x 1024
NON_EXPERT_READ = 2 * (4 * 1024 * 1024 + 4096) + 1000 * 1024
# resident: + embedding 1000 x 1024 and the norms (2 per layer + final)
NON_EXPERT_HELD = NON_EXPERT_READ + 1000 * 1024 + 2 * 2 * 1024 + 1024
HALF_BUDGET_GB = (2 * NON_EXPERT_HELD + 2 * 2 * S_EXPERT) / 1e9   # fp16 non-expert + 2 of 4 experts per layer


def _run(**kw):
    return edge_moe_step(TINY, EDGE, edge_setup(context_tokens=0, **kw))


def test_everything_resident_reads_one_expert_per_layer_from_memory():
    r = _run()
    assert r.non_expert_ms == pytest.approx(2 * NON_EXPERT_READ / 100e9 * 1e3)   # 0.188 ms
    assert r.expert_compute_ms == pytest.approx(2 * S_EXPERT / 100e9 * 1e3)      # 0.0649 ms
    assert (r.expert_load_ms, r.stall_ms, r.hit_rate, r.streams_from_flash) == (0, 0, 1, False)
    assert r.step_ms == pytest.approx(r.non_expert_ms + r.expert_compute_ms)
    assert r.memory_gb["experts_all"] == pytest.approx(8 * S_EXPERT / 1e9)


@pytest.mark.parametrize("cache", ["hottest", "lru"])
def test_half_the_experts_cached_loads_half_a_token_of_experts_from_flash(cache):
    # each expert is read with probability 1/4; half of the reads miss (hottest: 2 of 4 pinned; LRU with
    # equal items: hit 1/2 each), so a layer loads 1/2 x S bytes at 1 GB/s = 1.622 ms
    r = _run(memory_budget_gb=HALF_BUDGET_GB, cache=cache)
    assert r.expert_load_ms == pytest.approx(2 * 0.5 * S_EXPERT / 1e9 * 1e3)
    assert r.hit_rate == pytest.approx(0.5)
    assert r.step_ms == pytest.approx(r.non_expert_ms + r.expert_load_ms + r.expert_compute_ms)  # serial
    assert r.peak_memory_gb == pytest.approx(HALF_BUDGET_GB)


def test_hebf_overlaps_loads_with_compute():
    # pinned experts 0, 1 compute first (1/4 x S / 100 GB/s = 8.1 us each) while 2, 3 load (811 us each):
    # the layer ends at the last load plus its compute
    r = _run(memory_budget_gb=HALF_BUDGET_GB, cache="hottest", schedule="hebf")
    io, c = 0.25 * S_EXPERT / 1e9, 0.25 * S_EXPERT / 100e9
    assert r.step_ms == pytest.approx(r.non_expert_ms + 2 * (2 * io + c) * 1e3)
    assert r.stall_ms == pytest.approx(2 * (2 * io + c - 4 * c) * 1e3)


def test_flow_shop_recursion_and_johnson_order():
    io, c = np.array([3.0, 1.0, 2.0]), np.array([1.0, 2.0, 2.0])
    assert flow_shop(io, c, [0, 1, 2]) == 8.0          # loads end 3, 4, 6; computes end 4, 6, 8
    assert johnson_order(io, c) == [1, 2, 0]            # io < c: by io; the rest by decreasing c
    assert flow_shop(io, c, johnson_order(io, c)) == 7.0


def test_matryoshka_planes_nest():
    s = edge_setup(bit_levels=(2, 4, 8), expert_bits={8: 1.0})
    planes = plane_bytes(1024, s)
    assert planes == [1024 * 2 / 8 + 1024 / 128 * 4, 1024 * 2 / 8, 1024 * 4 / 8]   # scales ride on plane 1
    assert [expert_bytes(1024, b, s) for b in (2, 4, 8)] == [planes[0], sum(planes[:2]), sum(planes)]
    assert expert_bytes(1024, 8, s) == expert_bytes(1024, 8, edge_setup())          # nesting costs no bytes


def test_level_of_rank_gives_the_hottest_experts_the_most_bits():
    s = edge_setup(bit_levels=(2, 4, 8), expert_bits={8: 0.25, 4: 0.5, 2: 0.25})
    assert [s.level_of_rank(i, 8) for i in range(8)] == [8, 8, 4, 4, 4, 4, 2, 2]


# ------------------------------------------------------------------ laws

@LAW
@given(small=st.floats(30.0, 60.0), extra=st.floats(0.0, 40.0), schedule=st.sampled_from(["on_demand", "hebf"]),
       cache=st.sampled_from(["lru", "hottest"]), skew=st.floats(0.0, 1.5), batch=st.integers(1, 16))
def test_more_memory_is_never_slower(small, extra, schedule, cache, skew, batch):
    kw = dict(schedule=schedule, cache=cache, routing_skew=skew, batch_size=batch, dense_bits=8)
    slow = edge_moe_step("qwen3-30b-a3b", "agx-orin", edge_setup(memory_budget_gb=small / 4, **kw))
    fast = edge_moe_step("qwen3-30b-a3b", "agx-orin", edge_setup(memory_budget_gb=(small + extra) / 4, **kw))
    assert fast.step_ms <= slow.step_ms * (1 + 1e-9)
    assert fast.hit_rate >= slow.hit_rate - 1e-9


@LAW
@given(budget=st.floats(8.0, 40.0), skew=st.floats(0.0, 1.5), batch=st.integers(1, 16),
       cache=st.sampled_from(["lru", "hottest"]))
def test_hebf_never_slower_than_on_demand_and_never_faster_than_johnson(budget, skew, batch, cache):
    kw = dict(memory_budget_gb=budget, routing_skew=skew, batch_size=batch, cache=cache,
              bit_levels=(2, 4, 8), expert_bits={8: 0.25, 4: 0.5, 2: 0.25})
    serial = edge_moe_step("qwen3-30b-a3b", "agx-orin", edge_setup(schedule="on_demand", **kw))
    hebf = edge_moe_step("qwen3-30b-a3b", "agx-orin", edge_setup(schedule="hebf", **kw))
    assert hebf.step_ms <= serial.step_ms * (1 + 1e-9)
    assert hebf.johnson_step_ms <= hebf.step_ms * (1 + 1e-9)


@pytest.mark.parametrize("budget", [None, 20.0])
def test_more_bit_planes_never_less_memory(budget):
    levels = (2, 4, 8)
    runs = [edge_moe_step("mixtral-8x7b", "agx-orin",
                          edge_setup(bit_levels=levels, expert_bits={b: 1.0}, memory_budget_gb=budget))
            for b in levels]
    all_gb = [r.memory_gb["experts_all"] for r in runs]
    peaks = [r.peak_memory_gb for r in runs]
    assert all_gb[0] < all_gb[1] < all_gb[2]
    assert peaks[0] <= peaks[1] <= peaks[2]
    if budget is None:   # everything resident: fewer bits, fewer bytes per token, faster
        assert runs[0].step_ms < runs[1].step_ms < runs[2].step_ms


def test_lru_hits_rise_with_capacity_and_favour_hot_experts():
    reads = np.array([0.9, 0.5, 0.1, 0.05])
    sizes = np.ones(4)
    small, large = (hit_rates(reads, sizes, layers=1, capacity=c, policy="lru") for c in (1.0, 2.5))
    assert np.all(np.diff(small) <= 0) and np.all(large >= small)
    assert small.sum() == pytest.approx(1.0) and large.sum() == pytest.approx(2.5)   # the cache is full


# ------------------------------------------------------------------ bad setups

@pytest.mark.parametrize(("kw", "match"), [
    (dict(expert_bits={8: 0.5}), r"expert_bits shares must be >= 0 and sum to 1, got \{8: 0.5\}"),
    (dict(bit_levels=(4, 2)), r"bit_levels must be increasing widths in 1..16, got \[4, 2\]"),
    (dict(bit_levels=(2, 4), expert_bits={8: 1.0}), r"expert_bits levels must be among bit_levels \[2, 4\], got \[8\]"),
    (dict(memory_budget_gb=-1), r"memory_budget_gb=-1: .*greater than 0"),
    (dict(schedule="fifo"), r"schedule='fifo'"),
    (dict(batch=2), r"batch=2: Extra inputs"),
])
def test_bad_setups_are_one_line_errors_naming_the_field(kw, match):
    with pytest.raises(PerfModelError, match=match) as exc:
        edge_setup(**kw)
    assert len(str(exc.value).splitlines()) == 1


def test_a_budget_below_the_non_expert_weights_names_the_sizes():
    with pytest.raises(PerfModelError, match=r"memory_budget_gb=1: non-expert weights \(.* GB\) and KV"):
        edge_moe_step("mixtral-8x7b", "agx-orin", edge_setup(memory_budget_gb=1))


def test_a_budget_above_the_device_memory_is_refused():
    with pytest.raises(PerfModelError, match=r"memory_budget_gb=65 is more than 'jetson-agx-orin-64gb' has \(64 GB\)"):
        edge_moe_step("mixtral-8x7b", "agx-orin", edge_setup(memory_budget_gb=65))


def test_streaming_needs_flash_in_the_catalog():
    with pytest.raises(PerfModelError, match=r"the experts \(46.5 GB\) do not fit memory_budget_gb=20 and node 'h100-pcie-8gpu' has no storage"):
        edge_moe_step("mixtral-8x7b", "h100-pcie", edge_setup(memory_budget_gb=20))


def test_a_dense_model_is_refused():
    with pytest.raises(PerfModelError, match="has no MoE layers"):
        edge_moe_step("llama-3.1-8b", "agx-orin", edge_setup())
