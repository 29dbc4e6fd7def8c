"""The engine fit: its split holds out a whole model, it sees only rows whose clients the simulator
models, its parameters stay physical (the front end within what the measured TTFT leaves after the
prefill), and (slow) re-running it reproduces the numbers written in the profiles."""

from __future__ import annotations

import pytest

from perfmodel.accuracy import Case, cases, clients_modeled, read_rows
from perfmodel.serving import fit
from perfmodel.serving.engine_profiles import TODAY, get_engine


def _cases():
    return [c for c in cases(read_rows()) if isinstance(c, Case)]


def test_split_holds_out_every_qwen3_row_and_nothing_else():
    train, held = fit.split(_cases())
    assert held and all(c.kwargs["model"] == "qwen3-32b" for c in held)
    assert train and not any(c.kwargs["model"] == "qwen3-32b" for c in train)


def test_profiles_carry_values_inside_the_fit_bounds():
    for p in TODAY:
        for name, lo, hi in zip(fit.PARAMS, fit.LOWER, fit.UPPER):
            assert lo <= getattr(p, name) <= hi, (p.name, name)
        assert "perfmodel.serving.fit" in p.sources["frontend_ms"]


def test_fit_rows_leave_out_the_genai_perf_grid():
    rows = read_rows()
    keys = {c.key for c in fit.modeled_cases(rows)}
    grid = {f"r{i}" for i, r in enumerate(rows, start=2) if not clients_modeled(r)}
    assert keys and grid and not keys & grid
    engines = {c.kwargs["engine"] for c in fit.modeled_cases(rows)}
    assert engines == {p.name for p in TODAY}


def test_shipped_front_ends_fit_under_the_measured_ttft():
    """No train row with <= 4 clients measures a mean TTFT below the shipped front end plus the
    profile's own one-request prefill; an engine without such rows stays within the sources' bound."""
    train = {p.name: fit.split([c for c in fit.modeled_cases(read_rows()) if c.kwargs["engine"] == p.name])[0]
             for p in TODAY}
    cache: dict = {}
    for p in TODAY:
        bound = fit.frontend_bound(p, train[p.name], cache)
        if bound["ms"] is None:
            assert p.frontend_ms <= fit.SOURCE_FRONTEND_MS, p.name
            continue
        assert bound["rows"] >= 10 and p.frontend_ms <= bound["ms"], (p.name, p.frontend_ms, bound)
        # the bound is the tightest row's slack, and slower kernels (longer prefill) tighten it
        slower = fit.frontend_bound(p.model_copy(update={"device_time_scale": 1.2 * p.device_time_scale}),
                                    train[p.name], cache)
        assert slower["ms"] < bound["ms"]
    assert fit.frontend_bound(get_engine("vllm-v1"), [c for c in train["vllm-v1"]
                                                      if c.kwargs["concurrency"] > 4])["ms"] is None


def test_with_params_only_touches_the_named_fields():
    p = get_engine("vllm-v1")
    q = fit.with_params(p, [5.0], ("frontend_ms",))
    assert q.frontend_ms == 5.0 and q.device_time_scale == p.device_time_scale and q.scheduler == p.scheduler


@pytest.mark.slow
def test_refit_reproduces_the_vllm_v1_profile():
    got = fit.run(engines=["vllm-v1"])["vllm-v1"]
    p = get_engine("vllm-v1")
    assert got["fitted"]["device_time_scale"] == pytest.approx(p.device_time_scale, abs=0.02)
    assert got["fitted"]["frontend_ms"] == pytest.approx(p.frontend_ms, abs=5.0)
    assert got["fitted"]["frontend_ms"] <= got["frontend_bound"]["ms"] and got["frontend_bound"]["source"] == "data"
    assert got["fitted"]["cpu_base_ms"] == pytest.approx(p.cpu_base_ms, abs=0.2)
    assert got["rows_left_out"] == 111                  # the vLLM 0.12.0 genai-perf grid rows
    # train and held-out rows as docs/serving.md records them (train TPOT 7.6%, TTFT 15.4%; held out,
    # 3 Dynamo Qwen3-32B rows, 61.0% / 105.7%), each ceiling the value plus the ratchet's margin,
    # max(2 points, 10%)
    assert got["train"]["tpot"] < 9.6 and got["train"]["ttft"] < 17.4
    assert got["held_out"]["tpot"] < 67.1 and got["held_out"]["ttft"] < 116.3
