"""MoETuner (Go & Mahajan, arXiv:2502.06643; methods.md s6) reproduced on its first setup: Mixtral-8x7B,
4EP x 2TP on 8x H100, the expert placement found by the ILP (`search.ilp.expert_placement`) against
the default contiguous placement, under a measured routing profile.

The profile (search/data/mixtral_8x7b_mtbench_routing.json, built by benchmarks/moetuner_routing.py)
is MTBench's, not MoETuner's task: the prompt routing of one MTBench request (88 tokens, 32 layers)
from MoE-Lightning's artifact (caoshiyi/artifacts traces/MTBench_Mixtral), the one public routing
record of Mixtral-8x7B we found. A placement enters the step model through two plan fields:

  expert_load_share  mean over layers of the busiest EP rank's share of the layer's token-expert
                     pairs (each layer waits for its busiest rank; the step sums layers);
  expert_locality    share of layer-to-layer transitions (a token's layer-l expert a -> its
                     layer-(l+1) expert b) whose two experts sit on the same device: MoETuner's
                     stage 2 keeps those tokens on their GPU (methods.md s6, O_2), which the step
                     model prices as dispatch volume not sent (perfmodel.moe.remote_share).

This entry lives in the search layer because the ILP does; `register_search_seeds` puts it in the
core registry (perfmodel.reproduce.register), which the CLI calls before it reproduces.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from perfmodel.estimator import estimate
from perfmodel.plan import Plan
from perfmodel.reproduce import Context, Entry, register
from perfmodel.reproduce._entry import computed
from perfmodel.search.ilp.expert_placement import place_experts
from perfmodel.search.routing import RoutingProfile, contiguous_groups, read_routing

SEED = "MoETuner"
MODEL = "mixtral-8x7b"
HARDWARE = "dgx-h100"          # 8x H100 SXM on NVSwitch (the paper's single node)
EP, TP, DP = 4, 2, 4           # 4EP x 2TP on 8 GPUs: attention TP2 x 4 replicas, routed experts over 4 EP ranks
BATCH, ISL, OSL = 32, 512, 256  # our choice (the paper's batch and lengths were not read): per attention replica
PUBLISHED_SPEEDUP = 1.093      # methods.md s6: 9.3% end-to-end speedup, Mixtral-8x7B 4EP x 2TP on 8x H100
PROFILE = "mixtral_8x7b_mtbench_routing.json"
SRC = ("MoETuner arXiv:2502.06643 s5 (methods.md s6); routing: caoshiyi/artifacts @ 95f3bab "
       "traces/MTBench_Mixtral/139916882249008.txt (MoE-Lightning), built by benchmarks/moetuner_routing.py")


def load_profile() -> RoutingProfile:
    """The committed Mixtral-8x7B routing profile (MTBench prompt routing)."""
    with resources.as_file(resources.files("perfmodel.search") / "data" / PROFILE) as path:
        return read_routing(path)


def placement_figures(profile: RoutingProfile, devices: np.ndarray, ep: int) -> tuple[float, float]:
    """(busiest-rank load share, same-device transition share) of a placement `devices` [L, E]."""
    shares = [np.bincount(devices[layer], weights=profile.counts[layer], minlength=ep).max()
              / profile.counts[layer].sum() for layer in range(profile.layers)]
    local = 0.0
    if profile.transitions is not None and profile.layers > 1:
        same = [profile.transitions[layer][devices[layer][:, None] == devices[layer + 1][None, :]].sum()
                / profile.transitions[layer].sum() for layer in range(profile.layers - 1)]
        local = float(np.mean(same))
    return float(np.mean(shares)), local


def placements(profile: RoutingProfile, ep: int = EP) -> dict[str, np.ndarray]:
    """Device of each expert per layer: the engines' contiguous split and MoETuner's ILP."""
    default = np.tile(contiguous_groups(profile.experts, ep), (profile.layers, 1))
    return {"default": default, "moetuner": place_experts(profile, ep).devices}


def step_times(ctx: Context, profile: RoutingProfile | None = None) -> dict[str, dict]:
    """Per placement: its figures and the estimate's TTFT (the prefill step), TPOT and request E2E."""
    profile = profile or load_profile()
    system = ctx.system(HARDWARE)
    out = {}
    for name, devices in placements(profile).items():
        share, local = placement_figures(profile, devices, EP)
        plan = Plan(tp=TP, dp=DP, ep=EP, expert_load_share=share, expert_locality=local)
        r = estimate(model=MODEL, hardware=system, batch_size=BATCH, isl=ISL, osl=OSL, plan=plan)
        out[name] = {"load_share": share, "locality": local, "ttft_ms": r.ttft_ms, "tpot_ms": r.tpot_ms,
                     "e2e_ms": r.e2e_ms, "fits": r.fits}
    return out


def moetuner(ctx: Context) -> Entry:
    runs = step_times(ctx)
    d, m = runs["default"], runs["moetuner"]
    speedup = d["ttft_ms"] / m["ttft_ms"]
    setup = {"model": "mixtral-8x7b (8 experts, top-2, 32 MoE layers), bf16",
             "hardware": "8x H100 SXM, NVSwitch (dgx-h100)",
             "parallelism": "tp=2, dp=4, ep=4: 4 EP ranks of 2 experts; the model has no expert TP inside an EP "
                            "group that spans replicas, so the 8 GPUs hold two expert copies instead of TP2 shards",
             "workload": f"prefill step of {BATCH} prompts x {ISL} tokens per attention replica ({OSL} output "
                         "tokens for the E2E figure): our choice, the paper's batch and lengths were not read",
             "routing": "MTBench prompt routing of one request (88 tokens x 32 layers), not MoETuner's task",
             "baseline": "contiguous placement (experts 2r, 2r+1 on EP rank r), the engines' default",
             "sources": {"claim": "methods.md s6 (MoETuner s5)", "routing": SRC,
                         "model": "specs preset mixtral-8x7b", "hardware": "hardware/catalog dgx-h100"}}
    detail = (f"prefill step {d['ttft_ms']:.0f} -> {m['ttft_ms']:.0f} ms; busiest EP rank share "
              f"{d['load_share']:.3f} -> {m['load_share']:.3f} (uniform {1 / EP:.3f}, tail "
              f"{m['load_share'] / d['load_share'] - 1:+.0%}; paper: token-processing tail -36%); same-device "
              f"transitions {d['locality']:.3f} -> {m['locality']:.3f}; request E2E at {OSL} output tokens "
              f"{d['e2e_ms'] / m['e2e_ms']:.3f}x (decode reads every expert's weights: placement barely moves it); "
              "the routing profile is MTBench's (one 88-token prompt, MoE-Lightning's trace), not the paper's "
              "task, and the ILP places on the profile it is scored on")
    return computed(seed=SEED, claim="ILP expert placement and routing: 9.3% end-to-end speedup for Mixtral-8x7B "
                                     "(4EP x 2TP on 8x H100), 17.5% on 2x8 H200",
                    setup=setup, published=PUBLISHED_SPEEDUP, predicted=speedup,
                    unit="x speedup (prefill step; end-to-end in the note)", kind="ratio",
                    source=SRC, detail=detail,
                    why="the gain is set by the routing profile, which is not the paper's")


def register_search_seeds() -> None:
    """Put the search-layer entries into the core seed registry (idempotent)."""
    register(SEED, moetuner)
