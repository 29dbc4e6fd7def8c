"""S-LoRA throughput against the number of adapters (perfmodel.lora): S-LoRA (MBGMV, unified paging),
BGMV padded to the largest rank, and merged copies packed on the GPU (vLLM-packed).

Llama-2-7B on one A100-80GB, fp16, 256 in / 256 out, ranks 64, 32, 16, 8 cycled over the adapters,
Zipf(1) popularity. Run: python benchmarks/slora_adapters.py  (prints a markdown table)
The batch is the largest that fits next to the resident adapters, so throughput also follows the base
step's own steps in batch size (a decode batch of 194 costs ~8% more than one of 191 in the step model).
"""

from __future__ import annotations

from perfmodel.lora import LoraSetup, lora_throughput
from perfmodel.plan import Plan
from perfmodel.resolve import resolve_model, resolve_system

ADAPTERS = (1, 2, 4, 5, 20, 100, 1000, 2000)
RANKS = (64, 32, 16, 8)


def main() -> None:
    model, system, plan = resolve_model("llama-2-7b"), resolve_system("a100-sxm-80gb"), Plan(tp=1, quant="fp16")
    print("| adapters | S-LoRA tok/s (batch) | padded BGMV tok/s | vLLM-packed tok/s (batch) | S-LoRA / packed |")
    print("|---:|---:|---:|---:|---:|")
    for n in ADAPTERS:
        setup = LoraSetup(adapters=n, ranks=RANKS)
        r = {m: lora_throughput(model=model, system=system, plan=plan, setup=setup, isl=256, osl=256, mode=m)
             for m in ("slora", "padded", "packed")}
        packed = r["packed"]
        gain = f"{r['slora']['output_tok_s'] / packed['output_tok_s']:.2f}x" if packed["fits"] else "packed OOM"
        print(f"| {n} | {r['slora']['output_tok_s']:,.0f} ({r['slora']['batch']}) | {r['padded']['output_tok_s']:,.0f} "
              f"| {packed['output_tok_s']:,.0f} ({packed['batch']}) | {gain} |")


if __name__ == "__main__":
    main()
