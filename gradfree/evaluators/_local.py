"""Evaluators in this process (serial, vectorized, map-like) and the pool evaluators' base."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .._array import asarray_like, to_host
from .._evaluation import (
    STARTUP_GRACE,
    TIMEOUT_GRACE,
    _errors,
    _Failed,
    _row_values,
    _timeout_message,
    not_real,
)
from .._typing import Array, Objective


class BaseEvaluator(ABC):
    """Base class of gradfree evaluators; subclass it to write your own."""

    #: ``fun`` receives the whole population ``(n, d)`` in one call.
    vectorized: bool = False
    #: ``"Type: message"`` of each failed row of the last call (read by the driver).
    last_errors: Sequence[str] = ()

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
        outputs = [fun(X[i, ...]) for i in range(X.shape[0])]
        self.last_errors = _errors(outputs)
        return _row_values(outputs, X.shape[0], X)


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
        self.last_errors = [out.error or "unknown error"] * n if isinstance(out, _Failed) else []
        if isinstance(out, _Failed):
            return asarray_like(np.full(n, np.nan), X)
        why = not_real(out)
        if why is not None:
            raise TypeError(
                f"a vectorized `fun` must return an array of real numbers, shape ({n},) or "
                f"({n}, m); {why}. Pass on_error='nan' to count it as a failed generation."
            )
        if type(out) is not type(X) or out.dtype != X.dtype:
            out = asarray_like(out if hasattr(out, "shape") else np.asarray(out), X)
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
        outputs = list(self.mapper(fun, to_host(X)))
        self.last_errors = _errors(outputs)
        return _row_values(outputs, X.shape[0], X)


_NEEDS_POOL = (
    "`timeout` needs a process pool (workers=-1 or an int > 1, a process-pool Executor, a "
    "dask Client or 'dask://host:port'): an evaluation in this process or in a thread "
    "cannot be interrupted safely."
)


def _check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer, np.floating)):
        raise TypeError(f"`timeout` must be a number of seconds; got {type(timeout).__name__}.")
    if not (np.isfinite(timeout) and timeout > 0):
        raise ValueError(f"`timeout` must be a number of seconds > 0; got {timeout!r}.")
    return float(timeout)


class _ChunkedEvaluator(BaseEvaluator):
    """Shared parts of the pool evaluators: the timeout and the chunk deadline."""

    timeout: float | None = None

    def _deadline(self, chunks: Sequence[np.ndarray], waves: int = 1, fresh: bool = False) -> Any:
        """Seconds to wait for `chunks` (None without a timeout)."""
        if self.timeout is None:
            return None
        rows = max(len(c) for c in chunks) * waves
        return self.timeout * rows + TIMEOUT_GRACE + (STARTUP_GRACE if fresh else 0.0)

    def _abandoned(self, chunk: np.ndarray) -> list[Any]:
        message = f"{_timeout_message(self.timeout or 0.0)} (its chunk was abandoned)"
        return [_Failed(message)] * len(chunk)

    def _finish(self, parts: Sequence[Sequence[Any]], X: Array) -> Array:
        outputs = [v for part in parts for v in part]
        self.last_errors = _errors(outputs)
        return _row_values(outputs, X.shape[0], X)
