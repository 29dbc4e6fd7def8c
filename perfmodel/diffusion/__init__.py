"""Text-to-image diffusion serving: UNet/DiT pipelines as data, per-step costs on the shared
operator model, ControlNet and LoRA add-ons, a seeded trace and a FIFO serving simulation."""

from perfmodel.diffusion._cost import (Cost, controlnet_step, denoiser_layers, denoiser_phases, denoiser_step,
                                       text_encode, vae_decode, weight_params)
from perfmodel.diffusion._lora import load_s, lora_bytes, merge_s, unmerged_step_s
from perfmodel.diffusion._request import Deployment, deployment, service
from perfmodel.diffusion._serve import Request, TraceSpec, make_trace, simulate, trace_spec
from perfmodel.diffusion._spec import (DiTSpec, PipelineSpec, TextEncoderSpec, UNetSpec, VAESpec, load_pipeline,
                                       pipeline_from_dict, pipeline_names)

__all__ = ["Cost", "Deployment", "DiTSpec", "PipelineSpec", "Request", "TextEncoderSpec", "TraceSpec", "UNetSpec",
           "VAESpec", "controlnet_step", "denoiser_layers", "denoiser_phases", "denoiser_step", "deployment", "load_pipeline",
           "load_s", "lora_bytes", "make_trace", "merge_s", "pipeline_from_dict", "pipeline_names", "service",
           "simulate", "text_encode", "trace_spec", "unmerged_step_s", "vae_decode", "weight_params"]
