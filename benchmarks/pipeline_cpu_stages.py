"""Cross-check of the CPU stage costs of perfmodel.pipeline on this machine: JPEG decode (Pillow,
libjpeg-turbo), resize to 224x224 (Pillow bilinear, antialiased) and normalise (NumPy, uint8 HWC to
fp16 CHW) of a real photo, in core cycles, next to the published figures the model uses
(perfmodel/pipeline/constants.py). One core, the best of 30 runs.

Run: python benchmarks/pipeline_cpu_stages.py [--clock-ghz 2.6]   (default: the first "cpu MHz" of
/proc/cpuinfo). The photo is matplotlib's sample grace_hopper.jpg (512x600, 4:2:0): smaller than the
images the model is used for, so fixed per-image costs weigh more here.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

from perfmodel.pipeline import constants as k

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
RUNS = 30
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255   # ImageNet mean and std (torchvision)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255


def _best_s(fn) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _clock_hz(arg: float | None) -> float:
    if arg:
        return arg * 1e9
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("cpu MHz"):
            return float(line.split(":")[1]) * 1e6
    raise SystemExit("no 'cpu MHz' in /proc/cpuinfo: pass --clock-ghz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clock-ghz", type=float, default=None)
    clock = _clock_hz(parser.parse_args().clock_ghz)
    data = PHOTO.read_bytes()
    rgb = Image.open(io.BytesIO(data)).convert("RGB")
    pixels = rgb.size[0] * rgb.size[1]
    small = np.asarray(rgb.resize((224, 224), Image.BILINEAR))
    decode = _best_s(lambda: Image.open(io.BytesIO(data)).convert("RGB").load())
    resize = _best_s(lambda: rgb.resize((224, 224), Image.BILINEAR))
    normalize = _best_s(lambda: ((small.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1).astype(np.float16))
    print(f"{PHOTO.name}: {rgb.size[0]}x{rgb.size[1]}, {len(data) * 8 / pixels:.2f} bits/px; clock {clock / 1e9:.3f} GHz")
    print("| stage | measured here | model (constants.py) |")
    print("|---|---:|---:|")
    print(f"| decode, cycles/pixel | {decode * clock / pixels:.1f} | {k.JPEG_DECODE_CYCLES_PER_PIXEL} |")
    print(f"| resize to 224x224, cycles/source pixel | {resize * clock / pixels:.1f} | {k.RESIZE_CYCLES_PER_SOURCE_PIXEL} |")
    print(f"| normalise, cycles/element | {normalize * clock / small.size:.1f} | {k.NORMALIZE_CYCLES_PER_ELEMENT} |")


if __name__ == "__main__":
    main()
