"""Vision serving pipelines: decode, resize, normalise, copies, DNN inference, post-processing and
broker hand-offs, each on the CPU host or the GPU; per-stage latency, throughput and bottleneck."""

from perfmodel.pipeline.model import StageCost, dnn_cost, evaluate
from perfmodel.pipeline.spec import IMAGE_SIZES, Pipeline, Stage, build_pipeline, image_size, parse_stages
from perfmodel.pipeline.vision_models import VISION_MODELS, VisionModel, get_vision_model

__all__ = ["IMAGE_SIZES", "VISION_MODELS", "Pipeline", "Stage", "StageCost", "VisionModel", "build_pipeline",
           "dnn_cost", "evaluate", "get_vision_model", "image_size", "parse_stages"]
