"""A run's bookkeeping in a checkpoint: the frozen `RunRecord`, written by `snapshot`
through the checkpoint codec and turned back into a `gradfree._driver.Run` by `restore`.

The record's constructor checks every value as if a user had typed it, so a record
decoded from a file (the codec re-creates it without running the constructor) is
rebuilt through it before anything is used; a refusal is a `ValueError` naming the
field (``driver.<name>``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import deque
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from ._checkpoint import Checkpoint, load_checkpoint
from ._restore_checks import _bad as _refused
from ._restore_checks import check_state, rebuild_config, same_config
from ._result import Status
from ._typing import Array, Strategy
from ._validate import check_x0

__all__ = ["Failures", "RunRecord", "checked_points", "restore", "snapshot"]


def _bad(name: str, what: str) -> ValueError:
    return _refused(f"driver.{name}", what)


def _count(value: Any, name: str, *, low: int = 0, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
        raise _bad(name, f"must be an int >= {low}; got {value!r}.")


def _number(value: Any, name: str, *, low: float = -math.inf, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, Real) or isinstance(value, bool) or math.isnan(value):
        raise _bad(name, f"must be a real number; got {value!r}.")
    if value < low:
        raise _bad(name, f"must be >= {low:g}; got {value!r}.")


@dataclass(frozen=True)
class Failures:
    """Failed evaluations of a run: how many, the first error, the generations with any.

    Examples
    --------
    >>> Failures(2, "ValueError: bad", (1, 4)).as_dict()
    {'count': 2, 'first_error': 'ValueError: bad', 'generations': [1, 4]}
    """

    count: int
    first_error: str
    generations: tuple[int, ...]

    def __post_init__(self) -> None:
        ok = isinstance(self.count, Integral) and not isinstance(self.count, bool)
        ok = ok and self.count >= 0 and isinstance(self.first_error, str)
        ok = ok and type(self.generations) is tuple
        ok = ok and all(isinstance(g, Integral) and g >= 1 for g in self.generations)
        if not ok:
            raise _bad("failures", "must be {'count', 'first_error', 'generations'}.")

    @classmethod
    def from_dict(cls, summary: Any) -> Failures:
        """From ``result.failures``' form (any mapping with the three keys)."""
        try:
            count, first, gens = (summary[k] for k in ("count", "first_error", "generations"))
        except (KeyError, TypeError):
            raise _bad("failures", "must be {'count', 'first_error', 'generations'}.") from None
        return cls(count, first, tuple(gens) if isinstance(gens, (list, tuple)) else gens)

    def as_dict(self) -> dict[str, Any]:
        """The summary as ``result.failures`` shows it."""
        return {
            "count": self.count,
            "first_error": self.first_error,
            "generations": list(self.generations),
        }


@dataclass(frozen=True)
class RunRecord:
    """A run's bookkeeping as frozen data: budgets, counters, best point, status, history.

    Together with the strategy, its state and the rng it determines the rest of the run
    exactly. The constructor refuses what a run could never hold (negative counters, a
    count past its budget, a NaN best value, a point of another dimension, ...).

    Examples
    --------
    >>> RunRecord(np.zeros(2), nit=3, nfev=12, popsize=4).nit
    3
    >>> RunRecord(np.zeros(2), nit=-5)
    Traceback (most recent call last):
    ...
    ValueError: checkpoint: `driver.nit` must be an int >= 0; got -5.
    """

    x0: Array
    maxiter: int | None = None
    maxfev: int | None = None
    tol: float | None = None
    nit: int = 0
    nfev: int = 0
    popsize: int | None = None
    best_x: Array | None = None
    best_fun: float = math.inf
    best_violation: float = 0.0
    status: int | None = None
    message: str | None = None
    history_maxlen: int = 1000
    history: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 5)))
    """Kept generations, host float64 ``(k, 5)``: nit, nfev, best so far, min, max."""
    recent_maxlen: int | None = None
    recent: tuple[float, ...] = ()
    """Best values of the last generations, for the ``tol`` rule (pycma's tolfun)."""
    failures: Failures | None = None
    population: Array | None = None
    """The last population (kept for a finished run's result only)."""
    population_values: Array | None = None
    pending: Array | None = None
    """An `Optimizer`'s population asked for and not yet told."""

    def __post_init__(self) -> None:
        try:
            check_x0(self.x0)
        except (TypeError, ValueError) as exc:
            raise _bad("x0", f"is invalid: {exc}") from exc
        for name in ("nit", "nfev", "history_maxlen"):
            _count(getattr(self, name), name)
        for name in ("maxiter", "maxfev", "popsize", "recent_maxlen"):
            _count(getattr(self, name), name, low=1, optional=True)
        _number(self.tol, "tol", low=0, optional=True)
        if self.tol is not None and math.isinf(self.tol):
            raise _bad("tol", f"must be finite; got {self.tol!r}.")
        _number(self.best_fun, "best_fun")
        _number(self.best_violation, "best_violation", low=0)
        if self.maxfev is not None and self.nfev > self.maxfev:
            raise _bad("nfev", f"{self.nfev} exceeds `maxfev` = {self.maxfev}.")
        if self.maxiter is not None and self.nit > self.maxiter:
            raise _bad("nit", f"{self.nit} exceeds `maxiter` = {self.maxiter}.")
        if self.status is not None and (
            type(self.status) is not int or not 0 <= self.status < len(Status)
        ):
            raise _bad("status", f"must be None or a gradfree Status; got {self.status!r}.")
        if self.message is not None and not isinstance(self.message, str):
            raise _bad("message", f"must be a str or None; got {type(self.message).__name__}.")
        self._check_history()
        if self.failures is not None and type(self.failures) is not Failures:
            raise _bad("failures", "must be {'count', 'first_error', 'generations'}.")
        checked_points(self.best_x, self.x0, "best_x", rows=False)
        checked_points(self.population, self.x0, "population")
        checked_points(self.pending, self.x0, "pending")
        n = None if self.population is None else self.population.shape[0]
        rows = getattr(self.population_values, "shape", (None,))[:1]
        if (self.population_values is None) != (n is None) or (
            n is not None and not (is_array_api_obj(self.population_values) and rows == (n,))
        ):
            raise _bad("population_values", "must be an array with one row per `population` row.")

    def _check_history(self) -> None:
        h = self.history
        if not (isinstance(h, np.ndarray) and h.dtype == np.float64 and h.ndim == 2):
            raise _bad("history", "must be a float64 array of shape (k, 5).")
        if h.shape[1] != 5 or h.shape[0] > self.history_maxlen:
            raise _bad(
                "history", f"must have 5 columns and at most `history_maxlen` rows; got {h.shape}."
            )
        counts = h[:, :2]
        if not (np.isfinite(counts).all() and (counts >= 0).all() and (counts % 1 == 0).all()):
            raise _bad("history", "must hold counts (ints >= 0) in its nit and nfev columns.")
        if self.recent_maxlen is None:
            if self.recent:
                raise _bad("recent", "must be empty without `recent_maxlen`.")
            return
        ok = type(self.recent) is tuple and len(self.recent) <= self.recent_maxlen
        if not (ok and all(isinstance(v, Real) and not isinstance(v, bool) for v in self.recent)):
            raise _bad("recent", "must be a tuple of at most `recent_maxlen` numbers.")


def snapshot(run: Any, **extra: Any) -> RunRecord:
    """The bookkeeping of the run `run` as a `RunRecord` (`extra`: e.g. ``pending``)."""
    done = run.status is not None
    recent = run._recent
    return RunRecord(
        x0=run.x0,
        maxiter=run.maxiter,
        maxfev=run.maxfev,
        tol=run.tol,
        nit=run.nit,
        nfev=run.nfev,
        popsize=run.popsize,
        best_x=run.best_x,
        best_fun=run.best_fun,
        best_violation=run.best_violation,
        status=None if run.status is None else int(run.status),
        message=run.message,
        history_maxlen=run._history.maxlen,
        history=np.asarray(run._history, dtype=np.float64).reshape(-1, 5),
        recent_maxlen=None if recent is None else recent.maxlen,
        recent=() if recent is None else tuple(recent),
        failures=None if run.failures is None else Failures.from_dict(run.failures),
        # the last population only matters for a finished run's result; mid-run it
        # would dominate the file (n x d) and the next generation replaces it
        population=run.population if done else None,
        population_values=run.population_values if done else None,
        **extra,
    )


def saved_record(checkpoint: Checkpoint) -> RunRecord:
    """The checkpoint's `RunRecord`, rebuilt through its constructor (its checks run)."""
    record = checkpoint.driver
    if type(record) is not RunRecord:
        raise ValueError(
            f"checkpoint {checkpoint.path!r}: `driver` must be a RunRecord; "
            f"got {type(record).__qualname__}."
        )
    failures = record.failures
    if failures is not None:
        if type(failures) is not Failures:
            raise _bad("failures", "must be {'count', 'first_error', 'generations'}.")
        failures = Failures.from_dict(vars(failures))
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(RunRecord)}
    return RunRecord(**{**fields, "failures": failures})


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
    config = rebuild_config(checkpoint.strategy)
    if strategy is not None:
        if not same_config(config, strategy):
            raise ValueError(
                f"checkpoint {checkpoint.path!r} was written by another configuration of the "
                f"method than the one given: {config!r} is not {strategy!r}."
            )
        config = strategy
    saved = saved_record(checkpoint)
    job = cls(
        config,
        saved.x0,
        rng=np.random.default_rng(0),  # a throwaway: the saved rng replaces it
        maxiter=saved.maxiter,
        maxfev=saved.maxfev,
        tol=saved.tol,
        history=saved.history_maxlen,
    )
    check_state(checkpoint.state, job.state, d=saved.x0.shape[0])
    job.state, job.rng = checkpoint.state, checkpoint.rng
    job.nit, job.nfev, job.popsize = saved.nit, saved.nfev, saved.popsize
    job.best_x, job.best_fun, job.best_violation = (
        saved.best_x,
        saved.best_fun,
        saved.best_violation,
    )
    job.population, job.population_values = saved.population, saved.population_values
    job.status = None if saved.status is None else Status(saved.status)
    job.message = saved.message
    job._history.extend((int(r[0]), int(r[1]), *r[2:]) for r in saved.history.tolist())
    if saved.recent_maxlen is not None:
        job._recent = deque(saved.recent, saved.recent_maxlen)
    job.failures = None if saved.failures is None else saved.failures.as_dict()
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
