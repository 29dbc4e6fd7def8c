"""The hardware schema as a table with units, and the defaults a user's file did not set.

Units come from the field-name suffixes the schema uses (hardware.schema docstring); a field a
user's YAML leaves out takes the schema default, which can move predictions (GEMM tile shape,
attention efficiencies), so `defaults_used` lists them for the CLI to report.
"""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from perfmodel.hardware.schema import Catalog, Cluster, Device, Link, Node

UNITS = (("_tflops", "TFLOP/s per dtype (int dtypes: TOPS)"), ("_gb_s", "GB/s (1e9 B/s)"),
         ("_gbit_s", "Gbit/s"), ("_gb", "GB (1e9 B)"), ("_mb", "MB (1e6 B)"), ("_us", "microseconds"),
         ("_w", "W"), ("_ghz", "GHz"), ("efficiency", "fraction in (0, 1]"))
ENTRIES: dict[str, type[BaseModel]] = {"devices": Device, "nodes": Node, "clusters": Cluster, "link": Link}
_BOOKKEEPING = {"sources", "aliases"}


def unit_of(field: str) -> str:
    for suffix, unit in UNITS:
        if field.endswith(suffix):
            return unit
    return ""


def _type_name(ann) -> str:
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args) + " | null"
    if typing.get_origin(ann) is typing.Literal:
        return " | ".join(map(str, typing.get_args(ann)))
    if typing.get_origin(ann) is dict:
        return f"map {_type_name(typing.get_args(ann)[0])} -> {_type_name(typing.get_args(ann)[1])}"
    if typing.get_origin(ann) is list:
        return f"list of {_type_name(typing.get_args(ann)[0])}"
    return getattr(ann, "__name__", str(ann))


def _bounds(info) -> str:
    out = []
    for m in info.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
    return ", ".join(out)


def schema_rows() -> list[dict]:
    """One row per field of each catalog entry kind: type, unit, bounds, default, description."""
    rows = []
    for section, model in ENTRIES.items():
        for name, info in model.model_fields.items():
            required = info.is_required()
            if info.default is not PydanticUndefined:
                default = info.default
            elif info.default_factory is not None:
                default = info.default_factory()
            else:
                default = None
            rows.append({"section": section, "field": name, "type": _type_name(info.annotation),
                         "unit": unit_of(name), "bounds": _bounds(info), "required": required,
                         "default": None if required else default, "description": info.description or ""})
    return rows


def _unset(model: BaseModel) -> list[str]:
    out = []
    for name, info in type(model).model_fields.items():
        if name in _BOOKKEEPING or info.is_required():
            continue
        if name not in model.model_fields_set:
            out.append(f"{name}={getattr(model, name)!r}")
            continue
        value = getattr(model, name)
        if isinstance(value, Link):
            out += [f"{name}.{x}" for x in _unset(value)]
    return out


def defaults_used(catalog: Catalog) -> dict[str, list[str]]:
    """entry id -> `field=default` for every optional field the file did not set."""
    out = {}
    for entry in [*catalog.devices, *catalog.nodes, *catalog.clusters]:
        unset = _unset(entry)
        if unset:
            out[entry.id] = unset
    return out
