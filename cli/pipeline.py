"""`perfmodel pipeline`: a vision request pipeline's per-stage latency, throughput and bottleneck."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import HardwareOpt, JsonOpt, console, print_json, table

DEFAULT_STAGES = "decode@cpu,resize@cpu,normalize@cpu,h2d,dnn@gpu,d2h,postprocess@cpu"


def register(app: typer.Typer) -> None:
    @app.command()
    def pipeline(
        hardware: HardwareOpt = "l40s-8gpu",
        model: Annotated[str, typer.Option("--model", "-m", help="Vision model of the dnn stages: resnet-50, "
                                           "resnet-101 or vit-b-16.")] = "resnet-50",
        stages: Annotated[str, typer.Option("--stages", help="Comma list of kind@place=arg (place cpu or gpu, none for copies; arg where a kind takes one): decode "
                                            "(decode@gpu=auto|host|gpu: where Huffman decoding runs), resize, normalize, "
                                            "h2d, dnn[=MODEL], d2h, postprocess, broker=kafka|rabbitmq.")]
        = DEFAULT_STAGES,
        image: Annotated[str, typer.Option("--image", help="JPEG size: small (640x480), medium (1920x1080), "
                                           "large (3840x2160) or WIDTHxHEIGHT.")] = "medium",
        batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Images per batch.")] = 1,
        cpu_cores: Annotated[Optional[int], typer.Option("--cpu-cores", help="Host cores for the CPU stages "
                                                         "(default: one socket).")] = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Vision serving pipeline: latency per stage and its share, images/s and the bottleneck."""
        from perfmodel.pipeline import build_pipeline, evaluate, image_size, parse_stages
        from perfmodel.resolve import resolve_system

        width, height = image_size(image)
        spec = build_pipeline(stages=parse_stages(stages), model=model, width_px=width, height_px=height,
                              batch_size=batch_size, cpu_cores=cpu_cores)
        result = evaluate(spec, resolve_system(hardware))
        if json_out:
            print_json(result)
            return
        rows = [[s["stage"], s["resource"], f"{s['latency_ms']:.3f}", f"{s['fraction']:.0%}", s["detail"]]
                for s in result["stages"]]
        where = f"{result['hardware']}" + (f", {result['cpu_cores']} cores of {result['host_cpu']}"
                                           if result["host_cpu"] else "")
        console.print(table(f"{model}, {width}x{height} JPEG, batch {batch_size} on {where}",
                            ["stage", "resource", "latency ms", "share", "detail"], rows))
        b = result["bottleneck"]
        console.print(f"end-to-end {result['latency_ms']:.2f} ms per batch, {result['outside_dnn_fraction']:.0%} "
                      f"outside the DNN; pipelined {result['throughput_img_s']:,.0f} images/s, bottleneck "
                      f"{b['resource']} ({b['stage']})", markup=False, highlight=False)
