"""CPU-GPU hybrid execution and offload (issue 4, part 3).

- `_placement`: FlexGen-style placement fractions of a `Plan`, host resources, the step time with
  weights streamed and CPU attention, host bounds for `perfmodel.bounds`.
- `_hybrid`: the hierarchical roofline (MoE-Lightning s3.2), MoE-Lens's stage-1 bound and
  MoE-Lightning's CGOPipe policy throughput, for explicit experimental setups.
- `_sparse`: ShadowKV (low-rank keys on the GPU, values on the host, sparse budget) and
  top-K KV retrieval and A2ATS (attention over the top tokens on the host CPU) for long-context
  decode, stand-alone and as the plan option `sparse_kv`.
"""

from perfmodel.offload._hybrid import (HybridSetup, attainable_performance, lightning_max_requests, moe_lens_stage1,
                                       moe_lightning, turning_points)
from perfmodel.offload._placement import (Host, effective_sizes, host_bounds, host_of, iteration_time,
                                          kv_bytes_per_token, kv_capacity_tokens, max_concurrency, placed_sizes,
                                          sequences_that_fit, staging_bytes, step_parts)
from perfmodel.offload._sparse import (SparseDecode, a2ats_decode, full_attention_decode, shadowkv_decode,
                                       topk_retrieval_decode)

__all__ = [
    "Host", "HybridSetup", "SparseDecode", "a2ats_decode", "attainable_performance", "effective_sizes", "full_attention_decode",
    "host_bounds", "host_of", "iteration_time", "kv_bytes_per_token", "kv_capacity_tokens", "lightning_max_requests",
    "max_concurrency", "moe_lens_stage1", "moe_lightning", "placed_sizes", "sequences_that_fit", "shadowkv_decode", "staging_bytes", "step_parts", "topk_retrieval_decode",
    "turning_points",
]
