"""Bad pipeline specs give one-line errors that name the rule and the value."""

import pytest

from perfmodel.errors import PerfModelError
from perfmodel.pipeline import build_pipeline, image_size, parse_stages


def _build(stages, **kw):
    return build_pipeline(stages=parse_stages(stages), width_px=kw.pop("w", 640), height_px=480, **kw)


@pytest.mark.parametrize("stages,message", [
    ("decode@cpu,dnn@gpu", r"stage 2 \(dnn@gpu\) runs on the gpu but the data is in host memory: put h2d before it"),
    ("decode@cpu,resize@cpu,h2d,dnn@gpu", r"stage 4 \(dnn@gpu\) needs tensor data, got resized"),
    ("resize@cpu,dnn@cpu", r"stage 1 \(resize@cpu\) needs pixels data, got jpeg"),
    ("h2d,decode@gpu,resize@gpu,normalize@gpu,dnn@gpu,postprocess@cpu", r"put d2h before it"),
    ("decode@cpu,resize@cpu,normalize@cpu", r"at least one dnn stage"),
    ("h2d,h2d,decode@gpu", r"already on the device"),
    ("decode@cpu,resize@cpu,normalize@cpu,broker=kafka", r"hands a DNN's output"),
    # malformed tokens, caught while parsing
    ("decode@tpu,dnn@gpu", r"--stages 'decode@tpu': on='tpu'"),
    ("decode,dnn@gpu", r"stage decode needs a place: decode@cpu or decode@gpu"),
    ("decode@cpu,h2d@gpu", r"stage h2d moves data and takes no @gpu"),
    ("decode@cpu,,dnn@gpu", r"an empty stage"),
    ("broker=redis", r"broker 'redis' is not one of kafka, rabbitmq"),
    ("resize@cpu=resnet-50", r"stage resize takes no model"),
    ("upscale@gpu", r"--stages 'upscale@gpu': kind='upscale'"),
    ("decode@gpu=cpu", r"--stages 'decode@gpu=cpu': huffman='cpu': Input should be 'auto', 'host' or 'gpu'"),
    ("decode@cpu=host", r"stage decode@cpu=host takes no Huffman placement"),
])
def test_bad_stage_lists(stages, message):
    with pytest.raises(PerfModelError, match=message) as err:
        _build(stages)
    assert "\n" not in str(err.value)


def test_bad_sizes_and_counts():
    ok = "decode@cpu,resize@cpu,normalize@cpu,h2d,dnn@gpu"
    with pytest.raises(PerfModelError, match=r"batch_size=0: Input should be greater than or equal to 1"):
        _build(ok, batch_size=0)
    with pytest.raises(PerfModelError, match=r"width_px=-3"):
        _build(ok, w=-3)
    with pytest.raises(PerfModelError, match=r"--image '12x' is not one of small, medium, large or WIDTHxHEIGHT"):
        image_size("12x")
    assert image_size("medium") == (1920, 1080) and image_size("1280X720") == (1280, 720)
