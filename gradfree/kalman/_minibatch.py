"""Minibatched ensemble Kalman inversion on an `ObservationSeries`, through the one run loop.

`solve_minibatched` runs an ensemble Kalman strategy (`EKI`, `ETKI`, `TEKI`, `EKS`)
with `MinibatchResiduals`, a scheduled objective: iteration ``k`` evaluates the forward
map restricted to batch ``k`` of the series, ``G_B(u)``, whitened with the batch's
block, ``Gamma_B^{-1/2} (G_B(u) - y_B)`` (Kovachki & Stuart, Inverse Problems 35
(2019) 095005, sec. 4). ``tell`` stays pure (its draws come from the seed set in
``ask``), and the number of outputs may change between iterations, so the run is
deterministic given `rng` and the minibatcher's seed. The strategy's scheduler sees one
batch at a time; an unset scheduler becomes
``DataMisfitController(on_terminate='continue')`` (an adaptive step per batch that does
not stop at algorithm time 1). EKP's advice for minibatching, multiplicative inflation
with ``s = batch / N``, can be passed as ``options={'inflation':
MultiplicativeInflation(...)}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj
from scipy.optimize import OptimizeResult

from .._array import get_xp
from .._result import Status
from .._run import run
from .._typing import Array
from .._validate import check_int
from ..evaluators import as_evaluator
from ._ensemble import EnsembleKalmanBase, as_optimizer
from ._gaussian import Gaussian, as_vector
from ._problem import InverseProblem, _attach_ensemble, configure, kalman_class
from ._series import ObservationSeries

__all__ = ["MinibatchResiduals", "resume_minibatched", "solve_minibatched"]


@dataclass(frozen=True)
class _BatchForward:
    """``u -> G_B(transform(u))`` for one batch (picklable for process pools)."""

    forward: Callable[..., Any]
    indices: np.ndarray
    transform: Any = None
    vectorized: bool = False

    def __call__(self, u: Array) -> Array:
        phi = u if self.transform is None else self.transform.to_constrained(u)
        g = self.forward(phi, self.indices)
        if not is_array_api_obj(g):
            g = np.asarray(g, dtype=np.float64)
        xp, _ = get_xp(g)
        return xp.reshape(g, (g.shape[0], -1) if self.vectorized else (-1,))  # (b, k) -> b k


@dataclass(frozen=True)
class _ProblemForward:
    """An `InverseProblem`'s full forward map, restricted to a batch's output columns."""

    forward: Callable[..., Any]
    block: int

    def __call__(self, phi: Array, indices: np.ndarray) -> Array:
        g = self.forward(phi)
        xp, dev = get_xp(g)
        cols = (indices[:, None] * self.block + np.arange(self.block)).reshape(-1)
        return xp.take(g, xp.asarray(cols, device=dev), axis=-1)


@dataclass(frozen=True)
class _WhitenedBatch:
    """``u -> Gamma_B^{-1/2} (G_B(u) - y_B)`` for one batch (picklable for process pools)."""

    forward: _BatchForward
    observation: Gaussian

    def __call__(self, u: Array) -> Array:
        g = self.forward(u)
        m = self.observation.dim
        if g.shape[-1] != m:
            raise ValueError(
                f"the forward model returned {g.shape[-1]} outputs per member for "
                f"{len(self.forward.indices)} data points; expected {m}."
            )
        return self.observation.like(g).whiten(g)


@dataclass(frozen=True)
class MinibatchResiduals:
    """The whitened residuals of iteration ``k``'s minibatch: a `ScheduledObjective`.

    ``at(k)`` is ``u -> Gamma_B^{-1/2} (G_B(u) - y_B)`` with ``B = series.batch(k)``, a
    pure function of ``k`` and the minibatcher's seed, so a checkpointed run resumes on
    the same batches. `solve_minibatched` builds it; `resume_minibatched` rebuilds it.

    Examples
    --------
    >>> from gradfree.kalman import FixedMinibatcher
    >>> series = ObservationSeries(np.arange(4.0), 1.0, FixedMinibatcher([[0, 1], [2, 3]]))
    >>> res = MinibatchResiduals(lambda u, idx: np.zeros(len(idx)), series)
    >>> res.at(1)(np.zeros(2))
    array([-2., -3.])
    """

    forward: Callable[..., Any]
    series: ObservationSeries
    transform: Any = None
    vectorized: bool = False

    def at(self, iteration: int) -> _WhitenedBatch:
        batch = self.series.batch(iteration)
        fwd = _BatchForward(self.forward, batch.indices, self.transform, self.vectorized)
        return _WhitenedBatch(fwd, batch.observation)

    def __call__(self, u: Array) -> Array:
        return self.at(0)(u)


def _strategy(method: Any, options: Mapping[str, Any] | None, prior: Gaussian | None) -> Any:
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"`options` must be a dict; got {type(options).__name__}.")
    opts = dict(options or {})
    if isinstance(method, str):
        method = kalman_class(method, ensemble_only=True)
    if isinstance(method, type) and not issubclass(method, EnsembleKalmanBase):
        raise TypeError(
            f"`method` must be an ensemble Kalman strategy (EKI, ETKI, TEKI, EKS); got {method!r}."
        )
    strategy = as_optimizer(configure(method, opts))
    if not isinstance(strategy, EnsembleKalmanBase):
        raise TypeError(
            f"`method` must be an ensemble Kalman strategy (EKI, ETKI, TEKI, EKS); got {method!r}."
        )
    if prior is not None:
        if strategy.prior is not None and strategy.prior is not prior:
            raise ValueError("`method` has its own `prior`; pass the prior in one place.")
        strategy = dataclasses.replace(strategy, prior=prior)
    return strategy


def solve_minibatched(
    forward: Any,
    series: ObservationSeries,
    method: Any = "eki",
    *,
    x0: Any = None,
    prior_mean: Any = None,
    prior_cov: Any = None,
    n_ensemble: int | None = None,
    epochs: int = 1,
    rng: Any = None,
    workers: Any = 1,
    maxfev: int | None = None,
    options: Mapping[str, Any] | None = None,
    callback: Callable[[OptimizeResult], Any] | None = None,
    progress: bool = False,
    on_error: str = "raise",
    checkpoint: Any = None,
    checkpoint_every: int | None = None,
    checkpoint_seconds: float | None = None,
    walltime: float | None = None,
) -> OptimizeResult:
    """Run an ensemble Kalman strategy on a minibatched `ObservationSeries`.

    Iteration ``k`` draws batch ``B = series.batch(k)``, evaluates ``G_B`` on the
    ensemble, whitens ``Gamma_B^{-1/2} (G_B(u) - y_B)`` and calls the strategy's
    ``tell``; ``epochs * series.n_batches`` iterations in all. The run goes through the
    package's one loop (`gradfree.run`): `maxfev`, failed members (NaN/inf outputs,
    counted in ``result.failures``), the status, callbacks, progress, checkpoints and
    `walltime` behave as in `gradfree.minimize`, and `resume_minibatched` continues a
    checkpointed run exactly (the batches are a pure function of the iteration).

    Parameters
    ----------
    forward : callable or InverseProblem
        ``forward(u, indices)``: the outputs for data points `indices` (host int
        array), shape ``(b * k,)`` or ``(b, k)`` for one member, or ``(n, b * k)`` /
        ``(n, b, k)`` for a batch of members with ``workers='vectorized'``. An
        `InverseProblem` (``y`` of length ``N * k``) gives its prior and transform, and
        its full forward map is evaluated and restricted to the batch (its ``y`` and
        noise are ignored: the series holds the data).
    series : ObservationSeries
    method : {'eki', 'etki', 'teki', 'eks'} or strategy, default='eki'
        A strategy whose scheduler is unset gets
        ``DataMisfitController(on_terminate='continue')``.
    x0 : array of shape (p,), optional
        Without a prior, the initial ensemble is ``x0 + sigma0 * N(0, I)`` (`sigma0`
        an option of the method).
    prior_mean, prior_cov : optional
        A Gaussian prior ``N(prior_mean, prior_cov)`` to draw the initial ensemble
        (and for TEKI/EKS); `prior_cov` as `InverseProblem`'s.
    n_ensemble : int, optional
        Ensemble size.
    epochs : int, default=1
        Passes over the data.
    rng : None, int, SeedSequence or Generator
        Seeds the ensemble and the perturbations (the batches are seeded by the
        minibatcher).
    workers, maxfev, callback, progress, on_error
        As in `gradfree.minimize`: ``callback(intermediate_result)`` after each update
        (``series.batch(result.nit - 1)`` is the batch it used); raising
        `StopIteration` stops the run.
    options : dict, optional
        Further options of the method.
    checkpoint, checkpoint_every, checkpoint_seconds, walltime
        As in `gradfree.minimize`; continue with `resume_minibatched`.

    Returns
    -------
    scipy.optimize.OptimizeResult
        The driver's fields (``status``, ``nfev``, ``failures``, ``history``; ``fun``
        is the lowest batch misfit seen), with ``x`` and ``mean`` the final ensemble
        mean, ``ensemble`` (J, p), ``std``, ``epochs`` (completed passes, a float),
        ``misfits`` (per iteration of this call, ``0.5 ||Gamma_B^{-1/2}(y_B - mean
        G_B)||^2`` on its batch), ``time`` (algorithm time) and, with a transform,
        ``constrained_mean``. Completing the epochs ends with ``Status.MAXITER``.

    Raises
    ------
    ValueError, TypeError
        Naming the argument, for bad arguments; a forward map that returns the wrong
        number of outputs for a batch.

    Examples
    --------
    Noisy linear regression ``y_i = a_i . u + eta_i`` on 40 data points, 4 per batch:

    >>> from gradfree.kalman import ObservationSeries, RandomFixedSizeMinibatcher
    >>> gen = np.random.default_rng(0)
    >>> A = gen.normal(size=(40, 2))
    >>> y = A @ np.asarray([1.0, -2.0]) + 0.1 * gen.normal(size=40)
    >>> series = ObservationSeries(y, 0.01, RandomFixedSizeMinibatcher(4, rng=0))
    >>> res = solve_minibatched(lambda U, idx: U @ A[idx].T, series, x0=np.zeros(2),
    ...                         n_ensemble=20, epochs=5, rng=0, workers="vectorized")
    >>> res.nit, np.round(res.x, 2), res.message
    (50, array([ 0.99, -1.99]), 'Completed 5 epochs of 10 minibatches.')
    """
    if not isinstance(series, ObservationSeries):
        raise TypeError(f"`series` must be an ObservationSeries; got {type(series).__name__}.")
    epochs = check_int(epochs, "epochs", low=1)
    forward, prior, transform = _forward_of(forward, series)
    if prior_mean is not None or prior_cov is not None:
        if prior is not None:
            raise ValueError("`prior_mean`/`prior_cov` conflict with the InverseProblem's prior.")
        if prior_mean is None or prior_cov is None:
            raise ValueError("`prior_mean` and `prior_cov` must be given together.")
        try:
            prior = Gaussian(as_vector(prior_mean, "prior_mean"), prior_cov)
        except (TypeError, ValueError) as exc:
            raise type(exc)(str(exc).replace("`cov`", "`prior_cov`")) from exc
    opts = dict(options or {}) if options is None or isinstance(options, Mapping) else options
    if n_ensemble is not None and isinstance(opts, dict):
        opts["n_ensemble"] = n_ensemble
    strategy = _strategy(method, opts, prior)
    if x0 is None:
        if strategy.prior is None:
            raise ValueError("give `x0` or a prior (`prior_mean` and `prior_cov`).")
        x0 = strategy.prior.mean
    else:
        x0 = as_vector(x0, "x0")
    return _on_series(
        lambda fun, **kw: run(strategy, fun, x0, **kw),
        MinibatchResiduals(forward, series, transform),
        workers,
        callback,
        rng=rng,
        maxiter=epochs * series.n_batches,
        maxfev=maxfev,
        progress=progress,
        on_error=on_error,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
        walltime=walltime,
    )


def resume_minibatched(
    checkpoint: Any,
    forward: Any,
    series: ObservationSeries,
    *,
    workers: Any = 1,
    callback: Callable[[OptimizeResult], Any] | None = None,
    progress: bool = False,
    on_error: str = "raise",
    checkpoint_every: int | None = None,
    checkpoint_seconds: float | None = None,
    walltime: float | None = None,
) -> OptimizeResult:
    """Continue a `solve_minibatched` run from its checkpoint, exactly.

    `forward` and `series` must be the ones of the checkpointed run (the checkpoint
    holds no code and no data); the method, its state, the budgets and the rng come
    from the checkpoint, validated (`gradfree.resume`).

    Examples
    --------
    >>> import os, tempfile
    >>> from gradfree.kalman import FixedMinibatcher, ObservationSeries
    >>> A = np.random.default_rng(0).normal(size=(20, 2))
    >>> series = ObservationSeries(A @ np.ones(2), 0.01, FixedMinibatcher(5))
    >>> fwd = lambda U, idx: U @ A[idx].T
    >>> kw = dict(x0=np.zeros(2), n_ensemble=10, epochs=3, rng=1, workers="vectorized")
    >>> full = solve_minibatched(fwd, series, **kw)
    >>> path = os.path.join(tempfile.mkdtemp(), "mb.npz")
    >>> part = solve_minibatched(fwd, series, **kw, checkpoint=path, walltime=0)
    >>> rest = resume_minibatched(path, fwd, series, workers="vectorized")
    >>> part.nit, rest.nit, bool((rest.ensemble == full.ensemble).all())
    (1, 12, True)
    """
    from .._run import resume

    if not isinstance(series, ObservationSeries):
        raise TypeError(f"`series` must be an ObservationSeries; got {type(series).__name__}.")
    forward, _, transform = _forward_of(forward, series)
    return _on_series(
        lambda fun, **kw: resume(checkpoint, fun, **kw),
        MinibatchResiduals(forward, series, transform),
        workers,
        callback,
        progress=progress,
        on_error=on_error,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
        walltime=walltime,
    )


def _forward_of(forward: Any, series: ObservationSeries) -> tuple[Any, Any, Any]:
    """``forward(u, indices)``, the prior and the transform (an `InverseProblem`'s)."""
    if isinstance(forward, InverseProblem):
        if forward.observation.dim != series.n_data * series.block:
            raise ValueError(
                f"`forward` (an InverseProblem) has {forward.observation.dim} outputs; "
                f"`series` has N * k = {series.n_data * series.block}."
            )
        problem = forward
        return _ProblemForward(problem.forward, series.block), problem.prior, problem.transform
    if not callable(forward):
        raise TypeError(f"`forward` must be callable; got {type(forward).__name__}.")
    return forward, None, None


def _on_series(
    start: Callable[..., OptimizeResult],
    fun: MinibatchResiduals,
    workers: Any,
    callback: Callable[[OptimizeResult], Any] | None,
    **kw: Any,
) -> OptimizeResult:
    """Run or resume on `fun`, recording the batch misfits; the minibatch result."""
    with as_evaluator(workers) as evaluator:
        fun = dataclasses.replace(fun, vectorized=evaluator.vectorized)
        misfits: list[float] = []
        res = start(fun, workers=evaluator, callback=_recording(misfits, callback), **kw)
    return _minibatch_result(res, fun.series, fun.transform, misfits)


def _recording(
    misfits: list[float], callback: Callable[[OptimizeResult], Any] | None
) -> Callable[[OptimizeResult], Any]:
    """A callback that records each iteration's batch misfit, then calls `callback`."""
    if callback is not None and not callable(callback):
        raise TypeError(f"`callback` must be callable; got {type(callback).__name__}.")

    def record(res: OptimizeResult) -> Any:
        misfits.append(float(res.state.misfit))
        return None if callback is None else callback(res)

    return record


def _minibatch_result(
    res: OptimizeResult, series: ObservationSeries, transform: Any, misfits: list[float]
) -> OptimizeResult:
    _attach_ensemble(res, transform)
    res.x = res.mean  # the final ensemble mean: batch misfits are not comparable
    res.epochs = res.nit / series.n_batches
    res.misfits = np.asarray(misfits)
    if res.status == Status.MAXITER:
        res.message = f"Completed {res.epochs:g} epochs of {series.n_batches} minibatches."
    return res
