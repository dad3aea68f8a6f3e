"""The demo's figure: one panel per act, drawn from what the acts measured (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._table import Act

__all__ = ["draw"]


def _blackbox(ax: Any, act: Act) -> None:
    for name, curve in act.plot["curves"].items():
        ax.plot(np.arange(1, curve.size + 1), curve, label=name)
    ax.set(xscale="log", yscale="log", xlabel="evaluations", ylabel="best training loss",
           title="1. step-activation network")  # fmt: skip
    ax.legend(fontsize=7)


def _digits(ax: Any, act: Act) -> None:
    names, acc = act.plot["names"], act.plot["accuracy"]
    y = np.arange(len(names))
    ax.barh(y, acc, color=["C7"] + ["C0"] * (len(names) - 1))
    for i, (a, s) in enumerate(zip(acc, act.plot["seconds"])):
        ax.text(a, i, f" {a:.3f}, {s:.2f} s", va="center", fontsize=7)
    ax.set_yticks(y, [n.replace("gradfree ", "").replace("scikit-learn ", "") for n in names],
                  fontsize=7)  # fmt: skip
    ax.set(xlim=(min(acc) - 0.1, 1.05), xlabel="test accuracy", title="2. digits without backprop")
    ax.invert_yaxis()


def _inverse(ax: Any, act: Act) -> None:
    p = act.plot
    n = p["n_grid"]
    phi, w = p["phi"], p["weights"]
    ax.tricontour(phi[:, 0], phi[:, 1], w / w.max(), levels=[0.01, 0.1, 0.5], colors="k",
                  linewidths=0.8)  # fmt: skip
    ax.scatter(*p["ensemble"].T, s=3, alpha=0.4, label="EKI ensemble")
    ax.scatter(*p["uki"][:400].T, s=3, alpha=0.3, label="UKI Gaussian (draws)")
    ax.plot(*p["truth"], "r*", ms=12, label="truth")
    ax.plot(*p["curve_fit"], "kx", ms=8, label="curve_fit")
    lo, hi = np.quantile(p["ensemble"], [0.0, 1.0], axis=0)
    pad = 0.3 * (hi - lo)
    ax.set(xlim=(lo[0] - pad[0], hi[0] + pad[0]), ylim=(lo[1] - pad[1], hi[1] + pad[1]))
    ax.set(xlabel="A", ylabel="k", title=f"3. posterior (contours: {n}x{n} grid)")
    ax.legend(fontsize=7)


def _moments(ax: Any, act: Act) -> None:
    p = act.plot
    ax.scatter(*p["X"][:, :2].T, s=2, alpha=0.2, color="C7")
    ax.plot(*p["means"][:, :2].T, "r*", ms=12, ls="", label="true means")
    ax.plot(*p["estimate"][:, :2].T, "bx", ms=9, ls="", label="moment estimate")
    ax.set(xlabel="x1", ylabel="x2", title="4. mixture by moments (first 2 coordinates)")
    ax.legend(fontsize=7)


def _batch(ax: Any, act: Act) -> None:
    p = act.plot
    ax.plot(*p["whole"], lw=3, alpha=0.4, label="uninterrupted")
    ax.plot(*p["cut"], label="interrupted")
    ax.plot(*p["rest"], ls="--", label="resumed")
    ax.axvline(p["cut"][0][-1], color="k", lw=0.8, ls=":", label="interruption")
    ax.set(yscale="log", xlabel="evaluations", ylabel="best f", title="5. job: interrupt, resume")
    ax.legend(fontsize=7)


_PANELS = {"1.": _blackbox, "2.": _digits, "3.": _inverse, "4.": _moments, "5.": _batch}


def draw(acts: list[Act], path: str | Path) -> Path:
    """Draw one panel per act into `path` (needs matplotlib; no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 9), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    for ax, act in zip(axes, acts):
        _PANELS[act.title[:2]](ax, act)
    for ax in axes[len(acts) :]:
        ax.set_axis_off()
    path = Path(path)
    fig.savefig(path, dpi=90)
    return path
