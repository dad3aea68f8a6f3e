"""`Run`: the bookkeeping of the one ask -> evaluate -> tell loop of the package.

`gradfree._run.iterate` yields an intermediate `OptimizeResult` per generation, and
`run` / `resume` wrap it with callbacks, a progress bar and checkpoints. All share
`Run`, which owns ``nfev`` and ``nit``, the best point so far, the stop rules, the
failure policy and a bounded history; the stateful `Optimizer` wrapper uses the same
object, so the rules are written once.

Failure policy: a non-finite value (NaN or +-inf) counts as the worst of its generation
(scalar objectives get +inf before ``tell``); a generation with no finite value stops
the run with ``Status.NONFINITE`` and is not told (a strategy that evaluates a generation
in several batches, ``partial_batches``, is told such a batch and decides itself, raising
`gradfree._validate.NonFiniteGeneration` when the whole generation failed). An objective
that raises propagates its exception (``on_error='raise'``, the default; the exception
carries the result so far as ``exc.gradfree_result``) or counts as NaN
(``on_error='nan'``). Failed evaluations (raised under ``on_error='nan'``, ran past
the evaluator's ``timeout``, killed their worker, returned something that is not a real
number under ``on_error='nan'``, or, for vector-valued methods such as EKI and UKI, returned an
output with NaN or inf entries) are summarized in ``result.failures``: ``{"count",
"first_error", "generations"}``; the key is absent when nothing failed.

The best point is the least ``(violation, loss)`` seen: a strategy that orders its points
itself (the `gradfree._typing.BestOf` hook, as `gradfree.Constrained`) names each
generation's best member and its violation; for any other the best is the lowest loss,
violation 0. With the hook the result carries ``maxcv`` and is no ``success`` while
``maxcv > 0``.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from ._array import get_xp, to_host
from ._checkpoint import Checkpoint, save_checkpoint
from ._result import Status, build_result
from ._run_record import RunRecord
from ._run_record import restore as _restore
from ._run_record import snapshot as _snapshot
from ._typing import Array, BestOf, Objective, StopRule, Strategy, VectorLoss
from ._validate import NonFiniteGeneration, check_int, check_nonnegative, check_x0
from .evaluators import BaseEvaluator
from .shaping import finite_or_inf

__all__ = ["Run"]

_NONFINITE_OUTPUT = "NonFinite: the model output has NaN or inf entries"


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
        self._loss = strategy.loss if isinstance(strategy, VectorLoss) else None
        self._stop = strategy.stop if isinstance(strategy, StopRule) else None
        self._best_of = strategy.best_of if isinstance(strategy, BestOf) else None
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
        self.best_violation = math.inf if self._best_of is not None else 0.0
        self.population: Array | None = None
        self.population_values: Array | None = None
        self.status: Status | None = None
        self.message: str | None = None
        self._history: deque[tuple[int, int, float, float, float]] = deque(maxlen=history)
        self._recent: deque[float] | None = None
        self.failures: dict[str, Any] | None = None

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
            self._attach_result(exc, "evaluating", "Pass on_error='nan' to count failures as NaN.")
            raise

    def _attach_result(self, exc: Exception, doing: str, hint: str = "") -> None:
        """Give `exc` the result so far (``exc.gradfree_result``) and a note saying where."""
        exc.gradfree_result = self.result() if self.best_x is not None else None  # type: ignore[attr-defined]
        if hasattr(exc, "add_note"):
            exc.add_note(
                f"gradfree: raised while {doing} generation {self.nit + 1} "
                f"(nfev={self.nfev}); the result so far is `exc.gradfree_result`. {hint}"
            )

    def tell(self, X: Array, values: Array, *, errors: Sequence[str] = ()) -> None:
        """Count, sanitize, track the best point, tell the strategy, check the stops.

        `errors` lists the failed evaluations of this generation (``"Type: message"``,
        an evaluator's ``last_errors``) for the failure summary.
        """
        n = X.shape[0]
        if values.shape[0] != n:
            raise ValueError(
                f"`values` must have {n} rows, one per candidate; got {values.shape}."
            )
        if self._vector:
            if values.ndim == 1:
                raise TypeError(
                    f"`fun` returned one number per point, but "
                    f"`{type(self.strategy).__name__}` fits a vector-valued model: pass "
                    "`fun(x) -> (m,)`, e.g. the residual r(x) of a least-squares problem "
                    "(the method then minimizes 0.5 ||r(x)||^2), and return shape (1,) for "
                    "a single output; for a scalar objective use a method such as 'cma-es'."
                )
            if values.ndim != 2:
                raise ValueError(
                    f"`{type(self.strategy).__name__}` needs a vector-valued model "
                    f"`fun(x) -> (m,)`; got values of shape {tuple(values.shape)}."
                )
            loss = self._loss(values) if self._loss is not None else values
        else:
            if values.ndim == 2 and values.shape[1] == 1:  # one-entry vectors: scalars
                values = self._xp.reshape(values, (-1,))
            if values.ndim != 1:
                raise ValueError(
                    f"`{type(self.strategy).__name__}` needs a scalar objective "
                    f"`fun(x) -> float`; got values of shape {tuple(values.shape)}."
                )
            loss = values
        host = to_host(loss)  # the one host sync of a generation
        self.nfev += n
        if errors:
            self._record_failures(errors)
        told = values
        i = int(host.argmin())
        gen_best, gen_worst = float(host[i]), float(host.max())
        if not (math.isfinite(gen_best) and math.isfinite(gen_worst)):  # NaN propagates
            finite = np.isfinite(host)
            if self._vector:  # a member whose model output has NaN or inf has failed
                extra = int((~finite).sum()) - len(errors)
                if extra > 0:
                    self._record_failures([_NONFINITE_OUTPUT] * extra)
            if not finite.any() and not getattr(self.strategy, "partial_batches", False):
                self._stop_nonfinite(X, values, errors, n)
                return
            host = np.where(finite, host, np.inf)
            i = int(host.argmin())
            gen_best = float(host[i])
            gen_worst = float(host[finite].max()) if finite.any() else math.inf
            if not self._vector:
                told = finite_or_inf(values)
        j, violation = (i, 0.0) if self._best_of is None else self._best_of(values, host)
        if (violation, float(host[j])) < (self.best_violation, self.best_fun):
            self.best_violation, self.best_fun = violation, float(host[j])
            self.best_x = self._xp.asarray(X[j, ...], copy=True)
        try:
            self.state = self.strategy.tell(self.state, X, told)
        except NonFiniteGeneration as exc:
            self._stop_nonfinite(X, values, errors, n, what=str(exc))
            return
        except ValueError as exc:  # e.g. too few finite members for a Kalman update
            self._attach_result(exc, "updating from")
            raise
        self.nit += 1
        self.population, self.population_values = X, values
        if self._history.maxlen:
            self._history.append((self.nit, self.nfev, self.best_fun, gen_best, gen_worst))
        self._check_stop(gen_best, gen_worst)

    def _record_failures(self, errors: Sequence[str]) -> None:
        generation = self.nit + 1
        if self.failures is None:
            self.failures = {"count": 0, "first_error": str(errors[0]), "generations": []}
        self.failures["count"] += len(errors)
        if generation not in self.failures["generations"][-1:]:
            self.failures["generations"].append(generation)

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

    def _stop_nonfinite(
        self, X: Array, values: Array, errors: Sequence[str], n: int, what: str = ""
    ) -> None:
        """End the run: a generation without a finite value (the batch kept for diagnosis)."""
        self.population, self.population_values = X, values
        self.status = Status.NONFINITE
        what = what or f"every value of generation {self.nit + 1} was NaN or inf"
        self.message = f"{what[0].upper()}{what[1:]}; the run cannot continue."
        if errors:
            self.message += f" {len(errors)} of {n} evaluations failed; the first: {errors[0]}"

    def stop_with(self, status: Status, message: str | None = None) -> None:
        """End the run with `status` (e.g. a callback asked to stop)."""
        self.status, self.message = status, message

    def step(self, evaluator: BaseEvaluator, fun: Objective) -> None:
        """One generation: ask, evaluate, tell."""
        X = self.ask()
        if self.status is None:
            values = self.evaluate(evaluator, fun, X)
            self.tell(X, values, errors=getattr(evaluator, "last_errors", ()))

    # -- checkpoints ----------------------------------------------------------------
    def snapshot(self, **extra: Any) -> RunRecord:
        """The driver's bookkeeping as a frozen record for a checkpoint (`Run.restore`
        reads it); `extra` sets further record fields (an `Optimizer`'s ``pending``)."""
        return _snapshot(self, **extra)

    def save(self, path: str | os.PathLike[str], *, job: dict[str, Any] | None = None) -> None:
        """Write a checkpoint of this run to `path` (atomically; see `gradfree._checkpoint`).

        `job` is JSON-able metadata kept with it (the CLI stores its job file there).
        """
        save_checkpoint(
            path,
            strategy=self.strategy,
            state=self.state,
            rng=self.rng,
            driver=self.snapshot(),
            job=job,
        )

    @classmethod
    def restore(
        cls,
        checkpoint: Checkpoint | str | os.PathLike[str],
        *,
        x0: Any = None,
        strategy: Strategy | None = None,
    ) -> Run:
        """Rebuild a run from a checkpoint; continuing it gives the uninterrupted run exactly.

        Every value read from the file is checked as if a user had typed it (see
        `gradfree._restore_checks`): the configuration goes through its constructors,
        the state is compared with a fresh state of that strategy, and the driver's
        counters, best point and history are validated.

        Parameters
        ----------
        checkpoint : Checkpoint or path
        x0 : array, optional
            Restore device arrays to its namespace and device (same shape and dtype
            as the saved run's ``x0``); default NumPy.
        strategy : Strategy, optional
            The configuration the caller expects (a job file's); the checkpoint's must
            encode identically, and this one is used.

        Raises
        ------
        ValueError
            For a corrupt or hostile checkpoint, naming the field that does not fit.

        See `gradfree._run_record.restore` for an example.
        """
        return _restore(cls, checkpoint, x0=x0, strategy=strategy)

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
        if self._best_of is not None:
            extra["maxcv"] = self.best_violation
        if self.failures is not None:
            extra["failures"] = {
                **self.failures,
                "generations": list(self.failures["generations"]),
            }
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
