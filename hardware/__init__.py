"""Devices, links, nodes and clusters: schemas and the bundled catalog."""

from perfmodel.hardware.catalog import System, bundled, get_device, list_ids, load_file, resolve
from perfmodel.hardware.schema import Catalog, Cluster, Device, Link, Node

__all__ = ["Catalog", "Cluster", "Device", "Link", "Node", "System", "bundled", "get_device",
           "list_ids", "load_file", "resolve"]
