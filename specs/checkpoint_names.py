"""From a checkpoint name to the names of its base architecture, tag by tag.

Serving benchmarks name the checkpoint they ran ('nvidia/DeepSeek-R1-0528-FP4-v2',
'Qwen/Qwen3-235B-A22B-Instruct-2507-FP8', 'RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic'), and a
re-upload or a post-trained variant keeps the base model's config.json shapes. `candidates` yields
the names a lookup should try, in order, each with the tags stripped so far:

  1. the organisation prefix ('nvidia/', 'RedHatAI/'): the repository name alone;
  2. quantization tags at the end ('-FP8', '-FP8-dynamic', '-NVFP4', '-FP4-v2', '-AWQ', '-W4A16',
     ...): the stripped tag also gives the `--quant` id the checkpoint stores (QUANT_TAGS);
  3. post-training variants and date codes at the end ('-Instruct', '-Chat', '-it', '-Thinking',
     '-hf', '-2507', '-0528'): same shapes, same vocabulary (a date code may raise
     max_position_embeddings, e.g. Qwen3-235B-A22B-Instruct-2507: 262144 vs 40960, which no cost
     depends on).

Only whole tags at the end are removed, and only these: a name is never matched by similarity,
so 'Qwen3-30B-A3B' cannot become 'Qwen3-32B' and 'DeepSeek-R1-Distill-Llama-70B' cannot become
DeepSeek-R1 (a distilled model is another architecture: presets/aliases.yaml names it with the
card that says which). The caller stops at the first candidate it knows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# Quantization tags a re-upload appends (NVIDIA ModelOpt '-FP8' / '-FP4' / '-NVFP4', RedHatAI
# '-FP8-dynamic' / '-quantized.w4a16', Qwen '-FP8' / '-AWQ' / '-GPTQ-Int4', ...) -> the `--quant` id of
# what the tag names (perfmodel.quant): FP4 re-uploads from NVIDIA are NVFP4 (ModelOpt); AWQ, GPTQ and
# INT4 are 4-bit weights over 16-bit activations (w4a16); INT8 / W8A8 are 8-bit both.
QUANT_TAGS: tuple[tuple[str, str], ...] = (
    (r"fp8[-_]dynamic", "fp8"),
    (r"fp8[-_]block", "fp8-block"),
    (r"fp8", "fp8"),
    (r"nvfp4", "nvfp4"),
    (r"fp4", "nvfp4"),
    (r"mxfp4", "mxfp4"),
    (r"bf16", "bf16"),
    (r"fp16", "fp16"),
    (r"(?:awq|gptq)(?:[-_]int4)?", "w4a16"),
    (r"gptq[-_]int8", "w8a16"),
    (r"quantized\.w4a16", "w4a16"),
    (r"quantized\.w8a8", "w8a8"),
    (r"w4a16", "w4a16"),
    (r"w8a8", "w8a8"),
    (r"w4a8", "w4a8"),
    (r"int4", "w4a16"),
    (r"int8", "w8a8"),
)
# A tag may carry its own revision ('-FP4-v2'): the revision goes with it.
_QUANT_SUFFIX = [(re.compile(rf"[-_.]{tag}(?:[-_]v\d+)?$", re.I), quant) for tag, quant in QUANT_TAGS]
# Post-training variants and release dates that keep the architecture (same config.json shapes).
_VARIANT_SUFFIX = re.compile(r"[-_](instruct|chat|it|thinking|hf|\d{4})$", re.I)


@dataclass(frozen=True)
class Candidate:
    """A name to look up, the tags stripped to reach it (in order) and the quant id they name."""

    name: str
    stripped: tuple[str, ...] = ()
    quant_hint: str | None = None


def candidates(name: str) -> Iterator[Candidate]:
    """`name`, then the names left after each rule strips one more tag (module docstring)."""
    current = Candidate(name)
    yield current
    if "/" in name:
        org, _, repo = name.rpartition("/")
        current = Candidate(repo, (org + "/",))
        yield current
    while True:
        step = _strip_quant(current) or _strip_variant(current)
        if step is None:
            return
        current = step
        yield current


def _strip_quant(c: Candidate) -> Candidate | None:
    for pattern, quant in _QUANT_SUFFIX:
        m = pattern.search(c.name)
        if m and m.start() > 0:
            return Candidate(c.name[:m.start()], (*c.stripped, m.group()), c.quant_hint or quant)
    return None


def _strip_variant(c: Candidate) -> Candidate | None:
    m = _VARIANT_SUFFIX.search(c.name)
    if m and m.start() > 0:
        return Candidate(c.name[:m.start()], (*c.stripped, m.group()), c.quant_hint)
    return None
