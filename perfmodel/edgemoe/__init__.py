"""On-device MoE (issue 14 item 3; D2MoE, arXiv:2504.15299): experts that do not fit the device's
memory stream from flash, stored as bit-nested (matryoshka) planes, loaded on demand or pipelined
with compute hottest-expert-bit-first (HEBF).

- `_setup`: the validated configuration (bit levels, per-expert precision, budget, cache, schedule).
- `_matryoshka`: bytes of the planes of a nested expert.
- `_cache`: which reads the cache serves (Che's LRU approximation, or the hottest experts pinned).
- `_pipeline`: a layer's loads and expert computes as a two-machine flow shop.
- `_step`: one decode step: time, its parts and peak memory.
"""

from perfmodel.edgemoe._setup import CACHES, SCHEDULES, EdgeMoESetup, edge_setup
from perfmodel.edgemoe._step import EdgeMoEStep, edge_moe_step

__all__ = ["CACHES", "SCHEDULES", "EdgeMoESetup", "EdgeMoEStep", "edge_moe_step", "edge_setup"]
