"""A vision request pipeline as validated data: an image, a batch and an ordered list of stages,
each on the CPU host or the GPU. `parse_stages` reads the CLI grammar `kind[@cpu|@gpu][=arg]`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from perfmodel.errors import PerfModelError, pydantic_message
from perfmodel.pipeline.constants import BROKERS

StageKind = Literal["decode", "resize", "normalize", "h2d", "dnn", "postprocess", "broker", "d2h"]
Place = Literal["cpu", "gpu"]
COPIES = ("h2d", "d2h", "broker")          # stages that move data instead of running on a processor

# Named image sizes: VGA, full HD and 4K UHD frames (our choice of three common capture sizes).
IMAGE_SIZES: dict[str, tuple[int, int]] = {"small": (640, 480), "medium": (1920, 1080), "large": (3840, 2160)}

# What a stage needs the data to be, and what it leaves (JPEG bytes -> pixels -> resized -> tensor -> output).
_NEEDS = {"decode": {"jpeg"}, "resize": {"pixels"}, "normalize": {"pixels", "resized"},
          "dnn": {"tensor"}, "postprocess": {"output"}}
_MAKES = {"decode": "pixels", "resize": "resized", "normalize": "tensor", "dnn": "output", "postprocess": "output"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Strict):
    kind: StageKind
    on: Place | None = Field(default=None, description="cpu or gpu; none for h2d, d2h and broker")
    model: str | None = Field(default=None, description="dnn: vision model id (default: the pipeline's)")
    broker: str | None = Field(default=None, description="broker: kafka or rabbitmq")
    huffman: Literal["auto", "host", "gpu"] | None = Field(
        default=None, description="decode@gpu: where entropy decoding runs (auto: DALI's 1 MP threshold)")

    @model_validator(mode="after")
    def _placed(self):
        if self.kind in COPIES and self.on is not None:
            raise ValueError(f"stage {self.kind} moves data and takes no @{self.on}")
        if self.kind not in COPIES and self.on is None:
            raise ValueError(f"stage {self.kind} needs a place: {self.kind}@cpu or {self.kind}@gpu")
        if self.kind == "broker" and self.broker not in BROKERS:
            raise ValueError(f"broker {self.broker!r} is not one of {', '.join(BROKERS)} (broker=kafka)")
        if self.model is not None and self.kind != "dnn":
            raise ValueError(f"stage {self.kind} takes no model (only dnn=MODEL does)")
        if self.huffman is not None and (self.kind, self.on) != ("decode", "gpu"):
            raise ValueError(f"stage {self.label} takes no Huffman placement (only decode@gpu=auto|host|gpu does)")
        return self

    @property
    def label(self) -> str:
        place = f"@{self.on}" if self.on else ""
        value = self.model or self.broker or self.huffman
        arg = f"={value}" if value else ""
        return f"{self.kind}{place}{arg}"


class Pipeline(_Strict):
    stages: list[Stage] = Field(min_length=1)
    model: str = Field(default="resnet-50", description="vision model of dnn stages without =MODEL")
    width_px: int = Field(gt=0, le=32768)
    height_px: int = Field(gt=0, le=32768)
    batch_size: int = Field(default=1, ge=1, le=4096)
    cpu_cores: int | None = Field(default=None, ge=1, description="host cores for CPU stages (default: one socket)")
    tensor_bytes: int = Field(default=2, ge=1, le=4, description="bytes per DNN input element (fp16: 2)")

    @model_validator(mode="after")
    def _data_flows(self):
        form, where = "jpeg", "host"            # a request arrives as JPEG bytes in host memory
        for i, stage in enumerate(self.stages, start=1):
            name = f"stage {i} ({stage.label})"
            if stage.kind == "h2d":
                if where != "host":
                    raise ValueError(f"{name} copies host to device, but the data is already on the device")
                where = "device"
                continue
            if stage.kind == "d2h":
                if where != "device":
                    raise ValueError(f"{name} copies device to host, but the data is on the host")
                where = "host"
                continue
            if stage.kind == "broker":
                if where != "host" or form != "output":
                    raise ValueError(f"{name} hands a DNN's output on the host to the next DNN; put it after "
                                     f"dnn (and d2h), not on {form} in {where} memory")
                form = "tensor"                 # the next DNN's input, handed over by the broker
                continue
            need = "device" if stage.on == "gpu" else "host"
            if where != need:
                copy = "h2d" if need == "device" else "d2h"
                raise ValueError(f"{name} runs on the {stage.on} but the data is in {where} memory: "
                                 f"put {copy} before it")
            if form not in _NEEDS[stage.kind]:
                raise ValueError(f"{name} needs {' or '.join(sorted(_NEEDS[stage.kind]))} data, got {form}")
            form = _MAKES[stage.kind]
        if not any(s.kind == "dnn" for s in self.stages):
            raise ValueError("a pipeline needs at least one dnn stage")
        return self


def parse_stages(text: str) -> list[Stage]:
    """`decode@cpu,resize@cpu,normalize@cpu,h2d,dnn@gpu,d2h,postprocess@cpu` -> stages."""
    stages = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            raise PerfModelError(f"--stages {text!r}: an empty stage (two commas or a trailing comma)")
        head, _, arg = token.partition("=")
        kind, _, place = head.partition("@")
        fields = {"kind": kind, "on": place or None}
        if arg:
            fields[{"broker": "broker", "decode": "huffman"}.get(kind, "model")] = arg
        stages.append(_build(Stage, fields, f"--stages {token!r}"))
    return stages


def build_pipeline(**fields) -> Pipeline:
    return _build(Pipeline, fields, "pipeline")


def _build(cls, fields: dict, source: str):
    try:
        return cls(**fields)
    except ValidationError as exc:
        raise PerfModelError(pydantic_message(exc, source=source)) from None


def image_size(text: str) -> tuple[int, int]:
    """`small` / `medium` / `large` or `WIDTHxHEIGHT` in pixels."""
    if text in IMAGE_SIZES:
        return IMAGE_SIZES[text]
    w, sep, h = text.lower().partition("x")
    if sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0:
        return int(w), int(h)
    raise PerfModelError(f"--image {text!r} is not one of {', '.join(IMAGE_SIZES)} or WIDTHxHEIGHT (e.g. 1280x720)")
