"""Serving options a search group shares (issue 12: two-batch overlap, EPLB redundant experts,
speculative decoding, Speculative MoE expert locality) and the `--speculative` grammar every command reads (tune, estimate, serve,
sweep)."""

from __future__ import annotations

from dataclasses import dataclass

from perfmodel.errors import PerfModelError
from perfmodel.plan import SPEC_METHODS


@dataclass(frozen=True)
class ServingOption:
    """Issue-12 plan fields that one search group shares (perfmodel.plan.Plan's names)."""

    two_batch_overlap: bool = False
    redundant_experts: int = 0
    spec_method: str | None = None
    spec_tokens: int = 1
    spec_acceptance: tuple[float, ...] | None = None
    expert_locality: float | None = None  # Speculative MoE: share served on the token's own EP rank

    def plan_fields(self) -> dict:
        return dict(two_batch_overlap=self.two_batch_overlap, redundant_experts=self.redundant_experts,
                    spec_method=self.spec_method, spec_tokens=self.spec_tokens, spec_acceptance=self.spec_acceptance,
                    expert_locality=self.expert_locality)

    def label(self) -> list[str]:
        out = ["tbo"] if self.two_batch_overlap else []
        if self.redundant_experts:
            out.append(f"eplb+{self.redundant_experts}")
        if self.spec_method:
            out.append(f"{self.spec_method}{self.spec_tokens}")
        if self.expert_locality is not None:
            out.append(f"local{self.expert_locality:g}")
        return out


def parse_speculative(text: str) -> tuple[str | None, int, tuple[float, ...] | None]:
    """`none`, `METHOD`, `METHOD:K` or `METHOD:K:RATE` (RATE repeated per draft position) ->
    (spec_method, spec_tokens, spec_acceptance); METHOD is mtp, eagle3 or ngram."""
    parts = text.strip().lower().split(":")
    if parts[0] in ("none", "off", ""):
        return None, 1, None
    if parts[0] not in SPEC_METHODS or len(parts) > 3:
        raise PerfModelError(f"speculative option {text!r}: expected none or METHOD[:K[:RATE]] with METHOD one of "
                             f"{', '.join(SPEC_METHODS)}, e.g. mtp:2 or ngram:3:0.4")
    try:
        k = int(parts[1]) if len(parts) > 1 else 1
        rate = float(parts[2]) if len(parts) > 2 else None
    except ValueError:
        raise PerfModelError(f"speculative option {text!r}: K must be an integer and RATE a number") from None
    if not 1 <= k <= 16 or (rate is not None and not 0 <= rate <= 1):
        raise PerfModelError(f"speculative option {text!r}: 1 <= K <= 16 and 0 <= RATE <= 1 must hold")
    if parts[0] == "ngram" and rate is None:
        raise PerfModelError(f"speculative option {text!r}: ngram has no published acceptance rate; give "
                             f"ngram:K:RATE")
    return parts[0], k, None if rate is None else (rate,) * k
