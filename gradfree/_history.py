"""A run's ``history.csv`` (one row per generation) and its ``convergence.png``.

Rows are appended, flushed and fsynced one generation at a time; a resumed job cuts
the file after the last complete row its checkpoint covers instead of rewriting it,
so a kill at any moment loses no row, and readers skip a row cut by a kill.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from ._array import to_host
from ._atomic import atomic_write
from ._typing import StepSize, VectorLoss

__all__ = ["HISTORY_COLUMNS", "HistoryWriter", "plot_run", "read_history"]

HISTORY_COLUMNS = ("nit", "nfev", "best", "gen_min", "gen_median", "gen_max", "sigma", "time")
"""Columns of ``history.csv``, one row per generation (``sigma``: step size or spread)."""


def read_history(path: Path) -> tuple[list[dict[str, float]], list[int]]:
    r"""The complete rows of a ``history.csv``, and the byte offset just after each.

    A row counts when it ends in a newline and has every column as a number; reading
    stops at the first row that does not (a row cut by a kill), so nothing after it is
    used. A missing file or header gives no rows.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "history.csv"
    >>> _ = path.write_text(",".join(HISTORY_COLUMNS) + "\n1,8,2.5,2.5,3,4,0.5,0.1\n2,16,2.")
    >>> rows, ends = read_history(path)
    >>> [r["nfev"] for r in rows], ends == [len(path.read_bytes()) - len("2,16,2.")]
    ([8.0], True)
    """
    data = path.read_bytes() if path.exists() else b""
    header = (",".join(HISTORY_COLUMNS) + "\n").encode()
    if not data.startswith(header):
        return [], []
    rows: list[dict[str, float]] = []
    ends: list[int] = []
    end = len(header)
    for line in data[end:].splitlines(keepends=True):
        fields = line.decode("utf-8", "replace").rstrip("\n").split(",")
        if not line.endswith(b"\n") or len(fields) != len(HISTORY_COLUMNS):
            break
        try:
            rows.append({k: float(v) for k, v in zip(HISTORY_COLUMNS, fields)})
        except ValueError:
            break
        end += len(line)
        ends.append(end)
    return rows, ends


class HistoryWriter:
    """Appends one ``history.csv`` row per generation, flushed and fsynced.

    A resumed job keeps the complete rows up to generation `keep_until` and cuts the
    file after them (a row cut by a kill, and rows of generations the checkpoint does
    not have, go); the file is never rewritten, so a kill at any moment loses no row
    that a later resume needs.
    """

    def __init__(self, path: Path, strategy: Any, keep_until: int | None) -> None:
        self.path = path
        self.loss = strategy.loss if isinstance(strategy, VectorLoss) else None
        self.step_size = strategy.step_size if isinstance(strategy, StepSize) else None
        rows, ends = read_history(path) if keep_until is not None else ([], [])
        kept = list(itertools.takewhile(lambda r: r["nit"] <= (keep_until or 0), rows))
        self.offset = kept[-1]["time"] if kept else 0.0
        self.start = time.monotonic()
        if kept:
            os.truncate(path, ends[len(kept) - 1])
            self.file = path.open("a", newline="")
        else:
            self.file = path.open("w", newline="")
        self.writer = csv.writer(self.file, lineterminator="\n")
        if not kept:
            self.writer.writerow(HISTORY_COLUMNS)
        self._sync()

    def _sync(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())

    def __call__(self, res: OptimizeResult) -> None:
        values = res.population_values
        if values is not None and values.ndim == 2 and self.loss is not None:
            values = self.loss(values)
        host = np.asarray(to_host(values), dtype=np.float64).ravel()
        host = host[np.isfinite(host)]
        stats = (host.min(), np.median(host), host.max()) if host.size else (math.nan,) * 3
        row = [
            res.nit,
            res.nfev,
            res.fun,
            *stats,
            math.nan if self.step_size is None else self.step_size(res.state),
        ]
        row.append(self.offset + time.monotonic() - self.start)
        self.writer.writerow([v if isinstance(v, int) else repr(float(v)) for v in row])
        self._sync()

    def close(self) -> None:
        self.file.close()


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
    rows, _ = read_history(path)
    if not rows:
        raise ValueError(f"`run_dir`: {path} has no complete rows.")
    col = {k: np.asarray([r[k] for r in rows]) for k in HISTORY_COLUMNS}
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
    return atomic_write(
        run_dir / "convergence.png", lambda f: fig.savefig(f, format="png", dpi=100)
    )
