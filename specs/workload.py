"""Serving workloads: request lengths, arrival times, shared prefixes and conversations.

A workload comes from `fixed:ISL:OSL`, a preset name (`specs/workloads/presets.yaml`), a workload
YAML file, or a BurstGPT CSV trace (`load_workload`). `sample(n, rate=..., offline=..., seed=...)`
draws a `Requests` table of numpy columns with a seeded generator, so the same seed gives the same
requests.

Two kinds share that `sample` method: `Workload` (synthetic: length distributions and an arrival
process, validated by pydantic) and `TraceWorkload` (rows replayed from a trace file).
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from scipy import optimize, stats

from common.errors import PerfModelError, UnknownNameError, pydantic_message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- length distributions ----------------------------------------------------------------------
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


def _read_lengths(path: Path, column: str | None) -> np.ndarray:
    if not path.is_file():
        raise PerfModelError(f"{path}: no such file (empirical length distribution)")
    lines = path.read_text().splitlines()
    out, start = [], 0
    if column is not None:
        if not lines:
            raise PerfModelError(f"{path} line 1: empty file, expected a header with column {column!r}")
        header = next(csv.reader([lines[0]]))
        if column not in header:
            raise PerfModelError(f"{path} line 1: no column {column!r} in header {header}")
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
    try:
        value = int(float(cell))
    except ValueError:
        raise PerfModelError(f"{path} line {line}: {name!r} must be an integer, got {cell!r}") from None
    if value < (0 if allow_zero else 1) or value != float(cell):
        raise PerfModelError(f"{path} line {line}: {name!r} must be a {'non-negative' if allow_zero else 'positive'} integer, got {cell!r}")
    return value


# ---- arrival processes -------------------------------------------------------------------------
class Poisson(_Strict):
    process: Literal["poisson"] = "poisson"
    rate_req_s: float | None = Field(default=None, gt=0, description="None: given by --rate")


class Gamma(_Strict):
    """Gamma-distributed inter-arrival times. `cv` is the burstiness coefficient: the coefficient of
    variation of the gaps (1 = Poisson, > 1 burstier). vLLM's `--burstiness` is the shape 1/cv^2."""

    process: Literal["gamma"] = "gamma"
    rate_req_s: float | None = Field(default=None, gt=0)
    cv: float = Field(gt=0)


class Offline(_Strict):
    process: Literal["offline"] = "offline"


Arrival = Annotated[Union[Poisson, Gamma, Offline], Field(discriminator="process")]


def arrival_times(process: Poisson | Gamma | Offline, n: int, rng: np.random.Generator,
                  rate: float | None) -> np.ndarray:
    """n arrival times in seconds, the first at t=0 (all zero for offline)."""
    if isinstance(process, Offline):
        return np.zeros(n)
    rate = rate or process.rate_req_s
    if rate is None:
        raise PerfModelError("the workload has no request rate: pass --rate R (requests/s) or --offline")
    if isinstance(process, Gamma):
        shape = 1.0 / process.cv ** 2
        gaps = rng.gamma(shape, 1.0 / (rate * shape), n)
    else:
        gaps = rng.exponential(1.0 / rate, n)
    return np.concatenate([[0.0], np.cumsum(gaps[:-1])])


# ---- requests ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Requests:
    """One row per request, sorted by arrival. Token counts include any shared prefix.

    prefix_tokens: leading prompt tokens identical to an earlier request's (system prompt,
                   conversation history): a prefix cache can serve them.
    prefix_group:  which cached prefix they are: -1 none, 0 the shared system prompt, k >= 1 the
                   history of conversation k (available only once the previous turn finished).
    reuse_tokens:  further prompt tokens whose KV exists but not as a prefix (RAG chunks):
                   CacheBlend-style engines recompute only a fraction of them.
    conversation:  -1, or the conversation a turn belongs to (its history becomes prefix group
                   conversation + 1 for the next turn once this turn finishes).
    """

    arrival_s: np.ndarray      # float64 [n]
    input_tokens: np.ndarray   # int64 [n]
    output_tokens: np.ndarray  # int64 [n], >= 1
    prefix_tokens: np.ndarray  # int64 [n]
    prefix_group: np.ndarray   # int64 [n]
    reuse_tokens: np.ndarray   # int64 [n]
    conversation: np.ndarray   # int64 [n]

    def __len__(self) -> int:
        return len(self.arrival_s)

    @staticmethod
    def build(arrival_s, input_tokens, output_tokens, prefix_tokens=None, prefix_group=None,
              reuse_tokens=None, conversation=None) -> "Requests":
        n = len(arrival_s)
        zeros = np.zeros(n, dtype=np.int64)
        order = np.argsort(arrival_s, kind="stable")
        cols = [np.asarray(arrival_s, dtype=np.float64), np.asarray(input_tokens, dtype=np.int64),
                np.asarray(output_tokens, dtype=np.int64),
                zeros if prefix_tokens is None else np.asarray(prefix_tokens, dtype=np.int64),
                zeros - 1 if prefix_group is None else np.asarray(prefix_group, dtype=np.int64),
                zeros if reuse_tokens is None else np.asarray(reuse_tokens, dtype=np.int64),
                zeros - 1 if conversation is None else np.asarray(conversation, dtype=np.int64)]
        return Requests(*(c[order] for c in cols))

    def head(self, n: int) -> "Requests":
        return Requests(*(getattr(self, f)[:n] for f in self.__dataclass_fields__))

    def summary(self) -> dict:
        span = float(self.arrival_s[-1] - self.arrival_s[0]) if len(self) > 1 else 0.0
        return {"requests": len(self), "mean_input": float(self.input_tokens.mean()),
                "mean_output": float(self.output_tokens.mean()),
                "request_rate": (len(self) - 1) / span if span > 0 else math.inf}


# ---- synthetic workloads -----------------------------------------------------------------------
class Conversation(_Strict):
    """Multi-turn chats: each turn's prompt is the system prompt, the whole history and a new user
    message; the next turn arrives `think_time_s` after the previous one."""

    turns: LengthDist
    think_time_s: float = Field(default=30.0, ge=0)


class Workload(_Strict):
    name: str
    description: str = ""
    input: LengthDist = Field(description="new user tokens per request (per turn)")
    output: LengthDist
    arrival: Arrival = Field(default_factory=Poisson)
    system_prompt_tokens: int = Field(default=0, ge=0, description="prefix shared by every request")
    reuse_tokens: int = Field(default=0, ge=0, description="non-prefix tokens with reusable KV (RAG chunks)")
    conversation: Conversation | None = None
    source: str = ""

    @property
    def mean_input(self) -> float:
        if self.conversation is not None:  # history makes it depend on the turn mix: estimate by sampling
            return float(self.sample(20000, offline=True, seed=0).input_tokens.mean())
        return self.system_prompt_tokens + self.reuse_tokens + _mean(self.input)

    @property
    def mean_output(self) -> float:
        return _mean(self.output)

    def sample(self, n: int, *, rate: float | None = None, offline: bool = False, seed: int = 0) -> Requests:
        if n < 1:
            raise PerfModelError(f"--num-requests must be >= 1, got {n}")
        rng = np.random.default_rng(seed)
        process = Offline() if offline else self.arrival
        if self.conversation is not None:
            return self._sample_conversations(n, process, rate, rng)
        arrivals = arrival_times(process, n, rng, rate)
        new = self.input.sample(rng, n)
        out = self.output.sample(rng, n)
        sys_ = self.system_prompt_tokens
        return Requests.build(arrivals, new + sys_ + self.reuse_tokens, out,
                              prefix_tokens=np.full(n, sys_), prefix_group=np.full(n, 0 if sys_ else -1),
                              reuse_tokens=np.full(n, self.reuse_tokens))

    def _sample_conversations(self, n, process, rate, rng) -> Requests:
        conv = self.conversation
        assert conv is not None
        mean_turns = max(_mean(conv.turns), 1.0)
        n_conv = int(math.ceil(1.2 * n / mean_turns)) + 8
        starts = arrival_times(process, n_conv, rng, None if rate is None else rate / mean_turns)
        turns = np.maximum(conv.turns.sample(rng, n_conv), 1)
        while turns.sum() < n:  # rare: too few turns drawn; give the last conversation the rest
            turns[-1] += n - turns.sum()
        rows = []
        for c in range(n_conv):
            history = self.system_prompt_tokens
            new = self.input.sample(rng, int(turns[c]))
            out = self.output.sample(rng, int(turns[c]))
            for t in range(int(turns[c])):
                prefix = history
                group = c + 1 if t > 0 else (0 if self.system_prompt_tokens else -1)
                rows.append((starts[c] + t * conv.think_time_s, prefix + new[t], out[t], prefix, group, c))
                history = prefix + new[t] + out[t]
        a = np.array(rows, dtype=np.float64)
        req = Requests.build(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], conversation=a[:, 5])
        return req.head(n)


def _mean(dist) -> float:
    return float(dist.mean)


# ---- traces ------------------------------------------------------------------------------------
BURSTGPT_COLUMNS = ("Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type")


@dataclass(frozen=True)
class TraceWorkload:
    """Rows of a trace replayed in order. `--rate` rescales the timestamps to that mean rate;
    `--offline` drops them."""

    name: str
    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    skipped: int = 0  # rows dropped (failed requests with 0 response tokens)
    source: str = ""

    @property
    def mean_input(self) -> float:
        return float(self.input_tokens.mean())

    @property
    def mean_output(self) -> float:
        return float(self.output_tokens.mean())

    def sample(self, n: int | None = None, *, rate: float | None = None, offline: bool = False,
               seed: int = 0) -> Requests:
        del seed  # a replay is deterministic
        n = len(self.arrival_s) if n is None else min(n, len(self.arrival_s))
        if n < 1:
            raise PerfModelError(f"--num-requests must be >= 1, got {n}")
        t = self.arrival_s[:n] - self.arrival_s[0]
        if offline:
            t = np.zeros(n)
        elif rate is not None and n > 1:
            span = t[-1]
            if span <= 0:
                raise PerfModelError(f"{self.name}: all {n} timestamps are equal, cannot rescale to --rate {rate}")
            t = t * ((n - 1) / span) / rate
        return Requests.build(t, self.input_tokens[:n], self.output_tokens[:n])


def read_burstgpt(path: str | Path, *, model: str | None = None, log_type: str | None = None) -> TraceWorkload:
    """A BurstGPT CSV (Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type).

    Rows with 0 response tokens are failed requests in BurstGPT and are skipped (counted in
    `skipped`); rows with 0 request tokens are skipped too. Any malformed row is an error naming
    its line."""
    p = Path(path)
    if not p.is_file():
        raise PerfModelError(f"{p}: no such file")
    with p.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise PerfModelError(f"{p} line 1: empty trace file, expected the header {', '.join(BURSTGPT_COLUMNS)}")
        header = [h.strip() for h in header]
        missing = [c for c in BURSTGPT_COLUMNS if c not in header]
        if missing:
            raise PerfModelError(f"{p} line 1: header lacks column(s) {missing}, got {header}")
        idx = {c: header.index(c) for c in BURSTGPT_COLUMNS}
        ts, isl, osl, skipped = [], [], [], 0
        for line_no, row in enumerate(reader, start=2):
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise PerfModelError(f"{p} line {line_no}: expected {len(header)} fields, got {len(row)}")
            try:
                t = float(row[idx["Timestamp"]])
            except ValueError:
                raise PerfModelError(f"{p} line {line_no}: 'Timestamp' must be a number, got {row[idx['Timestamp']]!r}") from None
            if not math.isfinite(t) or t < 0:
                raise PerfModelError(f"{p} line {line_no}: 'Timestamp' must be finite and >= 0, got {t}")
            req = _positive_int(row[idx["Request tokens"]].strip(), p, line_no, "Request tokens", allow_zero=True)
            res = _positive_int(row[idx["Response tokens"]].strip(), p, line_no, "Response tokens", allow_zero=True)
            tot = _positive_int(row[idx["Total tokens"]].strip(), p, line_no, "Total tokens", allow_zero=True)
            if tot != req + res:
                raise PerfModelError(f"{p} line {line_no}: 'Total tokens' must equal request + response tokens, "
                                     f"got {tot} != {req} + {res}")
            if (model and row[idx["Model"]] != model) or (log_type and row[idx["Log Type"]] != log_type):
                continue
            if req == 0 or res == 0:
                skipped += 1
                continue
            ts.append(t)
            isl.append(req)
            osl.append(res)
    if not ts:
        raise PerfModelError(f"{p}: no servable requests (rows with request and response tokens > 0)")
    order = np.argsort(np.asarray(ts), kind="stable")
    return TraceWorkload(name=p.name, arrival_s=np.asarray(ts)[order], input_tokens=np.asarray(isl)[order],
                         output_tokens=np.asarray(osl)[order], skipped=skipped, source=str(p))


def write_burstgpt(path: str | Path, req: Requests, *, model: str = "ChatGPT", log_type: str = "Conversation log") -> None:
    """Write requests in BurstGPT's CSV layout (integer-second timestamps, as BurstGPT has)."""
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(BURSTGPT_COLUMNS)
        for t, i, o in zip(req.arrival_s, req.input_tokens, req.output_tokens):
            w.writerow([int(round(t)), model, int(i), int(o), int(i + o), log_type])


# ---- resolution of --workload ------------------------------------------------------------------
AnyWorkload = Union[Workload, TraceWorkload]


@functools.lru_cache(maxsize=1)
def _presets() -> dict[str, dict]:
    text = (resources.files("specs") / "workloads" / "presets.yaml").read_text()
    return yaml.safe_load(text)


def preset_names() -> list[str]:
    return sorted(_presets())


def _validate(data: dict, source: str) -> Workload:
    try:
        return Workload.model_validate(data)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source=source)) from None


def fixed(isl: int, osl: int) -> Workload:
    return Workload(name=f"fixed:{isl}:{osl}", input=Fixed(value=isl), output=Fixed(value=osl))


def load_workload(spec: str) -> AnyWorkload:
    """`fixed:ISL:OSL`, a preset name, a workload YAML file, or a BurstGPT CSV file."""
    if spec.startswith("fixed:"):
        parts = spec.split(":")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts[1:]):
            raise PerfModelError(f"--workload {spec!r}: expected fixed:ISL:OSL with positive integers, e.g. fixed:1024:512")
        return fixed(int(parts[1]), int(parts[2]))
    if spec.lower() in _presets():
        entry = dict(_presets()[spec.lower()])
        if "trace" in entry:
            trace = read_burstgpt(resources.files("specs") / "workloads" / entry["trace"])
            return TraceWorkload(name=spec.lower(), arrival_s=trace.arrival_s, input_tokens=trace.input_tokens,
                                 output_tokens=trace.output_tokens, skipped=trace.skipped,
                                 source=entry.get("source", ""))
        return _validate({"name": spec.lower(), **entry}, f"preset {spec}")
    path = Path(spec)
    if spec.endswith(".csv"):
        return read_burstgpt(path)
    if spec.endswith((".yaml", ".yml")):
        if not path.is_file():
            raise PerfModelError(f"--workload {spec}: no such file")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise PerfModelError(f"{path}:{where} malformed YAML: {getattr(exc, 'problem', exc)}") from None
        if not isinstance(data, dict):
            raise PerfModelError(f"{path}: a workload file must be a mapping, got {type(data).__name__}")
        data.setdefault("name", path.stem)
        return _validate(data, str(path))
    raise UnknownNameError("workload", spec, preset_names() + ["fixed:ISL:OSL", "<file>.yaml", "<file>.csv"])


if __name__ == "__main__":  # regenerate the bundled sample: python -m specs.workload
    _wl = load_workload("burstgpt")
    _out = Path(__file__).parent / "workloads" / "burstgpt_sample.csv"
    write_burstgpt(_out, _wl.sample(2000, rate=1.0, seed=0))
    print(f"wrote {_out}")
