"""S-LoRA inside the serving simulator: an `IterationModel` that adds the batched LoRA branch and
adapter swap-in to every iteration of the base model's step, and takes the adapters' room out of
the KV pool (Unified Paging: adapters and KV share one pool, S-LoRA s4).

Per iteration of `shape`: LoRA time for shape.tokens tokens of prefill_seqs + decode_seqs requests
(MBGMV, `perfmodel.lora._kernels`), plus, for each prefilling request, the chance its adapter is not
resident for the running batch times one adapter's copy over the host link (not overlapped with
compute: an upper bound; S-LoRA prefetches, s4.2). KV room: the adapters a full batch of
`max_seqs` requests keeps resident are reserved (an upper bound of the pool they take).
"""

from __future__ import annotations

import numpy as np

from perfmodel.errors import PerfModelError
from perfmodel.iteration import BatchShape
from perfmodel.lora._adapters import LoraSetup, adapter_bytes, miss_probability, resident_bytes
from perfmodel.lora._kernels import lora_time_s
from perfmodel.stepmodel import StepModel


class LoraStep:
    """A StepModel with many adapters; everything else reads through to the base step."""

    def __init__(self, step: StepModel, setup: LoraSetup, *, max_seqs: int):
        if step.plan.tp != 1 or step.plan.pp != 1:
            raise PerfModelError(f"--lora-adapters models one device per replica (tp=1, pp=1), "
                                 f"got tp={step.plan.tp} pp={step.plan.pp}")
        link = step.system.device.host_link
        if link is None:
            raise PerfModelError(f"{step.system.device.id} has no host link: adapters cannot be swapped in")
        self.base = step
        self.setup = setup
        self.host_bw = link.bw_per_direction_gb_s * 1e9 * link.efficiency
        sizes = np.array([adapter_bytes(step.model, int(r)) for r in setup.adapter_ranks()])
        self.mean_adapter_bytes = float((setup.probabilities() * sizes).sum())  # per request
        self.reserved_bytes = resident_bytes(step.model, setup, max_seqs)
        per_token = step.memory.kv_bytes_per_token_device
        self.kv_capacity_tokens = max(0, int(step.kv_capacity_tokens - self.reserved_bytes / per_token))
        if self.kv_capacity_tokens == 0:
            raise PerfModelError(f"{setup.adapters} adapters of rank {setup.max_rank()} leave no KV room on "
                                 f"{step.system.device.id} for {max_seqs} sequences")

    def __getattr__(self, name):  # plan, model, system, memory, devices, kv_bytes_per_token, ...
        return getattr(self.base, name)

    def lora_s(self, shape: BatchShape) -> float:
        requests = shape.prefill_seqs + shape.decode_seqs
        t = lora_time_s(model=self.base.model, device=self.base.system.device, tp=1, tokens=shape.tokens,
                        requests=requests, setup=self.setup)
        swap = shape.prefill_seqs * miss_probability(self.setup, shape.decode_seqs) * self.mean_adapter_bytes
        return t + swap / self.host_bw

    def iteration_time_s(self, shape: BatchShape) -> float:
        return self.base.iteration_time_s(shape) + self.lora_s(shape)

    def cold_time_s(self, shape: BatchShape) -> float:
        return self.base.cold_time_s(shape) + self.lora_s(shape)
