"""DistServe's measured vLLM runs against the vllm-0.5 profile: is the colocated baseline's
prefill-decode interference priced right?

The DistServe artifact (LLMServe/DistServe, commit 20a1633e) keeps its own measured vLLM runs of
OPT-13B on one A100-80GB on the ShareGPT requests it prepares for OPT
(simdistserve/benchmarks/alignment/data-ground-truth/opt-13b-sharegpt/vllm-<N>-<rate>.exp, each
ending with its mean TTFT and TPOT), launched as evaluation/2-benchmark-serving/2-start-api-server.py
does (vllm.entrypoints.api_server --engine-use-ray --worker-use-ray, --max-num-batched-tokens 16384,
--max-num-seqs 1024, --gpu-memory-utilization 0.95). This prints, per Poisson rate, the measured
means next to the simulated ones (sharegpt-distserve preset, engine profile vllm-0.5, the same
request count), then the kernel-time factor (EngineProfile.device_time_scale) and host time per
running sequence (cpu_per_seq_us) that best fit the train rates (1 and 2 req/s; squared log error of
both means) and the error they leave on the held-out rates (1.5, 2.5, 3 req/s). Rates 3.5 and 4
are past the replica's capacity (mean TTFT 2.9 and 10.7 s, queueing) and are printed only. Last,
the TTFT of a 10- and a 1,717-token request of the 1 req/s run against one such request on an idle
replica, and the goodput at the paper's OPT-13B chatbot SLOs.

Run: python benchmarks/distserve_vllm_rows.py   (about 30 s)
"""

from __future__ import annotations

import math

import numpy as np

from perfmodel.serve_api import serve
from perfmodel.serving.engine_profiles import get_engine

# rate (req/s): (requests, mean TTFT ms, mean TPOT ms), from the closing summary of each .exp file
MEASURED = {1.0: (100, 161.2, 34.2), 1.5: (150, 162.1, 45.6), 2.0: (200, 203.9, 65.3), 2.5: (250, 177.0, 65.5),
            3.0: (300, 461.6, 99.9), 3.5: (350, 2904.7, 104.1), 4.0: (400, 10685.1, 113.7)}
# Single requests of the 1 req/s run (vllm-100-1.exp): prompt tokens -> TTFT ms
LONE = {10: 42.7, 1717: 262.9}
TRAIN, HELD_OUT, OVERLOADED = (1.0, 2.0), (1.5, 2.5, 3.0), (3.5, 4.0)
MAX_SEQS, MAX_TOKENS, KV_FRACTION = 1024, 16384, 0.95  # the artifact's vLLM flags (see the docstring)
SCALES = np.round(np.arange(1.0, 1.61, 0.05), 2)        # device_time_scale grid searched
PER_SEQ_US = (36.0, 100.0, 200.0, 300.0, 400.0, 600.0)  # cpu_per_seq_us grid (36: the vllm-0.5 profile's)


def _engine(scale: float, per_seq_us: float):
    return get_engine("vllm-0.5").model_copy(update={"device_time_scale": scale, "cpu_per_seq_us": per_seq_us})


def predict(rate: float, scale: float, per_seq_us: float = 36.0) -> tuple[float, float]:
    """Simulated mean TTFT and TPOT (ms) at `rate` with the vllm-0.5 kernels' time times `scale` and
    `per_seq_us` of host time per running sequence per iteration."""
    r = serve(model="opt-13b", hardware="a100-sxm-80gb", workload="sharegpt-distserve", rate=rate, quant="fp16",
              num_requests=MEASURED[rate][0], engine=_engine(scale, per_seq_us), tp=1, max_batch=MAX_SEQS,
              token_budget=MAX_TOKENS, kv_fraction=KV_FRACTION, goodput_search=False)
    return r.metrics["ttft_ms"]["mean"], r.metrics["tpot_ms"]["mean"]


def lone_ttft_ms(prompt: int, scale: float, per_seq_us: float = 36.0) -> float:
    """Simulated TTFT of one `prompt`-token request on an idle replica."""
    r = serve(model="opt-13b", hardware="a100-sxm-80gb", workload=f"fixed:{prompt}:20", rate=0.01, quant="fp16",
              num_requests=3, engine=_engine(scale, per_seq_us), tp=1, goodput_search=False)
    return r.metrics["ttft_ms"]["mean"]


def goodput_req_s(scale: float, per_seq_us: float = 36.0) -> float:
    """Goodput at DistServe's OPT-13B chatbot SLOs (TTFT 250 ms, TPOT 100 ms, 90%), as the
    `perfmodel reproduce DistServe` entry searches it."""
    r = serve(model="opt-13b", hardware="a100-sxm-80gb", workload="sharegpt-distserve", rate=1.0, quant="fp16",
              num_requests=400, engine=_engine(scale, per_seq_us), tp=1, max_batch=MAX_SEQS,
              token_budget=MAX_TOKENS, kv_fraction=KV_FRACTION, ttft_slo_ms=250.0, tpot_slo_ms=100.0, slo_target=0.9)
    return r.goodput_req_s


def log_error(rates, scale: float, per_seq_us: float) -> float:
    err = 0.0
    for rate in rates:
        ttft, tpot = predict(rate, scale, per_seq_us)
        err += math.log(ttft / MEASURED[rate][1]) ** 2 + math.log(tpot / MEASURED[rate][2]) ** 2
    return err


def main() -> None:
    scale, per_seq = min(((float(s), u) for s in SCALES for u in PER_SEQ_US), key=lambda p: log_error(TRAIN, *p))
    print(f"{'rate':>5} {'split':>9} | {'measured TTFT':>13} {'TPOT':>6} | {'vllm-0.5 TTFT':>13} {'TPOT':>6} | "
          f"{'fitted TTFT':>13} {'TPOT':>6}")
    for rate, (_, ttft_m, tpot_m) in MEASURED.items():
        split = "train" if rate in TRAIN else "held out" if rate in HELD_OUT else "overload"
        t0, p0 = predict(rate, 1.0)
        t1, p1 = predict(rate, scale, per_seq)
        print(f"{rate:>5} {split:>9} | {ttft_m:>13.0f} {tpot_m:>6.1f} | {t0:>6.0f} ({t0 / ttft_m - 1:+4.0%}) "
              f"{p0:>5.1f} ({p0 / tpot_m - 1:+4.0%}) | {t1:>6.0f} ({t1 / ttft_m - 1:+4.0%}) "
              f"{p1:>5.1f} ({p1 / tpot_m - 1:+4.0%})")
    print(f"fitted on rates {TRAIN}: device_time_scale {scale}, cpu_per_seq_us {per_seq:.0f}")
    for prompt, measured in LONE.items():
        print(f"one {prompt}-token prompt: measured TTFT {measured} ms, vllm-0.5 {lone_ttft_ms(prompt, 1.0):.0f} ms, "
              f"fitted {lone_ttft_ms(prompt, scale, per_seq):.0f} ms")
    print(f"goodput at TTFT 250 ms, TPOT 100 ms, 90%: vllm-0.5 {goodput_req_s(1.0):.2f} req/s, "
          f"fitted {goodput_req_s(scale, per_seq):.2f} req/s")


if __name__ == "__main__":
    main()
