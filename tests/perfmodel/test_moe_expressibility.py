"""MoE serving runs as campaigns run them (benchmarks/moe_expressibility.py's plan shapes) are
expressed by the accuracy harness and land inside the physical bounds: a handful of rows, each
through `accuracy.case_from_row` + `run_case` with few requests, so the file stays cheap."""

from __future__ import annotations

import pytest

from perfmodel import bounds as B
from perfmodel.accuracy import Case, case_from_row, redundant_slots, run_case
from perfmodel.plan import Plan
from perfmodel.ops import gemm
from perfmodel.quant import get_quant
from perfmodel.hardware.catalog import resolve

COLUMNS = dict(backend="trtllm", backend_version="1.1.0rc5", mode="agg", isl="1024", osl="256", pp="1",
               ttft_ms_mean="100", tpot_ms_mean="10")


def _row(**kw) -> dict:
    return {**COLUMNS, **{k: str(v) for k, v in kw.items()}}


FP8 = dict(precision="fp8", gemm_quant="fp8_block", moe_quant="fp8_block")
FP4 = dict(precision="fp4", gemm_quant="nvfp4", moe_quant="nvfp4")

ROWS = {
    # InferenceMAX dsr1 FP8 on 8x H200, attention-DP + EP8 (DEP8)
    "dsr1-fp8-dep8-h200": _row(model="deepseek-ai/DeepSeek-R1-0528", system="h200_sxm", tp=1, attention_dp=8,
                               moe_tp=1, moe_ep=8, concurrency=64, **FP8),
    # the same run written with SGLang's own flags: --tp 8 --dp 8 --enable-dp-attention --ep 8 (8 GPUs)
    "dsr1-fp8-sglang-flags": _row(backend="sglang", backend_version="0.5.4.post2", model="deepseek-ai/DeepSeek-R1-0528",
                                  system="h200_sxm", tp=8, attention_dp=8, moe_tp=1, moe_ep=8, concurrency=64, **FP8),
    # DeepSeek-R1 NVFP4 on 4x B200, TEP4
    "dsr1-fp4-tep4-b200": _row(model="nvidia/DeepSeek-R1-0528-FP4-v2", system="b200_sxm", tp=4, attention_dp=1,
                               moe_tp=1, moe_ep=4, concurrency=32, **FP4),
    # gpt-oss-120b as InferenceMAX names it (precision fp4), TP1 on B200 and TP2 on H100 under vLLM
    "gpt-oss-120b-b200": _row(model="openai/gpt-oss-120b", system="b200_sxm", tp=1, concurrency=16, precision="fp4"),
    "gpt-oss-120b-h100-vllm": _row(backend="vllm", backend_version="0.11.2", model="openai/gpt-oss-120b",
                                   system="h100_sxm", tp=2, concurrency=16, precision="mxfp4"),
    # Qwen3-235B-A22B FP8 TP4 EP4 on H100, Qwen3-30B-A3B TP1 on H100 (SGLang)
    "qwen3-235b-tep4-h100": _row(model="Qwen/Qwen3-235B-A22B-Instruct-2507-FP8", system="h100_sxm", tp=4, moe_tp=1,
                                 moe_ep=4, concurrency=32, **FP8),
    "qwen3-30b-h100": _row(backend="sglang", backend_version="0.5.4.post2", model="Qwen/Qwen3-30B-A3B",
                           system="h100_sxm", tp=1, concurrency=8, precision="bf16"),
    # GB200 NVL72 disaggregated wide-EP: a DEP4 prefill worker, a DEP16 decode worker
    "nvl72-wide-ep": _row(mode="disagg", model="nvidia/DeepSeek-R1-0528-FP4-v2", system="gb200", concurrency=256,
                          prefill_workers=2, prefill_tp=1, prefill_attention_dp=4, prefill_moe_tp=1, prefill_moe_ep=4,
                          decode_workers=1, decode_tp=1, decode_attention_dp=16, decode_moe_tp=1, decode_moe_ep=16,
                          **FP4),
    # decode DEP48: 256 experts do not split 48 ways; the run had EPLB's redundant slots (288)
    "nvl72-wide-ep48": _row(mode="disagg", model="nvidia/DeepSeek-R1-0528-FP4-v2", system="gb200", concurrency=256,
                            prefill_workers=2, prefill_tp=1, prefill_attention_dp=8, prefill_moe_tp=1,
                            prefill_moe_ep=8, decode_workers=1, decode_tp=1, decode_attention_dp=48,
                            decode_moe_tp=1, decode_moe_ep=48, **FP4),
}


def _bounds(case: Case) -> tuple[B.Bounds, int]:
    """The bounds of the (decode) plan the case runs, and its devices."""
    kw = case.kwargs
    if kw.get("scheduler") == "disagg":
        plan = Plan(tp=kw["decode_tp"], dp=kw["decode_dp"], ep=kw.get("decode_ep", 1), quant=kw["quant"],
                    redundant_experts=kw.get("redundant_experts", 0))
        devices = kw["decode_tp"] * kw["decode_dp"] * kw["decode_workers"]
    else:
        plan = Plan(tp=kw["tp"], dp=kw.get("dp", 1), ep=kw.get("ep", 1), quant=kw["quant"])
        devices = kw["tp"] * kw.get("dp", 1)
    isl, osl = (int(x) for x in kw["workload"].split(":")[1:3])
    return B.compute_bounds(model=kw["model"], system=kw["hardware"], plan=plan, isl=isl, osl=osl), devices


@pytest.mark.parametrize("name", sorted(ROWS))
def test_campaign_rows_are_expressed_inside_their_bounds(name):
    case = case_from_row(name, ROWS[name])
    assert isinstance(case, Case), case.reason
    case.kwargs["num_requests"] = 2 * case.kwargs["concurrency"]
    out = run_case(case)
    assert not out.note, out.note
    assert out.ttft_ms > 0 and 0 < out.tpot_ms < 1000
    # C clients decoding one token per TPOT cannot outrun the plan's tightest per-device bound
    b, devices = _bounds(case)
    c = case.kwargs["concurrency"]
    assert c / (out.tpot_ms / 1000) <= devices * b.limit_tok_s_per_device, (out.tpot_ms, b.binding)


def test_sglang_flags_read_as_the_same_eight_gpu_worker():
    """`--tp 8 --dp 8 --enable-dp-attention` is eight GPUs with attention TP 1 (SGLang), the CSV's
    tp 1 x attention_dp 8; tp 8 x attention_dp 8 would be 64 GPUs and span eight nodes."""
    sg = case_from_row("a", ROWS["dsr1-fp8-sglang-flags"])
    dep = case_from_row("b", ROWS["dsr1-fp8-dep8-h200"])
    pick = lambda c: (c.kwargs["tp"], c.kwargs["dp"], c.kwargs["ep"], c.kwargs["hardware"])  # noqa: E731
    assert pick(sg) == pick(dep) == (1, 8, 8, "h200-sxm")
    # tp 8 with a DP of 2 and 8 expert ranks: 8 GPUs, two attention groups of TP4
    half = case_from_row("c", {**ROWS["dsr1-fp8-sglang-flags"], "attention_dp": "2"})
    assert pick(half) == (4, 2, 8, "h200-sxm")


@pytest.mark.parametrize("backend,expected", [
    ("trtllm", "bf16+experts=mxfp4-mxfp8+kv=bf16"),   # TRT-LLM gpt_oss README: MXFP8 activations on Blackwell
    ("sglang", "bf16+experts=mxfp4-mxfp8+kv=bf16"),   # --flashinfer-mxfp4-moe-precision default
    ("vllm", "bf16+experts=w4.25a16+kv=bf16"),        # SM100_FI_MXFP4_BF16 / Triton
])
def test_gpt_oss_fp4_rows_run_the_checkpoint_as_each_engine_does(backend, expected):
    """A row naming gpt-oss 'fp4' (InferenceMAX) runs its own checkpoint: BF16 attention, MXFP4
    experts, never NVFP4 everywhere; the experts' activations as the engine feeds them."""
    r = {**ROWS["gpt-oss-120b-b200"], "backend": backend,
         "backend_version": {"trtllm": "1.1.0", "sglang": "0.5.4", "vllm": "0.11.0"}[backend]}
    assert case_from_row("x", r).kwargs["quant"] == expected
    explicit = case_from_row("y", {**r, "gemm_quant": "bf16", "moe_quant": "w4a16_mxfp4"})
    assert explicit.kwargs["quant"] == "bf16+experts=w4.25a16"   # AIConfigurator's name, as written


def test_mxfp4_experts_run_at_the_fp8_rate_on_blackwell_and_weight_only_on_hopper():
    q = get_quant("mxfp4-mxfp8")
    b200, h100 = resolve("b200").device, resolve("h100-sxm").device
    assert q.gemm_path(b200)[0] == "fp8" and q.gemm_path(b200)[1] == pytest.approx(8.25 / 8)
    assert q.gemm_path(h100)[0] == "bf16"            # no FP4 cores: MXFP4 x BF16 (Triton / Marlin)
    assert get_quant("mxfp4").gemm_path(b200)[0] == "fp4"   # W4A4 MXFP4 keeps the FP4 rate
    # MXFP8's 8.25 activation bits are not DeepGEMM's 1x128 FP8 blocks: no Hopper block-scale overhead,
    # the same grouped GEMM as every MXFP4 x BF16 path there
    assert not q.block_scaled and get_quant("fp8-block").block_scaled
    cost = lambda qid: gemm("e", 64, 5760, 2880, h100, get_quant(qid), groups=32).t_compute  # noqa: E731
    assert cost("mxfp4-mxfp8") == cost("mxfp4") == cost("w4.25a16")


@pytest.mark.parametrize("precision,scheme", [("int4", "w4a16"), ("fp8_dynamic", "fp8"),
                                              ("nvfp4_wo", "w4.5a16"), ("w4a8_mxfp4_mxfp8", "mxfp4-mxfp8")])
def test_precision_spellings_of_campaigns_are_modelled(precision, scheme):
    c = case_from_row("z", _row(model="Qwen/Qwen3-30B-A3B", system="h200_sxm", tp=1, concurrency=4,
                                precision=precision, gemm_quant=precision, moe_quant=precision))
    assert isinstance(c, Case) and c.kwargs["quant"] == scheme


def test_an_ep_size_that_does_not_divide_the_experts_gets_the_fewest_redundant_slots():
    assert redundant_slots("deepseek-r1", [8, 16]) == 0
    assert redundant_slots("deepseek-r1", [8, 48]) == 32           # 288 slots: 6 per rank (SGLang, TRT-LLM)
    assert redundant_slots("deepseek-r1", [72]) == 32              # 4 per rank at EP72
    assert redundant_slots("qwen3-8b", [3]) == 0                   # dense: nothing to place
    c = case_from_row("w", ROWS["nvl72-wide-ep48"])
    assert c.kwargs["redundant_experts"] == 32 and "redundant" in c.label


def test_a_model_that_does_not_fit_is_refused_saying_where_the_memory_went():
    """DeepSeek-R1 FP8 on 8x H100 (671 B one-byte weights over 640 GB) is physically refused, in
    one line that names the weights per device against the usable capacity."""
    case = case_from_row("m", _row(model="deepseek-ai/DeepSeek-R1-0528", system="h100_sxm", tp=8, moe_tp=1,
                                   moe_ep=8, concurrency=4, **FP8))
    case.kwargs["num_requests"] = 8
    out = run_case(case)
    assert out.ttft_ms is None and "no memory left for the KV cache" in out.note
    # TRT-LLM sizes its KV from the memory left after the weights: all 80 GB are usable, 85.1 do not fit
    assert "weights 85.1 GB" in out.note and "of 80.0 GB usable" in out.note and "\n" not in out.note
