"""`steady_window_tok_s`: throughput between an offline run's ramp-up and its drain."""

from __future__ import annotations

import numpy as np
import pytest

from perfmodel.serving.metrics import Timeline, steady_window_tok_s, summarize


def _staggered(k: int, gap_s: float, life_s: float, isl: int, osl: int) -> Timeline:
    """k requests, one starting every gap_s, each decoding for life_s: life_s / gap_s in flight."""
    first = np.arange(k) * gap_s
    return Timeline(arrival_s=np.zeros(k), first_token_s=first, finish_s=first + life_s,
                    input_tokens=np.full(k, isl), output_tokens=np.full(k, osl))


def test_window_sees_the_steady_rate_the_whole_run_dilutes():
    t = _staggered(k=200, gap_s=0.5, life_s=10.0, isl=1000, osl=100)
    out_s, total_s, window_s = steady_window_tok_s(t)
    # steady state: one request starts and one ends every gap, 20 in flight
    assert out_s == pytest.approx(100 / 0.5, rel=0.01)
    assert total_s == pytest.approx((1000 + 100) / 0.5, rel=0.01)
    assert window_s == pytest.approx(199 * 0.5 - 10.0)
    whole = summarize(t, devices=1)
    assert whole["output_tok_s"] < out_s and whole["total_tok_s"] < total_s


def test_one_wave_has_no_window():
    t = _staggered(k=8, gap_s=0.0, life_s=5.0, isl=10, osl=10)
    assert steady_window_tok_s(t) is None
