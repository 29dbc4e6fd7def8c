"""`perfmodel export PLAN.json --format vllm|sglang|trtllm|json`: launch commands and config files
for a plan written by `perfmodel tune --out`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel.cli._common import JsonOpt, console, print_json


def register(app: typer.Typer) -> None:
    @app.command()
    def export(
        plan: Annotated[str, typer.Argument(help="Plan file (best_plan.json from perfmodel tune --out).")],
        format: Annotated[str, typer.Option("--format", "-f", help="vllm, sglang, trtllm, dynamo-vllm, dynamo-sglang (a Dynamo "
                                                        "DynamoGraphDeployment) or json.")] = "vllm",
        out: Annotated[Optional[str], typer.Option("--out", help="Directory for launch.sh and config files.")] = None,
        model_id: Annotated[Optional[str], typer.Option("--model-id", help="What the engine loads (Hugging Face id or "
                                                        "path), e.g. a quantized checkpoint; default: the plan's "
                                                        "model_id.")] = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Turn a plan into engine launch commands (vLLM, SGLang, TensorRT-LLM) and config files."""
        from perfmodel.search.export import get_exporter
        from perfmodel.search.plan_file import load_plan_file

        from perfmodel.common.outpath import out_dir

        exporter = get_exporter(format)
        if out is not None:
            out_dir("--out", out)
        pf = load_plan_file(plan)
        if model_id is not None:
            from perfmodel.common.outpath import plain_text

            pf = pf.model_copy(update={"model_id": plain_text("--model-id", model_id, "a Hugging Face id or path")})
        ex = exporter.export(pf)
        written = ex.write(out) if out else []
        if json_out:
            print_json({**ex.to_dict(), "written": [str(p) for p in written]})
            return
        for note in ex.notes:
            console.print(f"# {note}", markup=False, highlight=False, soft_wrap=True)
        for name, text in ex.files.items():
            console.print(f"# --- {name} ---", markup=False, highlight=False)
            console.print(text.rstrip(), markup=False, highlight=False)
        if ex.commands:
            console.print("# --- launch ---", markup=False, highlight=False)
            for c in ex.commands:
                console.print(c, markup=False, highlight=False, soft_wrap=True)
        if written:
            console.print(f"# wrote {', '.join(str(p) for p in written)}", markup=False, highlight=False)
