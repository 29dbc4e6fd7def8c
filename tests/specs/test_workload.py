"""Workloads: parsing, seeded sampling, length and arrival statistics, BurstGPT traces."""

from __future__ import annotations

import numpy as np
import pytest

from perfmodel.errors import PerfModelError
from perfmodel.specs.workload import (LogNormal, TraceWorkload, Workload, Zipf, load_workload, preset_names,
                            read_burstgpt, write_burstgpt)

HEADER = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"


def test_fixed_spec():
    wl = load_workload("fixed:1024:512")
    req = wl.sample(50, offline=True)
    assert (req.input_tokens == 1024).all() and (req.output_tokens == 512).all()
    assert (req.arrival_s == 0).all()


@pytest.mark.parametrize("bad", ["fixed:10", "fixed:a:5", "fixed:0:5", "fixed:1:2:3"])
def test_fixed_spec_errors(bad):
    with pytest.raises(PerfModelError, match="fixed:ISL:OSL"):
        load_workload(bad)


def test_unknown_workload_suggests():
    with pytest.raises(PerfModelError, match="did you mean 'sharegpt'"):
        load_workload("sharegtp")


@pytest.mark.parametrize("name", preset_names())
def test_presets_load_and_sample(name):
    wl = load_workload(name)
    req = wl.sample(4000, rate=2.0, seed=3)
    assert len(req) == min(4000, len(getattr(wl, "arrival_s", range(4000))))
    assert (req.input_tokens >= 1).all() and (req.output_tokens >= 1).all()
    assert np.all(np.diff(req.arrival_s) >= 0)


@pytest.mark.parametrize("name,mean_in,mean_out", [
    ("sharegpt", 298.8, 323.7), ("lmsys", 92.2, 207.4), ("splitwise", 1154.7, 211.1)])
def test_trace_like_presets_keep_published_averages(name, mean_in, mean_out):
    req = load_workload(name).sample(200_000, offline=True, seed=0)
    assert req.input_tokens.mean() == pytest.approx(mean_in, rel=0.05)
    assert req.output_tokens.mean() == pytest.approx(mean_out, rel=0.03)


def test_distserve_sharegpt_preset_is_the_artifacts_100_requests():
    # The lengths of DistServe's measured OPT-13B ShareGPT run: the description's statistics are the
    # data's, every request fits OPT's 2,048 positions, and resampling keeps the mean.
    wl = load_workload("sharegpt-distserve")
    prompt, output = np.array(wl.input.values), np.array(wl.output.values)
    assert len(prompt) == len(output) == 100 and (prompt + output < 2048).all()
    assert f"mean in {prompt.mean():.1f} / out {output.mean():.1f}" in wl.description
    assert f"median {np.median(prompt):.0f} / {np.median(output):.0f}" in wl.description
    req = wl.sample(50_000, offline=True, seed=0)
    assert req.input_tokens.mean() == pytest.approx(prompt.mean(), rel=0.02)


def test_lognormal_keeps_median_and_clipped_mean():
    d = LogNormal(mean=300, median=40, max_tokens=4096)
    x = d.sample(np.random.default_rng(0), 400_000)
    assert np.median(x) == pytest.approx(40, rel=0.03)
    assert x.mean() == pytest.approx(300, rel=0.03)
    assert x.max() <= 4096


def test_lognormal_unreachable_mean_is_an_error():
    with pytest.raises(ValueError, match="not reachable"):
        LogNormal(mean=3000, median=10, max_tokens=1000)


def test_zipf_mean_matches_samples():
    d = Zipf(exponent=1.1, max_tokens=1024)
    x = d.sample(np.random.default_rng(0), 200_000)
    assert x.mean() == pytest.approx(d.mean, rel=0.02)
    assert x.min() >= 1 and x.max() <= 1024


def test_same_seed_same_requests():
    wl = load_workload("sharegpt")
    a, b = wl.sample(500, rate=3, seed=7), wl.sample(500, rate=3, seed=7)
    c = wl.sample(500, rate=3, seed=8)
    for f in ("arrival_s", "input_tokens", "output_tokens"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.input_tokens, c.input_tokens)


def test_poisson_rate_and_gamma_burstiness():
    base = dict(name="t", input={"dist": "fixed", "value": 10}, output={"dist": "fixed", "value": 10})
    pois = Workload.model_validate(base).sample(50_000, rate=4.0, seed=1)
    gaps = np.diff(pois.arrival_s)
    assert 1 / gaps.mean() == pytest.approx(4.0, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)
    gam = Workload.model_validate({**base, "arrival": {"process": "gamma", "cv": 3.0}}).sample(50_000, rate=4.0, seed=1)
    gaps = np.diff(gam.arrival_s)
    assert 1 / gaps.mean() == pytest.approx(4.0, rel=0.1)
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.1)


def test_missing_rate_is_an_error():
    with pytest.raises(PerfModelError, match="--rate"):
        load_workload("sharegpt").sample(10)


def test_conversation_prefix_is_previous_turn():
    req = load_workload("chat-multiturn").sample(3000, rate=5, seed=0)
    assert (req.prefix_tokens < req.input_tokens).all()
    later = req.prefix_group >= 1
    assert later.any() and (req.prefix_tokens[later] >= 256).all()
    first = req.prefix_group == 0
    assert (req.prefix_tokens[first] == 256).all()


def test_workload_yaml_typo_names_the_key(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("input: {dist: fixed, value: 10}\noutput: {dist: fixed, value: 5}\narival: {process: offline}\n")
    with pytest.raises(PerfModelError, match="arival"):
        load_workload(str(f))


def test_workload_yaml_and_empirical_file(tmp_path):
    lengths = tmp_path / "lens.txt"
    lengths.write_text("10\n20\n30\n")
    f = tmp_path / "w.yaml"
    f.write_text(f"input: {{dist: empirical, file: {lengths}}}\noutput: {{dist: normal, mean: 50, std: 5}}\n"
                 "arrival: {process: poisson, rate_req_s: 2}\n")
    wl = load_workload(str(f))
    req = wl.sample(300, seed=0)
    assert set(req.input_tokens) <= {10, 20, 30} and wl.name == "w"
    assert req.arrival_s[-1] > 0


def test_burstgpt_round_trip(tmp_path):
    req = load_workload("burstgpt").sample(200, rate=1.0, seed=2)
    f = tmp_path / "t.csv"
    write_burstgpt(f, req)
    tr = read_burstgpt(f)
    assert isinstance(tr, TraceWorkload) and len(tr.arrival_s) == 200
    assert np.array_equal(tr.input_tokens, req.input_tokens)
    offline = tr.sample(offline=True)
    assert (offline.arrival_s == 0).all()
    scaled = tr.sample(rate=10.0)
    assert (len(scaled) - 1) / scaled.arrival_s[-1] == pytest.approx(10.0)


def test_burstgpt_skips_failed_and_filters(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(HEADER + "5,ChatGPT,472,18,490,Conversation log\n45,GPT-4,10,0,10,API log\n"
                 "60,GPT-4,100,20,120,API log\n")
    tr = read_burstgpt(f)
    assert tr.skipped == 1 and list(tr.input_tokens) == [472, 100]
    assert list(read_burstgpt(f, model="GPT-4").input_tokens) == [100]


@pytest.mark.parametrize("content,line", [
    ("", 1),
    ("Timestamp,Model,Request tokens\n1,ChatGPT,3\n", 1),
    (HEADER + "5,ChatGPT,472,18,490,Conversation log\n7,ChatGPT,abc,18,490,Conversation log\n", 3),
    (HEADER + "5,ChatGPT,472,18,491,Conversation log\n", 2),
    (HEADER + "5,ChatGPT,472,18\n", 2),
    (HEADER + "-1,ChatGPT,472,18,490,Conversation log\n", 2),
])
def test_malformed_trace_names_the_line(tmp_path, content, line):
    f = tmp_path / "bad.csv"
    f.write_text(content)
    with pytest.raises(PerfModelError, match=rf"line {line}:") as exc:
        read_burstgpt(f)
    assert "\n" not in str(exc.value)


def test_trace_without_requests_is_an_error(tmp_path):
    f = tmp_path / "h.csv"
    f.write_text(HEADER)
    with pytest.raises(PerfModelError, match="no servable requests"):
        read_burstgpt(f)


def test_bundled_sample_is_small_and_bursty():
    from importlib import resources

    size = (resources.files("specs") / "workloads" / "burstgpt_sample.csv").read_bytes()
    assert len(size) < 200_000
    tr = load_workload("burstgpt-sample")
    gaps = np.diff(tr.arrival_s)
    assert gaps.std() / gaps.mean() > 1.2  # burstier than Poisson
