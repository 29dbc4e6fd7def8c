"""Charts for `perfmodel bound --plot` (issue 4, part 4): a roofline with each operator placed,
the per-resource bounds with the plan's prediction, and a Gantt chart of the nano-batch pipeline.

Each `*_chart` draws on a matplotlib Axes it is given; `bound_figure` puts the three on one
figure and writes it. matplotlib runs headless (Agg).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from perfmodel.errors import PerfModelError  # noqa: E402

_CLASS_COLOR = {"compute": "tab:blue", "memory": "tab:orange", "network": "tab:green", "overhead": "tab:gray"}


def roofline_chart(ax, ops, device, *, host=None, title: str = "roofline") -> None:
    """Achieved FLOP/s against arithmetic intensity (FLOPs per byte of device memory) for every
    operator with FLOPs, under the device's compute and bandwidth roofs (peak x measured
    efficiency). With `host` (perfmodel.offload.Host) the host roofs are drawn too: CPU compute,
    CPU DRAM and the host link (MoE-Lightning's hierarchical roofline, s3.2)."""
    peak = device.peak_flops("bf16") * device.gemm_fraction("bf16")
    bw = device.memory_bw_gb_s * 1e9 * device.mem_bw_efficiency
    pts = [(op.flops / max(op.bytes, 1.0), op.flops / op.time_s, op.name, op.bound)
           for op in ops if op.flops > 0 and op.time_s > 0 and op.bytes > 0]
    x = np.logspace(-1, 5, 200)
    ax.loglog(x, np.minimum(peak, bw * x), "k-", lw=1.5, label=f"{device.id} roof")
    if host is not None:
        ax.loglog(x, np.minimum(host.flops, host.mem_rate * x), "k--", lw=1, label="CPU roof")
        ax.loglog(x, host.link_rate * x, "k:", lw=1, label="host link")
    for i, (ai, perf, name, bound) in enumerate(pts):
        ax.scatter([ai], [perf], color=_CLASS_COLOR.get(bound, "k"), s=25, zorder=3)
        ax.annotate(name, (ai, perf), fontsize=6, xytext=(3, 3 + 4 * (i % 3)), textcoords="offset points")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("FLOP/s")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="lower right")


def bounds_chart(ax, doc: dict) -> None:
    """Horizontal bars: each applicable bound (tokens/s per device), with the plan's predicted
    throughput and NanoFlow's optimum as vertical lines."""
    items = [(k, v) for k, v in doc["bounds"].items() if v is not None]
    if not items:
        raise PerfModelError("no applicable bound to plot")
    names = [k for k, _ in items]
    vals = [v for _, v in items]
    colors = ["tab:red" if k == doc["binding"] else "tab:gray" for k in names]
    ax.barh(names, vals, color=colors)
    ax.axvline(doc["predicted_tok_s_per_device"], color="tab:blue", lw=2,
               label=f"predicted {doc['predicted_tok_s_per_device']:,.0f}")
    ax.axvline(doc["optimal_tok_s_per_device"], color="k", ls="--", lw=1,
               label=f"optimal {doc['optimal_tok_s_per_device']:,.0f}")
    ax.set_xscale("log")
    ax.set_xlabel("tokens/s per device (prefill + decode)")
    ax.set_title(f"bounds: {doc['model']} (binding: {doc['binding']})", fontsize=9)
    ax.legend(fontsize=6)


def gantt_chart(ax, schedule, *, title: str = "nano-batch pipeline") -> None:
    """One row per resource class; one bar per nano-op, shaded by nano-batch, labelled by op."""
    if not schedule:
        raise PerfModelError("empty schedule")
    rows = {"compute": 2, "memory": 1, "network": 0}
    cmap = plt.get_cmap("tab10")
    for op in schedule:
        if op.end_s <= op.start_s:
            continue
        y = rows[op.cls]
        ax.barh(y, (op.end_s - op.start_s) * 1e3, left=op.start_s * 1e3, color=cmap(op.nano % 10),
                edgecolor="k", lw=0.3, height=0.8)
        if (op.end_s - op.start_s) * 1e3 > 0.02 * ax.get_xlim()[1]:
            ax.text((op.start_s + op.end_s) / 2 * 1e3, y, op.name, ha="center", va="center", fontsize=5)
    ax.set_yticks(list(rows.values()), list(rows.keys()))
    ax.set_xlabel("ms")
    ax.set_title(title, fontsize=9)


def bound_figure(doc: dict, *, model: str, hardware: str, path: str, calibration: str | None = None) -> Path:
    """The three charts for a `perfmodel bound` result, written to `path`."""
    from perfmodel import overlap
    from perfmodel.plan import Plan
    from perfmodel.resolve import resolve_model, resolve_system
    from perfmodel.stepmodel import StepModel
    from perfmodel.bounds import steady_state_batch

    spec, system = resolve_model(model), resolve_system(hardware, calibration=calibration)
    plan = Plan(**doc["plan"])
    batch = steady_state_batch(doc["prediction"]["concurrency"], doc["isl"], doc["osl"])
    sm = StepModel.build(model=spec, system=system, plan=plan, max_tokens=int(batch.tokens) + 1)
    host = None
    if plan.offloaded:
        from perfmodel.offload import host_of

        host = host_of(system)
    k = max(plan.nano_batches, 2)
    sched = overlap.overlap(sm, batch, nano_batches=k,
                            split=overlap.split_fractions(plan, k)).schedule
    fig, axes = plt.subplots(3, 1, figsize=(9, 12))
    roofline_chart(axes[0], [op for op in sm.ops(batch) if op.count], system.device, host=host,
                   title=f"roofline: one iteration of {doc['prediction']['dense_tokens_per_iteration']:,.0f} tokens")
    bounds_chart(axes[1], doc)
    axes[2].set_xlim(0, max(op.end_s for op in sched) * 1e3)
    gantt_chart(axes[2], sched, title=f"{k} nano-batches, {overlap.SIM_LAYERS} layers")
    fig.tight_layout()
    out = Path(path)
    try:
        fig.savefig(out, dpi=120)
    except (OSError, ValueError) as exc:
        raise PerfModelError(f"--plot {path}: cannot write the figure: {exc}") from None
    finally:
        plt.close(fig)
    return out


def latency_vs_load_figure(doc: dict, path: str | Path) -> Path:
    """TTFT and TPOT against the request rate: the analytic curve (`serve` result's
    analytic.latency_vs_load) and the simulated run's median and p90 at its rate."""
    curve = doc["analytic"]["latency_vs_load"]
    rate = [p["rate_req_s"] for p in curve]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sim_rate = doc["config"].get("rate_req_s") or doc.get("request_rate")
    for ax, key, label in ((axes[0], "ttft_ms", "TTFT (ms)"), (axes[1], "tpot_ms", "TPOT (ms)")):
        ax.plot(rate, [p[key] for p in curve], marker="o", label="analytic (mean)")
        if sim_rate and doc.get(key):
            ax.errorbar([sim_rate], [doc[key]["p50"]], yerr=[[0], [max(doc[key]["p90"] - doc[key]["p50"], 0)]],
                        fmt="s", color="C3", label="simulated p50 (bar to p90)")
        ax.set_xlabel("request rate (req/s)")
        ax.set_ylabel(label)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend()
    c = doc["config"]
    fig.suptitle(f"latency vs load: {c['model']} on {doc['devices']} x {c['hardware']}, {c['engine']}, {c['workload']}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
