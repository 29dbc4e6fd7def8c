"""Exporters: turn a plan file into launch commands and config files for serving engines."""

from perfmodel.search.export._base import Export, Exporter, export_formats, get_exporter, register

__all__ = ["Export", "Exporter", "export_formats", "get_exporter", "register"]
