"""One reproduced claim: the paper's headline, its setup with sources, published vs predicted, and a
status judged by one rule (issue 13): a ratio claim is `reproduced` when the prediction is on the
same side of 1 as the published ratio and within 30% of it; an absolute figure within 25%."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, Mapping

from perfmodel.hardware.catalog import System
from perfmodel.resolve import resolve_system

Kind = Literal["ratio", "absolute", "none"]
Status = Literal["reproduced", "missed", "not modeled"]

RATIO_TOLERANCE = 0.30     # issue 13: ratio claims within 30% of the published ratio, same direction
ABSOLUTE_TOLERANCE = 0.25  # issue 13: absolute figures within 25%


@dataclass(frozen=True)
class Entry:
    seed: str
    claim: str
    setup: dict            # model, hardware, workload, baseline, sources: each number's source
    published: float | None
    predicted: float | None
    unit: str
    kind: Kind
    status: Status
    note: str
    source: str            # where the published figure is read

    def to_dict(self) -> dict:
        return asdict(self)


def judge(kind: Kind, published: float, predicted: float) -> tuple[Status, str]:
    """Status and a one-line reason for a prediction against a published figure."""
    err = predicted / published - 1
    if kind == "ratio":
        same_side = published == 1 or (predicted - 1) * (published - 1) > 0  # "matches" (1x) has no side
        if not same_side:
            return "missed", f"opposite direction: predicted {predicted:.2f}x, published {published:.2f}x"
        if abs(err) > RATIO_TOLERANCE:
            return "missed", f"{err:+.0%} off the published ratio (tolerance {RATIO_TOLERANCE:.0%})"
        return "reproduced", f"{err:+.0%} off the published ratio"
    if abs(err) > ABSOLUTE_TOLERANCE:
        return "missed", f"{err:+.0%} off the published figure (tolerance {ABSOLUTE_TOLERANCE:.0%})"
    return "reproduced", f"{err:+.0%} off the published figure"


def computed(*, seed: str, claim: str, setup: dict, published: float, predicted: float, unit: str, kind: Kind,
             source: str, why: str = "", detail: str = "") -> Entry:
    """An entry whose prediction came from the model; `why` adds the model's account of a miss,
    `detail` what else the run shows."""
    status, verdict = judge(kind, published, predicted)
    parts = [verdict, detail, why if status == "missed" else ""]
    note = "; ".join(p for p in parts if p)
    return Entry(seed=seed, claim=claim, setup=setup, published=published, predicted=predicted, unit=unit,
                 kind=kind, status=status, note=note, source=source)


def not_modeled(*, seed: str, claim: str, reason: str, source: str, setup: dict | None = None,
                published: float | None = None, unit: str = "") -> Entry:
    return Entry(seed=seed, claim=claim, setup=setup or {}, published=published, predicted=None, unit=unit,
                 kind="none", status="not modeled", note=reason, source=source)


@dataclass(frozen=True)
class Context:
    """What the entries run on. `systems` replaces a hardware id by a System (a test perturbs one
    number of the catalog and sees the prediction move)."""

    systems: Mapping[str, System] = field(default_factory=dict)

    def system(self, hardware: str, *, file: str | None = None) -> System:
        """The System for a catalog id (or, for a setup outside the catalog, that id in the hardware
        YAML `file`)."""
        if hardware in self.systems:
            return resolve_system(self.systems[hardware])
        return resolve_system(file, entry=hardware) if file else resolve_system(hardware)
