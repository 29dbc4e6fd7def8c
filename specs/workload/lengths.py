"""Request-length distributions (tokens): fixed, normal, log-normal, Zipf, uniform, empirical."""

from __future__ import annotations

import csv
import functools
import math
import re
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field, model_validator
from scipy import optimize, stats

from perfmodel.common.errors import PerfModelError
from perfmodel.common.textfile import read_text
from perfmodel.specs.workload.base import _Strict


class Fixed(_Strict):
    dist: Literal["fixed"] = "fixed"
    value: int = Field(ge=1)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value, dtype=np.int64)

    @property
    def mean(self) -> float:
        return float(self.value)


class Normal(_Strict):
    """Normal, rounded and clipped to [min_tokens, max_tokens]."""

    dist: Literal["normal"] = "normal"
    mean: float = Field(gt=0)
    std: float = Field(ge=0)
    min_tokens: int = Field(default=1, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        x = np.rint(rng.normal(self.mean, self.std, n))
        return np.clip(x, self.min_tokens, self.max_tokens or np.inf).astype(np.int64)


class LogNormal(_Strict):
    """Log-normal given by its median and mean (how traces are usually summarised), clipped at
    max_tokens; sigma is solved so that the *clipped* distribution keeps the stated mean."""

    dist: Literal["lognormal"] = "lognormal"
    mean: float = Field(gt=0)
    median: float = Field(gt=0)
    min_tokens: int = Field(default=1, ge=1)
    max_tokens: int = Field(default=32768, ge=1)

    @model_validator(mode="after")
    def _feasible(self):
        if not self.median <= self.mean:
            raise ValueError(f"median <= mean must hold for a log-normal, got (median={self.median}, mean={self.mean})")
        if not self.median < self.max_tokens:
            raise ValueError(f"median < max_tokens must hold, got (median={self.median}, max_tokens={self.max_tokens})")
        self.sigma  # raises if the mean is not reachable under the clip
        return self

    @functools.cached_property
    def sigma(self) -> float:
        mu, cap = math.log(self.median), math.log(self.max_tokens)

        def clipped_mean(s):  # E[min(X, M)] for X ~ LogNormal(mu, s); s scalar or array
            return (np.exp(mu + s * s / 2) * stats.norm.cdf((cap - mu - s * s) / s)
                    + self.max_tokens * stats.norm.sf((cap - mu) / s))

        if self.mean <= self.median * (1 + 1e-9):
            return 1e-9
        grid = np.linspace(1e-3, 6.0, 600)
        values = clipped_mean(grid)
        peak = int(values.argmax())
        if values[peak] < self.mean:
            raise ValueError(
                f"mean={self.mean} is not reachable with median={self.median} when clipped at "
                f"max_tokens={self.max_tokens} (largest possible mean {values[peak]:.1f})")
        return float(optimize.brentq(lambda s: clipped_mean(s) - self.mean, 1e-6, grid[peak]))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        x = np.rint(rng.lognormal(math.log(self.median), self.sigma, n))
        return np.clip(x, self.min_tokens, self.max_tokens).astype(np.int64)


class Zipf(_Strict):
    """Truncated Zipf on the integers [min_tokens, max_tokens]: P(k) proportional to k^-exponent."""

    dist: Literal["zipf"] = "zipf"
    exponent: float = Field(gt=0)
    min_tokens: int = Field(default=1, ge=1)
    max_tokens: int = Field(ge=1)

    @model_validator(mode="after")
    def _range(self):
        if self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens <= max_tokens must hold, got ({self.min_tokens}, {self.max_tokens})")
        return self

    def _cdf(self) -> tuple[np.ndarray, np.ndarray]:
        k = np.arange(self.min_tokens, self.max_tokens + 1, dtype=np.float64)
        w = k ** -self.exponent
        return k, np.cumsum(w) / w.sum()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k, cdf = self._cdf()
        idx = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(k) - 1)
        return k[idx].astype(np.int64)

    @property
    def mean(self) -> float:
        k, cdf = self._cdf()
        return float((k * np.diff(cdf, prepend=0.0)).sum())


class Uniform(_Strict):
    dist: Literal["uniform"] = "uniform"
    low: int = Field(ge=1)
    high: int = Field(ge=1)

    @model_validator(mode="after")
    def _range(self):
        if self.low > self.high:
            raise ValueError(f"low <= high must hold, got ({self.low}, {self.high})")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(self.low, self.high + 1, n, dtype=np.int64)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


class Empirical(_Strict):
    """Resample observed lengths: `values` inline, or `file` (one integer per line, or a CSV
    column named by `column`)."""

    dist: Literal["empirical"] = "empirical"
    values: list[int] | None = None
    file: str | None = None
    column: str | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.values is None) == (self.file is None):
            raise ValueError("exactly one of values or file must be given")
        if self.values is not None and (not self.values or min(self.values) < 1):
            raise ValueError(f"values must be non-empty positive integers, got {self.values[:5]}...")
        return self

    @functools.cached_property
    def data(self) -> np.ndarray:
        if self.values is not None:
            return np.asarray(self.values, dtype=np.int64)
        return _read_lengths(Path(self.file), self.column)  # type: ignore[arg-type]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(self.data, size=n, replace=True)

    @property
    def mean(self) -> float:
        return float(self.data.mean())


LengthDist = Annotated[Union[Fixed, Normal, LogNormal, Zipf, Uniform, Empirical], Field(discriminator="dist")]


# Longest prompt or output one request of a data file may have (no model's context reaches it).
MAX_TOKENS_PER_REQUEST = 10_000_000
# An empirical length file is data: one of these suffixes, and its cells are never echoed in
# messages (issue 15: `file: /etc/passwd` printed the file's first line).
LENGTH_FILE_SUFFIXES = (".csv", ".txt", ".tsv")


def _read_lengths(path: Path, column: str | None) -> np.ndarray:
    if path.suffix.lower() not in LENGTH_FILE_SUFFIXES:
        raise PerfModelError(f"empirical file {str(path)!r}: a length file must end in "
                             f"{', '.join(LENGTH_FILE_SUFFIXES)}")
    lines = read_text(path, what="an empirical length file").splitlines()
    out, start = [], 0
    if column is not None:
        if not lines:
            raise PerfModelError(f"{path} line 1: empty file, expected a header with column {column!r}")
        header = next(csv.reader([lines[0]]))
        if column not in header:
            raise PerfModelError(f"{path} line 1: no column {column!r} in the header ({len(header)} columns)")
        col, start = header.index(column), 1
    for i, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        cell = next(csv.reader([line]))[col] if column is not None else line.strip()
        out.append(_positive_int(cell, path, i, column or "length"))
    if not out:
        raise PerfModelError(f"{path}: no lengths found")
    return np.asarray(out, dtype=np.int64)


def _positive_int(cell: str, path: Path, line: int, name: str, *, allow_zero: bool = False) -> int:
    """A cell of a user's data file as a token count. The cell is echoed only when it looks like a
    number (never a line of an arbitrary file)."""
    shown = repr(cell) if re.fullmatch(r"[-+0-9.eE]{1,24}", cell) else "a non-number"
    kind = "non-negative" if allow_zero else "positive"
    try:
        number = float(cell)
    except ValueError:
        raise PerfModelError(f"{path} line {line}: {name!r} must be an integer, got {shown}") from None
    if not math.isfinite(number) or number != int(number) or number < (0 if allow_zero else 1) \
            or number > MAX_TOKENS_PER_REQUEST:
        raise PerfModelError(f"{path} line {line}: {name!r} must be a {kind} integer up to "
                             f"{MAX_TOKENS_PER_REQUEST:,}, got {shown}")
    return int(number)
