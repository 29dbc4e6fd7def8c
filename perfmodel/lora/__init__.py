"""Many LoRA adapters on one base model (S-LoRA): adapter sizes and popularity, batched LoRA
kernel cost (MBGMV vs padded BGMV), unified paging and swap-in, and the merged-copies baseline."""

from perfmodel.lora._adapters import (LoraSetup, adapter_bytes, expected_distinct, miss_probability, resident_bytes,
                                      target_shapes)
from perfmodel.lora._kernels import lora_ops, lora_time_s
from perfmodel.lora._serving import LoraStep
from perfmodel.lora._throughput import lora_throughput

__all__ = ["LoraSetup", "LoraStep", "adapter_bytes", "expected_distinct", "lora_ops", "lora_throughput", "lora_time_s",
           "miss_probability", "resident_bytes", "target_shapes"]
