"""A run's bookkeeping in a checkpoint: `snapshot` writes it as plain data, `restore`
rebuilds a `gradfree._driver.Run` from it, every value checked as if a user had typed it.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any

import numpy as np

from ._checkpoint import Checkpoint, load_checkpoint
from ._restore_checks import check_driver, check_state, rebuild_config, same_config
from ._result import Status
from ._typing import Array, Strategy
from ._validate import check_x0

__all__ = ["checked_points", "restore", "snapshot"]


def snapshot(self: Any) -> dict[str, Any]:
    """The bookkeeping of the run `self` as plain data (arrays, numbers, lists).

    Together with the strategy, its state and ``rng`` it determines the rest of the run
    exactly; `restore` is the inverse.
    """
    return {
        "x0": self.x0,
        "maxiter": self.maxiter,
        "maxfev": self.maxfev,
        "tol": self.tol,
        "nit": self.nit,
        "nfev": self.nfev,
        "popsize": self.popsize,
        "best_x": self.best_x,
        "best_fun": self.best_fun,
        "best_violation": self.best_violation,
        # the last population only matters for a finished run's result; mid-run it
        # would dominate the file (n x d) and the next generation replaces it
        "population": self.population if self.status is not None else None,
        "population_values": self.population_values if self.status is not None else None,
        "status": None if self.status is None else int(self.status),
        "message": self.message,
        "history_maxlen": self._history.maxlen,
        "history": [list(row) for row in self._history],
        "recent": None
        if self._recent is None
        else {"maxlen": self._recent.maxlen, "values": list(self._recent)},
        "failures": None
        if self.failures is None
        else {**self.failures, "generations": list(self.failures["generations"])},
    }


def restore(
    cls: Any,
    checkpoint: Checkpoint | str | os.PathLike[str],
    *,
    x0: Any = None,
    strategy: Strategy | None = None,
) -> Any:
    """Rebuild a run of class `cls` from `checkpoint` (see `gradfree._driver.Run.restore`).

    Examples
    --------
    >>> import os, tempfile
    >>> from gradfree._driver import Run
    >>> from gradfree.es import OpenES
    >>> from gradfree.evaluators import SerialEvaluator
    >>> from gradfree.testing import sphere
    >>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
    >>> job = Run(OpenES(popsize=4), np.ones(2), rng=np.random.default_rng(0), maxiter=4)
    >>> job.step(SerialEvaluator(), sphere)
    >>> job.save(path)
    >>> again = Run.restore(path)
    >>> again.nit, again.nfev, again.best_fun == job.best_fun
    (1, 4, True)
    >>> Run.restore(path, strategy=OpenES(popsize=6))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: checkpoint '...run.ckpt' was written by another configuration ...
    """
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint, x0=x0)
    name, d = checkpoint.path, checkpoint.driver
    config = rebuild_config(checkpoint.strategy)
    if strategy is not None:
        if not same_config(config, strategy):
            raise ValueError(
                f"checkpoint {name!r} was written by another configuration of the "
                f"method than the one given: {config!r} is not {strategy!r}."
            )
        config = strategy
    saved = check_driver(d, n_status=len(Status))
    try:
        start = check_x0(d.get("x0"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint {name!r}: `driver.x0` is invalid: {exc}") from exc
    job = cls(
        config,
        start,
        rng=np.random.default_rng(0),  # a throwaway: the saved rng replaces it
        maxiter=saved["maxiter"],
        maxfev=saved["maxfev"],
        tol=saved["tol"],
        history=saved["history_maxlen"],
    )
    check_state(checkpoint.state, job.state, d=start.shape[0])
    job.state, job.rng = checkpoint.state, checkpoint.rng
    job.nit, job.nfev, job.popsize = saved["nit"], saved["nfev"], saved["popsize"]
    job.best_x = checked_points(d.get("best_x"), start, "best_x", rows=False)
    job.best_fun, job.best_violation = saved["best_fun"], saved["best_violation"]
    job.population = checked_points(d.get("population"), start, "population")
    job.population_values = d.get("population_values")
    job.status = None if saved["status"] is None else Status(saved["status"])
    job.message = saved["message"]
    job._history.extend(saved["history"])
    if saved["recent"] is not None:
        job._recent = deque(saved["recent"]["values"], saved["recent"]["maxlen"])
    job.failures = saved["failures"]
    return job


def checked_points(value: Any, x0: Array, name: str, *, rows: bool = True) -> Any:
    """A saved point ``(d,)`` (or population ``(n, d)``) like `x0`, or None; else ValueError."""
    if value is None:
        return None
    shape = getattr(value, "shape", None)
    want = 2 if rows else 1
    if shape is None or len(shape) != want or shape[-1] != x0.shape[0] or value.dtype != x0.dtype:
        raise ValueError(
            f"checkpoint: `driver.{name}` must be an array of shape "
            f"{'(n, d)' if rows else '(d,)'} with d = {x0.shape[0]} and dtype {x0.dtype}; "
            f"got {shape} {getattr(value, 'dtype', type(value).__name__)}."
        )
    return value
