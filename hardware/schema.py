"""Hardware as validated data: devices, links, nodes and clusters.

Units live in field names (`_tflops`, `_gb`, `_gb_s` = GB/s = 1e9 B/s, `_gbit_s`, `_us`, `_w`).
Every number a catalog entry sets must have a source: `sources` maps a field name (or a dotted
path into a dict field, e.g. ``peak_dense_tflops.fp8``) to where the number comes from. A field
covered by its parent key (``peak_dense_tflops``) counts as sourced.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DType = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "fp6", "fp4"]
DeviceKind = Literal["gpu", "npu", "cpu"]
# Catalog ids name files (calibrations/<device id>.json): letters, digits and . _ + - only, no
# path separators or "..", at most 80 characters (issue 15: `validate --ship` escaped the folder).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_+-]*(\.[A-Za-z0-9_+-]+)*$"
Id = Annotated[str, Field(min_length=1, max_length=80, pattern=ID_PATTERN)]
Topology = Literal["nvswitch", "pcie", "xgmi_mesh", "hccs_mesh", "ub_switch", "single"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _numeric_paths(model: BaseModel, prefix: str = "") -> list[str]:
    """Dotted paths of every number set on a model (recursing into dicts and sub-models).

    Only fields the entry sets count: a schema default (e.g. ``gemm_tile_m=128``) is the code's
    documented choice, not a number the catalog entry claims, so it needs no source.
    """
    out: list[str] = []
    for name in type(model).model_fields:
        if name not in model.model_fields_set:
            continue
        value = getattr(model, name)
        path = f"{prefix}{name}"
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            out.append(path)
        elif isinstance(value, dict):
            out.extend(f"{path}.{k}" for k, v in value.items() if isinstance(v, (int, float)))
        elif isinstance(value, BaseModel) and not isinstance(value, Sourced):
            out.extend(_numeric_paths(value, prefix=f"{path}."))
    return out


class Sourced(_Strict):
    """Base for catalog entries: every number set must be covered by `sources`."""

    sources: dict[str, str] = Field(default_factory=dict, description="field path -> source")

    @model_validator(mode="after")
    def _every_number_has_a_source(self):
        missing = []
        for path in _numeric_paths(self):
            parts = path.split(".")
            if not any(".".join(parts[:i]) in self.sources for i in range(1, len(parts) + 1)):
                missing.append(path)
        if missing:
            ident = getattr(self, "id", type(self).__name__)
            raise ValueError(f"{ident}: numbers without a source: {', '.join(missing)}")
        return self


class Link(_Strict):
    """A link as one endpoint sees it: bandwidth per direction, latency, achievable fraction."""

    name: str
    bw_per_direction_gb_s: float = Field(gt=0)
    latency_us: float = Field(ge=0, description="small-message latency of a collective over latency_group devices")
    latency_group: int = Field(default=8, ge=2, description="group size latency_us was measured at; "
                               "collectives over n devices scale it by log2(n) / log2(latency_group) (tree depth)")
    efficiency: float = Field(gt=0, le=1, description="achievable fraction of bandwidth, large messages")
    all_to_all_efficiency: float | None = Field(
        default=None, gt=0, le=1, description="achievable fraction for expert-parallel all-to-all (dispatch / "
                                              "combine of prefill-sized batches) where it was measured apart; "
                                              "None: `efficiency`")
    low_latency_all_to_all_efficiency: float | None = Field(
        default=None, gt=0, le=1, description="achievable fraction for the decode-sized all-to-all of low-latency "
                                              "kernels (DeepEP low_latency_dispatch / combine) where it was "
                                              "measured apart; None: `all_to_all_efficiency`")

    def rate_efficiency(self, kind: str) -> float:
        """The achievable fraction a collective of `kind` gets on this link; `all_to_all_low_latency`
        (decode) falls back to the all-to-all fraction, that to the link's own."""
        if kind == "all_to_all_low_latency" and self.low_latency_all_to_all_efficiency is not None:
            return self.low_latency_all_to_all_efficiency
        if kind in ("all_to_all", "all_to_all_low_latency") and self.all_to_all_efficiency is not None:
            return self.all_to_all_efficiency
        return self.efficiency


class Storage(_Strict):
    """Local flash a node reads weights from (NVMe SSD, UFS, eMMC): sequential read of large blocks."""

    name: str
    seq_read_gb_s: float = Field(gt=0, description="sequential read bandwidth of large (MB-sized) reads")


class Device(Sourced):
    """An accelerator (GPU/NPU) or a CPU host socket."""

    id: Id
    name: str
    vendor: str
    kind: DeviceKind
    peak_dense_tflops: dict[DType, float] = Field(description="dense (no 2:4 sparsity) peak; int in TOPS")
    memory_gb: float = Field(gt=0)
    memory_bw_gb_s: float = Field(gt=0)
    onchip_cache_mb: float | None = Field(default=None, ge=0)
    compute_units: int = Field(gt=0, description="SMs, CUs, AI cores or CPU cores")
    clock_ghz: float | None = Field(default=None, gt=0)
    tdp_w: float | None = Field(default=None, gt=0)
    host_link: Link | None = None
    scaleup_link: Link | None = None
    # Achievable fractions (measured where a source exists; see hardware_specs.md section 4).
    gemm_efficiency: dict[DType, float] = Field(
        default_factory=dict, description="best-shape GEMM throughput / dense peak, per dtype"
    )
    mem_bw_efficiency: float = Field(gt=0, le=1, description="achievable / peak memory bandwidth")
    kernel_overhead_us: float = Field(ge=0, description="fixed cost per kernel: launch + prologue/tail")
    gemm_tile_m: int = Field(default=128, gt=0, description="largest tensor-core tile rows (wave model)")
    gemm_tile_n: int = Field(default=128, gt=0, description="largest tensor-core tile cols (wave model)")
    # Block-scaled FP8 (1x128 activation, 128x128 weight scales) on tensor cores that cannot apply
    # the scales themselves (Hopper: DeepGEMM promotes the FP8 partial sums on the CUDA cores once
    # per 128-element K block). None: the device applies block scales in hardware or has no fit.
    block_scale_tile_overhead_k: float | None = Field(
        default=None, ge=0, le=65536,
        description="fixed work per output tile of a block-scaled FP8 GEMM, in K elements of its main loop")
    # Attention kernels relative to the device's own GEMM/bandwidth roofs. Defaults from the
    # FlashAttention-2 paper (causal fwd 50-73% of A100 peak, ~0.55-0.8 of a tuned GEMM) and
    # FlashAttention-3 (causal hd128 ~600-660 of 989 TFLOPS on H100, ~0.7 of a tuned GEMM); 0.7 is
    # the middle of both ranges. Decode attention (FlashDecoding/paged) streams
    # KV at close to the GEMV bandwidth. Calibration profiles override them per device.
    attn_prefill_efficiency: float = Field(default=0.7, gt=0, le=1,
                                           description="flash attention FLOP rate / best GEMM FLOP rate")
    attn_decode_efficiency: float = Field(default=0.9, gt=0, le=1,
                                          description="paged decode attention KV read rate / achievable bandwidth")
    aliases: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _efficiencies_in_range(self):
        for dtype, frac in self.gemm_efficiency.items():
            if not 0 < frac <= 1:
                raise ValueError(f"{self.id}: gemm_efficiency.{dtype} must be in (0, 1], got {frac}")
            if dtype not in self.peak_dense_tflops:
                raise ValueError(f"{self.id}: gemm_efficiency.{dtype} set but peak_dense_tflops.{dtype} missing")
        for dtype, peak in self.peak_dense_tflops.items():
            if peak <= 0:
                raise ValueError(f"{self.id}: peak_dense_tflops.{dtype} must be > 0, got {peak}")
        return self

    def peak_flops(self, dtype: str) -> float:
        """Dense peak in FLOP/s for a dtype (falls back to the nearest wider dtype the device has)."""
        for d in _FALLBACK[dtype]:
            if d in self.peak_dense_tflops:
                return self.peak_dense_tflops[d] * 1e12
        raise KeyError(dtype)

    def has_dtype(self, dtype: str) -> bool:
        return dtype in self.peak_dense_tflops

    def gemm_fraction(self, dtype: str) -> float:
        for d in _FALLBACK[dtype]:
            if d in self.gemm_efficiency:
                return self.gemm_efficiency[d]
        return DEFAULT_GEMM_EFFICIENCY


# When a device lacks a dtype's tensor cores, the kernel runs at the next dtype it has.
_FALLBACK: dict[str, tuple[str, ...]] = {
    "fp4": ("fp4", "fp8", "int8", "bf16", "fp16", "fp32"),
    "fp6": ("fp6", "fp8", "bf16", "fp16", "fp32"),
    "int4": ("int4", "int8", "fp8", "bf16", "fp16", "fp32"),
    "fp8": ("fp8", "bf16", "fp16", "fp32"),
    "int8": ("int8", "fp8", "bf16", "fp16", "fp32"),
    "bf16": ("bf16", "fp16", "fp32"),
    "fp16": ("fp16", "bf16", "fp32"),
    "tf32": ("tf32", "fp32"),
    "fp32": ("fp32", "tf32", "bf16", "fp16"),
}

# Used only when a catalog entry has no measured GEMM fraction: the median of the best-shape
# fractions measured on A100/H100/H200/B200/L40S in hardware_specs.md section 4 (0.76-0.93).
DEFAULT_GEMM_EFFICIENCY = 0.85


class Node(Sourced):
    """A server: devices joined by a scale-up fabric, NICs, host CPUs and host memory."""

    id: Id
    name: str
    device: str = Field(description="device id")
    devices_per_node: int = Field(gt=0)
    topology: Topology
    scaleup_domain_devices: int = Field(gt=0, description="devices reachable over the scale-up fabric")
    nic: Link | None = Field(default=None, description="scale-out link per device")
    host_cpu: str | None = Field(default=None, description="CPU device id")
    cpu_sockets: int = Field(default=2, gt=0)
    host_memory_gb: float | None = Field(default=None, gt=0)
    storage: Storage | None = Field(default=None, description="local flash weights can be streamed from "
                                    "(on-device MoE: perfmodel.edgemoe)")
    default: bool = Field(default=False, description="the node used when only the device is named")
    aliases: list[str] = Field(default_factory=list)


class Cluster(Sourced):
    """Several nodes; a supernode (CloudMatrix384) extends the scale-up domain across nodes."""

    id: Id
    name: str
    node: str = Field(description="node id")
    num_nodes: int = Field(gt=0)
    scaleup_domain_devices: int = Field(gt=0)
    scaleup_link: Link | None = Field(default=None, description="inter-node scale-up fabric (e.g. UB)")
    scaleout: Link | None = None
    aliases: list[str] = Field(default_factory=list)


class Catalog(_Strict):
    """The top level of a catalog YAML file (bundled or the user's own)."""

    devices: list[Device] = Field(default_factory=list)
    nodes: list[Node] = Field(default_factory=list)
    clusters: list[Cluster] = Field(default_factory=list)
