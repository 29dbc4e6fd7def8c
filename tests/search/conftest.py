"""Shared fixtures: small problems that evaluate in milliseconds."""

from __future__ import annotations

import pytest

from perfmodel.search.problem import build_problem


@pytest.fixture(scope="session")
def small_problem():
    """Llama-3.1-8B on up to 4 H100s, 1000/200, both modes, a few batches: ~1-2k plans."""
    return build_problem(model="llama-3.1-8b", hardware="h100-sxm", devices=4, workload="1000/200", ttft_slo=500,
                         tpot_slo=30, space={"quant": "bf16", "kv_dtype": [None, "fp8"], "max_batch": [8, 32, 128],
                                             "token_budget": [None, 2048], "prefill_batch": [1, 4]})


@pytest.fixture(scope="session")
def tiny_problem():
    """A space small enough for Optuna to cover: aggregated, 1-2 GPUs."""
    return build_problem(model="llama-3.1-8b", hardware="h100-sxm", devices=2, workload="1000/200", ttft_slo=500,
                         tpot_slo=30, space={"quant": "bf16", "modes": "aggregated", "max_batch": [8, 32, 128],
                                             "token_budget": [None, 2048], "kv_dtype": [None]})


@pytest.fixture(scope="session")
def moe_problem():
    """Mixtral-8x7B on 8 H100s with EP and attention-DP in the space."""
    return build_problem(model="mixtral-8x7b", hardware="h100-sxm", devices=8, workload="2000/200", ttft_slo=1000,
                         tpot_slo=50, space={"quant": "bf16", "max_batch": [16, 64, 256], "token_budget": [None, 4096],
                                             "prefill_batch": [1, 2], "kv_dtype": [None], "nano_batches": [1, 2]})


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run `perfmodel ARGS` through the real entry point (exit codes and one-line errors)."""
    from perfmodel.cli import main

    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
