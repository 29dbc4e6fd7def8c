"""The seed table: one entry per seed system of methods.md / issue 13, in the issue's order."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from perfmodel.errors import PerfModelError, UnknownNameError
from perfmodel.hardware.catalog import System
from perfmodel.reproduce import (_diffusion, _engines, _fabric, _finetune, _lora, _moe, _offload, _prefill, _specmoe,
                                 _swiftkv, _vision)
from perfmodel.reproduce._comet import comet
from perfmodel.reproduce._distserve import distserve
from perfmodel.reproduce._edgemoe import d2moe
from perfmodel.reproduce._sarathi import sarathi
from perfmodel.reproduce._entry import Context, Entry
from perfmodel.reproduce._unmodeled import NOT_MODELED

_COMPUTED: dict[str, Callable[[Context], Entry]] = {
    "NanoFlow": _engines.nanoflow, "QServe": _engines.qserve, "DeepSpeed-FastGen": _engines.fastgen,
    "ShadowKV": _offload.shadowkv, "MoE-Lens": _offload.moe_lens, "SwiftKV": _swiftkv.swiftkv,
    "S-LoRA": _lora.slora, "FlexLLM": _finetune.flexllm, "packet spraying": _fabric.packet_spraying,
    "A2ATS": _offload.a2ats, "CacheBlend": _prefill.cacheblend, "vAttention": _engines.vattention,
    "CloudMatrix384": _moe.cloudmatrix384, "Speculative MoE": _specmoe.speculative_moe,
    "Sarathi-Serve": sarathi,
    "DistServe": distserve,
    "COMET": comet,
    "D2MoE": d2moe,
    "SwiftDiffusion": _diffusion.swiftdiffusion,
    "Beyond Inference": _vision.beyond_inference,
}
ORDER = ("NanoFlow", "Sarathi-Serve", "SwiftDiffusion", "QServe", "A2ATS", "vAttention", "ShadowKV",
         "Beyond Inference", "MoE-Lens", "CloudMatrix384", "BurstGPT", "Tilus", "DeepSpeed-FastGen", "MoETuner",
         "S-LoRA", "D2MoE", "FastSwitch", "CacheBlend", "COMET", "FlexLLM", "Prepacking", "SwiftKV",
         "Speculative MoE", "DistServe", "packet spraying")
SEEDS: dict[str, Callable[[Context], Entry]] = {name: _COMPUTED.get(name) or NOT_MODELED[name] for name in ORDER}


def register(name: str, entry: Callable[[Context], Entry]) -> None:
    """Replace seed `name`'s entry by one computed in a layer above this package (the search layer's
    MoETuner runs its ILP; `perfmodel.search.moetuner.register_search_seeds`). The seed must be one of
    ORDER; registering the same function again is a no-op, a different one for a computed seed an error."""
    if name not in SEEDS:
        raise UnknownNameError("seed", name, sorted(SEEDS))
    current = SEEDS[name]
    if current is not entry and name in _COMPUTED:
        raise PerfModelError(f"seed {name!r} is already computed by {current.__module__}.{current.__name__}; "
                             f"cannot register {entry.__module__}.{entry.__name__}")
    SEEDS[name] = entry


def _key(name: str) -> str:
    return name.lower().replace(" ", "-").replace("_", "-")


def seed_names() -> list[str]:
    return list(SEEDS)


def reproduce(names: Sequence[str] | None = None, *, systems: Mapping[str, System] | None = None) -> list[Entry]:
    """Entries for `names` (any case; spaces or dashes), all seeds when None. `systems` replaces
    catalog ids by Systems (see Context)."""
    by_key = {_key(n): n for n in SEEDS}
    chosen = []
    for name in names or list(SEEDS):
        if _key(name) not in by_key:
            raise UnknownNameError("seed", name, sorted(SEEDS))
        chosen.append(by_key[_key(name)])
    ctx = Context(systems=dict(systems or {}))
    return [SEEDS[n](ctx) for n in chosen]
