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
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def pareto_terminal(tr, width: int = 80, height: int = 18) -> str:
    """The SLO-meeting plans (dots) and the front (x) as text; plotext 5 and 6 APIs differ."""
    import plotext as plt

    x, y, ok, front = _points(tr)
    pts = [(x[ok].tolist(), y[ok].tolist(), "dot", "meets SLO")]
    if len(front):
        order = front[np.argsort(x[front])]
        pts.append((x[order].tolist(), y[order].tolist(), "x", "Pareto front"))
    if not ok.any():
        return ""
    if hasattr(plt, "scatter"):  # plotext 5
        plt.clear_figure()
        plt.plotsize(width, height)
        for xs, ys, marker, label in pts:
            plt.scatter(xs, ys, marker=marker, label=label)
        plt.xlabel("tokens/s/user")
        plt.ylabel("tokens/s/device")
        return plt.build()
    fig = plt.figure  # plotext 6: signals drawn on the master figure
    fig.clear()
    fig.plot_size(width, height)
    for xs, ys, marker, label in pts:
        sig = fig.signal(xs, ys, marker=marker)
        sig.label(label)
        fig.draw(sig)
    fig.label("tokens/s/user (x) vs tokens/s/device (y)", "x")
    return fig.build().string(colorless=True)
