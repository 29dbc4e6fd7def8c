"""Computation-communication overlap inside a MoE layer (`Plan.moe_overlap`; COMET, issue 13).

A MoE layer moves its tokens to their experts (all-to-all dispatch, or the all-gather of a
tensor-parallel expert group), runs the experts' grouped GEMMs, and moves the results back
(all-to-all combine, or reduce-scatter / all-reduce). With communication C (both directions) and
expert computation E of one device, three schedules:

- ``none``: C and E back to back, C + E (Megatron-LM's MoE layer: token dispatcher, grouped GEMM,
  token dispatcher; COMET arXiv:2502.19811 s1 calls this the non-overlapped baseline).
- ``chunked``: the tokens split into K chunks pipelined over a communication stream and the
  compute stream (Tutel's adaptive pipelining, arXiv:2206.03382 s3.2; FasterMoE's smart schedule,
  PPoPP'22 s4). A chunk's GEMMs run 1/K of the rows, so the GEMMs lose utilisation (smaller M,
  wave quantization): COMET s1's "impairment of computational efficiency". The caller prices
  the GEMMs at 1/K of the rows (`chunk_compute_s`); the schedule below places the chunks.
- ``tile``: COMET: the GEMM keeps its full size and consumes (produces) rows tile by tile as they
  arrive (leave); thread blocks that drive the communication take a share s of the SMs while it
  runs (COMET s4, adaptive thread-block assignment). In the communication window Tc the GEMM
  advances at (1 - s), so the layer takes max(Tc, E + s Tc); the first tile's dispatch and the
  last tile's combine cannot hide: fill = Tc x tile rows / rows. With one tile nothing overlaps;
  adaptive assignment then falls back to the serial order (min with C + E).

Bounds (tests/perfmodel/test_moe_overlap.py): max(C, E) <= overlapped <= C + E for ``tile``;
``chunked`` is never below max(C, E_K) and at K = 1 equals C + E.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from perfmodel import ops as O
from perfmodel.moe import DEEPEP_NORMAL_SM_FRACTION

MoeOverlap = Literal["none", "chunked", "tile"]
MOE_OVERLAPS: tuple[str, ...] = get_args(MoeOverlap)

# Share of the SMs the communication thread blocks hold while they run: DeepEP's normal kernels'
# (perfmodel.moe); COMET tunes its share per shape (s4), so this is an assumption of the same order.
COMM_SM_SHARE = DEEPEP_NORMAL_SM_FRACTION


@dataclass(frozen=True)
class OverlapParts:
    """One MoE layer on one device (seconds): communication, expert computation (at the scheme's
    GEMM sizes), the serial sum, the scheduled time and the communication left exposed."""

    scheme: str
    comm_s: float
    compute_s: float
    serial_s: float
    overlapped_s: float

    @property
    def exposed_comm_s(self):
        """What the schedule adds to the computation: overlapped - compute (>= 0)."""
        return O.vmax(self.overlapped_s - self.compute_s, 0.0)

    @property
    def speedup(self):
        return self.serial_s / self.overlapped_s


def tile_overlap(*, comm_s, compute_s, rows, tile_rows, sm_share: float = COMM_SM_SHARE) -> OverlapParts:
    """COMET's tile-level overlap of `comm_s` with `compute_s` for a GEMM of `rows` token rows
    computed in tiles of `tile_rows` (module docstring)."""
    if not 0 <= sm_share < 1:
        raise ValueError(f"sm_share must lie in [0, 1), got {sm_share}")
    serial = comm_s + compute_s
    fill = comm_s * O.vmin(tile_rows / O.vmax(rows, 1e-30), 1.0)
    window = O.vmax(comm_s, compute_s + sm_share * comm_s) + fill
    return OverlapParts("tile", comm_s, compute_s, serial, O.vmin(window, serial))


def chunked_overlap(*, dispatch_s, combine_s, chunk_compute_s, chunks: int) -> OverlapParts:
    """Coarse pipelining of `chunks` chunks: every chunk's dispatch (dispatch_s / K) on the
    communication stream, its GEMMs (chunk_compute_s, one chunk's, already priced at its rows)
    on the compute stream once it arrived, its combine (combine_s / K) back on the communication
    stream once computed; the communication stream sends all dispatches first, then the combines
    as their chunks finish (Tutel's pipelined all-to-all order)."""
    if chunks < 1:
        raise ValueError(f"chunks must be >= 1, got {chunks}")
    d, c = dispatch_s / chunks, combine_s / chunks
    comm_free = 0.0        # when the communication stream is free
    compute_free = 0.0     # when the compute stream is free
    computed = []
    for _ in range(chunks):
        comm_free = comm_free + d
        compute_free = O.vmax(compute_free, comm_free) + chunk_compute_s
        computed.append(compute_free)
    for done in computed:
        comm_free = O.vmax(comm_free, done) + c
    serial = dispatch_s + combine_s + chunks * chunk_compute_s
    return OverlapParts("chunked", dispatch_s + combine_s, chunks * chunk_compute_s, serial, comm_free)


# The MoE block's operators by role (perfmodel.step.moe_ops): what moves tokens, what computes on
# them once they arrived; the norm, router and top-k run before the dispatch and stay serial.
COMM_OPS = ("moe_dispatch", "moe_combine", "moe_all_reduce")
EXPERT_OPS = ("expert_permute", "expert_gate_up", "expert_silu_mul", "expert_down", "expert_unpermute", "shared_gate_up",
              "shared_down")


def _scaled_times(op: O.OpCost, f, *, work: bool) -> O.OpCost:
    """`op` with its times multiplied by `f` (and its work too when `work`: K chunks of 1/K)."""
    w = f if work else 1.0
    return O.OpCost(op.name, op.kind, op.flops * w, op.weight_bytes * w, op.act_bytes * w, op.kv_bytes * w,
                    op.comm_bytes * w, op.t_compute * f, op.t_memory * f, op.t_comm * f, op.t_overhead * f, op.count)


def layer_parts(ops: list[O.OpCost], *, scheme: str, rows, tile_rows, chunk_ops: list[O.OpCost] | None = None,
                chunks: int = 1) -> OverlapParts:
    """The overlap of one MoE block's `ops` under `scheme`; `chunk_ops`: the expert operators
    priced at 1/`chunks` of the rows (the ``chunked`` scheme)."""
    t = {op.name: op.time_s for op in ops}
    # an expert-TP all-reduce stands for the sequence-parallel all-gather before and the
    # reduce-scatter after the experts (Megatron-LM sequence parallelism): half on each side
    half_ar = t.get("moe_all_reduce", 0.0) / 2
    dispatch = t.get("moe_dispatch", 0.0) + half_ar
    combine = t.get("moe_combine", 0.0) + half_ar
    compute = sum(t.get(name, 0.0) for name in EXPERT_OPS)
    if scheme == "tile":
        return tile_overlap(comm_s=dispatch + combine, compute_s=compute, rows=rows, tile_rows=tile_rows)
    if scheme == "chunked":
        chunk = sum(op.time_s for op in (chunk_ops or []) if op.name in EXPERT_OPS)
        return chunked_overlap(dispatch_s=dispatch, combine_s=combine, chunk_compute_s=chunk, chunks=chunks)
    return OverlapParts("none", dispatch + combine, compute, dispatch + combine + compute,
                        dispatch + combine + compute)


def overlapped_ops(ops: list[O.OpCost], parts: OverlapParts, *, chunk_ops: list[O.OpCost] | None = None,
                   chunks: int = 1) -> list[O.OpCost]:
    """`ops` whose times sum to the schedule of `parts`: the communication operators keep their
    bytes and carry only the exposed time; with ``chunked`` the expert operators are the K chunks'."""
    f = O.vmax(parts.exposed_comm_s, 0.0) / O.vmax(parts.comm_s, 1e-30)
    chunked = {op.name: op for op in (chunk_ops or [])} if parts.scheme == "chunked" else {}
    out = []
    for op in ops:
        if op.name in COMM_OPS:
            out.append(_scaled_times(op, f, work=False))
        elif op.name in chunked:
            out.append(_scaled_times(chunked[op.name], chunks, work=True))
        else:
            out.append(op)
    return out
