"""`perfmodel hardware list|show` and `perfmodel models list|show`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from perfmodel import hardware
from perfmodel.cli._common import JsonOpt, console, print_json, report_hardware_defaults, table
from perfmodel.errors import PerfModelError
from perfmodel.specs import load_model, preset_names


# `models show --model NAME` like every other command; the positional NAME of earlier releases
# still works but is not shown.
ModelShowOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="Preset name, Hugging Face id, or path "
                                                     "to a config.json.")]
HardwareShowOpt = Annotated[Optional[str], typer.Option("--hardware", "-H", help="Device, node or cluster id, or a "
                                                        "hardware YAML file.", callback=report_hardware_defaults)]
HiddenName = Annotated[Optional[str], typer.Argument(hidden=True)]


def _one(flag: str, option: str | None, positional: str | None) -> str:
    if option and positional and option != positional:
        raise PerfModelError(f"give {flag} once, got {option!r} and {positional!r}")
    if not (option or positional):
        raise typer.BadParameter("required (a name, or a file)", param_hint=f"'{flag}'")
    return option or positional


def register(app: typer.Typer) -> None:
    hw = typer.Typer(no_args_is_help=True, help="Devices, nodes and clusters in the catalog.")
    models = typer.Typer(no_args_is_help=True, help="Model presets and config.json files.")
    app.add_typer(hw, name="hardware")
    app.add_typer(models, name="models")

    @hw.command("list")
    def hw_list(json_out: JsonOpt = False) -> None:
        """List catalog devices, nodes and clusters."""
        cat = hardware.bundled()
        rows = [[d.id, d.kind, d.name, d.peak_dense_tflops.get("bf16"), d.peak_dense_tflops.get("fp8"),
                 d.memory_gb, d.memory_bw_gb_s] for d in cat.devices]
        if json_out:
            print_json({"devices": [d.model_dump(exclude={"sources"}) for d in cat.devices],
                        "nodes": [n.id for n in cat.nodes], "clusters": [c.id for c in cat.clusters]})
            return
        console.print(table("devices", ["id", "kind", "name", "bf16 TFLOPS", "fp8 TFLOPS", "memory GB", "GB/s"], rows))
        console.print(table("nodes", ["id", "device", "devices", "topology"],
                            [[n.id, n.device, n.devices_per_node, n.topology] for n in cat.nodes]))
        if cat.clusters:
            console.print(table("clusters", ["id", "node", "nodes", "scale-up domain"],
                                [[c.id, c.node, c.num_nodes, c.scaleup_domain_devices] for c in cat.clusters]))

    @hw.command("show")
    def hw_show(hardware_name: HardwareShowOpt = None, name: HiddenName = None, json_out: JsonOpt = False) -> None:
        """Show one device/node/cluster with the source of every number."""
        which = _one("--hardware", hardware_name, name)
        system = hardware.resolve(which)
        data = {"device": system.device.model_dump(), "node": system.node.model_dump(),
                "cluster": system.cluster.model_dump() if system.cluster else None}
        if which.endswith((".yaml", ".yml")):
            from perfmodel.hardware.catalog import load_file
            from perfmodel.hardware.describe import defaults_used

            data["defaults_used"] = defaults_used(load_file(which))
        if json_out:
            print_json(data)
            return
        dev = system.device
        console.print(table(f"{dev.id}: {dev.name}", ["field", "value", "source"], _source_rows(dev, {"aliases"})))
        for part in (system.node, system.cluster):
            if part is not None:
                console.print(table(f"{type(part).__name__.lower()} {part.id}", ["field", "value", "source"],
                                    _source_rows(part, set())))

    @hw.command("schema")
    def hw_schema(json_out: JsonOpt = False) -> None:
        """The hardware YAML schema: every field of devices, nodes, clusters and links, with units."""
        from perfmodel.hardware.describe import schema_rows

        rows = schema_rows()
        if json_out:
            print_json(rows)
            return
        for section in dict.fromkeys(r["section"] for r in rows):
            console.print(table(f"{section} (a link is a mapping inside a device, node or cluster)"
                                if section == "link" else section,
                                ["field", "type", "unit", "bounds", "default", "description"],
                                [[r["field"], r["type"], r["unit"], r["bounds"],
                                  "required" if r["required"] else repr(r["default"]), r["description"]]
                                 for r in rows if r["section"] == section]))
        console.print("Every number an entry sets needs a source: `sources: {field: where it comes from}` "
                      "(a dotted path such as peak_dense_tflops.fp8, or the parent key). docs/hardware.md has "
                      "a worked example.")

    @models.command("list")
    def models_list(json_out: JsonOpt = False) -> None:
        """List bundled model presets."""
        specs = [load_model(n) for n in preset_names()]
        if json_out:
            print_json([m.summary() for m in specs])
            return
        rows = [[m.name, m.family, m.params_total / 1e9, m.params_active / 1e9, m.num_layers, m.attention,
                 m.kv_bytes_per_token(2.0) / 1024] for m in specs]
        console.print(table("models", ["name", "family", "params (B)", "active (B)", "layers", "attention",
                                       "KV KiB/token (bf16)"], rows))

    @models.command("show")
    def models_show(model: ModelShowOpt = None, name: HiddenName = None, json_out: JsonOpt = False) -> None:
        """Show one model: parameters, layers, attention, KV bytes per token."""
        m = load_model(_one("--model", model, name))
        if json_out:
            print_json({**m.summary(), "spec": m.model_dump()})
            return
        console.print(table(m.name, ["field", "value"], [[k, v] for k, v in m.summary().items()]))


def _source_rows(entry, exclude: set[str]) -> list[list]:
    """(field, value, source) rows of a catalog entry; a mapping (peaks, a link, storage) one row per
    key, each with its own source or its parent's."""
    rows = []
    for key, value in entry.model_dump(exclude={"sources", *exclude}).items():
        src = entry.sources.get(key, "")
        if isinstance(value, dict):
            rows += [[f"{key}.{k}", v, entry.sources.get(f"{key}.{k}", src)] for k, v in value.items()]
        else:
            rows.append([key, value, src])
    return rows
