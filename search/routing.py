"""Expert-routing profiles for MoE placement: generators and a file format for measured routing.

A `RoutingProfile` holds, for L MoE layers and E experts (MoETuner, Go & Mahajan 2025, s4.2):
  counts[l, e]          tokens routed to expert e in layer l                       (P_{e,l})
  transitions[l, a, b]  tokens routed to expert a in layer l and b in layer l + 1  (R_{a,b,l}), l < L - 1

Generators (`generate`), all seeded:
  uniform     every token picks top-k distinct experts uniformly in every layer;
  zipf        per layer, expert popularity ~ 1 / rank^s over a random permutation (skewed load);
  correlated  a token's layer-(l+1) experts follow its layer-l experts through a fixed per-layer
              successor map with probability rho, else the layer's Zipf popularity. MoETuner
              observes this strong inter-layer dependency (s3, "token routing dependency").

File format (JSON; `.npz` with the same keys for large profiles):
  {"format": "perfmodel.routing/v1", "layers": L, "experts": E, "top_k": k, "tokens": N,
   "counts": [[...E] x L], "transitions": [[[...E] x E] x (L-1)]  (optional)}
Counts are non-negative; shapes must match `layers` and `experts` (and the model's experts when a
model is given). Strings `uniform`, `zipf:S` and `correlated:RHO` generate a profile instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfmodel.common.jsonfile import parse_json
from perfmodel.common.textfile import MAX_CONFIG_BYTES, read_text
from perfmodel.errors import PerfModelError

FORMAT = "perfmodel.routing/v1"
DEFAULT_TOKENS = 4096      # tokens sampled by the generators (a profiling batch)
DEFAULT_ZIPF = 0.6      # moderate skew: routers are trained with load-balancing losses
DEFAULT_RHO = 0.7


@dataclass
class RoutingProfile:
    counts: np.ndarray                 # [L, E]
    transitions: np.ndarray | None     # [L-1, E, E]
    top_k: int = 1
    tokens: int = 0

    @property
    def layers(self) -> int:
        return self.counts.shape[0]

    @property
    def experts(self) -> int:
        return self.counts.shape[1]

    def to_dict(self) -> dict:
        d = {"format": FORMAT, "layers": self.layers, "experts": self.experts, "top_k": self.top_k,
             "tokens": self.tokens, "counts": self.counts.astype(int).tolist()}
        if self.transitions is not None:
            d["transitions"] = self.transitions.astype(int).tolist()
        return d

    def save(self, path: str | Path) -> None:
        p = Path(path)
        if p.suffix == ".npz":
            arrays = {"counts": self.counts, "top_k": self.top_k, "tokens": self.tokens}
            if self.transitions is not None:
                arrays["transitions"] = self.transitions
            np.savez_compressed(p, format=FORMAT, **arrays)
        else:
            p.write_text(json.dumps(self.to_dict()) + "\n")


def _popularity(rng, experts: int, skew: float) -> np.ndarray:
    w = 1.0 / np.arange(1, experts + 1) ** skew
    return (w / w.sum())[rng.permutation(experts)]


def _topk(rng, p: np.ndarray, tokens: int, k: int) -> np.ndarray:
    """[tokens, k] distinct experts per token drawn with probabilities p (Gumbel top-k trick)."""
    g = np.log(np.maximum(p, 1e-300))[None, :] - np.log(-np.log(rng.random((tokens, len(p)))))
    return np.argsort(-g, axis=1)[:, :k]


def generate(kind: str = "uniform", *, layers: int, experts: int, top_k: int = 2, tokens: int = DEFAULT_TOKENS,
             skew: float = DEFAULT_ZIPF, rho: float = DEFAULT_RHO, seed: int = 0) -> RoutingProfile:
    """A synthetic routing profile (see module docstring)."""
    if kind not in ("uniform", "zipf", "correlated"):
        raise PerfModelError(f"routing kind {kind!r} must be uniform, zipf or correlated")
    if not 1 <= top_k <= experts:
        raise PerfModelError(f"top_k must be in 1..experts ({experts}), got {top_k}")
    rng = np.random.default_rng(seed)
    choice = np.zeros((layers, tokens, top_k), dtype=np.int64)
    for layer in range(layers):
        p = np.full(experts, 1.0 / experts) if kind == "uniform" else _popularity(rng, experts, skew)
        picks = _topk(rng, p, tokens, top_k)
        if kind == "correlated" and layer > 0:
            successor = rng.permutation(experts)             # expert a in layer l -> successor[a] in l + 1
            follow = rng.random(tokens) < rho
            prev = choice[layer - 1]
            picks = np.where(follow[:, None], successor[prev], picks)
            picks = _dedupe(picks, p, rng)
        choice[layer] = picks
    counts = np.stack([np.bincount(choice[layer].ravel(), minlength=experts) for layer in range(layers)])
    trans = np.zeros((max(layers - 1, 0), experts, experts), dtype=np.int64)
    for layer in range(layers - 1):
        a = np.repeat(choice[layer], top_k, axis=1).ravel()
        b = np.tile(choice[layer + 1], (1, top_k)).ravel()
        np.add.at(trans[layer], (a, b), 1)
    return RoutingProfile(counts=counts, transitions=trans, top_k=top_k, tokens=tokens)


def _dedupe(picks: np.ndarray, p: np.ndarray, rng) -> np.ndarray:
    """Replace repeated experts within a token's top-k by fresh draws (rare; keeps k distinct)."""
    out = picks.copy()
    for t in np.nonzero([len(set(r)) < len(r) for r in picks])[0]:
        seen: list[int] = []
        for j, e in enumerate(out[t]):
            while e in seen:
                e = int(rng.choice(len(p), p=p))
            seen.append(e)
            out[t, j] = e
    return out


def load_routing(source: str, model=None, *, seed: int = 0) -> RoutingProfile:
    """A profile from a file, or generated from `uniform` / `zipf:S` / `correlated:RHO` (needs
    `model` for the shapes)."""
    kind, _, arg = source.partition(":")
    if kind in ("uniform", "zipf", "correlated"):
        if model is None or model.moe is None:
            raise PerfModelError(f"--routing {source}: generating a profile needs a mixture-of-experts model")
        try:
            val = float(arg) if arg else None
        except ValueError:
            raise PerfModelError(f"--routing {source}: {arg!r} is not a number") from None
        kw = {"skew": val} if kind == "zipf" and val is not None else {"rho": val} if kind == "correlated" and val is not None else {}
        return generate(kind, layers=model.num_moe_layers, experts=model.moe.num_experts,
                        top_k=model.moe.experts_per_token, seed=seed, **kw)
    return read_routing(source, model)


# Largest routing array accepted (layers x experts x experts transitions of a 256-expert,
# 128-layer model: 8.4M), checked on the .npy headers before any array is read.
MAX_ROUTING_ELEMENTS = 1 << 24


def _read_npz(p: Path) -> dict:
    """The arrays of a routing .npz (no pickles), each header's shape checked before reading."""
    import zipfile

    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise PerfModelError(f"{p}: {p.stat().st_size:,} bytes is larger than the {MAX_CONFIG_BYTES:,}-byte limit "
                             "for a routing profile")
    try:
        with zipfile.ZipFile(p) as zf:
            for name in zf.namelist():
                with zf.open(name) as fh:
                    version = np.lib.format.read_magic(fh)
                    shape, _, _ = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0(fh))
                if math.prod(shape) > MAX_ROUTING_ELEMENTS:
                    raise PerfModelError(f"{p}: array {name!r} claims shape {shape}, more than "
                                         f"{MAX_ROUTING_ELEMENTS:,} elements")
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except PerfModelError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise PerfModelError(f"{p}: not a readable .npz routing profile ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:120] if str(exc) else 'no detail'})") from None
    return {k: (v.item() if v.ndim == 0 else v) for k, v in data.items()}


def read_routing(path: str | Path, model=None) -> RoutingProfile:
    p = Path(path)
    if not p.is_file():
        raise PerfModelError(f"--routing {path}: no such file (or use uniform, zipf:S, correlated:RHO)")
    if p.suffix == ".npz":
        data = _read_npz(p)
    else:
        data = parse_json(path, read_text(p, what="a routing profile", max_bytes=MAX_CONFIG_BYTES))
    if not isinstance(data, dict) or str(data.get("format")) != FORMAT:
        raise PerfModelError(f"{path}: not a routing profile (format must be {FORMAT!r})")
    try:
        counts = np.asarray(data["counts"], dtype=np.float64)
    except (KeyError, ValueError, TypeError):
        raise PerfModelError(f"{path}: 'counts' must be a layers x experts array of numbers") from None
    if counts.ndim != 2:
        raise PerfModelError(f"{path}: 'counts' must be 2-D (layers x experts), got shape {counts.shape}")
    for key in ("layers", "experts"):
        if key in data and int(data[key]) != counts.shape[0 if key == "layers" else 1]:
            raise PerfModelError(f"{path}: {key}={data[key]} but counts has shape {counts.shape}")
    trans = None
    if data.get("transitions") is not None:
        trans = np.asarray(data["transitions"], dtype=np.float64)
        want = (counts.shape[0] - 1, counts.shape[1], counts.shape[1])
        if trans.shape != want:
            raise PerfModelError(f"{path}: 'transitions' must have shape {want}, got {trans.shape}")
        if (trans < 0).any():
            raise PerfModelError(f"{path}: 'transitions' has negative entries")
    if (counts < 0).any():
        raise PerfModelError(f"{path}: 'counts' has negative entries")
    if model is not None and model.moe is not None and counts.shape[1] != model.moe.num_experts:
        raise PerfModelError(f"{path}: {counts.shape[1]} experts but {model.name} has {model.moe.num_experts}")
    return RoutingProfile(counts=counts, transitions=trans, top_k=int(data.get("top_k", 1)),
                          tokens=int(data.get("tokens", 0)))


# ---- load imbalance of a placement -------------------------------------------------------------
def contiguous_groups(experts: int, devices: int) -> np.ndarray:
    """Device of each expert when experts are split in index order (the engines' default)."""
    return np.arange(experts) // (experts // devices)


def balanced_groups(load: np.ndarray, devices: int) -> np.ndarray:
    """Greedy equal-count balance (longest-processing-time first onto the lightest device with
    room); the fast stand-in for MoETuner's stage-1 ILP inside the search loop."""
    experts = len(load)
    cap = experts // devices
    dev = np.zeros(experts, dtype=np.int64)
    total = np.zeros(devices)
    room = np.full(devices, cap)
    for e in np.argsort(-load, kind="stable"):
        d = int(np.argmin(np.where(room > 0, total, np.inf)))
        dev[e] = d
        total[d] += load[e]
        room[d] -= 1
    return dev


def imbalance(counts: np.ndarray, groups_per_layer: list[np.ndarray], devices: int) -> float:
    """Mean over layers of max device load / mean device load."""
    out = []
    for layer, groups in enumerate(groups_per_layer):
        loads = np.bincount(groups, weights=counts[layer], minlength=devices)
        mean = loads.mean()
        out.append(loads.max() / mean if mean > 0 else 1.0)
    return float(np.mean(out))


def expert_imbalance_table(profile: RoutingProfile, placements, eps) -> dict[tuple[int, int], float]:
    """(placement index, ep) -> load imbalance factor, for the evaluator."""
    table = {}
    for pi, name in enumerate(placements):
        for ep in eps:
            if ep <= 1 or profile.experts % ep:
                table[(pi, int(ep))] = 1.0
                continue
            if name == "balanced":
                groups = [balanced_groups(profile.counts[layer], ep) for layer in range(profile.layers)]
            else:
                groups = [contiguous_groups(profile.experts, ep)] * profile.layers
            table[(pi, int(ep))] = imbalance(profile.counts, groups, ep)
    return table
