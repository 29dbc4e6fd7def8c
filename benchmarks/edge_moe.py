"""On-device MoE (perfmodel.edgemoe, issue 14 item 3): the D2MoE entry's setup, a memory-budget
sweep, and how the D2MoE ratios move with the assumptions the abstract does not fix (bit mix,
batch). Prints markdown tables; the numbers in docs/edge-moe.md come from here.

Run: python benchmarks/edge_moe.py
"""

from __future__ import annotations

from perfmodel.edgemoe import edge_moe_step, edge_setup
from perfmodel.reproduce._edgemoe import BASELINE, D2MOE, HARDWARE, MODEL, WORKLOAD

BUDGETS_GB = (64, 40, 30, 20, 12)
MIXES = {"all 4-bit": {4: 1.0}, "8/4/2 = 1/4, 1/2, 1/4 (entry)": {8: 0.25, 4: 0.5, 2: 0.25},
         "8/4 = 1/2, 1/2": {8: 0.5, 4: 0.5}, "all 8-bit (nested)": {8: 1.0}}


def _pair(workload: dict, mix: dict | None = None, budget: float | None = None, skew: float = 0.0):
    common = dict(workload, memory_budget_gb=budget, routing_skew=skew)
    base = edge_moe_step(MODEL, HARDWARE, edge_setup(**common, **BASELINE))
    ours = edge_moe_step(MODEL, HARDWARE, edge_setup(**common, **dict(D2MOE, expert_bits=mix or D2MOE["expert_bits"])))
    return base, ours


def main() -> None:
    print(f"{MODEL} on {HARDWARE}, {WORKLOAD}\n")
    print("| budget GB | baseline tok/s | baseline flash GB/step | D2MoE tok/s | D2MoE flash GB/step | D2MoE stall ms "
          "| Johnson bound tok/s | throughput x | peak GB base / D2MoE |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for budget in BUDGETS_GB:
        base, ours = _pair(WORKLOAD, budget=budget)
        print(f"| {budget} | {base.tokens_per_s:.2f} | {base.flash_gb_per_step:.2f} | {ours.tokens_per_s:.2f} | "
              f"{ours.flash_gb_per_step:.2f} | {ours.stall_ms:.0f} | "
              f"{ours.batch_size / ours.johnson_step_ms * 1e3:.2f} | {ours.tokens_per_s / base.tokens_per_s:.2f} | "
              f"{base.peak_memory_gb:.1f} / {ours.peak_memory_gb:.1f} |")
    print("\nwhole device memory as budget; the published figures are 1.39x and 2.13x (53% lower)\n")
    print("| bit mix (hottest first) | batch | throughput x | peak memory x |")
    print("|---|---:|---:|---:|")
    for name, mix in MIXES.items():
        for batch in (1, 4, 16):
            base, ours = _pair(dict(WORKLOAD, batch_size=batch), mix)
            print(f"| {name} | {batch} | {ours.tokens_per_s / base.tokens_per_s:.2f} | "
                  f"{base.peak_memory_gb / ours.peak_memory_gb:.2f} |")


if __name__ == "__main__":
    main()
