"""Model architectures and workloads, as validated data."""

from perfmodel.specs.hf import from_hf_config
from perfmodel.specs.model import MLA, ModelSpec, MoE
from perfmodel.specs.registry import load_model, preset_names

__all__ = ["MLA", "ModelSpec", "MoE", "from_hf_config", "load_model", "preset_names"]
