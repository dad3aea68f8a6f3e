"""The entry points of the driver: `iterate`, `run` and `resume`.

All three step a `gradfree._driver.Run` (the bookkeeping: ``nfev``, ``nit``, the best
point, stop rules, failure policy and history) through the one generation loop of
`gradfree._runloop`; `run` and `resume` add callbacks, a progress bar and checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from scipy.optimize import OptimizeResult

from ._checkpoint import load_checkpoint, read_metadata
from ._driver import Run
from ._random import check_rng
from ._runloop import _Saver, generations, run_to_stop
from ._typing import Array, Objective, Strategy
from ._validate import check_x0
from .evaluators import BaseEvaluator, as_evaluator

__all__ = ["iterate", "resume", "run"]


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
    timeout: float | None = None,
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
    job, evaluator = _start(
        strategy, fun, x0, rng, workers, maxiter, maxfev, tol, history, timeout
    )
    try:
        for step in generations(job, evaluator, fun, args=args, on_error=on_error):
            yield step.result(final=step.status is not None)
    finally:
        if evaluator is not workers:
            evaluator.close()


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
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    checkpoint_seconds: float | None = None,
    walltime: float | None = None,
    timeout: float | None = None,
) -> OptimizeResult:
    """Run `strategy` to a stop rule and return the final `OptimizeResult`.

    ``callback(intermediate_result)`` is called after every generation; raising
    `StopIteration` in it ends the run with ``Status.CALLBACK``. `progress` shows a
    tqdm bar (``pip install tqdm``). Other arguments are as in `gradfree.minimize`,
    which validates `bounds` and `options` and then calls this.

    Checkpoints: with `checkpoint` (a path), the run is saved after every
    `checkpoint_every`-th generation and/or when `checkpoint_seconds` have passed
    since the last save (every generation when neither is given), and once more when
    it stops; `resume` continues it exactly. `walltime` (seconds) is checked between
    generations: the run saves its checkpoint and stops with ``Status.WALLTIME`` and a
    message saying so; resuming continues as if uninterrupted.

    `timeout` (seconds per evaluation) needs a process pool in `workers` (see
    `gradfree.evaluators.as_evaluator`): a longer evaluation counts as failed (NaN).
    Failed evaluations are summarized in ``result.failures``. An evaluator built here
    from `workers` (e.g. for ``'dask://host:port'``) is closed when the run ends.

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
    saver = _Saver.create(checkpoint, checkpoint_every, checkpoint_seconds, walltime)
    job, evaluator = _start(
        strategy, fun, x0, rng, workers, maxiter, maxfev, tol, history, timeout
    )
    try:
        return run_to_stop(
            job,
            evaluator,
            fun,
            args=args,
            on_error=on_error,
            callback=callback,
            progress=progress,
            saver=saver,
        )
    finally:
        if evaluator is not workers:
            evaluator.close()


def resume(
    checkpoint: str | os.PathLike[str],
    fun: Objective,
    *,
    x0: Any = None,
    args: tuple[Any, ...] = (),
    workers: Any = 1,
    callback: Callable[[OptimizeResult], Any] | None = None,
    progress: bool = False,
    on_error: str = "raise",
    save_to: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    checkpoint_seconds: float | None = None,
    walltime: float | None = None,
    job: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> OptimizeResult:
    """Continue a run from its checkpoint; the result equals the uninterrupted run's.

    Parameters
    ----------
    checkpoint : path
        Written by `run` (``checkpoint=``), `Run.save` or `gradfree.Optimizer.save`.
    fun : callable
        The same objective (checkpoints hold no code).
    x0 : array, optional
        Restore to its namespace and device (shape and dtype of the saved ``x0``);
        default NumPy.
    args, workers, callback, progress, on_error, timeout
        As in `run`; budgets, `tol` and the method come from the checkpoint.
    save_to : path, optional
        Where the continued run keeps checkpointing (default: `checkpoint` itself).
    checkpoint_every, checkpoint_seconds, walltime
        As in `run`.
    job : dict, optional
        Metadata stored with new checkpoints (default: the checkpoint's own).

    Raises
    ------
    ValueError
        For a corrupt, truncated or mismatched checkpoint.

    Examples
    --------
    >>> import os, tempfile
    >>> from gradfree.es import OpenES
    >>> from gradfree.testing import sphere
    >>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
    >>> full = run(OpenES(popsize=8), sphere, np.ones(3), rng=0, maxiter=6)
    >>> part = run(OpenES(popsize=8), sphere, np.ones(3), rng=0, maxiter=6,
    ...            checkpoint=path, walltime=0)
    >>> part.nit, part.message.startswith("`walltime`")
    (1, True)
    >>> rest = resume(path, sphere)
    >>> rest.nit, rest.fun == full.fun, bool((rest.x == full.x).all())
    (6, True, True)
    """
    restored = restore_run(checkpoint, fun, x0=x0)
    target = checkpoint if save_to is None else save_to
    saver = _Saver.create(target, checkpoint_every, checkpoint_seconds, walltime)
    if saver is not None:
        saver.job = read_metadata(checkpoint)["job"] if job is None else job
    evaluator = as_evaluator(workers, timeout=timeout)
    try:
        return run_to_stop(
            restored,
            evaluator,
            fun,
            args=args,
            on_error=on_error,
            callback=callback,
            progress=progress,
            saver=saver,
        )
    finally:
        if evaluator is not workers:
            evaluator.close()


def restore_run(
    checkpoint: str | os.PathLike[str],
    fun: Objective,
    *,
    x0: Any = None,
    strategy: Strategy | None = None,
) -> Run:
    """The run of `checkpoint`, validated (`Run.restore`).

    Shared by `resume` and the batch jobs' resume. With `strategy` (a job file's), the
    checkpoint must be of that method and configuration.
    """
    ckpt = load_checkpoint(checkpoint, x0=None if x0 is None else check_x0(x0), method=strategy)
    restored = Run.restore(ckpt, strategy=strategy)
    return restored


def _start(
    strategy: Strategy,
    fun: Objective,
    x0: Array,
    rng: Any,
    workers: Any,
    maxiter: int | None,
    maxfev: int | None,
    tol: float | None,
    history: int,
    timeout: float | None = None,
) -> tuple[Run, BaseEvaluator]:
    """The run's bookkeeping and its evaluator (the setup every front door shares)."""
    if not callable(fun):
        raise TypeError(f"`fun` must be callable; got {type(fun).__name__}.")
    job = Run(
        strategy, x0, rng=check_rng(rng), maxiter=maxiter, maxfev=maxfev, tol=tol, history=history
    )
    return job, as_evaluator(workers, timeout=timeout)
