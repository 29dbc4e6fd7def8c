"""`perfmodel edge`: one decode step of an MoE model on an edge device whose memory may not hold
every expert (perfmodel.edgemoe): bit-nested experts, flash loads, HEBF or on-demand."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import HardwareOpt, JsonOpt, ModelOpt, console, print_json, table
from perfmodel.errors import PerfModelError


def _levels(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise PerfModelError(f"--bits {text!r}: give increasing bit widths separated by commas, e.g. 2,4,8") from None


def _shares(text: str) -> dict[int, float]:
    try:
        pairs = [part.split(":") for part in text.split(",")]
        return {int(b): float(s) for b, s in pairs}
    except ValueError:
        raise PerfModelError(f"--expert-bits {text!r}: give bits:share pairs separated by commas, "
                             "e.g. 8:0.25,4:0.5,2:0.25") from None


def register(app: typer.Typer) -> None:
    @app.command()
    def edge(
        model: ModelOpt,
        hardware: HardwareOpt,
        batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Sequences decoding together.")] = 1,
        isl: Annotated[int, typer.Option("--isl", help="Input (prompt) tokens per sequence: the KV each decoding sequence reads.")] = 512,
        memory_budget_gb: Annotated[Optional[float], typer.Option(
            "--memory-budget-gb", help="Memory the run may use, GB (default: the device's memory).")] = None,
        bits: Annotated[str, typer.Option("--bits", help="Nested precisions of the expert store, increasing, "
                                          "e.g. 2,4,8 (8: a plain int8 store).")] = "8",
        expert_bits: Annotated[Optional[str], typer.Option(
            "--expert-bits", help="Share of experts, hottest first, loaded at each width, e.g. 8:0.25,4:0.5,2:0.25 "
                                  "(default: all at the widest).")] = None,
        schedule: Annotated[str, typer.Option("--schedule", help="on_demand: load then compute, serially; hebf: "
                                              "loads pipelined with compute, hottest expert first.")] = "on_demand",
        cache: Annotated[str, typer.Option("--cache", help="Expert cache: lru, or hottest (the most-read experts "
                                           "pinned).")] = "lru",
        dense_bits: Annotated[int, typer.Option("--dense-bits", help="Bits of the non-expert weights (4, 8, 16).")] = 16,
        routing_skew: Annotated[float, typer.Option("--routing-skew", help="Zipf exponent of expert popularity "
                                                    "(0: uniform routing).")] = 0.0,
        json_out: JsonOpt = False,
    ) -> None:
        """Decode on an edge device: expert loads from flash under a memory budget (D2MoE's setting)."""
        from perfmodel.edgemoe import edge_moe_step, edge_setup

        levels = _levels(bits)
        setup = edge_setup(bit_levels=levels, expert_bits=_shares(expert_bits) if expert_bits else {levels[-1]: 1.0},
                           schedule=schedule.replace("-", "_"), cache=cache, memory_budget_gb=memory_budget_gb,
                           batch_size=batch_size, context_tokens=isl, dense_bits=dense_bits, routing_skew=routing_skew)
        result = edge_moe_step(model, hardware, setup).to_dict()
        if json_out:
            print_json(result)
            return
        rows = [[k, result[k]] for k in ("tokens_per_s", "step_ms", "non_expert_ms", "expert_compute_ms",
                                         "expert_load_ms", "stall_ms", "johnson_step_ms", "hit_rate",
                                         "flash_gb_per_step", "mean_expert_bits", "peak_memory_gb")]
        rows += [[f"memory_gb.{k}", v] for k, v in result["memory_gb"].items()]
        console.print(table(f"{result['model']} on {result['hardware']}: {result['schedule']}, {result['cache']} cache, "
                            f"batch {result['batch_size']}", ["quantity", "value"], rows))
