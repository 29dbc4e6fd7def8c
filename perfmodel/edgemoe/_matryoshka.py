"""Bytes of a bit-nested (matryoshka) expert: planes of MSB slices sharing one set of scales."""

from __future__ import annotations

from perfmodel.edgemoe._setup import EdgeMoESetup


def scale_bytes(params: float, setup: EdgeMoESetup) -> float:
    """Scales and zero points of `params` weights: one set per group, stored with the first plane
    (every nested precision is a slice of the same int code, so it reuses them)."""
    return params / setup.group_size * setup.scale_bits_per_group / 8


def plane_bytes(params: float, setup: EdgeMoESetup) -> list[float]:
    """Bytes of each plane of the store, most significant first; the first carries the scales."""
    widths = [b - a for a, b in zip((0, *setup.bit_levels[:-1]), setup.bit_levels)]
    planes = [params * w / 8 for w in widths]
    planes[0] += scale_bytes(params, setup)
    return planes


def expert_bytes(params: float, bits: int, setup: EdgeMoESetup) -> float:
    """Bytes read from flash (and held in memory) for an expert at `bits`: its first planes."""
    if bits not in setup.bit_levels:
        raise ValueError(f"bits must be one of bit_levels {list(setup.bit_levels)}, got {bits}")
    return sum(plane_bytes(params, setup)[: setup.bit_levels.index(bits) + 1])


def dense_bytes(params: float, setup: EdgeMoESetup) -> float:
    """Bytes of non-expert weights at `dense_bits` (group scales unless 16-bit)."""
    return params * setup.dense_bits / 8 + (scale_bytes(params, setup) if setup.dense_bits < 16 else 0.0)
