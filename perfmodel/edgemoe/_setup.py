"""What an on-device MoE run is: the bit-nested expert store, which precision each expert is
loaded at, the memory budget, the cache and the load schedule (validated data; issue 14 item 3)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from perfmodel.errors import PerfModelError, pydantic_message

Schedule = Literal["on_demand", "hebf"]
CachePolicy = Literal["lru", "hottest"]
SCHEDULES: tuple[str, ...] = ("on_demand", "hebf")
CACHES: tuple[str, ...] = ("lru", "hottest")

# AWQ / GPTQ "g128" layout: one fp16 scale and one fp16 zero point per 128 weights of a row
# (AWQ arXiv:2306.00978 s5, GPTQ's group_size=128 default).
GROUP_SIZE = 128
SCALE_BITS_PER_GROUP = 32


class EdgeMoESetup(BaseModel):
    """One on-device MoE configuration.

    bit_levels   the nested precisions of the matryoshka store, increasing, e.g. (2, 4, 8): plane j
                 holds bits levels[j-1]+1..levels[j] of every weight, most significant first, so
                 reading the first j planes gives a levels[j-1]-bit expert (Matryoshka Quantization,
                 Nair et al. arXiv:2502.06786: lower precisions are the MSB slices of the int8 code,
                 sharing its scales). (8,) is a plain int8 store.
    expert_bits  share of experts (hottest first) loaded at each level, e.g. {8: .25, 4: .5, 2: .25}:
                 the hottest quarter at int8 (D2MoE's dual routing gives important experts more bits).
    schedule     on_demand: a layer's missing experts load, then compute, serially (llama.cpp's mmap
                 page faults); hebf: loads run hottest expert first on the flash queue while the
                 compute queue runs each expert as soon as its planes are in (D2MoE's HEBF).
    cache        lru: experts not pinned, least recently used evicted (the page cache); hottest: the
                 experts with the most expected reads per byte stay pinned.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    bit_levels: tuple[int, ...] = Field(default=(8,), min_length=1, max_length=8)
    expert_bits: dict[int, float] = Field(default_factory=lambda: {8: 1.0})
    schedule: Schedule = "on_demand"
    cache: CachePolicy = "lru"
    memory_budget_gb: float | None = Field(default=None, gt=0, le=1e5,
                                           description="memory the run may use; None: the device's memory")
    batch_size: int = Field(default=1, gt=0, le=4096, description="sequences decoding together")
    context_tokens: int = Field(default=512, ge=0, le=10_000_000, description="KV length per sequence")
    routing_skew: float = Field(default=0.0, ge=0, le=4, description="Zipf exponent of expert popularity")
    dense_bits: Literal[4, 8, 16] = Field(default=16, description="bits of the non-expert weights")
    kv_bits: Literal[8, 16] = 16
    group_size: int = Field(default=GROUP_SIZE, gt=0, le=1 << 20)
    scale_bits_per_group: int = Field(default=SCALE_BITS_PER_GROUP, ge=0, le=64)

    @model_validator(mode="after")
    def _levels_and_shares(self):
        levels = self.bit_levels
        if any(b < 1 or b > 16 for b in levels) or list(levels) != sorted(set(levels)):
            raise ValueError(f"bit_levels must be increasing widths in 1..16, got {list(levels)}")
        unknown = sorted(set(self.expert_bits) - set(levels))
        if unknown:
            raise ValueError(f"expert_bits levels must be among bit_levels {list(levels)}, got {unknown}")
        shares = self.expert_bits.values()
        if any(s < 0 for s in shares) or abs(sum(shares) - 1) > 1e-6:
            raise ValueError(f"expert_bits shares must be >= 0 and sum to 1, got {dict(self.expert_bits)}")
        return self

    def level_of_rank(self, rank: int, num_experts: int) -> int:
        """Bits of the expert of popularity rank `rank` (0 = hottest): the hottest shares get the
        highest levels."""
        edge = 0.0
        for bits in sorted(self.expert_bits, reverse=True):
            edge += self.expert_bits[bits] * num_experts
            if rank < edge - 1e-9:
                return bits
        return min(b for b, s in self.expert_bits.items() if s > 0)


def edge_setup(**fields) -> EdgeMoESetup:
    """An EdgeMoESetup, with a bad field as a one-line PerfModelError naming it and its value."""
    try:
        return EdgeMoESetup(**fields)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source="edge setup")) from None
