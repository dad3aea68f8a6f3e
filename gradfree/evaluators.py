"""Evaluators: how a population is evaluated (serially, in one batch, or in parallel).

An evaluator maps ``(fun, X)`` with ``X`` of shape ``(n, d)`` to values of shape
``(n,)`` (scalar objectives) or ``(n, m)`` (vector-valued models), in the namespace,
device and dtype of ``X``, with row order kept. Evaluators own parallelism and nothing
else: the driver counts evaluations and handles non-finite values.

Cross-process evaluators send host (NumPy) rows to the workers and convert the values
back, and submit one chunk of rows per worker rather than one task per point.
"""

from __future__ import annotations

import concurrent.futures
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._array import asarray_like, to_host
from ._typing import Array, Objective
from ._validate import check_choice, check_int

__all__ = [
    "BaseEvaluator",
    "DaskEvaluator",
    "ExecutorEvaluator",
    "JoblibEvaluator",
    "MapEvaluator",
    "SerialEvaluator",
    "VectorizedEvaluator",
    "as_evaluator",
    "wrap_objective",
]


class _Failed:
    """Marker for an evaluation that raised under ``on_error='nan'``."""

    def __repr__(self) -> str:
        return "FAILED"

    def __reduce__(self) -> str:
        return "FAILED"


FAILED = _Failed()


def _row_values(outputs: Sequence[Any], n: int, like: Array) -> Array:
    """Stack per-row outputs (scalars or 1-d vectors; FAILED -> NaN) like `like`."""
    if len(outputs) != n:
        raise ValueError(f"`fun` returned {len(outputs)} values for {n} candidates.")
    rows = [None if v is FAILED else np.asarray(to_host(v), dtype=np.float64) for v in outputs]
    shapes = {r.shape for r in rows if r is not None}
    if not shapes:
        return asarray_like(np.full(n, np.nan), like)
    if len(shapes) > 1:
        raise ValueError(f"`fun` returned values of different shapes: {sorted(shapes)}.")
    (shape,) = shapes
    if shape in ((), (1,)):
        vals = np.asarray([np.nan if r is None else r.reshape(()) for r in rows])
    elif len(shape) == 1:
        vals = np.stack([np.full(shape, np.nan) if r is None else r for r in rows])
    else:
        raise ValueError(
            f"`fun` must return a scalar or a 1-d vector per candidate; got shape {shape}."
        )
    return asarray_like(vals, like)


def _eval_rows(fun: Objective, rows: Iterable[Any]) -> list[Any]:
    """Evaluate `fun` on each row; runs inside workers, so it must stay module-level."""
    return [fun(r) for r in rows]


def _split(rows: np.ndarray, k: int) -> list[np.ndarray]:
    """Split rows into at most `k` contiguous, non-empty chunks."""
    return [c for c in np.array_split(rows, max(1, min(k, len(rows)))) if len(c)]


@dataclass(frozen=True)
class _Wrapped:
    """Objective with bound `args` and the ``on_error`` policy; picklable for workers."""

    fun: Objective
    args: tuple[Any, ...]
    on_error: str

    def __call__(self, x: Array) -> Any:
        try:
            return self.fun(x, *self.args)
        except Exception:
            if self.on_error == "raise":
                raise
            return FAILED


def wrap_objective(fun: Objective, args: tuple[Any, ...] = (), on_error: str = "raise") -> Any:
    """Bind `args` and the failure policy to `fun` (no wrapper when neither is needed)."""
    if not callable(fun):
        raise TypeError(f"`fun` must be callable; got {type(fun).__name__}.")
    if not isinstance(args, tuple):
        args = (args,)
    check_choice(on_error, "on_error", ("raise", "nan"))
    if not args and on_error == "raise":
        return fun
    return _Wrapped(fun, args, on_error)


class BaseEvaluator(ABC):
    """Base class of gradfree evaluators; subclass it to write your own."""

    #: ``fun`` receives the whole population ``(n, d)`` in one call.
    vectorized: bool = False

    @abstractmethod
    def __call__(self, fun: Objective, X: Array) -> Array:
        """Values of `fun` for each row of `X`, shape ``(n,)`` or ``(n, m)``."""

    def __enter__(self) -> BaseEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release any pool the evaluator owns (nothing by default)."""


class SerialEvaluator(BaseEvaluator):
    """Evaluate rows one by one in this process, in the namespace of `X`.

    Examples
    --------
    >>> SerialEvaluator()(lambda x: float(x @ x), np.asarray([[1.0, 2.0], [0.0, 1.0]]))
    array([5., 1.])
    """

    def __call__(self, fun: Objective, X: Array) -> Array:
        return _row_values([fun(X[i, ...]) for i in range(X.shape[0])], X.shape[0], X)


class VectorizedEvaluator(BaseEvaluator):
    """One call ``fun(X)`` for the whole population, which returns ``(n,)`` or ``(n, m)``.

    Examples
    --------
    >>> VectorizedEvaluator()(lambda X: (X**2).sum(axis=1), np.asarray([[1.0, 2.0]]))
    array([5.])
    """

    vectorized = True

    def __call__(self, fun: Objective, X: Array) -> Array:
        n = X.shape[0]
        out = fun(X)
        if out is FAILED:
            return asarray_like(np.full(n, np.nan), X)
        if type(out) is not type(X) or out.dtype != X.dtype:
            out = asarray_like(out if hasattr(out, "shape") else to_host(out), X)
        if out.ndim not in (1, 2) or out.shape[0] != n:
            raise ValueError(
                f"a vectorized `fun` must return shape ({n},) or ({n}, m) for {n} "
                f"candidates; got {tuple(out.shape)}."
            )
        return out


class MapEvaluator(BaseEvaluator):
    """Evaluate through a map-like callable ``mapper(func, iterable)`` (scipy's `workers`).

    Examples
    --------
    >>> MapEvaluator(map)(lambda x: float(x.sum()), np.ones((2, 3)))
    array([3., 3.])
    """

    def __init__(self, mapper: Callable[..., Iterable[Any]]) -> None:
        if not callable(mapper):
            raise TypeError(f"`mapper` must be callable; got {type(mapper).__name__}.")
        self.mapper = mapper

    def __call__(self, fun: Objective, X: Array) -> Array:
        return _row_values(list(self.mapper(fun, to_host(X))), X.shape[0], X)


class JoblibEvaluator(BaseEvaluator):
    """Evaluate in worker processes with joblib's loky backend.

    Rows travel as NumPy arrays in one chunk per worker, and BLAS in the workers is
    pinned to one thread so that `n_jobs` processes do not oversubscribe the cores.

    Parameters
    ----------
    n_jobs : int, default=-1
        Number of workers; -1 means one per core.

    Examples
    --------
    >>> JoblibEvaluator(n_jobs=2)(abs, np.asarray([[-1.0], [2.0], [-3.0]]))
    array([1., 2., 3.])
    """

    def __init__(self, n_jobs: int = -1) -> None:
        self.n_jobs = check_int(n_jobs, "n_jobs", low=-1)
        if self.n_jobs == 0:
            raise ValueError("`n_jobs` must be -1 or >= 1; got 0.")

    def __call__(self, fun: Objective, X: Array) -> Array:
        from joblib import Parallel, delayed, effective_n_jobs, parallel_config

        rows = to_host(X)
        chunks = _split(rows, effective_n_jobs(self.n_jobs))
        with parallel_config(backend="loky", inner_max_num_threads=1):
            parts = Parallel(n_jobs=self.n_jobs)(delayed(_eval_rows)(fun, c) for c in chunks)
        return _row_values([v for part in parts for v in part], X.shape[0], X)


class ExecutorEvaluator(BaseEvaluator):
    """Evaluate through any `concurrent.futures.Executor`, one chunk per worker.

    Parameters
    ----------
    executor : concurrent.futures.Executor
        Not owned: the caller shuts it down.
    n_chunks : int, optional
        Chunks per generation (default: the executor's worker count, else the cores).

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as pool:
    ...     ExecutorEvaluator(pool)(abs, np.asarray([[-1.0], [2.0], [-3.0]]))
    array([1., 2., 3.])
    """

    def __init__(self, executor: concurrent.futures.Executor, n_chunks: int | None = None) -> None:
        if not isinstance(executor, concurrent.futures.Executor):
            raise TypeError(
                f"`executor` must be a concurrent.futures.Executor; got {type(executor).__name__}."
            )
        self.executor = executor
        default = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        self.n_chunks = check_int(n_chunks if n_chunks is not None else default, "n_chunks", low=1)

    def __call__(self, fun: Objective, X: Array) -> Array:
        chunks = _split(to_host(X), self.n_chunks)
        futures = [self.executor.submit(_eval_rows, fun, c) for c in chunks]
        return _row_values([v for f in futures for v in f.result()], X.shape[0], X)


class DaskEvaluator(BaseEvaluator):
    """Evaluate on a `dask.distributed.Client`, one chunk per worker thread.

    Parameters
    ----------
    client : dask.distributed.Client
        Not owned: the caller closes it.
    """

    def __init__(self, client: Any) -> None:
        if not _is_dask_client(client):
            raise TypeError(
                f"`client` must be a dask.distributed.Client; got {type(client).__name__}."
            )
        self.client = client

    def __call__(self, fun: Objective, X: Array) -> Array:
        n_chunks = max(1, sum(self.client.nthreads().values()))
        chunks = _split(to_host(X), n_chunks)
        futures = [self.client.submit(_eval_rows, fun, c, pure=False) for c in chunks]
        parts = self.client.gather(futures)
        return _row_values([v for part in parts for v in part], X.shape[0], X)


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__name__ == "Client" and type(obj).__module__.startswith("distributed")


def as_evaluator(workers: Any = 1) -> BaseEvaluator:
    """Turn scipy's `workers` convention into an evaluator.

    Parameters
    ----------
    workers : int, 'vectorized', Executor, dask Client, map-like callable or BaseEvaluator
        ``1``: serial. ``'vectorized'``: one call ``fun(X)`` per generation. ``-1`` or
        an int > 1: joblib processes. A `concurrent.futures.Executor` or a
        `dask.distributed.Client`: chunks submitted to it. Any other callable is used as
        ``map(func, iterable)``, as in scipy. A `BaseEvaluator` is returned as is.

    Raises
    ------
    ValueError, TypeError
        For anything else, naming `workers`.

    Examples
    --------
    >>> type(as_evaluator(1)).__name__, type(as_evaluator("vectorized")).__name__
    ('SerialEvaluator', 'VectorizedEvaluator')
    """
    if isinstance(workers, BaseEvaluator):
        return workers
    if isinstance(workers, str):
        if workers != "vectorized":
            raise ValueError(
                f"`workers` must be an int, 'vectorized', an Executor, a dask Client or a "
                f"map-like callable; got {workers!r}."
            )
        return VectorizedEvaluator()
    if isinstance(workers, bool):
        raise TypeError("`workers` must be an int, not a bool.")
    if isinstance(workers, (int, np.integer)):
        if workers == 1:
            return SerialEvaluator()
        if workers == -1 or workers > 1:
            return JoblibEvaluator(int(workers))
        raise ValueError(f"`workers` must be -1 or >= 1; got {workers}.")
    if isinstance(workers, concurrent.futures.Executor):
        return ExecutorEvaluator(workers)
    if _is_dask_client(workers):
        return DaskEvaluator(workers)
    if callable(workers):
        return MapEvaluator(workers)
    raise TypeError(
        "`workers` must be an int, 'vectorized', an Executor, a dask Client or a map-like "
        f"callable; got {type(workers).__name__}."
    )
