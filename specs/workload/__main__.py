"""Regenerate the bundled BurstGPT sample: python -m perfmodel.specs.workload"""

from pathlib import Path

from perfmodel.specs.workload import load_workload, write_burstgpt

wl = load_workload("burstgpt")
out = Path(__file__).resolve().parents[1] / "workloads" / "burstgpt_sample.csv"
write_burstgpt(out, wl.sample(2000, rate=1.0, seed=0))
print(f"wrote {out}")
