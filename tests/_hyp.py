"""Hypothesis profiles (selected in tests/conftest.py).

`ci` (the default): derandomized (a fixed seed per test), no example database, no deadline, so
the suite gives the same result on every run and host. `deep` (PERFMODEL_HYPOTHESIS=deep):
random seeds and `examples(n, deep=...)` examples per property, for a search on demand, e.g.
  PERFMODEL_HYPOTHESIS=deep .venv/bin/python -m pytest tests/perfmodel/test_bounds.py -k never_exceeds
(10,000 random plans for each bound property; PERFMODEL_HYPOTHESIS_EXAMPLES=N for fewer). A failing example found this way is kept as an
explicit regression test beside the property (test_bounds.py has one)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("PERFMODEL_HYPOTHESIS", "ci")
if PROFILE not in ("ci", "deep"):
    raise SystemExit(f"PERFMODEL_HYPOTHESIS must be ci or deep, got {PROFILE!r}")
_QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much]
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=_QUIET)
settings.register_profile("deep", derandomize=False, database=None, deadline=None, print_blob=True,
                          suppress_health_check=_QUIET)
settings.load_profile(PROFILE)


def examples(n: int, *, deep: int | None = None) -> int:
    """Examples per property: `n` in CI, `deep` (default 20 n) in the deep profile, or
    PERFMODEL_HYPOTHESIS_EXAMPLES there when set (a shorter deep run)."""
    if PROFILE != "deep":
        return n
    return int(os.environ.get("PERFMODEL_HYPOTHESIS_EXAMPLES", 0)) or deep or 20 * n
