"""Expert load on the busiest expert-parallel rank, and how tokens reach it (issue 12).

Every routed-expert GEMM waits for the busiest EP rank, so the MoE block is costed at that rank's
load, not the mean. The load has two parts:

  static skew   expert popularity p_e ~ 1 / rank^s (Zipf, exponent `Plan.routing_skew`; s = 0 is
                uniform popularity) placed on ranks independently of popularity (experts are
                numbered without regard to load). A rank holding n = E / ep experts carries the
                share S = sum of n popularities drawn without replacement:
                  mean 1 / ep,  var(S) = n var(p) (E - n) / (E - 1)      (finite-population sampling)
                and the busiest of ep ranks S_max ~ mean + sd(S) sqrt(2 ln ep) (Gumbel approximation
                of the normal maximum), never below the hottest expert's own share p_1.
  EPLB          `Plan.redundant_experts` = N > 0 extra expert slots filled by DeepSeek's EPLB
                (github.com/deepseek-ai/EPLB: replicate the heaviest experts, pack replicas to
                balance ranks from the measured load). Packing removes the static skew down to
                the indivisible pieces: the heaviest replica left, max(p_{N+1}, p_1 / 2) with
                the N hottest experts replicated once, so S_max = max(1 / ep, p_{N+1}, p_1 / 2).
  measured      `Plan.expert_load_share` = S_max read from a routing profile under an expert
                placement (MoETuner's balanced clustering; `perfmodel.search.moetuner`) replaces the
                Zipf estimate; batch noise is still added (the profile's batch is not the served one).
  batch noise   which experts a batch's R routed tokens pick is random: load ~ binomial(R, S), so
                L_max = R S_max + sqrt(R S_max (1 - S_max) 2 ln ep). EPLB balances measured
                averages and cannot remove it. With s = 0 this is the uniform-routing maximum.

Small batches touch few experts: of the n experts of a rank, the L routed tokens (uniform within
the rank) touch n (1 - (1 - 1/n)^L); only those experts' weights are read and only their GEMM
tiles run (a grouped GEMM skips empty groups, e.g. DeepGEMM's masked layout), each with L / touched
tokens, so tile padding at few tokens per expert comes from `perfmodel.ops.gemm_utilization`.

Dispatch and combine follow DeepEP (github.com/deepseek-ai/DeepEP README): "normal" kernels for
prefill send a token once to every rank that holds one of its experts (E[distinct ranks] =
ep (1 - (1 - 1/ep)^k) copies), "low-latency" kernels for decode send one copy per selected
expert (k copies). An expert group wider than one scale-up domain (e.g. EP32 over four HGX nodes)
crosses the NICs once per remote node and forwards over NVLink (`scaleout_copies`): the NIC carries
far fewer copies than ranks. Dispatch may carry fp8 activations with one fp32 scale per 128 elements
(DeepEP low-latency dispatch's fp8 option; DeepSeek-V3 report s3.3.2); combine is bf16.

`par` may be a `Plan` or a search namespace that omits the issue-12 fields: then the plan
defaults (no skew, no redundant experts) apply.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from perfmodel import ops as O

# DeepEP fp8 dispatch: one fp32 scale per 128-element block (DeepEP README, low-latency dispatch
# `use_fp8`; DeepSeek-V3 report s3.3.2 fine-grained 1x128 activation quantization).
FP8_SCALE_BYTES_PER_ELEMENT = 4.0 / 128
# DeepEP's normal kernels hold 24 of an H800's 132 SMs while they run (DeepEP README,
# `Buffer.set_num_sms(24)`); the same share on other devices (assumption). perfmodel.tbo and
# perfmodel.moe_overlap slow the computation they overlap by it.
DEEPEP_NORMAL_SM_FRACTION = 24 / 132


def plan_option(par, name: str, default):
    """An issue-12 plan field, or its default on namespaces that predate it."""
    return getattr(par, name, default)


@functools.lru_cache(maxsize=256)
def zipf_popularity(num_experts: int, skew: float) -> np.ndarray:
    """Expert popularity p_e ~ 1 / rank^skew, sorted hottest first, summing to 1."""
    w = 1.0 / np.arange(1, num_experts + 1, dtype=np.float64) ** skew
    return w / w.sum()


def busiest_share(num_experts: int, ep, *, skew: float = 0.0, redundant: int = 0, measured: float | None = None):
    """Static share of all routed tokens that the busiest of `ep` ranks carries (see module doc).
    `ep` may be an int or a numpy array; 1 / ep when skew is 0 or with EPLB packing. `measured`
    (Plan.expert_load_share: a placement's busiest-rank share under a routing profile) replaces the
    Zipf estimate, never below the mean 1 / ep."""
    if measured is not None:
        return O.vmax(1.0 / ep, float(measured))
    p = zipf_popularity(num_experts, float(skew))
    hottest = float(p[0])
    if redundant > 0:  # EPLB packing: only the largest remaining replica stays indivisible
        piece = max(float(p[min(redundant, num_experts - 1)]), hottest / 2)
        return O.vmax(1.0 / ep, piece)
    if skew == 0:
        return 1.0 / ep
    n = num_experts / ep
    var_s = n * float(p.var()) * (num_experts - n) / (num_experts - 1)
    z = _gumbel_z(ep)
    return O.vmax(1.0 / ep + z * var_s ** 0.5, hottest)


def _gumbel_z(n):
    """sqrt(2 ln n): standard deviations from the mean to the expected maximum of n normals."""
    if isinstance(n, (int, float)):
        return math.sqrt(2 * math.log(n)) if n > 1 else 0.0
    return np.sqrt(2 * np.log(np.maximum(n, 1)))


def busiest_load(routed_tokens, num_experts: int, ep, *, skew: float = 0.0, redundant: int = 0,
                 measured: float | None = None):
    """Expected routed token-expert pairs on the busiest EP rank: static share plus batch noise."""
    s = busiest_share(num_experts, ep, skew=skew, redundant=redundant, measured=measured)
    noise = O.vmax(routed_tokens * s * (1 - s), 0.0) ** 0.5 * _gumbel_z(ep)
    return routed_tokens * s + noise


def touched_experts(load, local_experts):
    """Distinct experts of a rank that receive at least one of `load` tokens (uniform within the
    rank): n (1 - (1 - 1/n)^L); about L when L << n, n when L >> n."""
    n = O.vmax(local_experts, 1.0)
    return n * (1 - (1 - 1 / n) ** load)


def remote_share(locality, ep):
    """Dispatch volume relative to placement-agnostic routing when a share `locality` of the
    token-expert activations is served on the token's own rank (Speculative MoE / Sem-MoE: tokens
    shuffled to their predicted experts' ranks and co-activated experts grouped on one rank; the
    all-to-all volume is alpha k B S / G with alpha the non-local share, Li et al. arXiv:2503.04398
    s3.1). Uniform routing keeps 1/ep local; None or a share at or below it changes nothing."""
    if locality is None:
        return 1.0
    base = 1.0 / O.vmax(ep, 1)  # ep = 1 sends nothing, whatever the share
    return (1.0 - O.vmax(locality, base)) / O.vmax(1.0 - base, 1e-12)


def scaleup_devices(system) -> int | None:
    """Devices one scale-up fabric joins (an NVLink node, an NVL72 rack, a UB supernode): the unit
    DeepEP's internode kernels forward within. None on PCIe nodes (no fabric to forward over: an
    expert group there stays one flat all-to-all)."""
    if system.cluster is not None and system.cluster.scaleup_link is not None:
        return max(system.cluster.scaleup_domain_devices, system.node.scaleup_domain_devices)
    if system.node.topology == "pcie":
        return None
    return system.node.scaleup_domain_devices


def scaleout_copies(experts_per_token: int, ep, domain: int | None, *, low_latency):
    """Copies of a token a dispatch sends over the scale-out NICs when the expert group spans
    ceil(ep / domain) scale-up domains ('nodes'), and that node count.

    DeepEP's internode normal kernels (prefill) send a token over RDMA once per distinct remote
    node that holds one of its experts, to the GPU of the same in-node index, which forwards it over
    NVLink to the ranks that need it (DeepSeek-V3 report s3.2.2; DeepEP README, "normal kernels ...
    NVLink and RDMA forwarding"): E = (nodes - 1) (1 - (1 - 1/nodes)^k) copies. Low-latency kernels
    (decode) send each selected expert's copy straight to its rank: the remote ones, k (nodes - 1) /
    nodes. One node (or no fabric): 0 copies cross a NIC this way (the flat all-to-all applies)."""
    if domain is None:
        return 0.0 * ep, 1.0 + 0.0 * ep
    nodes = O.vmax(np.ceil(ep / domain), 1.0)
    k = experts_per_token
    normal = (nodes - 1.0) * (1.0 - (1.0 - 1.0 / nodes) ** k)
    direct = k * (nodes - 1.0) / nodes
    if isinstance(low_latency, (bool, np.bool_)):
        return (direct if low_latency else normal), nodes
    return np.where(low_latency, direct, normal), nodes


def dispatch_copies(experts_per_token: int, ep, *, low_latency):
    """Copies of a token a DeepEP dispatch sends: one per selected expert (low-latency kernels) or
    one per distinct destination rank (normal kernels)."""
    distinct = ep * (1 - (1 - 1 / O.vmax(ep, 1)) ** experts_per_token)
    if isinstance(low_latency, (bool, np.bool_)):
        return experts_per_token if low_latency else distinct
    return np.where(low_latency, experts_per_token, distinct)
