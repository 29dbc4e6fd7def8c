"""Pareto plots: a PNG (matplotlib, for --out) and a terminal plot (plotext, human output)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _points(tr):
    m = tr.metrics
    ok = m["meets_slo"] & np.isfinite(m["tok_s_per_user"])
    front = tr.result.front
    return m["tok_s_per_user"], m["tok_s_per_device"], ok, front


def pareto_png(tr, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y, ok, front = _points(tr)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.scatter(x[ok], y[ok], s=6, c="0.75", label="plans meeting the SLOs")
    if len(front):
        order = front[np.argsort(x[front])]
        ax.plot(x[order], y[order], "o-", c="tab:blue", ms=4, label="Pareto front")
    if tr.result.best >= 0:
        b = tr.result.best
        ax.plot([x[b]], [y[b]], "*", c="tab:red", ms=14, label="best")
    ax.set_xlabel("tokens/s per user (1000 / TPOT)")
    ax.set_ylabel("output tokens/s per device")
    p = tr.problem
    ax.set_title(f"{tr.model} on {', '.join(p.space.hardware)}, {p.isl}/{p.osl}", fontsize=10)
    _finish(fig, ax, path, legend_size=8)


def pareto_terminal(tr, width: int = 80, height: int = 18) -> str:
    """The SLO-meeting plans (dots) and the front (x) as text."""
    x, y, ok, front = _points(tr)
    pts = [(x[ok].tolist(), y[ok].tolist(), "dot", "meets SLO")]
    if len(front):
        order = front[np.argsort(x[front])]
        pts.append((x[order].tolist(), y[order].tolist(), "x", "Pareto front"))
    if not ok.any():
        return ""
    return _text_plot(pts, width, height)


def _text_plot(series: list[tuple], width: int, height: int) -> str:
    """(xs, ys, marker, label) series, tokens/s/user against tokens/s/device, as text; plotext 5
    and 6 APIs differ."""
    import plotext as plt

    if hasattr(plt, "scatter"):  # plotext 5
        plt.clear_figure()
        plt.plotsize(width, height)
        for xs, ys, marker, label in series:
            plt.scatter(xs, ys, marker=marker, label=label)
        plt.xlabel("tokens/s/user")
        plt.ylabel("tokens/s/device")
        return plt.build()
    fig = plt.figure  # plotext 6: signals drawn on the master figure
    fig.clear()
    fig.plot_size(width, height)
    for xs, ys, marker, label in series:
        sig = fig.signal(xs, ys, marker=marker)
        sig.label(label)
        fig.draw(sig)
    fig.label("tokens/s/user (x) vs tokens/s/device (y)", "x")
    return fig.build().string(colorless=True)


def _finish(fig, ax, path: Path, *, legend_size: int) -> None:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)


def _curve_xy(curve) -> tuple[list[float], list[float]]:
    pts = [p for p in curve.points if p["tok_s_per_user"] is not None]
    return [p["tok_s_per_user"] for p in pts], [p["output_tok_s_per_device"] for p in pts]


def curves_png(result, path: Path) -> None:
    """Throughput per device vs tokens/s per user, one line per plan, the frontier starred; rate
    sweeps on a second panel: mean TTFT and TPOT against the request rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conc = [c for c in result.curves if c.kind == "concurrency"]
    rate = [c for c in result.curves if c.kind == "rate"]
    panels = int(bool(conc)) + int(bool(rate))
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 4.5), dpi=110, squeeze=False)
    ax = axes[0][0]
    if conc:
        for c in conc:
            x, y = _curve_xy(c)
            ax.plot(x, y, "o-", ms=3, label=f"{c.label} ({c.devices} devices)")
        front = sorted(result.frontier(), key=lambda r: r["tok_s_per_user"])
        ax.plot([r["tok_s_per_user"] for r in front], [r["output_tok_s_per_device"] for r in front], "*--",
                c="k", ms=9, lw=0.8, label="Pareto frontier")
        ax.set_xlabel("tokens/s per user (1000 / mean TPOT)")
        ax.set_ylabel("output tokens/s per device")
        ax.set_title(f"{result.config['model']} on {result.config['hardware']}, {result.config['workload']}", fontsize=10)
        if rate:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        ax = axes[0][-1]
    if rate:
        for c in rate:
            r = [p["rate_req_s"] for p in c.points]
            ax.plot(r, [p["ttft_ms"] for p in c.points], "o-", ms=3, label=f"TTFT {c.label}")
            ax.plot(r, [p["tpot_ms"] for p in c.points], "s--", ms=3, label=f"TPOT {c.label}")
        ax.set_xlabel("request rate (req/s)")
        ax.set_ylabel("mean latency (ms)")
        ax.set_yscale("log")
    _finish(fig, ax, path, legend_size=7)


def curves_terminal(result, width: int = 80, height: int = 18) -> str:
    """The concurrency curves as text."""
    conc = [c for c in result.curves if c.kind == "concurrency"]
    return _text_plot([(*_curve_xy(c), "dot", c.label) for c in conc], width, height) if conc else ""
