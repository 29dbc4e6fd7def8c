"""`perfmodel validate`: run the bundled executor, calibrate, and report predicted vs measured."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from perfmodel.cli._common import JsonOpt, console, err_console, print_json, table

DeviceOpt = Annotated[str, typer.Option("--device", help="Where the executor runs: cpu or cuda.")]


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(
        device: DeviceOpt = "cpu",
        model: Annotated[Optional[str], typer.Option("--model", "-m", help="Preset, HF id or config.json (default llama-3.1-8b).")] = None,
        out: Annotated[Optional[Path], typer.Option("--out", help="Write CSVs, plot, calibration.json, hardware.yaml, result.json here.")] = None,
        hardware: Annotated[Optional[str], typer.Option("--hardware", "-H", help="Catalog id or YAML for the device (default: detected).")] = None,
        quant: Annotated[Optional[str], typer.Option("--quant", help="fp32, bf16 or fp16 (default fp32 on cpu, bf16 on cuda).")] = None,
        layers: Annotated[Optional[int], typer.Option("--layers", help="Run this many layers (reduced model).")] = None,
        width_divisor: Annotated[Optional[int], typer.Option("--width-divisor", help="Divide hidden/heads/MLP widths by this.")] = None,
        vocab: Annotated[Optional[int], typer.Option("--vocab", help="Cap the vocabulary (reduced model).")] = None,
        repeats: Annotated[Optional[int], typer.Option("--repeats", help="Timed repeats per grid point.")] = None,
        fit_on: Annotated[Optional[str], typer.Option("--fit-on", help="micro, micro+steps or micro+ops.")] = None,
        routing: Annotated[Optional[str], typer.Option("--routing", help="MoE routing: balanced, uniform, zipf or router.")] = None,
        threads: Annotated[Optional[int], typer.Option("--threads", help="CPU: use (and model) this many cores (default: all this process may use).")] = None,
        quick: Annotated[bool, typer.Option("--quick", help="A small model and grid (seconds; for tests).")] = False,
        save_calibration: Annotated[Optional[Path], typer.Option("--save-calibration", help="Also write the profile here.")] = None,
        ship: Annotated[bool, typer.Option("--ship", help="Write the profile to perfmodel/calibrations/<device-id>.json (bundled).")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Predicted vs measured step times over a batch x context grid, calibrated and uncalibrated."""
        from perfmodel.errors import PerfModelError
        from perfmodel.executor._torch import require_torch

        if device not in ("cpu", "cuda"):
            raise PerfModelError(f"--device must be cpu or cuda, got {device!r}")
        if fit_on is not None and fit_on not in ("micro", "micro+steps", "micro+ops"):
            raise PerfModelError(f"--fit-on must be micro, micro+steps or micro+ops, got {fit_on!r}")
        if routing is not None and routing not in ("balanced", "uniform", "zipf", "router"):
            raise PerfModelError(f"--routing must be balanced, uniform, zipf or router, got {routing!r}")
        require_torch()
        from perfmodel.executor.validate import default_config, run_validation

        backend: Literal["cpu", "cuda"] = "cuda" if device == "cuda" else "cpu"
        cfg = default_config(backend, model, quick=quick)
        updates = {k: v for k, v in dict(hardware=hardware, quant=quant, layers=layers, width_divisor=width_divisor,
                                          vocab=vocab, repeats=repeats, fit_on=fit_on, threads=threads).items() if v is not None}
        if routing is not None:
            from perfmodel.executor.synthetic import Routing

            updates["routing"] = Routing(kind=routing)  # type: ignore[arg-type]
        cfg = dataclasses.replace(cfg, **updates)
        cfg.check()
        from perfmodel.common.outpath import out_dir, out_file

        if out is not None:  # where the results go, checked before the run
            out_dir("--out", out)
        if save_calibration is not None:
            out_file("--save-calibration", save_calibration, suffixes=(".json",))
        log = (lambda s: err_console.print(s, highlight=False)) if not json_out else (lambda s: None)
        result = run_validation(cfg, log=log)
        if result.refusal():  # no error figure, no profile from timings that cannot be trusted
            raise PerfModelError(result.refusal())
        files = {}
        if out is not None:
            from perfmodel.executor.report import write_all

            files = write_all(result, out)
        for path in _calibration_targets(save_calibration, ship, result.calibration.device_id):
            from perfmodel.calibration import save_calibration as save

            files.setdefault("calibration_saved", [])
            files["calibration_saved"].append(str(save(result.calibration, path)))
        if json_out:
            print_json({**result.to_dict(), "files": files})
            return
        _render(result, files)


def _calibration_targets(path: Path | None, ship: bool, device_id: str) -> list[Path]:
    out = [path] if path else []
    if ship:
        from importlib import resources

        from perfmodel.errors import PerfModelError
        from perfmodel.hardware.schema import ID_PATTERN

        folder = Path(str(resources.files("perfmodel"))) / "calibrations"
        target = folder / f"{device_id}.json"
        # the id is validated where it is read (hardware.schema.Id); checked again here before writing
        if not re.fullmatch(ID_PATTERN, device_id) or target.resolve().parent != folder.resolve():
            raise PerfModelError(f"--ship: device id {device_id!r} is not a plain name "
                                 "(letters, digits, . _ + -); the profile would be written outside calibrations/")
        out.append(target)
    return out


def _render(result, files: dict) -> None:
    rows = []
    for p in result.points:
        d = p.to_dict()
        rows.append([d["phase"], d["batch"], d["length"], "" if d["holdout"] else "fit", d["measured_ms"],
                     f"{d['spread']:.0%}", d["predicted_ms"], f"{d['ape']:.1f}", d["predicted_uncalibrated_ms"],
                     f"{d['uncalibrated_ape']:.1f}"])
    console.print(table(f"{result.spec.name} on {result.device.id} ({result.config.quant}): step ms",
                        ["phase", "b", "len", "used", "measured", "spread", "pred", "APE%", "uncal", "APE%"], rows))
    s = result.summary()
    what = "held-out points" if result.config.holdout else "all points"
    console.print(f"calibrated:   median APE {s['median_ape']:.1f}%, p90 {s['p90_ape']:.1f}% over {s['n']} {what}")
    console.print(f"uncalibrated: median APE {s['uncalibrated_median_ape']:.1f}%, p90 {s['uncalibrated_p90_ape']:.1f}%")
    ov = result.calibration.overrides
    console.print("calibration overrides: " + ", ".join(f"{k}={v}" for k, v in ov.items()))
    load = f", other processes' CPU share up to {result.host_load:.0%}" if result.host_load else ""
    console.print(f"wall time {result.wall_s:.1f} s{load}")
    if result.overlap:
        o = result.overlap
        console.print(f"nano-batch overlap ({o['nano_batches']} streams, decode b={o['batch']} ctx={o['context']}): "
                      f"measured {o['measured_ms']:.2f} ms ({o['sequential_ms']:.2f} one after another), "
                      f"predicted {o['predicted_ms']:.2f} ms (APE {o['ape']:.1f}%; bounds "
                      f"{o['predicted_ideal_overlap_ms']:.2f} ideal to {o['predicted_no_overlap_ms']:.2f} none)")
    for k, v in files.items():
        console.print(f"{k}: {v}")
