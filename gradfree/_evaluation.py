"""The worker side of evaluation: one row at a time, its failures and its timeout.

Everything here runs inside worker processes too, so it stays module-level and
picklable. `gradfree.evaluators` builds the evaluators on top of it.
"""

from __future__ import annotations

import numbers
import os
import signal
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

from ._array import asarray_like, to_host
from ._typing import Array, Objective
from ._validate import check_choice


class _Failed:
    """Marker for a failed evaluation (it counts as NaN), carrying ``"Type: message"``."""

    __slots__ = ("error",)

    def __init__(self, error: str = "") -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"FAILED({self.error!r})" if self.error else "FAILED"

    def __reduce__(self) -> Any:
        return (_Failed, (self.error,))


FAILED = _Failed()

#: Seconds added to a chunk's deadline (``timeout`` per row) before it is abandoned.
TIMEOUT_GRACE = 2.0
#: Extra seconds for the first chunk of a fresh pool (workers start and import).
STARTUP_GRACE = 20.0


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _errors(outputs: Sequence[Any]) -> list[str]:
    """The ``"Type: message"`` of each failed output (in row order)."""
    return [v.error or "unknown error" for v in outputs if isinstance(v, _Failed)]


class _EvaluationTimeout(BaseException):
    """Raised by the worker's alarm; a BaseException so that ``on_error='nan'`` keeps out."""


def _raise_timeout(signum: int, frame: Any) -> None:
    raise _EvaluationTimeout


def _can_alarm(host_pid: int | None) -> bool:
    """A worker process (not the host) on its main thread, on POSIX."""
    return (
        host_pid is not None
        and os.getpid() != host_pid
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )


def _timed(fun: Objective, x: Any, timeout: float) -> Any:
    """``fun(x)``, or a FAILED timeout marker after `timeout` seconds (worker side)."""
    previous = signal.signal(signal.SIGALRM, _raise_timeout)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return fun(x)
    except _EvaluationTimeout:
        return _Failed(_timeout_message(timeout))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _timeout_message(timeout: float) -> str:
    return f"TimeoutError: evaluation exceeded timeout={timeout:g} s"


_REAL_KINDS = ("real floating", "integral")


def _is_real_dtype(x: Any) -> bool:
    """Whether the array `x` holds real numbers (integers or floats; not bool or complex)."""
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "iuf"
    return bool(array_namespace(x).isdtype(x.dtype, _REAL_KINDS))


def _describe_value(value: Any) -> str:
    if is_array_api_obj(value):
        return f"an array of dtype {value.dtype}"
    text = repr(value)
    return f"{text[:60]}... ({type(value).__name__})" if len(text) > 60 else text


def not_real(value: Any) -> str | None:
    """Why `value` is not a real number or an array of them (None when it is).

    Python and NumPy ints and floats, real arrays of any namespace and lists of real
    numbers pass; None, str, bool, complex and anything else are refused, never coerced.
    """
    if isinstance(value, (bool, np.bool_)):
        return f"got the bool {value!r}"
    if is_array_api_obj(value):
        return None if _is_real_dtype(value) else f"got {_describe_value(value)}"
    if isinstance(value, numbers.Real):
        return None
    if isinstance(value, (list, tuple)):
        try:
            host = np.asarray(value)
        except (ValueError, TypeError):
            host = None
        if host is not None and host.dtype.kind in "iuf":
            return None
    return f"got {_describe_value(value)}"


def _real_row(value: Any, i: int) -> np.ndarray:
    """One candidate's output as float64 on the host; a TypeError naming `fun` otherwise."""
    why = not_real(value)
    if why is not None:
        raise TypeError(
            f"`fun` must return a real number (or a 1-d array of real numbers) per "
            f"candidate; {why} for candidate {i}. Pass on_error='nan' to count such "
            "values as failed evaluations."
        )
    return np.asarray(to_host(value) if is_array_api_obj(value) else value, dtype=np.float64)


def _row_values(outputs: Sequence[Any], n: int, like: Array) -> Array:
    """Stack per-row outputs (scalars or 1-d vectors; FAILED -> NaN) like `like`."""
    if len(outputs) != n:
        raise ValueError(f"`fun` returned {len(outputs)} values for {n} candidates.")
    rows = [None if isinstance(v, _Failed) else _real_row(v, i) for i, v in enumerate(outputs)]
    shapes = {r.shape for r in rows if r is not None}
    if not shapes:
        return asarray_like(np.full(n, np.nan), like)
    if len(shapes) > 1:
        raise ValueError(f"`fun` returned values of different shapes: {sorted(shapes)}.")
    (shape,) = shapes
    if shape == ():  # scalars; a (1,) output stays a one-entry vector, (n, 1)
        vals = np.asarray([np.nan if r is None else r for r in rows])
    elif len(shape) == 1:
        vals = np.stack([np.full(shape, np.nan) if r is None else r for r in rows])
    else:
        raise ValueError(
            f"`fun` must return a scalar or a 1-d vector per candidate; got shape {shape}."
        )
    return asarray_like(vals, like)


def _eval_rows(
    fun: Objective,
    rows: Iterable[Any],
    timeout: float | None = None,
    host_pid: int | None = None,
) -> list[Any]:
    """Evaluate `fun` on each row; runs inside workers, so it must stay module-level.

    With `timeout`, each evaluation in a worker process runs under a ``SIGALRM`` timer.
    """
    if timeout is None or not _can_alarm(host_pid):
        return [fun(r) for r in rows]
    return [_timed(fun, r, timeout) for r in rows]


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
            value = self.fun(x, *self.args)
        except Exception as exc:
            if self.on_error == "raise":
                raise
            return _Failed(_describe(exc))
        if self.on_error == "nan":
            why = not_real(value)
            if why is not None:  # a counted failure, with its reason
                return _Failed(f"TypeError: `fun` must return real numbers; {why}")
        return value


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
