"""Files `perfmodel validate --out DIR` writes: CSVs, the predicted-vs-measured plot, the
calibration profile, the detected hardware as a catalog YAML, and the whole result as JSON."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from perfmodel.common.outpath import out_dir, staged_dir
from perfmodel.calibration import save_calibration
from perfmodel.executor.validate import ValidationResult

# The target band drawn on the plot (issue 6: calibrated median error <= 15%).
BAND = 0.15


def write_points_csv(result: ValidationResult, path: Path) -> None:
    rows = [p.to_dict() for p in result.points]
    cols = ["phase", "batch", "length", "holdout", "measured_ms", "measured_p10_ms", "measured_p90_ms", "spread",
            "predicted_ms", "ape", "predicted_uncalibrated_ms", "uncalibrated_ape"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([r[c] for c in cols])


def write_ops_csv(result: ValidationResult, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["phase", "batch", "length", "op", "measured_ms", "predicted_ms"])
        for p in result.points:
            d = p.to_dict()
            names = sorted(set(d["ops"]) | set(p.ops_predicted))
            for n in names:
                o = d["ops"].get(n, {})
                w.writerow([p.point.phase, p.point.batch, p.point.length, n, o.get("measured_ms", ""),
                            p.ops_predicted.get(n, 0.0) * 1e3])


def write_micro_csv(result: ValidationResult, path: Path) -> None:
    rows = [m.to_dict() for m in result.micros]
    cols = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("kind", "label"), k))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def write_plot(result: ValidationResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5))
    meas = [p.measured.step.median_s * 1e3 for p in result.points]
    lo, hi = min(meas) * 0.5, max(meas) * 2.0
    ax.plot([lo, hi], [lo, hi], color="black", lw=1)
    ax.fill_between([lo, hi], [lo * (1 - BAND), hi * (1 - BAND)], [lo * (1 + BAND), hi * (1 + BAND)],
                    color="0.9", label=f"±{BAND:.0%}")
    for phase, marker in (("prefill", "o"), ("decode", "s")):
        pts = [p for p in result.points if p.point.phase == phase]
        if not pts:
            continue
        m = [p.measured.step.median_s * 1e3 for p in pts]
        ax.scatter(m, [p.predicted_uncal_s * 1e3 for p in pts], marker=marker, facecolors="none",
                   edgecolors="tab:gray", label=f"{phase}, uncalibrated")
        ax.scatter(m, [p.predicted_cal_s * 1e3 for p in pts], marker=marker, color="tab:blue",
                   label=f"{phase}, calibrated")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured step time (ms, median)")
    ax.set_ylabel("predicted step time (ms)")
    s = result.summary()
    ax.set_title(f"{result.spec.name} on {result.device.id}\n"
                 f"median APE {s['median_ape']:.1f}% calibrated, {s['uncalibrated_median_ape']:.1f}% uncalibrated "
                 f"(n={s['n']})", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_hardware_yaml(result: ValidationResult, path: Path) -> None:
    """The device as detected (uncalibrated) in catalog form, usable with `--hardware FILE` (and
    `--calibration calibration.json`)."""
    data = result.device.model_dump(exclude_unset=True, exclude_none=True)
    path.write_text(yaml.safe_dump({"devices": [data]}, sort_keys=False))


def write_all(result: ValidationResult, out: Path) -> dict[str, str]:
    """Everything into `out`; returns {what: path}."""
    with staged_dir(out_dir("--out", out)) as tmp:  # all files or none
        files = _write_all(result, tmp)
    return {k: str(out / Path(v).name) for k, v in files.items()}


def _write_all(result: ValidationResult, out: Path) -> dict[str, str]:
    files = {
        "points_csv": out / "points.csv", "ops_csv": out / "ops.csv", "microbench_csv": out / "microbench.csv",
        "plot": out / "predicted_vs_measured.png", "calibration": out / "calibration.json",
        "hardware": out / "hardware.yaml", "result": out / "result.json",
    }
    write_points_csv(result, files["points_csv"])
    write_ops_csv(result, files["ops_csv"])
    write_micro_csv(result, files["microbench_csv"])
    write_plot(result, files["plot"])
    save_calibration(result.calibration, files["calibration"])
    if result.device.kind == "cpu":
        write_hardware_yaml(result, files["hardware"])
    else:
        del files["hardware"]
    files["result"].write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    return {k: str(v) for k, v in files.items()}
