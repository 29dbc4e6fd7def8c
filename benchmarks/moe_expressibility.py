"""Expressibility of MoE serving runs as campaigns really run them (issues 11 and 12).

Builds rows in the layout of shared/reference/measured_serving.csv for the plans published serving
recipes use, turns each into a `serve()` run through `perfmodel.accuracy` (case_from_row + run_case)
and reports which are expressed, which are refused and why. The measured columns are placeholders
(100 ms TTFT, 10 ms TPOT): only expressibility and sanity are checked here, not error.

Plan shapes and where they come from (the CSV's convention, AIConfigurator's: a worker has
tp x attention_dp = moe_tp x moe_ep GPUs; "TEP" is tp = moe_ep, "DEP" is attention_dp = moe_ep):
  - DeepSeek-R1 FP8 on 8x H200 / B200 / B300, TEP8 and DEP8 (InferenceMAX dsr1 fp8 recipes: SGLang
    `--tp 8 --dp 8 --enable-dp-attention --ep 8`, TRT-LLM `enable_attention_dp` + `moe_expert_parallel_size 8`),
    also as SGLang's own flags name it (tp 8, attention_dp 8: eight GPUs, attention TP 1);
  - DeepSeek-R1 FP4 (nvidia/DeepSeek-R1-0528-FP4-v2) on 4 / 8 B200 / GB200 / B300 / GB300, TEP and DEP;
  - GB200 / GB300 NVL72 disaggregated wide-EP (Dynamo / TRT-LLM wide-EP recipes): prefill workers
    DEP4-8, decode DEP16-48, 1k-16k clients;
  - gpt-oss-120b / -20b MXFP4 TP1-8 on H100 / H200 / B200 / GB200 (InferenceMAX gptoss recipes) with
    the precision spellings campaigns use (fp4, mxfp4; gemm bf16 with mxfp4 experts);
  - Qwen3-235B-A22B FP8 / FP4 TP4 / TP8 with and without EP, Qwen3-30B-A3B TP1-2;
  - Kimi-K2 FP8 on 8 B200 and 16 H200 (2 nodes; Moonshot's deployment guide: 16 H200 is the
    smallest FP8 unit), NVFP4 on 4-8 B200;
  - GLM-4.5/4.6, MiniMax-M2, Llama-4, Qwen3-Next, Nemotron hybrids in their common recipes.

Run: python benchmarks/moe_expressibility.py [--stride N] [--max-clients C] [--verbose]
(all rows: a few minutes on a 2-core machine; --stride 4 for a quick look)
"""

from __future__ import annotations

import argparse
import itertools
import time

import perfmodel.accuracy as A

COLUMNS = ("backend,backend_version,image,measured,model,system,precision,gemm_quant,moe_quant,mode,isl,osl,"
           "concurrency,tp,pp,attention_dp,moe_tp,moe_ep,prefill_workers,prefill_tp,prefill_pp,"
           "prefill_attention_dp,prefill_moe_tp,prefill_moe_ep,prefill_batch,decode_workers,decode_tp,decode_pp,"
           "decode_attention_dp,decode_moe_tp,decode_moe_ep,decode_batch,ttft_ms_mean,tpot_ms_mean").split(",")
VERSIONS = {"trtllm": "1.1.0rc5", "sglang": "0.5.4.post2", "vllm": "0.11.2"}
ENGINES = tuple(VERSIONS)
FP8 = dict(precision="fp8", gemm_quant="fp8_block", moe_quant="fp8_block")
FP4 = dict(precision="fp4", gemm_quant="nvfp4", moe_quant="nvfp4")
BF16 = dict(precision="bf16", gemm_quant="bf16", moe_quant="bf16")


def row(**kw) -> dict:
    r = {k: "" for k in COLUMNS}
    r.update(mode="agg", isl="1024", osl="1024", pp="1", ttft_ms_mean="100", tpot_ms_mean="10")
    r.update({k: str(v) for k, v in kw.items()})
    return r


def agg(model, system, backend, *, tp, dp=1, moe_tp=None, ep=1, c=64, isl=1024, osl=1024, q=FP8, pp=1):
    """An aggregated row; moe_tp defaults to the rest of the worker's GPUs after EP."""
    gpus = tp * dp
    mt = moe_tp if moe_tp is not None else max(gpus // ep, 1)
    return row(model=model, system=system, backend=backend, backend_version=VERSIONS[backend], tp=tp, pp=pp,
               attention_dp=dp, moe_tp=mt, moe_ep=ep, concurrency=c, isl=isl, osl=osl, **q)


def disagg(model, system, backend, *, pw, ptp, pdp, pep, dw, dtp, ddp, dep, c, isl=8192, osl=1024, q=FP8):
    return row(model=model, system=system, backend=backend, backend_version=VERSIONS[backend], mode="disagg",
               concurrency=c, isl=isl, osl=osl,
               prefill_workers=pw, prefill_tp=ptp, prefill_attention_dp=pdp, prefill_moe_ep=pep,
               prefill_moe_tp=max(ptp * pdp // pep, 1), prefill_pp=1,
               decode_workers=dw, decode_tp=dtp, decode_attention_dp=ddp, decode_moe_ep=dep,
               decode_moe_tp=max(dtp * ddp // dep, 1), decode_pp=1, **q)


def plans() -> list[tuple[str, dict]]:
    """(family, row) of every plan shape the module docstring lists."""
    out: list[tuple[str, dict]] = []
    add = lambda fam, r: out.append((fam, r))  # noqa: E731
    lengths = ((1024, 1024), (8192, 1024), (1024, 8192))
    # DeepSeek-R1 FP8 on one 8-GPU node: TEP8, DEP8, SGLang's flags, TP8 without EP
    for m, sysname, be, (isl, osl), c in itertools.product(
            ("deepseek-ai/DeepSeek-R1-0528", "deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3.1-Terminus",
             "deepseek-ai/DeepSeek-V3.2-Exp"), ("h200_sxm", "b200_sxm", "b300_sxm"), ENGINES, lengths, (4, 64, 512)):
        add("dsr1-fp8-tep8", agg(m, sysname, be, tp=8, ep=8, moe_tp=1, c=c, isl=isl, osl=osl))
        add("dsr1-fp8-dep8", agg(m, sysname, be, tp=1, dp=8, ep=8, c=c * 4, isl=isl, osl=osl))
        add("dsr1-fp8-sglang-flags", agg(m, sysname, be, tp=8, dp=8, ep=8, moe_tp=1, c=c * 4, isl=isl, osl=osl))
        add("dsr1-fp8-tp8", agg(m, sysname, be, tp=8, ep=1, c=c, isl=isl, osl=osl))
    # DeepSeek-R1 FP4 on 4 / 8 Blackwell GPUs
    for m, sysname, be, n, c in itertools.product(
            ("nvidia/DeepSeek-R1-0528-FP4-v2", "nvidia/DeepSeek-R1-FP4", "nvidia/DeepSeek-R1-0528-FP4",
             "nvidia/DeepSeek-V3.1-FP4"), ("b200_sxm", "gb200", "b300_sxm", "gb300"), ENGINES, (4, 8), (4, 128, 1024)):
        add("dsr1-fp4-tep", agg(m, sysname, be, tp=n, ep=n, moe_tp=1, c=c, q=FP4))
        add("dsr1-fp4-dep", agg(m, sysname, be, tp=1, dp=n, ep=n, c=c * 2, q=FP4))
    # NVL72 disaggregated wide-EP (prefill DEP4-8 x workers, decode DEP16-48)
    for (m, q), sysname, be, (pw, pdp), ddp, c in itertools.product(
            (("nvidia/DeepSeek-R1-0528-FP4-v2", FP4), ("deepseek-ai/DeepSeek-R1-0528", FP8)),
            ("gb200", "gb300"), ENGINES, ((1, 4), (2, 8), (4, 4)), (16, 32, 48), (1024, 8192, 16384)):
        add("nvl72-wide-ep", disagg(m, sysname, be, pw=pw, ptp=1, pdp=pdp, pep=pdp, dw=1, dtp=1, ddp=ddp, dep=ddp,
                                    c=c, q=q))
    # B200 / H200 disaggregated across 8-GPU nodes
    for sysname, be, c in itertools.product(("b200_sxm", "h200_sxm"), ENGINES, (256, 2048)):
        add("disagg-nodes", disagg("deepseek-ai/DeepSeek-R1-0528", sysname, be, pw=2, ptp=1, pdp=8, pep=8,
                                   dw=1, dtp=1, ddp=16, dep=16, c=c))
    # gpt-oss MXFP4, with the precision spellings campaigns use
    oss_q = (dict(precision="fp4", gemm_quant="", moe_quant=""), dict(precision="mxfp4", gemm_quant="", moe_quant=""),
             dict(precision="mxfp4", gemm_quant="bf16", moe_quant="mxfp4"),
             dict(precision="fp4", gemm_quant="bf16", moe_quant="w4a16_mxfp4"),
             dict(precision="mxfp4", gemm_quant="mxfp4", moe_quant="mxfp4"))
    for sysname, be, tp, c, q in itertools.product(("h100_sxm", "h200_sxm", "b200_sxm", "gb200", "b300_sxm"), ENGINES,
                                                   (1, 2, 4, 8), (1, 16, 256), oss_q):
        add("gpt-oss-120b", agg("openai/gpt-oss-120b", sysname, be, tp=tp, ep=1, c=c, q=q))
    for sysname, be, c in itertools.product(("h100_sxm", "b200_sxm"), ENGINES, (1, 64)):
        add("gpt-oss-120b-dep", agg("openai/gpt-oss-120b", sysname, be, tp=1, dp=4, ep=4, c=c, q=oss_q[0]))
        add("gpt-oss-20b", agg("openai/gpt-oss-20b", sysname, be, tp=1, ep=1, c=c, q=oss_q[1]))
    # Qwen3 MoE
    for (m, q), sysname, be, (tp, ep), c in itertools.product(
            (("Qwen/Qwen3-235B-A22B-FP8", FP8), ("Qwen/Qwen3-235B-A22B-Instruct-2507-FP8", FP8),
             ("RedHatAI/Qwen3-235B-A22B-FP8-dynamic", dict(precision="fp8", gemm_quant="fp8", moe_quant="fp8")),
             ("nvidia/Qwen3-235B-A22B-FP4", FP4), ("nvidia/Qwen3-235B-A22B-Instruct-2507-NVFP4", FP4)),
            ("h100_sxm", "h200_sxm", "b200_sxm"), ENGINES, ((4, 4), (4, 1), (8, 8), (8, 1)), (8, 256)):
        add("qwen3-235b", agg(m, sysname, be, tp=tp, ep=ep, c=c, q=q))
    for (m, q), sysname, be, (tp, ep), c in itertools.product(
            (("Qwen/Qwen3-30B-A3B", BF16), ("Qwen/Qwen3-30B-A3B-Instruct-2507-FP8", FP8),
             ("RedHatAI/Qwen3-30B-A3B-FP8-dynamic", dict(precision="fp8", gemm_quant="fp8", moe_quant="fp8")),
             ("nvidia/Qwen3-30B-A3B-NVFP4", FP4),
             ("RedHatAI/Qwen3-30B-A3B-quantized.w4a16", dict(precision="int4", gemm_quant="w4a16", moe_quant="w4a16"))),
            ("h100_sxm", "b200_sxm"), ENGINES, ((1, 1), (2, 1), (2, 2)), (1, 64)):
        add("qwen3-30b", agg(m, sysname, be, tp=tp, ep=ep, c=c, q=q))
    # Kimi-K2
    for be, c in itertools.product(ENGINES, (16, 512)):
        for m in ("moonshotai/Kimi-K2-Instruct", "moonshotai/Kimi-K2-Instruct-0905"):
            add("kimi-k2-fp8", agg(m, "b200_sxm", be, tp=8, ep=8, moe_tp=1, c=c))
            add("kimi-k2-fp8", agg(m, "h200_sxm", be, tp=16, ep=16, moe_tp=1, c=c))
            add("kimi-k2-fp8", agg(m, "h200_sxm", be, tp=1, dp=16, ep=16, c=c * 2))
            add("kimi-k2-fp8", agg(m, "h200_sxm", be, tp=8, pp=2, ep=8, moe_tp=1, c=c))
        add("kimi-k2-thinking", agg("moonshotai/Kimi-K2-Thinking", "h200_sxm", be, tp=8, ep=8, moe_tp=1, c=c,
                                    q=dict(precision="int4", gemm_quant="bf16", moe_quant="int4_wo")))
        for sysname, n in (("b200_sxm", 4), ("b200_sxm", 8), ("gb200", 4)):
            add("kimi-k2-nvfp4", agg("nvidia/Kimi-K2-Thinking-NVFP4", sysname, be, tp=n, ep=n, moe_tp=1, c=c, q=FP4))
    # other new architectures in their common recipes
    for (m, q, tp, ep), sysname, be, c in itertools.product(
            (("zai-org/GLM-4.5-FP8", FP8, 8, 8), ("zai-org/GLM-4.6-FP8", FP8, 8, 1), ("zai-org/GLM-4.5-Air-FP8", FP8, 2, 1),
             ("zai-org/GLM-4.6", BF16, 8, 8), ("MiniMaxAI/MiniMax-M2", FP8, 4, 4), ("MiniMaxAI/MiniMax-M2", FP8, 8, 8),
             ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", dict(precision="fp8", gemm_quant="fp8", moe_quant="fp8"), 8, 1),
             ("nvidia/Llama-4-Maverick-17B-128E-Instruct-FP8", dict(precision="fp8", gemm_quant="fp8", moe_quant="fp8"), 8, 8),
             ("meta-llama/Llama-4-Scout-17B-16E-Instruct", BF16, 4, 1),
             ("Qwen/Qwen3-Next-80B-A3B-Instruct", BF16, 4, 1), ("Qwen/Qwen3-Next-80B-A3B-Instruct-FP8", FP8, 2, 2),
             ("nvidia/NVIDIA-Nemotron-Nano-9B-v2", BF16, 1, 1), ("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", BF16, 1, 1),
             ("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-FP8", FP8, 1, 1),
             ("nvidia/Llama-3_3-Nemotron-Super-49B-v1_5", BF16, 2, 1)),
            ("h200_sxm", "b200_sxm"), ENGINES, (8, 256)):
        add("new-arch", agg(m, sysname, be, tp=tp, ep=ep, c=c, q=q))
    return out


def probe(sel: list[tuple[str, dict]], *, max_clients: int | None = None, requests_per_client: int = 2,
          verbose: bool = False) -> dict:
    """{'expressed': [(family, label, ttft, tpot)], 'refused': {reason: [(family, model, system, backend)]}}.
    Each run sends `requests_per_client` x C requests (the accuracy report: 10): whether a row is
    expressed is decided when its pools are built and its first requests scheduled."""
    expressed, refused = [], {}
    for i, (fam, r) in enumerate(sel):
        if max_clients and int(r["concurrency"]) > max_clients:
            continue
        c = A.case_from_row(f"p{i}", r)
        if not isinstance(c, A.Case):
            refused.setdefault(c.reason, []).append((fam, r["model"], r["system"], r["backend"]))
            continue
        c.kwargs["num_requests"] = max(requests_per_client * c.kwargs["concurrency"], A.MIN_PROMPTS)
        o = A.run_case(c)
        if o.ttft_ms is None:
            refused.setdefault(o.note[:200], []).append((fam, r["model"], r["system"], r["backend"]))
            continue
        expressed.append((fam, c.label, o.ttft_ms, o.tpot_ms))
        if verbose:
            print(f"{c.label}: TTFT {o.ttft_ms:.0f} ms, TPOT {o.tpot_ms:.2f} ms", flush=True)
    return {"expressed": expressed, "refused": refused}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=1, help="probe every N-th row")
    ap.add_argument("--max-clients", type=int, default=None, help="skip rows above this concurrency")
    ap.add_argument("--family", default=None, help="only rows of this plan family")
    ap.add_argument("--requests-per-client", type=int, default=2, help="requests per client (the report: 10)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    rows = [p for p in plans() if args.family is None or p[0] == args.family]
    sel = rows[::args.stride]
    t0 = time.perf_counter()
    res = probe(sel, max_clients=args.max_clients, requests_per_client=args.requests_per_client, verbose=args.verbose)
    n_ok = len(res["expressed"])
    n = n_ok + sum(len(v) for v in res["refused"].values())
    fams = sorted({f for f, _ in sel})
    print(f"{n_ok}/{n} rows expressed ({time.perf_counter() - t0:.0f} s)")
    for fam in fams:
        ok = sum(1 for f, *_ in res["expressed"] if f == fam)
        bad = sum(1 for v in res["refused"].values() for f, *_ in v if f == fam)
        print(f"  {fam:22s} {ok:4d}/{ok + bad}")
    for reason, items in sorted(res["refused"].items(), key=lambda kv: -len(kv[1])):
        print(f"{len(items):4d} refused: {reason}\n       e.g. {items[:2]}")


if __name__ == "__main__":
    main()
