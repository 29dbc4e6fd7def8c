"""Quantization schemes: bits for weights, activations and KV, the tensor-core dtype a GEMM runs
in, and the dequantization work that runs on the vector (CUDA) cores.

Ids: bf16, fp16, fp32, fp8 (per-tensor), fp8-block (128x128 block-scaled, DeepSeek-V3), nvfp4,
mxfp4, mxfp4-mxfp8 (MXFP4 weights x MXFP8 activations), mxfp6, w8a8, w4a16, w4a8kv4 (QServe QoQ), w4a4kv4 (COMET/Atom), any weight-only width
`w{N}a16` (Tilus: arbitrary 1-8 bit weights) optionally with `kv{4,8}` and an AWQ/GPTQ group size
`-g{G}` (w4a16-g128: its scales and zero points are counted).

Bits per element include the scale factors a format stores, so memory and bytes moved are right:
nvfp4 = 4 + 8/16 (an FP8 E4M3 scale per 16 elements), mxfp4 = 4 + 8/32 (an E8M0 scale per 32),
fp8-block = 8 + 32/(128*128) for weights (one FP32 scale per 128x128 block) and 8 + 32/128 for
activations (one FP32 scale per token per 128 channels). A per-tensor FP32 scale (fp8, nvfp4's
second level) is one number per matrix and is not counted.

Per-component precision: `<scheme>+<component>=<scheme>...[+kv=<dtype>]`, e.g.
`bf16+experts=mxfp4` (gpt-oss: experts in MXFP4, attention and everything else in BF16) or
`fp8-block+kv=fp8`. Components: attention, mlp (dense MLPs), experts (routed), shared_experts.
The router, embeddings and LM head always stay in the 16-bit base dtype (`gemm(...,
weight_quantized=False)`), as every checkpoint format listed here keeps them.

A device without the scheme's low-precision tensor cores (FP4/FP6 on Hopper, Ampere, MI300X)
runs it weight-only: the weights stay 4/6-bit in memory and are dequantized to BF16 in the GEMM
main loop (Marlin-style; vLLM's MXFP4/NVFP4 paths on Hopper), activations stay BF16. `gemm_path`
applies this and `device_notes` says so in the estimate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from perfmodel.errors import PerfModelError
from perfmodel.specs.quantization import COMPONENTS  # the component names configs quantize


@dataclass(frozen=True, slots=True)
class Quant:
    id: str
    weight_bits: float             # per weight element, scales included
    act_bits: float                # per activation element fed to the GEMM, scales included
    kv_bits: float                 # per KV-cache element, scales included
    gemm_dtype: str                # tensor-core dtype of the main loop
    attn_dtype: str                # dtype of the attention matmuls
    dequant_ops_per_weight: float  # vector-core ops per weight element per M-tile pass
    dequant_ops_per_kv: float      # vector-core ops per KV element read
    parts: tuple[tuple[str, "Quant"], ...] = ()  # per-component overrides (component, scheme)
    # tensor-core dtype the device must have for this main loop, when not gemm_dtype itself (a
    # mixed-input MMA such as MXFP4 x MXFP8 exists only with the FP4 cores: Blackwell kind::f8f6f4)
    native_dtype: str | None = None

    @property
    def weight_bytes(self) -> float:
        return self.weight_bits / 8

    @property
    def act_bytes(self) -> float:
        return self.act_bits / 8

    @property
    def kv_bytes(self) -> float:
        return self.kv_bits / 8

    @property
    def base_bytes(self) -> float:
        """Bytes per element of the unquantized tensors (activations between kernels, LM head,
        router): 16-bit, or 32-bit when the whole model runs in fp32 (CPU executor runs)."""
        return 4.0 if self.act_bits == 32 else 2.0

    @property
    def block_scaled(self) -> bool:
        """FP8 with fine-grained (1x128 / 128x128) scales applied inside the GEMM (fp8-block); not
        MXFP4 x MXFP8 (the same 8.25 activation bits), whose E8M0 scales Blackwell's block-scaled MMA
        applies in hardware and which runs weight-only BF16 elsewhere."""
        return self.gemm_dtype == "fp8" and self.act_bits == FP8_BLOCK_ACT_BITS and self.native_dtype is None

    @property
    def base_dtype(self) -> str:
        return "fp32" if self.act_bits == 32 else "bf16"

    def part(self, component: str) -> "Quant":
        """The scheme of one component's weights (attention, mlp, experts, shared_experts)."""
        for name, q in self.parts:
            if name == component:
                return q
        return self

    def schemes(self) -> tuple["Quant", ...]:
        """This scheme and every per-component override."""
        return (self,) + tuple(q for _, q in self.parts)

    def gemm_path(self, dev) -> tuple[str, float, float]:
        """(tensor-core dtype, activation bytes per element, dequant ops per weight) of a GEMM with
        these weights on `dev`: weight-only through BF16 when the device lacks the FP4/FP6 cores."""
        if not self.native_on(dev):
            return self.base_dtype, self.base_bytes, W4A16_DEQUANT_OPS
        return self.gemm_dtype, self.act_bytes, self.dequant_ops_per_weight

    def native_on(self, dev) -> bool:
        """Whether `dev` has the tensor cores this scheme's main loop needs."""
        needs = self.native_dtype or self.gemm_dtype
        return needs not in NEEDS_OWN_CORES or dev.has_dtype(needs)

    def with_kv(self, kv_dtype: str | None) -> "Quant":
        if kv_dtype is None:
            return self
        bits = KV_DTYPES.get(kv_dtype)
        if bits is None:
            raise PerfModelError(f"--kv-dtype {kv_dtype!r} is not one of {', '.join(KV_DTYPES)}")
        ops = 0.0 if bits >= 8 else KV4_DEQUANT_OPS
        return replace(self, kv_bits=bits, dequant_ops_per_kv=ops)


# NVFP4 KV cache (TRT-LLM): FP4 E2M1 values with an FP8 scale per 16 elements = 4.5 bits.
KV_DTYPES = {"bf16": 16, "fp16": 16, "fp32": 32, "fp8": 8, "int8": 8, "int4": 4, "kv4": 4, "kv8": 8,
             "fp4": 4.5, "nvfp4": 4.5}
# Tensor-core dtypes a device must have to run the scheme natively; otherwise weight-only (BF16).
NEEDS_OWN_CORES = frozenset({"fp4", "fp6"})

# Dequantization cost on vector cores, ops per element. W4A16 main loops (Marlin/TRT-LLM) unpack
# int4 -> fp16 with lop3 + a fused multiply-add per element: ~2 ops. QServe's progressive W4A8
# dequantizes int4 -> int8 with register-level parallelism (4 elements per vadd4/vsub4), ~0.5 ops
# per element (QServe arXiv:2405.04532 s5). KV4 decode attention: unpack + scale, ~2 ops.
W4A16_DEQUANT_OPS = 2.0
QSERVE_DEQUANT_OPS = 0.5
KV4_DEQUANT_OPS = 2.0

# Scale-factor overheads in bits per element (format definitions, see module docstring).
NVFP4_BITS = 4 + 8 / 16       # NVIDIA NVFP4: E2M1 + E4M3 scale per 16 (+ per-tensor FP32)
MXFP4_BITS = 4 + 8 / 32       # OCP MX v1.0: E2M1 + E8M0 scale per 32
MXFP6_BITS = 6 + 8 / 32       # OCP MX v1.0: E3M2/E2M3 + E8M0 scale per 32
MXFP8_BITS = 8 + 8 / 32       # OCP MX v1.0: E4M3 + E8M0 scale per 32
FP8_BLOCK_WEIGHT_BITS = 8 + 32 / (128 * 128)  # DeepSeek-V3 s3.3.2: FP32 scale per 128x128 block
FP8_BLOCK_ACT_BITS = 8 + 32 / 128             # DeepSeek-V3 s3.3.2: FP32 scale per 1x128 tile
INT_ZERO_BITS_AWQ = 16        # AWQ/GPTQ: an FP16 scale per group (+ a packed zero of the weight width)

_FIXED = {
    "fp32": Quant("fp32", 32, 32, 32, "fp32", "fp32", 0.0, 0.0),
    "bf16": Quant("bf16", 16, 16, 16, "bf16", "bf16", 0.0, 0.0),
    "fp16": Quant("fp16", 16, 16, 16, "fp16", "fp16", 0.0, 0.0),
    # FP8 (per-tensor scaled) weights and activations; engines' FP8 recipes also keep an FP8 KV
    # cache (TRT-LLM perf-overview: "FP8 KV cache automatically").
    "fp8": Quant("fp8", 8, 8, 8, "fp8", "fp8", 0.0, 0.0),
    # Block-scaled FP8 (DeepSeek-V3, Qwen3-FP8): the per-block scales are applied in the GEMM's
    # FP32 accumulation, overlapped with the tensor cores (DeepGEMM reaches ~1550 TFLOPS on H800);
    # engines keep the KV cache in the model dtype unless told otherwise (vLLM kv_cache_dtype auto).
    "fp8-block": Quant("fp8-block", FP8_BLOCK_WEIGHT_BITS, FP8_BLOCK_ACT_BITS, 16, "fp8", "bf16", 0.0, 0.0),
    # NVFP4 W4A4 (weights and activations both NVFP4) on FP4 tensor cores, with an FP8 KV cache:
    # NVFP4 checkpoints are made by NVIDIA Model Optimizer, whose PTQ recipe quantizes the KV cache
    # to FP8 by default (examples/llm_ptq hf_ptq.py --kv_cache_qformat fp8; hf_quant_config.json
    # kv_cache_quant_algo FP8), and TRT-LLM and vLLM load it so. Measured: on the 141 fp4 rows of
    # measured_serving.csv (TRT-LLM and vLLM, Llama-3.1-70B and Qwen3-32B, B200/GB200) the median
    # |TPOT error| is 8.1% with FP8 KV and 17.2% with 16-bit KV (`python benchmarks/accuracy_variants.py
    # --kv-dtype bf16 --precision fp4`). Say kv=bf16 for a 16-bit cache.
    "nvfp4": Quant("nvfp4", NVFP4_BITS, NVFP4_BITS, 8, "fp4", "bf16", 0.0, 0.0),
    # MXFP4 W4A4 on FP4 tensor cores (Blackwell, MI355X); weight-only elsewhere (gemm_path).
    "mxfp4": Quant("mxfp4", MXFP4_BITS, MXFP4_BITS, 16, "fp4", "bf16", 0.0, 0.0),
    # MXFP4 weights x MXFP8 activations at the FP8 rate, the mixed-input MMA of Blackwell's FP4 cores;
    # weight-only BF16 elsewhere. How the engines run gpt-oss's MXFP4 experts on Blackwell: TRT-LLM
    # (examples/models/core/gpt_oss/README.md: "Blackwell | mxfp8 | mxfp4", Hopper bf16) and SGLang
    # (server_args --flashinfer-mxfp4-moe-precision default, 'bf16' the opt-out); vLLM's default
    # (mxfp4.py get_mxfp4_backend: SM100_FI_MXFP4_BF16, Triton on Hopper) is w4.25a16, MXFP4 x BF16.
    # AIConfigurator names these w4a8_mxfp4_mxfp8 and w4a16_mxfp4 (sdk/common.py MoEQuantMode).
    "mxfp4-mxfp8": Quant("mxfp4-mxfp8", MXFP4_BITS, MXFP8_BITS, 16, "fp8", "bf16", 0.0, 0.0, native_dtype="fp4"),
    "mxfp6": Quant("mxfp6", MXFP6_BITS, MXFP6_BITS, 16, "fp6", "bf16", 0.0, 0.0),
    "w8a8": Quant("w8a8", 8, 8, 16, "int8", "bf16", 0.0, 0.0),
    "w4a16": Quant("w4a16", 4, 16, 16, "bf16", "bf16", W4A16_DEQUANT_OPS, 0.0),
    "w4a8kv4": Quant("w4a8kv4", 4, 8, 4, "int8", "bf16", QSERVE_DEQUANT_OPS, KV4_DEQUANT_OPS),
    # COMET W4A4KV4 runs INT4 tensor cores where the device has them (A100), else the next wider.
    "w4a4kv4": Quant("w4a4kv4", 4, 4, 4, "int4", "bf16", QSERVE_DEQUANT_OPS, KV4_DEQUANT_OPS),
}

_PATTERN = re.compile(r"^w(\d+(?:\.\d+)?)a(16|8|4)(?:kv(4|8|16))?(?:-g(\d+))?$")

QUANT_IDS = tuple(_FIXED)


def _scheme(qid: str, whole: str) -> Quant:
    key = qid.strip().lower()
    if key in _FIXED:
        return _FIXED[key]
    m = _PATTERN.match(key)
    if not m:
        what = f"--quant {whole!r}" if qid.strip() == whole.strip() else f"--quant {whole!r}: {qid!r}"
        raise PerfModelError(
            f"{what} is not known: use one of {', '.join(QUANT_IDS)}, "
            "w<bits>a<16|8|4>[kv<4|8>][-g<group>] or <scheme>+<component>=<scheme>[+kv=<dtype>]")
    wbits, abits = float(m.group(1)), int(m.group(2))
    if not 1 <= wbits <= 16:
        raise PerfModelError(f"--quant {whole!r}: weight bits must be in 1..16, got {wbits:g}")
    kv = float(m.group(3) or 16)
    group = m.group(4)
    if group is not None:
        g = int(group)
        if not 8 <= g <= 8192:
            raise PerfModelError(f"--quant {whole!r}: group size must be in 8..8192, got {g}")
        wbits += (INT_ZERO_BITS_AWQ + wbits) / g  # an FP16 scale and a packed zero point per group
    gemm = {16: "bf16", 8: "int8", 4: "int4"}[abits]
    deq = 0.0 if wbits >= abits else (W4A16_DEQUANT_OPS if abits == 16 else QSERVE_DEQUANT_OPS)
    return Quant(key, wbits, abits, kv, gemm, "bf16", deq, KV4_DEQUANT_OPS if kv < 8 else 0.0)


def mxfp4_experts_as_run(qid: str, own: str | None) -> str:
    """`qid` with its MXFP4 experts (`experts=mxfp4`, or an all-`mxfp4` scheme's experts) run as the
    scheme `own` (an engine profile's `mxfp4_experts`: how that engine feeds MXFP4 experts); unchanged
    for other schemes and when `own` is None."""
    head, *parts = qid.split("+")
    if own is None or "mxfp4" not in (head, *(p.partition("=")[2] for p in parts if p.startswith("experts="))):
        return qid
    if not any(p.startswith("experts=") for p in parts):
        return "+".join([head, f"experts={own}", *parts])
    return "+".join([head, *(f"experts={own}" if p == "experts=mxfp4" else p for p in parts)])


def get_quant(qid: str) -> Quant:
    """A scheme id, optionally with per-component overrides and a KV dtype (module docstring)."""
    if not isinstance(qid, str) or not qid.strip():
        raise PerfModelError(f"--quant must name a scheme, got {qid!r}")
    head, *rest = qid.split("+")
    q = _scheme(head, qid)
    parts: dict[str, Quant] = {}
    kv: str | None = None
    for item in rest:
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or not value.strip():
            raise PerfModelError(f"--quant {qid!r}: {item!r} must be <component>=<scheme> or kv=<dtype>")
        if name == "kv":
            kv = value.strip().lower()
        elif name in COMPONENTS:
            parts[name] = _scheme(value, qid)
        else:
            raise PerfModelError(f"--quant {qid!r}: component {name!r} is not one of {', '.join(COMPONENTS)}, kv")
    if parts:
        q = replace(q, id=qid.strip().lower(), parts=tuple(sorted(parts.items())))
    return q.with_kv(kv)


def device_notes(q: Quant, dev) -> list[str]:
    """What the estimate assumes about this scheme on this device, in words (empty: native)."""
    notes = []
    for label, scheme in [("", q)] + [(f"{c} ", s) for c, s in q.parts]:
        if not scheme.native_on(dev):
            notes.append(f"{label}{scheme.id} on {dev.id}: no {(scheme.native_dtype or scheme.gemm_dtype).upper()} "
                         "tensor cores, modeled "
                         f"weight-only ({scheme.weight_bits:g}-bit weights dequantized to BF16 in the GEMM, BF16 "
                         "activations at the BF16 peak)")
    return notes
