"""Build the Mixtral-8x7B routing profile that `perfmodel reproduce MoETuner` reads.

Source: MoE-Lightning's artifact, github.com/caoshiyi/artifacts @ 95f3babf6c736839348d12ee8f0480b76dca00d0,
traces/MTBench_Mixtral/<id>.txt: the top-2 expert ids of every token at each of Mixtral's 32 MoE
layers while one MTBench request runs (printed as `Layer N topk_ids: tensor([[a, b], ...])`). The
first block of each layer is the prompt (prefill); the one-token blocks after it are decode steps.
Only the prompt blocks are used here (one routing decision per prompt token and layer).

Inputs: the transcription committed in benchmarks/data/moe_lightning_mtbench_<id>.txt (one line
per layer, one 2-digit pair per token), or the raw trace files themselves (`--trace FILE ...`,
fetched from the repository above). Output: search/data/mixtral_8x7b_mtbench_routing.json in the
`perfmodel.routing/v1` format (per layer: token-expert counts; per adjacent layer pair: the 8x8
counts of a token's layer-l expert a -> its layer-(l+1) expert b, over both top-2 choices, i.e.
top_k^2 = 4 pairs per token, as `perfmodel.search.routing.generate` counts them).

    .venv/bin/python benchmarks/moetuner_routing.py            # rebuild from the transcription
    .venv/bin/python benchmarks/moetuner_routing.py --trace traces/MTBench_Mixtral/139916882249008.txt
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from perfmodel.search.routing import RoutingProfile

ROOT = Path(__file__).resolve().parents[1]
TRANSCRIPTIONS = sorted((ROOT / "benchmarks" / "data").glob("moe_lightning_mtbench_*.txt"))
OUT = ROOT / "search" / "data" / "mixtral_8x7b_mtbench_routing.json"
LAYERS = 32        # Mixtral-8x7B: 32 decoder layers, each a MoE layer (config.json num_hidden_layers)
EXPERTS = 8        # num_local_experts
TOP_K = 2          # num_experts_per_tok

_BLOCK = re.compile(r"Layer (\d+) topk_ids: tensor\(\[(.*?)\]\s*(?:,\s*device|\))", re.S)
_PAIR = re.compile(r"\[(\d+),\s*(\d+)\]")


def read_transcription(path: Path) -> np.ndarray:
    """[layers, tokens, 2] expert ids from a transcription file."""
    rows = {}
    for line in path.read_text().splitlines():
        if line.startswith("L") and ":" in line:
            head, body = line.split(":", 1)
            rows[int(head[1:])] = [(int(p[0]), int(p[1])) for p in body.split()]
    return _stack(rows, path)


def read_trace(path: Path) -> np.ndarray:
    """[layers, tokens, 2] expert ids of the prompt blocks of a raw MoE-Lightning trace file."""
    rows: dict[int, list] = {}
    for m in _BLOCK.finditer(path.read_text()):
        layer = int(m.group(1))
        pairs = [(int(a), int(b)) for a, b in _PAIR.findall(m.group(2))]
        if layer not in rows and len(pairs) > 1:     # the first multi-token block is the prompt
            rows[layer] = pairs
    return _stack(rows, path)


def _stack(rows: dict[int, list], path: Path) -> np.ndarray:
    if sorted(rows) != list(range(LAYERS)):
        raise SystemExit(f"{path}: layers {sorted(rows)} are not 0..{LAYERS - 1}")
    tokens = {len(r) for r in rows.values()}
    if len(tokens) != 1:
        raise SystemExit(f"{path}: token counts differ between layers: {sorted(tokens)}")
    choice = np.array([rows[layer] for layer in range(LAYERS)], dtype=np.int64)
    if choice.min() < 0 or choice.max() >= EXPERTS or (choice[..., 0] == choice[..., 1]).any():
        raise SystemExit(f"{path}: expert ids must be distinct and in 0..{EXPERTS - 1}")
    return choice


def profile(choices: list[np.ndarray]) -> RoutingProfile:
    """Counts and layer-to-layer transitions summed over requests (each request's own tokens)."""
    counts = np.zeros((LAYERS, EXPERTS), dtype=np.int64)
    trans = np.zeros((LAYERS - 1, EXPERTS, EXPERTS), dtype=np.int64)
    for choice in choices:
        for layer in range(LAYERS):
            counts[layer] += np.bincount(choice[layer].ravel(), minlength=EXPERTS)
        for layer in range(LAYERS - 1):
            a = np.repeat(choice[layer], TOP_K, axis=1).ravel()
            b = np.tile(choice[layer + 1], (1, TOP_K)).ravel()
            np.add.at(trans[layer], (a, b), 1)
    tokens = sum(c.shape[1] for c in choices)
    return RoutingProfile(counts=counts, transitions=trans, top_k=TOP_K, tokens=tokens)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", nargs="*", type=Path, help="raw trace files (default: the committed transcriptions)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    choices = [read_trace(p) for p in args.trace] if args.trace else [read_transcription(p) for p in TRANSCRIPTIONS]
    prof = profile(choices)
    prof.save(args.out)
    share = prof.counts / prof.counts.sum(axis=1, keepdims=True)
    print(f"{len(choices)} request(s), {prof.tokens} prompt tokens, {LAYERS} layers -> {args.out.relative_to(ROOT)}")
    print(f"hottest expert share per layer: mean {share.max(axis=1).mean():.3f}, max {share.max():.3f} "
          f"(uniform {1 / EXPERTS:.3f})")


if __name__ == "__main__":
    main()
