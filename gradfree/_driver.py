"""The one ask -> evaluate -> tell loop of the package.

`iterate` yields an intermediate `OptimizeResult` per generation, and `run` wraps it
with callbacks and a progress bar. Both share `Run`, which owns ``nfev`` and ``nit``,
the best point so far, the stop rules, the failure policy and a bounded history; the
stateful `Optimizer` wrapper uses the same object, so the rules are written once.

Failure policy: a non-finite value (NaN or +-inf) counts as the worst of its generation
(scalar objectives get +inf before ``tell``); a generation with no finite value stops
the run with ``Status.NONFINITE`` and is not told. An objective that raises propagates
its exception (``on_error='raise'``, the default; the exception carries the result so
far as ``exc.gradfree_result``) or counts as NaN (``on_error='nan'``).

A strategy with a ``violation(values) -> (n,)`` hook (`gradfree.Constrained`) has its
best point tracked lexicographically, least violation first, then lowest loss; the
result then carries ``maxcv`` and is no ``success`` while ``maxcv > 0``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from ._array import get_xp, to_host
from ._random import check_rng
from ._result import Status, build_result
from ._typing import Array, Objective, Strategy
from ._validate import check_int, check_nonnegative, check_x0
from .evaluators import BaseEvaluator, as_evaluator, wrap_objective
from .shaping import finite_or_inf

__all__ = ["Run", "iterate", "run"]


class Run:
    """Bookkeeping of one run: counters, best point, stop rules and history.

    Parameters
    ----------
    strategy : Strategy
        Configured population method.
    x0 : array of shape (d,)
        Starting point (validated here); its namespace, device and dtype are kept.
    rng : numpy.random.Generator
        Source of all randomness of the run.
    maxiter, maxfev : int, optional
        Budgets. When both are None, ``maxiter`` defaults to pycma's
        ``100 + 150 (d + 3)**2 / sqrt(popsize)``. ``nfev`` never exceeds ``maxfev``:
        the run stops before a generation that would.
    tol : float, optional
        Stop (``CONVERGED``) when the best values of the last ``10 + ceil(30 d / n)``
        generations and all values of the current one span less than `tol`, as
        pycma's ``tolfun``.
    history : int, default=1000
        Generations kept in ``result.history`` (0 keeps none).
    """

    def __init__(
        self,
        strategy: Strategy,
        x0: Array,
        *,
        rng: np.random.Generator,
        maxiter: int | None = None,
        maxfev: int | None = None,
        tol: float | None = None,
        history: int = 1000,
    ) -> None:
        self.strategy = strategy
        # Capabilities and hooks; a bare protocol implementation gets the defaults.
        self._vector = bool(getattr(type(strategy), "vector_values", False))
        self._loss = getattr(strategy, "loss", None)
        self._stop = getattr(strategy, "stop", None)
        self._violation = getattr(strategy, "violation", None)
        self.x0 = x0 = check_x0(x0)
        self._xp, _ = get_xp(x0)
        self.rng = rng
        self.maxiter = None if maxiter is None else check_int(maxiter, "maxiter", low=1)
        self.maxfev = None if maxfev is None else check_int(maxfev, "maxfev", low=1)
        self.tol = None if tol is None else check_nonnegative(tol, "tol")
        history = check_int(history, "history", low=0)
        self.state = strategy.init(x0, rng=rng)
        self.nit = 0
        self.nfev = 0
        self.popsize: int | None = None
        self.best_x: Array | None = None
        self.best_fun = math.inf
        self.best_violation = math.inf if self._violation is not None else 0.0
        self.population: Array | None = None
        self.population_values: Array | None = None
        self.status: Status | None = None
        self.message: str | None = None
        self._history: deque[tuple[int, int, float, float, float]] = deque(maxlen=history)
        self._recent: deque[float] | None = None

    # -- one generation -------------------------------------------------------------
    def ask(self) -> Array:
        """Draw the next population (and, on the first call, size the budgets).

        A population that would overrun ``maxfev`` (its size can change, e.g. after a
        restart) ends the run with ``Status.MAXFEV`` before it is evaluated.
        """
        X, self.state = self.strategy.ask(self.state, rng=self.rng)
        n = X.shape[0]
        if self.popsize is None:
            self._first_generation(n)
        self.popsize = n
        if self.maxfev is not None and self.nfev + n > self.maxfev:
            self.status = Status.MAXFEV
        return X

    def _first_generation(self, n: int) -> None:
        self.popsize = n
        d = self.x0.shape[0]
        if self.maxfev is not None and n > self.maxfev:
            raise ValueError(
                f"`maxfev`={self.maxfev} is smaller than one generation ({n} evaluations)."
            )
        if self.maxiter is None and self.maxfev is None:
            self.maxiter = int(100 + 150 * (d + 3) ** 2 / math.sqrt(n))
        if self.tol is not None:
            self._recent = deque(maxlen=10 + math.ceil(30 * d / n))

    def evaluate(self, evaluator: BaseEvaluator, fun: Objective, X: Array) -> Array:
        """Evaluate `X`; an exception gets the result so far attached to it."""
        try:
            return evaluator(fun, X)
        except Exception as exc:
            exc.gradfree_result = self.result() if self.best_x is not None else None  # type: ignore[attr-defined]
            if hasattr(exc, "add_note"):
                exc.add_note(
                    f"gradfree: raised while evaluating generation {self.nit + 1} "
                    f"(nfev={self.nfev}); the result so far is `exc.gradfree_result`. "
                    "Pass on_error='nan' to count failures as NaN instead."
                )
            raise

    def tell(self, X: Array, values: Array) -> None:
        """Count, sanitize, track the best point, tell the strategy, check the stops."""
        n = X.shape[0]
        if values.shape[0] != n:
            raise ValueError(
                f"`values` must have {n} rows, one per candidate; got {values.shape}."
            )
        if self._vector:
            if values.ndim != 2:
                raise ValueError(
                    f"`{type(self.strategy).__name__}` needs a vector-valued model "
                    f"`fun(x) -> (m,)`; got values of shape {tuple(values.shape)}."
                )
            loss = self._loss(values) if self._loss is not None else values
        else:
            if values.ndim != 1:
                raise ValueError(
                    f"`{type(self.strategy).__name__}` needs a scalar objective "
                    f"`fun(x) -> float`; got values of shape {tuple(values.shape)}."
                )
            loss = values
        host = to_host(loss)  # the one host sync of a generation
        self.nfev += n
        told = values
        i = int(host.argmin())
        gen_best, gen_worst = float(host[i]), float(host.max())
        if not (math.isfinite(gen_best) and math.isfinite(gen_worst)):  # NaN propagates
            finite = np.isfinite(host)
            if not finite.any():
                self.population, self.population_values = X, values  # kept for diagnosis
                self.status = Status.NONFINITE
                self.message = (
                    f"Every value of generation {self.nit + 1} was NaN or inf; "
                    "the run cannot continue."
                )
                return
            host = np.where(finite, host, np.inf)
            i = int(host.argmin())
            gen_best, gen_worst = float(host[i]), float(host[finite].max())
            if not self._vector:
                told = finite_or_inf(values)
        if self._violation is None:
            if gen_best < self.best_fun:
                self.best_fun, self.best_x = gen_best, self._xp.asarray(X[i, ...], copy=True)
        else:  # constrained: the least violation first, then the lowest value
            viol = np.asarray(to_host(self._violation(values)), dtype=np.float64)
            viol = np.where(np.isnan(viol) | np.isnan(host), np.inf, viol)
            j = int(np.lexsort((host, viol))[0])
            if (viol[j], host[j]) < (self.best_violation, self.best_fun):
                self.best_violation, self.best_fun = float(viol[j]), float(host[j])
                self.best_x = self._xp.asarray(X[j, ...], copy=True)
        self.state = self.strategy.tell(self.state, X, told)
        self.nit += 1
        self.population, self.population_values = X, values
        if self._history.maxlen:
            self._history.append((self.nit, self.nfev, self.best_fun, gen_best, gen_worst))
        self._check_stop(gen_best, gen_worst)

    def _check_stop(self, gen_best: float, gen_worst: float) -> None:
        message = self._stop(self.state) if self._stop is not None else None
        if message:
            self.status, self.message = Status.CONVERGED, message
            return
        if self._recent is not None:
            self._recent.append(gen_best)
            if len(self._recent) == self._recent.maxlen:
                span = max(max(self._recent), gen_worst) - min(self._recent)
                if span < self.tol:  # type: ignore[operator]
                    self.status, self.message = (
                        Status.CONVERGED,
                        (
                            f"`tol`: function values of the last {len(self._recent)} generations "
                            f"span {span:.3g} < {self.tol:.3g}."
                        ),
                    )
                    return
        if self.maxfev is not None and self.nfev + (self.popsize or 0) > self.maxfev:
            self.status = Status.MAXFEV
        elif self.maxiter is not None and self.nit >= self.maxiter:
            self.status = Status.MAXITER

    def stop_with(self, status: Status, message: str | None = None) -> None:
        """End the run with `status` (e.g. a callback asked to stop)."""
        self.status, self.message = status, message

    def step(self, evaluator: BaseEvaluator, fun: Objective) -> None:
        """One generation: ask, evaluate, tell."""
        X = self.ask()
        if self.status is None:
            self.tell(X, self.evaluate(evaluator, fun, X))

    # -- results --------------------------------------------------------------------
    def history(self) -> dict[str, np.ndarray]:
        """The kept generations as arrays: nit, nfev, fun (best so far), gen_min, gen_max."""
        cols = np.asarray(self._history, dtype=np.float64).reshape(-1, 5)
        return {
            "nit": cols[:, 0].astype(np.int64),
            "nfev": cols[:, 1].astype(np.int64),
            "fun": cols[:, 2],
            "gen_min": cols[:, 3],
            "gen_max": cols[:, 4],
        }

    def result(self, *, final: bool = False) -> OptimizeResult:
        """An intermediate result, or the final one (with status and history)."""
        extra: dict[str, Any] = {
            "population": self.population,
            "population_values": self.population_values,
            "state": self.state,
        }
        if final:
            extra["history"] = self.history()
        x = self.best_x if self.best_x is not None else self.x0
        if self._violation is not None:
            extra["maxcv"] = self.best_violation
        res = build_result(
            x=x,
            fun=self.best_fun,
            nit=self.nit,
            nfev=self.nfev,
            status=self.status if final else None,
            message=self.message,
            **extra,
        )
        if final and self.best_violation > 0:
            res.success = False
            res.message = (
                f"{res.message} The best point does not satisfy the constraints "
                f"(maxcv={self.best_violation:.3g})."
            )
        return res


def iterate(
    strategy: Strategy,
    fun: Objective,
    x0: Array,
    *,
    args: tuple[Any, ...] = (),
    rng: Any = None,
    workers: Any = 1,
    maxiter: int | None = None,
    maxfev: int | None = None,
    tol: float | None = None,
    on_error: str = "raise",
    history: int = 1000,
) -> Iterator[OptimizeResult]:
    """Step a run yourself: yield an `OptimizeResult` after every generation.

    The last result yielded is final: it carries ``status``, ``success``,
    ``message`` and ``history``. Stop early by breaking out of the loop.
    Arguments are as in `gradfree.minimize`.

    Examples
    --------
    >>> from gradfree.es import OpenES
    >>> from gradfree.testing import sphere
    >>> results = list(iterate(OpenES(popsize=8), sphere, np.ones(3), rng=0, maxiter=5))
    >>> [r.nit for r in results], results[-1].message
    ([1, 2, 3, 4, 5], 'Maximum number of iterations (`maxiter`) reached.')
    """
    job, evaluator, f = _start(
        strategy, fun, x0, args, rng, workers, maxiter, maxfev, tol, on_error, history
    )
    while job.status is None:
        job.step(evaluator, f)
        yield job.result(final=job.status is not None)


def run(
    strategy: Strategy,
    fun: Objective,
    x0: Array,
    *,
    args: tuple[Any, ...] = (),
    rng: Any = None,
    workers: Any = 1,
    maxiter: int | None = None,
    maxfev: int | None = None,
    tol: float | None = None,
    callback: Callable[[OptimizeResult], Any] | None = None,
    progress: bool = False,
    on_error: str = "raise",
    history: int = 1000,
) -> OptimizeResult:
    """Run `strategy` to a stop rule and return the final `OptimizeResult`.

    ``callback(intermediate_result)`` is called after every generation; raising
    `StopIteration` in it ends the run with ``Status.CALLBACK``. `progress` shows a
    tqdm bar (``pip install tqdm``). Other arguments are as in `gradfree.minimize`,
    which validates `bounds` and `options` and then calls this.

    Examples
    --------
    >>> from gradfree.es import OpenES
    >>> from gradfree.testing import sphere
    >>> res = run(OpenES(popsize=8), sphere, np.ones(3), rng=0, maxfev=40)
    >>> res.nfev, res.message
    (40, 'Maximum number of function evaluations (`maxfev`) reached.')
    """
    if callback is not None and not callable(callback):
        raise TypeError(f"`callback` must be callable; got {type(callback).__name__}.")
    job, evaluator, f = _start(
        strategy, fun, x0, args, rng, workers, maxiter, maxfev, tol, on_error, history
    )
    bar = _progress_bar(progress)
    try:
        while job.status is None:
            job.step(evaluator, f)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(fun=f"{job.best_fun:.6g}", nfev=job.nfev, refresh=False)
            if callback is not None:
                try:
                    callback(job.result())
                except StopIteration:
                    if job.status is None:
                        job.stop_with(Status.CALLBACK)
    finally:
        if bar is not None:
            bar.close()
    return job.result(final=True)


def _start(
    strategy: Strategy,
    fun: Objective,
    x0: Array,
    args: tuple[Any, ...],
    rng: Any,
    workers: Any,
    maxiter: int | None,
    maxfev: int | None,
    tol: float | None,
    on_error: str,
    history: int,
) -> tuple[Run, BaseEvaluator, Objective]:
    """The run's bookkeeping, its evaluator and the wrapped objective (shared setup)."""
    job = Run(
        strategy, x0, rng=check_rng(rng), maxiter=maxiter, maxfev=maxfev, tol=tol, history=history
    )
    return job, as_evaluator(workers), wrap_objective(fun, args, on_error)


def _progress_bar(progress: bool) -> Any:
    if not isinstance(progress, bool):
        raise TypeError(f"`progress` must be a bool; got {type(progress).__name__}.")
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("`progress=True` needs tqdm: pip install tqdm") from exc
    return tqdm(desc="gradfree", unit="gen")
