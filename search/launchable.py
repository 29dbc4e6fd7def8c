"""What each serving engine can launch, so `tune --engine E` searches only plans E's exported
command can run (the recommended plan's prediction is then reachable).

The limits follow the exporters (`search.export`): vLLM, SGLang and TensorRT-LLM attend over the
KV on the device (no CPU or sparse decode attention), run one batch per step (no NanoFlow
nano-batches), place experts contiguously (no MoETuner placement) and route placement-agnostically
(no Speculative MoE expert locality); trtllm-serve has no weight offload. Engine profiles without
an exporter (ideal, nanoflow, ...) are research or bound profiles: no limit.
"""

from __future__ import annotations

from perfmodel.errors import PerfModelError

# search-space key -> (the values the engine can launch, the CLI option, why)
_SERVING = {
    "nano_batches": ((1,), "--nano-batches", "nano-batching is a NanoFlow technique"),
    "kv_attention": (("gpu",), "--kv-attention", "decode attention runs over device KV"),
    "expert_placement": (("contiguous",), "--expert-placement", "experts are placed contiguously"),
    "expert_locality": ((None,), "--expert-locality", "token shuffling and expert grouping is Speculative "
                        "MoE's research system"),
}
LIMITS: dict[str, dict[str, tuple]] = {
    "vllm": _SERVING,
    "sglang": _SERVING,
    "trtllm": {**_SERVING, "offload_weights": ((0.0,), "--weights-offload", "trtllm-serve has no weight offload")},
}


def engine_family(engine: str) -> str:
    """`vllm-0.5` -> `vllm`: a profile's exporter family."""
    return engine.split("-")[0].lower()


def restrict_space(engine: str | None, space: dict) -> dict:
    """The search space with each dimension the engine cannot launch pinned to what it can; a
    dimension the user fixed to values the engine lacks is an error that names them."""
    if engine is None:
        return dict(space)
    limits = LIMITS.get(engine_family(engine), {})
    out = dict(space)
    for key, (allowed, flag, why) in limits.items():
        given = out.get(key)
        if given is None:
            out[key] = allowed
            continue
        values = tuple(given) if isinstance(given, (list, tuple)) else (given,)
        bad = [v for v in values if v not in allowed]
        if bad and len(bad) == len(values):
            raise PerfModelError(f"--engine {engine} cannot launch {flag} {','.join(map(str, bad))} ({why}); "
                                 f"it launches {','.join(map(str, allowed))}; search it with --engine ideal or "
                                 "nanoflow, or leave --engine out")
        out[key] = tuple(v for v in values if v in allowed)
    return out
