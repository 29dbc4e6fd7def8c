"""Results as pandas DataFrames; pandas stays optional (`pip install perfmodel[frames]`)."""

from __future__ import annotations

from perfmodel.common.errors import PerfModelError


def to_frame(rows: list[dict], *, what: str):
    """A DataFrame with one row per dict (columns in the first row's key order)."""
    try:
        import pandas as pd
    except ImportError:
        raise PerfModelError(f"{what}.to_frame() needs pandas, which is not installed: pip install pandas "
                             "(or perfmodel[frames])") from None
    return pd.DataFrame.from_records(rows, columns=list(rows[0]) if rows else None)
