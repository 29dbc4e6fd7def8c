"""Shared Optuna storages: several workers on one study end with exactly the requested trials,
and a study resumes from its stored trials."""

from __future__ import annotations

import pytest

from perfmodel.errors import PerfModelError
from perfmodel.search.storage import describe, open_storage
from perfmodel.search.tune import tune

ARGS = dict(model="llama-3.1-8b", hardware="h100-sxm", devices=2, workload="1000/200", searcher="optuna",
            space={"quant": "bf16", "max_batch": [8, 32, 128]})


def _states(storage, study):
    import optuna
    from collections import Counter

    s = optuna.load_study(study_name=study, storage=storage)
    return s, Counter(t.state.name for t in s.trials)


def test_sqlite_two_workers_then_resume(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    r = tune(**ARGS, trials=24, storage=url, study="s", workers=2, seed=1)
    assert r.result.trials == 24
    study, states = _states(url, "s")
    assert states["COMPLETE"] == 24 and states.get("FAIL", 0) == 0
    first = {t.number: t.values for t in study.trials if t.state.name == "COMPLETE"}
    r2 = tune(**ARGS, trials=30, storage=url, study="s", seed=1)
    study, states = _states(url, "s")
    assert states["COMPLETE"] == 30 and r2.result.trials == 30
    again = {t.number: t.values for t in study.trials if t.state.name == "COMPLETE"}
    assert all(again[n] == v for n, v in first.items())        # stored trials are kept, not redone


def test_journal_file_storage(tmp_path):
    url = f"journal:{tmp_path / 'study.log'}"
    r = tune(**ARGS, trials=8, storage=url, study="j")
    assert r.result.trials == 8
    assert (tmp_path / "study.log").stat().st_size > 0


def test_a_study_belongs_to_one_problem(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    args = {**ARGS, "space": {"quant": "bf16", "tp": [1], "modes": "aggregated"}}
    tune(**args, trials=3, storage=url, study="one")
    with pytest.raises(PerfModelError, match="different tune request"):
        tune(**{**args, "workload": "2000/200"}, trials=3, storage=url, study="one")


def test_storage_urls():
    with pytest.raises(PerfModelError, match="not a storage URL"):
        open_storage("ftp://x")
    with pytest.raises(PerfModelError, match="does not exist"):
        open_storage("sqlite:////no/such/dir/x.db")
    assert describe("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert describe(None) == "in-memory"
