"""Timing statistics, per-operator recorder and interleaved passes (no torch needed for most)."""

import time

import pytest

from perfmodel.executor.timing import Case, HostLoad, OpRecorder, Timing, run_interleaved


def test_timing_quantiles():
    t = Timing.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (t.median_s, t.min_s, t.n) == (3.0, 1.0, 5)
    assert t.p10_s == pytest.approx(1.4) and t.p90_s == pytest.approx(4.6)
    assert t.spread == pytest.approx((4.6 - 1.4) / 3.0)
    with pytest.raises(ValueError):
        Timing.of([])


def test_recorder_sums_regions_of_the_same_name():
    rec = OpRecorder("cpu")
    with rec.op("x"):  # inactive: records nothing
        pass
    rec.start()
    for _ in range(3):
        with rec.op("norm"):
            time.sleep(0.02)
    with rec.op("gemm"):
        time.sleep(0.001)
    ops = rec.stop()
    # (a wide margin: a sleep may overshoot by milliseconds on a loaded CI machine)
    assert set(ops) == {"norm", "gemm"} and ops["norm"] >= 0.06 > ops["gemm"] >= 0.001


def test_interleaved_passes_run_each_case_its_repeats():
    pytest.importorskip("torch")
    calls = {"a": 0, "b": 0}

    def make(name):
        def fn():
            calls[name] += 1
        return fn

    results, stats = run_interleaved([Case(make("a"), repeats=4, warmup=2), Case(make("b"), repeats=2, warmup=0)],
                                     backend="cpu", load_limit=float("inf"))  # never discard: counts only
    assert calls["a"] == 6 and calls["b"] == 2
    assert [r.step.n for r in results] == [4, 2]
    assert stats.passes == 4 and stats.discarded == 0


def test_host_load_is_a_fraction():
    with HostLoad() as load:
        sum(i * i for i in range(200_000))
    assert load.fraction is None or 0.0 <= load.fraction <= 1.0
