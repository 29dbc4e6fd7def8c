"""Exporters: turn a plan file into launch commands and config files for serving engines.

Each engine's module registers its exporter in `_base`'s registry when imported; this package
imports them all, so the registry is complete wherever `perfmodel.search.export` is imported."""

from perfmodel.search.export import dynamo, json_, sglang, trtllm, vllm  # noqa: F401  (registration)
from perfmodel.search.export._base import _REGISTRY, Export, Exporter, register


def get_exporter(name: str) -> Exporter:
    return _REGISTRY.get(name)()


def export_formats() -> list[str]:
    return _REGISTRY.names()


__all__ = ["Export", "Exporter", "export_formats", "get_exporter", "register"]
