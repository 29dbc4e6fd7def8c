"""The bundled executor: a synthetic torch model with a model's real shapes, timed per operator
and per step, plus microbenchmarks. PyTorch is optional and imported only when these run."""

from perfmodel.executor._torch import cuda_available, require_torch
from perfmodel.executor.synthetic import Routing, SyntheticModel, reduce_spec
from perfmodel.executor.timing import OpRecorder, Timing, time_fn

__all__ = ["OpRecorder", "Routing", "SyntheticModel", "Timing", "cuda_available", "reduce_spec", "require_torch",
           "time_fn"]
