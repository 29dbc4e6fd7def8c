"""Nano-batch overlap: the model-side bounds (CPU) and the CUDA-streams measurement (GPU only)."""

import pytest

from perfmodel import hardware
from perfmodel import specs
from perfmodel.executor import cuda_available
from perfmodel.executor.overlap import overlap_bounds
from perfmodel.iteration import BatchShape
from perfmodel.overlap import overlap
from perfmodel.plan import Plan
from perfmodel.stepmodel import StepModel


def test_overlap_bounds_bracket_the_overlap_model():
    model, system = specs.load_model("llama-3.1-8b"), hardware.resolve("h100-sxm")
    whole = StepModel.build(model=model, system=system, plan=Plan())
    nano = StepModel.build(model=model, system=system, plan=Plan(nano_batches=2))
    batch = BatchShape.decode(128, 2048)
    bounds = overlap_bounds([whole.ops(BatchShape.decode(64, 2048)) for _ in range(2)])
    split = overlap(nano, batch).t_overlap_s       # the two-nano-batch schedule
    assert bounds["ideal_s"] <= bounds["sequential_s"]
    assert bounds["ideal_s"] * 0.99 <= split <= bounds["sequential_s"] * 1.01
    # the step model runs this small decode step unsplit: cheaper than any schedule of the split
    assert nano.iteration_time_s(batch) == pytest.approx(whole.iteration_time_s(batch))
    assert whole.iteration_time_s(batch) < bounds["ideal_s"]


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device")
def test_two_streams_overlap_on_gpu():
    from perfmodel.executor.synthetic import reduce_spec

    spec = reduce_spec(specs.load_model("llama-3.1-8b"), layers=4)
    system = hardware.resolve("h100-sxm")
    from perfmodel.executor.overlap import nano_batch_overlap

    out = nano_batch_overlap(spec, quant="bf16", calibrated=system.device, system=system, batch=32, context=1024)
    assert out["measured_ms"] > 0 and out["predicted_ms"] > 0
    assert out["measured_ms"] <= out["sequential_ms"] * 1.2  # two streams are not much slower than one after another
