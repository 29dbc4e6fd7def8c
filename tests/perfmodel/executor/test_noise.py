"""The validation's own noise measurements and the refusal they lead to (issue 15)."""

from perfmodel.executor.noise import DRIFT_LIMIT, HOST_LOAD_LIMIT, SPREAD_LIMIT, Noise
from perfmodel.executor.timing import Timing


def _ref(ms: float, spread: float = 0.02) -> Timing:
    return Timing(median_s=ms / 1e3, p10_s=ms / 1e3 * (1 - spread / 2), p90_s=ms / 1e3 * (1 + spread / 2),
                  min_s=ms / 1e3 * 0.98, n=9)


def test_a_quiet_run_is_trusted():
    n = Noise.of([0.02, 0.05, 0.01], _ref(40.0), _ref(41.0), 0.02)
    assert n.broken() == [] and n.refusal() is None and n.to_dict()["refusal"] is None
    assert n.step_spread == 0.02 and abs(n.drift - 0.025) < 1e-12


def test_each_limit_is_named_with_its_value():
    assert Noise.of([0.38, 0.4, 0.1], _ref(40), _ref(40), None).refusal() == \
        f"timings disturbed: spread 38% (limit {SPREAD_LIMIT:.0%}); rerun on an idle host"
    # the reference kernel ran 76% faster after the grid than before it (a burst of load before)
    drift = Noise.of([0.01], _ref(176.0), _ref(41.3), 0.0)
    assert drift.broken() == [f"reference kernel moved 77% between the start and the end (limit {DRIFT_LIMIT:.0%})"]
    # a noisy reference (its block minima disagree) counts even without drift, as a spread
    assert Noise.of([0.01], _ref(40, spread=0.5), _ref(40), 0.0).broken() == \
        [f"reference kernel spread 50% (limit {SPREAD_LIMIT:.0%})"]
    # and a spread under the spread limit is no drift (the first version read it as "moved 18%")
    assert Noise.of([0.01], _ref(40, spread=0.18), _ref(41), 0.0).broken() == []
    loaded = Noise.of([0.01], _ref(40), _ref(40), 0.45)
    assert loaded.broken() == [f"other processes used 45% of the CPU (limit {HOST_LOAD_LIMIT:.0%})"]
    every = Noise.of([0.5], _ref(40), _ref(80), 0.9).refusal()
    assert every.count("limit") == 3 and every.endswith("; rerun on an idle host") and "\n" not in every


def test_limits_sit_between_a_quiet_and_a_disturbed_host():
    # measured on an idle 2-core VM: step spread 1-8%, reference drift < 5%
    assert 0.1 <= SPREAD_LIMIT <= 0.3 and 0.1 <= DRIFT_LIMIT <= 0.3 and HOST_LOAD_LIMIT < 0.5


def test_reference_level_is_the_median_of_block_minima(monkeypatch):
    """The real kernel, smaller: a Timing of REFERENCE_BLOCKS minima, each the least of its block."""
    import pytest

    pytest.importorskip("torch")
    from perfmodel.executor import noise

    monkeypatch.setitem(noise.REFERENCE_N, "cpu", 96)
    t = noise.time_reference("cpu", "fp32")
    assert t.n == noise.REFERENCE_BLOCKS and 0 < t.min_s <= t.median_s <= t.p90_s
