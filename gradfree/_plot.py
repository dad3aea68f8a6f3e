"""``convergence.png`` of a batch job, drawn from its ``history.csv`` (``gradfree plot``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = ["plot_run"]


def plot_run(run_dir: str | Path) -> Path:
    """Draw ``convergence.png`` in `run_dir` from its ``history.csv`` (needs matplotlib).

    Best and median value against evaluations (log scale when positive) and, below,
    the step size or spread.

    Parameters
    ----------
    run_dir : path
        Output directory of ``gradfree run``.

    Returns
    -------
    pathlib.Path
        The image written.

    Raises
    ------
    ImportError
        Without matplotlib (``pip install matplotlib``).
    ValueError
        When ``history.csv`` is missing or has no rows.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    run_dir = Path(run_dir)
    path = run_dir / "history.csv"
    if not path.is_file():
        raise ValueError(f"`run_dir`: {path} does not exist.")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"`run_dir`: {path} has no rows.")
    col = {k: np.asarray([float(r[k]) for r in rows]) for k in rows[0]}
    fig = Figure(figsize=(7, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(col["nfev"], col["best"], label="best so far")
    top.plot(col["nfev"], col["gen_median"], label="generation median", alpha=0.7)
    values = np.concatenate([col["best"], col["gen_median"]])
    values = values[np.isfinite(values)]
    if values.size and (values > 0).all():
        top.set_yscale("log")
    top.set_ylabel("f")
    top.legend()
    if np.isfinite(col["sigma"]).any():
        bottom.plot(col["nfev"], col["sigma"], color="C2")
        if (col["sigma"][np.isfinite(col["sigma"])] > 0).all():
            bottom.set_yscale("log")
    bottom.set_ylabel("step size / spread")
    bottom.set_xlabel("evaluations")
    out = run_dir / "convergence.png"
    fig.savefig(out, dpi=100)
    return out
