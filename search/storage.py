"""Optuna storages behind `--storage`: in-process (default), SQLite or a journal file (several
worker processes on one machine), PostgreSQL (workers on many machines on one study).

RDB storages (SQLite, PostgreSQL, MySQL) run with heartbeats: a trial whose worker died stops
beating, is marked FAIL after `GRACE_PERIOD_S`, and `RetryFailedTrialCallback` re-enqueues its
parameters, so the study loses no trial. Journal files have no heartbeat in Optuna; a killed
worker's trial stays RUNNING there, which is why the fleet path is PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

from perfmodel.errors import PerfModelError

# A worker records a heartbeat every HEARTBEAT_S; a trial silent for GRACE_PERIOD_S is failed and
# retried. Small values find dead workers fast; each beat is one UPDATE, cheap next to a trial.
HEARTBEAT_S = int(os.environ.get("PERFMODEL_HEARTBEAT_S", "2"))
GRACE_PERIOD_S = int(os.environ.get("PERFMODEL_GRACE_PERIOD_S", "6"))
MAX_RETRY = 3
CONNECT_TIMEOUT_S = 5

USAGE = "use sqlite:///FILE.db, postgresql://USER@HOST:PORT/DB, or journal:FILE (a journal log file)"


def describe(url: str | None) -> str:
    """The URL without its password (for messages and result files)."""
    if url is None:
        return "in-memory"
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _postgres_driver() -> str:
    """SQLAlchemy 2.1 maps postgresql:// to psycopg 3; use psycopg2 (our extra) when that is what
    is installed."""
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2"
    return "postgresql"


def is_shared(url: str | None) -> bool:
    return url is not None


def open_storage(url: str | None):
    """An Optuna storage for `url`; a PerfModelError (one line) when it is malformed or unreachable."""
    import optuna

    if url is None:
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:") or url.endswith((".log", ".journal")):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url.removeprefix("journal:"))
        if not path.parent.exists():
            raise PerfModelError(f"--storage {url}: directory {path.parent} does not exist")
        return JournalStorage(JournalFileBackend(str(path)))
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if not scheme.startswith(("sqlite", "postgresql", "postgres", "mysql")):
        raise PerfModelError(f"--storage {url!r} is not a storage URL: {USAGE}")
    if scheme in ("postgres", "postgresql"):
        url = _postgres_driver() + url[len(scheme):]
    if scheme.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if not path or path == ":memory:":  # an in-memory database: optuna's threads break on it
            raise PerfModelError(f"--storage {url!r}: a SQLite storage needs a file, sqlite:///PATH "
                                 "(leave --storage out for an in-process study)")
        if not Path(path).parent.exists():
            raise PerfModelError(f"--storage {url}: directory {Path(path).parent} does not exist")
        engine_kwargs = {"connect_args": {"timeout": 60}}
    elif scheme.startswith("postgres"):
        engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}, "pool_pre_ping": True}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    import warnings

    from optuna.storages import RDBStorage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartbeats and the retry callback are marked experimental
        try:
            from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
            retry = {"heartbeat_stale_trial_callback": Retry(max_retry=MAX_RETRY)}
        except ImportError:  # Optuna < 4.9
            from optuna.storages import RetryFailedTrialCallback as Retry
            retry = {"failed_trial_callback": Retry(max_retry=MAX_RETRY)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                              grace_period=GRACE_PERIOD_S, **retry)
    except (ModuleNotFoundError, ImportError) as exc:
        raise PerfModelError(f"--storage {describe(url)}: no database driver for it ({exc}); "
                             f"pip install perfmodel[postgres]") from None
    except Exception as exc:  # sqlalchemy OperationalError / ArgumentError: unreachable or malformed
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PerfModelError(f"--storage {describe(url)}: cannot open the study storage ({first})") from None
