"""`as_evaluator`: scipy's `workers` convention turned into an evaluator."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import numpy as np

from ._dask import DaskEvaluator, _is_dask_client
from ._local import (
    _NEEDS_POOL,
    BaseEvaluator,
    MapEvaluator,
    SerialEvaluator,
    VectorizedEvaluator,
    _check_timeout,
)
from ._processes import ExecutorEvaluator, JoblibEvaluator, MPIEvaluator


def as_evaluator(workers: Any = 1, *, timeout: float | None = None) -> BaseEvaluator:
    """Turn scipy's `workers` convention into an evaluator.

    Parameters
    ----------
    workers : int, str, Executor, dask Client, map-like callable or BaseEvaluator
        ``1``: serial. ``'vectorized'``: one call ``fun(X)`` per generation. ``-1`` or
        an int > 1: joblib processes. A `concurrent.futures.Executor` or a
        `dask.distributed.Client`: chunks submitted to it. ``'dask://host:port'``: a
        Dask scheduler, connected on first use (the evaluator owns that client; close
        it with ``close()`` or a ``with`` block). ``'mpi'``: the workers of an
        `mpi4py.futures.MPIPoolExecutor` (see `MPIEvaluator`). Any other callable is used as
        ``map(func, iterable)``, as in scipy. A `BaseEvaluator` is returned as is.
    timeout : float, optional
        Seconds per evaluation, after which it counts as failed (NaN); only for process
        pools (joblib, a process-pool Executor, Dask).

    Raises
    ------
    ValueError, TypeError
        For anything else, naming `workers`, or a `timeout` without a process pool.

    Examples
    --------
    >>> type(as_evaluator(1)).__name__, type(as_evaluator("vectorized")).__name__
    ('SerialEvaluator', 'VectorizedEvaluator')
    >>> as_evaluator(2, timeout=30).timeout
    30.0
    >>> as_evaluator(1, timeout=30)
    Traceback (most recent call last):
    ...
    ValueError: `timeout` needs a process pool (workers=-1 or an int > 1, a process-pool \
Executor, a dask Client or 'dask://host:port'): an evaluation in this process or in a \
thread cannot be interrupted safely.
    """
    timeout = _check_timeout(timeout)
    if isinstance(workers, BaseEvaluator):
        if timeout is not None:
            raise ValueError("pass `timeout` to the evaluator itself, not with an evaluator.")
        return workers
    if isinstance(workers, str):
        if workers.startswith("dask://"):
            return DaskEvaluator(workers, timeout=timeout)
        if workers == "mpi":
            return MPIEvaluator(timeout=timeout)
        if workers != "vectorized":
            raise ValueError(
                f"`workers` must be an int, 'vectorized', 'dask://host:port', 'mpi', an "
                f"Executor, a dask Client or a map-like callable; got {workers!r}."
            )
        if timeout is not None:
            raise ValueError(_NEEDS_POOL)
        return VectorizedEvaluator()
    if isinstance(workers, bool):
        raise TypeError("`workers` must be an int, not a bool.")
    if isinstance(workers, (int, np.integer)):
        if workers == 1:
            if timeout is not None:
                raise ValueError(_NEEDS_POOL)
            return SerialEvaluator()
        if workers == -1 or workers > 1:
            return JoblibEvaluator(int(workers), timeout=timeout)
        raise ValueError(f"`workers` must be -1 or >= 1; got {workers}.")
    if isinstance(workers, concurrent.futures.Executor):
        return ExecutorEvaluator(workers, timeout=timeout)
    if _is_dask_client(workers):
        return DaskEvaluator(workers, timeout=timeout)
    if callable(workers):
        if timeout is not None:
            raise ValueError(_NEEDS_POOL)
        return MapEvaluator(workers)
    raise TypeError(
        "`workers` must be an int, 'vectorized', 'dask://host:port', an Executor, a dask "
        f"Client or a map-like callable; got {type(workers).__name__}."
    )
