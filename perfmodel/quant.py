"""Quantization schemes: bits for weights, activations and KV, the tensor-core dtype a GEMM runs
in, and the dequantization work that runs on the vector (CUDA) cores.

Ids: bf16, fp16, fp32, fp8, w8a8, w4a16, w4a8kv4 (QServe QoQ), w4a4kv4 (COMET/Atom), and any
weight-only width `w{N}a16` (Tilus: arbitrary 1-8 bit weights), optionally with `kv{4,8}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from perfmodel.errors import PerfModelError


@dataclass(frozen=True, slots=True)
class Quant:
    id: str
    weight_bits: float
    act_bits: int
    kv_bits: float
    gemm_dtype: str          # tensor-core dtype of the main loop
    attn_dtype: str          # dtype of the attention matmuls
    dequant_ops_per_weight: float  # vector-core ops per weight element per M-tile pass
    dequant_ops_per_kv: float      # vector-core ops per KV element read

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
    def base_dtype(self) -> str:
        return "fp32" if self.act_bits == 32 else "bf16"

    def with_kv(self, kv_dtype: str | None) -> "Quant":
        if kv_dtype is None:
            return self
        bits = KV_DTYPES.get(kv_dtype)
        if bits is None:
            raise PerfModelError(f"--kv-dtype {kv_dtype!r} is not one of {', '.join(KV_DTYPES)}")
        ops = 0.0 if bits >= 8 else KV4_DEQUANT_OPS
        return Quant(self.id, self.weight_bits, self.act_bits, bits, self.gemm_dtype, self.attn_dtype,
                     self.dequant_ops_per_weight, ops)


KV_DTYPES = {"bf16": 16, "fp16": 16, "fp32": 32, "fp8": 8, "int8": 8, "int4": 4, "kv4": 4, "kv8": 8}

# Dequantization cost on vector cores, ops per element. W4A16 main loops (Marlin/TRT-LLM) unpack
# int4 -> fp16 with lop3 + a fused multiply-add per element: ~2 ops. QServe's progressive W4A8
# dequantizes int4 -> int8 with register-level parallelism (4 elements per vadd4/vsub4), ~0.5 ops
# per element (QServe arXiv:2405.04532 s5). KV4 decode attention: unpack + scale, ~2 ops.
W4A16_DEQUANT_OPS = 2.0
QSERVE_DEQUANT_OPS = 0.5
KV4_DEQUANT_OPS = 2.0

_FIXED = {
    "fp32": Quant("fp32", 32, 32, 32, "fp32", "fp32", 0.0, 0.0),
    "bf16": Quant("bf16", 16, 16, 16, "bf16", "bf16", 0.0, 0.0),
    "fp16": Quant("fp16", 16, 16, 16, "fp16", "fp16", 0.0, 0.0),
    # FP8 (per-tensor scaled) weights and activations; engines' FP8 recipes also keep an FP8 KV
    # cache (TRT-LLM perf-overview: "FP8 KV cache automatically").
    "fp8": Quant("fp8", 8, 8, 8, "fp8", "fp8", 0.0, 0.0),
    "w8a8": Quant("w8a8", 8, 8, 16, "int8", "bf16", 0.0, 0.0),
    "w4a16": Quant("w4a16", 4, 16, 16, "bf16", "bf16", W4A16_DEQUANT_OPS, 0.0),
    "w4a8kv4": Quant("w4a8kv4", 4, 8, 4, "int8", "bf16", QSERVE_DEQUANT_OPS, KV4_DEQUANT_OPS),
    # COMET W4A4KV4 runs INT4 tensor cores where the device has them (A100), else the next wider.
    "w4a4kv4": Quant("w4a4kv4", 4, 4, 4, "int4", "bf16", QSERVE_DEQUANT_OPS, KV4_DEQUANT_OPS),
}

_PATTERN = re.compile(r"^w(\d+(?:\.\d+)?)a(16|8|4)(?:kv(4|8|16))?$")

QUANT_IDS = tuple(_FIXED)


def get_quant(qid: str) -> Quant:
    key = qid.lower()
    if key in _FIXED:
        return _FIXED[key]
    m = _PATTERN.match(key)
    if not m:
        raise PerfModelError(
            f"--quant {qid!r} is not known: use one of {', '.join(QUANT_IDS)} or w<bits>a<16|8|4>[kv<4|8>]")
    wbits, abits = float(m.group(1)), int(m.group(2))
    if not 1 <= wbits <= 16:
        raise PerfModelError(f"--quant {qid!r}: weight bits must be in 1..16, got {wbits:g}")
    kv = float(m.group(3) or 16)
    gemm = {16: "bf16", 8: "int8", 4: "int4"}[abits]
    deq = 0.0 if wbits >= abits else (W4A16_DEQUANT_OPS if abits == 16 else QSERVE_DEQUANT_OPS)
    return Quant(key, wbits, abits, kv, gemm, "bf16", deq, KV4_DEQUANT_OPS if kv < 8 else 0.0)
