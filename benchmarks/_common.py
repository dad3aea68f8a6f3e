"""Shared by the benchmark scripts: a description of the machine for the JSON reports."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """CPU model name (`platform.processor` is often empty on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """Platform, CPU model, core count and Python version."""
    return {
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    """Versions of gradfree, NumPy and scikit-learn, for the JSON reports."""
    import numpy as np
    import sklearn

    import gradfree

    return {
        "gradfree": gradfree.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def plot_curves(
    path: Any, curves: dict[str, list[float]], *, ylabel: str, ylim: Any, title: str
) -> None:
    """Per-epoch curves (epoch 1, 2, ...) of several methods to `path` (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - plotting is optional
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, ys in curves.items():
        ax.plot(range(1, len(ys) + 1), ys, label=name)
    ax.set(xlabel="epoch", ylabel=ylabel, ylim=ylim)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
