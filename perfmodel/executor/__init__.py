"""The bundled executor: a synthetic torch model with a model's real shapes, timed per operator
and per step, microbenchmarks, and the predicted-vs-measured validation that calibrates the cost
model. PyTorch is optional and imported only when these run."""

from perfmodel.executor._torch import cuda_available, require_torch
from perfmodel.executor.synthetic import Routing, SyntheticModel, reduce_spec
from perfmodel.executor.timing import OpRecorder, Timing, time_fn
from perfmodel.executor.validate import ValidateConfig, ValidationResult, default_config, run_validation

__all__ = ["OpRecorder", "Routing", "SyntheticModel", "Timing", "ValidateConfig", "ValidationResult", "cuda_available",
           "default_config", "reduce_spec", "require_torch", "run_validation", "time_fn"]
