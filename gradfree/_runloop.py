"""The one generation loop (`generations`), with its hooks: callback, progress bar,
checkpoints and walltime (the bookkeeping itself is `gradfree._driver.Run`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from scipy.optimize import OptimizeResult

from ._atomic import remove_stale_temps
from ._evaluation import wrap_objective
from ._result import Status
from ._typing import Objective, ScheduledObjective
from ._validate import check_int, check_nonnegative
from .evaluators import BaseEvaluator

if TYPE_CHECKING:
    from ._driver import Run


def generations(
    job: Run,
    evaluator: BaseEvaluator,
    fun: Objective,
    *,
    args: tuple[Any, ...] = (),
    on_error: str = "raise",
    callback: Callable[[OptimizeResult], Any] | None = None,
    progress: bool = False,
    saver: _Saver | None = None,
) -> Iterator[Run]:
    """The one generation loop of the package: step `job` to a stop rule.

    After each generation, in this order: the progress bar, `callback` (raising
    `StopIteration` in it ends the run with ``Status.CALLBACK``), and `saver`
    (checkpoints and the walltime stop); then the run is yielded. A scheduled
    objective (`gradfree._typing.ScheduledObjective`, e.g. a minibatch schedule) is
    asked for generation ``job.nit``'s function each time, so what it evaluates is a
    pure function of the iteration. `run_to_stop`, `gradfree.iterate`, `run`,
    `resume`, the batch jobs and the minibatched Kalman runs all go through here.
    """
    if callback is not None and not callable(callback):
        raise TypeError(f"`callback` must be callable; got {type(callback).__name__}.")
    scheduled = fun if isinstance(fun, ScheduledObjective) else None
    f = wrap_objective(fun, args, on_error) if scheduled is None else None
    bar = _progress_bar(progress, _total_generations(job))
    try:
        while job.status is None:
            if scheduled is not None:
                f = wrap_objective(scheduled.at(job.nit), args, on_error)
            assert f is not None
            job.step(evaluator, f)
            if bar is not None:
                if bar.total is None:
                    bar.total = _total_generations(job)  # known after the first generation
                bar.update(1)
                bar.set_postfix(fun=f"{job.best_fun:.6g}", nfev=job.nfev, refresh=False)
            if callback is not None:
                try:
                    callback(job.result())
                except StopIteration:
                    if job.status is None:
                        job.stop_with(Status.CALLBACK)
            stop = saver is not None and saver.after_generation(job)
            yield job
            if stop:
                break
    finally:
        if bar is not None:
            bar.close()


def run_to_stop(
    job: Run, evaluator: BaseEvaluator, fun: Objective, **hooks: Any
) -> OptimizeResult:
    """`generations` to the end; the final `OptimizeResult`."""
    for _ in generations(job, evaluator, fun, **hooks):
        pass
    return job.result(final=True)


class _Saver:
    """When to write checkpoints, and the walltime stop (checked between generations)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        every: int | None,
        seconds: float | None,
        walltime: float | None,
    ) -> None:
        self.path = path
        self.every = every
        self.seconds = seconds
        self.walltime = walltime
        self.job: dict[str, Any] | None = None
        self.start = self.last = time.monotonic()
        if path is not None:  # what a kill during an earlier write left behind
            remove_stale_temps(path)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str] | None,
        every: int | None,
        seconds: float | None,
        walltime: float | None,
    ) -> _Saver | None:
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"`checkpoint` must be a path; got {type(path).__name__}.")
        if path is None and (every is not None or seconds is not None):
            raise ValueError("`checkpoint_every` and `checkpoint_seconds` need `checkpoint`.")
        every = None if every is None else check_int(every, "checkpoint_every", low=1)
        seconds = None if seconds is None else check_nonnegative(seconds, "checkpoint_seconds")
        walltime = None if walltime is None else check_nonnegative(walltime, "walltime")
        if path is not None and every is None and seconds is None:
            every = 1
        if path is None and walltime is None:
            return None
        return cls(path, every, seconds, walltime)

    def save(self, job: Run) -> None:
        if self.path is not None:
            job.save(self.path, job=self.job)
            self.last = time.monotonic()

    def after_generation(self, job: Run) -> bool:
        """Save if due; True when the walltime ends the run here."""
        now = time.monotonic()
        if job.status is not None:
            self.save(job)  # the final state: resuming it returns the result at once
            return False
        if self.walltime is not None and now - self.start >= self.walltime:
            self.save(job)  # saved while still running, so a resume continues
            job.stop_with(
                Status.WALLTIME,
                f"`walltime` of {self.walltime:g} s reached after generation {job.nit}; "
                + ("resume from the checkpoint to continue." if self.path else "stopped."),
            )
            return True
        if (self.every is not None and job.nit % self.every == 0) or (
            self.seconds is not None and now - self.last >= self.seconds
        ):
            self.save(job)
        return False


def _total_generations(job: Run) -> int | None:
    """The generations the budget allows: `maxiter`, or `maxfev` over the population size.

    A run may stop earlier (a convergence rule) or, when restarts change the
    population size, end at a somewhat different count; the bar is an estimate.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> _total_generations(SimpleNamespace(maxiter=50, maxfev=300, popsize=10, nit=1))
    30
    >>> _total_generations(SimpleNamespace(maxiter=None, maxfev=None, popsize=10, nit=1))
    """
    budgets = [job.maxiter] if job.maxiter is not None else []
    if job.maxfev is not None and job.popsize:
        budgets.append(job.maxfev // job.popsize)
    return max(min(budgets), job.nit) if budgets else None


def _progress_bar(progress: bool, total: int | None) -> Any:
    if not isinstance(progress, bool):
        raise TypeError(f"`progress` must be a bool; got {type(progress).__name__}.")
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("`progress=True` needs tqdm: pip install tqdm") from exc
    return tqdm(desc="gradfree", unit="gen", total=total)
