"""`perfmodel reproduce D2MoE`: computed from perfmodel.edgemoe, and it moves with the device."""

import dataclasses

import pytest

from perfmodel.reproduce import Context, judge, reproduce
from perfmodel.reproduce._edgemoe import HARDWARE, d2moe_runs


def test_d2moe_is_computed_and_judged_by_the_rule():
    e = reproduce(["d2moe"])[0]
    assert e.kind == "ratio" and e.published == 1.39 and e.setup["sources"]
    assert e.status == judge("ratio", 1.39, e.predicted)[0]
    base, ours = d2moe_runs(Context())
    assert e.predicted == pytest.approx(ours.tokens_per_s / base.tokens_per_s)
    assert f"{base.peak_memory_gb / ours.peak_memory_gb:.2f}x lower" in e.note


def test_d2moe_moves_when_the_baseline_no_longer_fits():
    # on a 32 GB board the INT8 baseline (48 GB) streams experts from flash; D2MoE's 4.5-bit mix
    # nearly fits, so its advantage grows
    system = Context().system(HARDWARE)
    small = dataclasses.replace(system, device=system.device.model_copy(update={"memory_gb": 32}))
    base = reproduce(["D2MoE"])[0].predicted
    moved = reproduce(["D2MoE"], systems={HARDWARE: small})[0].predicted
    assert moved > 2 * base
