"""Minibatched ensemble Kalman inversion: an observation series and its driver loop.

Design (in the spirit of EnsembleKalmanProcesses.jl's ``ObservationSeries`` and
minibatchers; Kovachki & Stuart, "Ensemble Kalman inversion: a derivative-free
technique for machine learning tasks", Inverse Problems 35 (2019) 095005, sec. 4).
The data are ``N`` data points ``y_i`` (each a block of ``k`` numbers) with a
block-diagonal noise covariance ``Gamma = blockdiag(Gamma_1, ..., Gamma_N)``. A
*minibatcher* splits the indices ``0..N-1`` into minibatches once per epoch:

* `FixedMinibatcher`: the same given batches, in the same order, every epoch;
* `RandomFixedSizeMinibatcher`: a permutation of the indices per epoch, seeded by
  ``default_rng([seed, epoch])``, cut into batches of ``size`` (the remainder is
  dropped, or added to the last batch with ``extra=True``).

Iteration ``k`` uses batch ``k mod n_batches`` of epoch ``k // n_batches``: the
schedule is a pure function of ``k`` and the seed (`ObservationSeries.batch`), so
nothing is hidden in a call counter and a run can be replayed or resumed at any
iteration. `solve_minibatched` drives an existing ensemble Kalman strategy (`EKI`,
`ETKI`, `TEKI`, `EKS`) through its own ``init`` / ``ask`` / ``tell``: each
iteration evaluates the forward map restricted to the batch, ``G_B(u)``, whitens it
with the batch's block ``Gamma_B^{-1/2} (G_B(u) - y_B)`` and tells the strategy.
``tell`` stays pure (its draws come from the seed set in ``ask``), and the number of
outputs may change between iterations, so the run is deterministic given `rng` and
the minibatcher's seed. The strategy's scheduler sees one batch at a time; an unset
scheduler becomes ``DataMisfitController(on_terminate='continue')``
(an adaptive step per batch that does not stop at algorithm time 1). EKP's advice for
minibatching, multiplicative inflation with ``s = batch / N``, can be passed as
``options={'inflation': MultiplicativeInflation(...)}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
from array_api_compat import is_array_api_obj
from scipy.optimize import OptimizeResult

from .._array import get_xp
from .._random import check_rng
from .._typing import Array
from .._validate import check_int
from ._ensemble import EnsembleKalmanBase, EnsembleKalmanState, as_optimizer
from ._gaussian import Gaussian, as_vector, like
from ._problem import KALMAN_METHODS, InverseProblem

__all__ = [
    "FixedMinibatcher",
    "Minibatch",
    "ObservationSeries",
    "RandomFixedSizeMinibatcher",
    "solve_minibatched",
]


def _index_array(batch: Any, name: str) -> np.ndarray:
    idx = np.asarray(batch)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"`{name}` must hold non-empty 1-d sequences of integer indices; got {batch!r}."
        )
    if (idx < 0).any():
        raise ValueError(f"`{name}` indices must be >= 0; got {idx[idx < 0][:5].tolist()}.")
    return idx.astype(np.intp)


@dataclass(frozen=True)
class FixedMinibatcher:
    """The same minibatches, in the given order, every epoch.

    Parameters
    ----------
    batches : sequence of sequences of int, or int
        The minibatches as lists of data indices; an int ``b`` means contiguous
        batches ``[0..b-1], [b..2b-1], ...`` of the data (the last may be shorter).
        With a list, the indices are checked against the data when an
        `ObservationSeries` is built.

    Examples
    --------
    >>> FixedMinibatcher([[0, 1], [2]]).epoch(3, 7)
    [array([0, 1]), array([2])]
    >>> FixedMinibatcher(2).epoch(5, 0)
    [array([0, 1]), array([2, 3]), array([4])]
    """

    batches: Any

    def __post_init__(self) -> None:
        if isinstance(self.batches, (int, np.integer)) and not isinstance(self.batches, bool):
            check_int(self.batches, "batches", low=1)
            return
        if isinstance(self.batches, (str, bytes)) or not isinstance(self.batches, Sequence):
            raise TypeError(
                "`batches` must be an int or a sequence of index sequences; "
                f"got {type(self.batches).__name__}."
            )
        if len(self.batches) == 0:
            raise ValueError("`batches` must hold at least one minibatch.")
        fixed = tuple(_index_array(b, "batches") for b in self.batches)
        object.__setattr__(self, "batches", fixed)

    def epoch(self, n: int, epoch: int) -> list[np.ndarray]:
        """The minibatches of `epoch` for `n` data points (the same for every epoch)."""
        del epoch
        if isinstance(self.batches, (int, np.integer)):
            b = int(self.batches)
            return [np.arange(i, min(i + b, n)) for i in range(0, n, b)]
        return [b.copy() for b in self.batches]


@dataclass(frozen=True)
class RandomFixedSizeMinibatcher:
    """A seeded random permutation of the data per epoch, cut into batches of `size`.

    Parameters
    ----------
    size : int
        Data points per minibatch (>= 1).
    rng : None, int, SeedSequence or Generator, default=None
        Seeds the schedule: epoch ``e`` uses ``default_rng([seed, e]).permutation(N)``
        with one ``seed`` drawn from `rng` at construction.
    extra : bool, default=False
        The ``N mod size`` points left over in an epoch are dropped (False, every
        batch has `size` points) or added to the last batch (True; EKP's ``"extra"``).

    Attributes
    ----------
    seed : int
        The seed of the schedule.

    Examples
    --------
    >>> mb = RandomFixedSizeMinibatcher(2, rng=0)
    >>> first = mb.epoch(5, 0)
    >>> [len(b) for b in first], [len(b) for b in mb.epoch(5, 0)]
    ([2, 2], [2, 2])
    >>> bool(all((a == b).all() for a, b in zip(first, mb.epoch(5, 0))))  # pure in epoch
    True
    >>> [len(b) for b in RandomFixedSizeMinibatcher(2, rng=0, extra=True).epoch(5, 0)]
    [2, 3]
    """

    size: int
    rng: Any = field(default=None, repr=False, compare=False)
    extra: bool = False
    seed: int = field(init=False)

    def __post_init__(self) -> None:
        check_int(self.size, "size", low=1)
        if not isinstance(self.extra, bool):
            raise TypeError(f"`extra` must be a bool; got {type(self.extra).__name__}.")
        object.__setattr__(self, "seed", int(check_rng(self.rng).integers(2**63)))

    def epoch(self, n: int, epoch: int) -> list[np.ndarray]:
        """The minibatches of `epoch` for `n` data points."""
        if self.size > n:
            raise ValueError(f"`size` ({self.size}) exceeds the number of data points ({n}).")
        perm = np.random.default_rng([self.seed, int(epoch)]).permutation(n)
        n_batches = n // self.size
        batches = [perm[j * self.size : (j + 1) * self.size] for j in range(n_batches)]
        if self.extra and n_batches * self.size < n:
            batches[-1] = perm[(n_batches - 1) * self.size :]
        return batches


@dataclass(frozen=True)
class Minibatch:
    """One iteration's data: indices, ``y_B`` (flattened), ``Gamma_B`` and ``N(y_B, Gamma_B)``."""

    iteration: int
    epoch: int
    position: int  # the batch's place within its epoch
    indices: np.ndarray
    y: np.ndarray  # (b * k,)
    noise_cov: Any  # scalar, (b * k,) variances or (b * k, b * k) block-diagonal matrix
    observation: Gaussian


@dataclass(frozen=True, eq=False)
class ObservationSeries:
    """Data points with a block-diagonal noise covariance, served one minibatch at a time.

    Parameters
    ----------
    observations : array of shape (N,) or (N, k)
        ``N`` data points ``y_i``, each one number or a block of ``k``.
    noise_cov : float, array like `observations`, or array of shape (N, k, k)
        ``Gamma``: one variance, a variance per entry, or one SPD block per data point.
    minibatcher : FixedMinibatcher or RandomFixedSizeMinibatcher, optional
        Default: one batch holding all the data (full-batch EKI).

    Attributes
    ----------
    n_data : int
        ``N``.
    block : int
        ``k``, numbers per data point.
    n_batches : int
        Minibatches per epoch.

    Raises
    ------
    ValueError, TypeError
        Naming the argument: non-finite data, a covariance of the wrong shape or not
        positive definite, batch indices outside ``[0, N)``.

    Examples
    --------
    >>> y = np.arange(6.0).reshape(3, 2)           # 3 data points of 2 numbers
    >>> series = ObservationSeries(y, 0.5, minibatcher=FixedMinibatcher([[2], [0, 1]]))
    >>> series.n_batches, series.block
    (2, 2)
    >>> b = series.batch(3)                        # epoch 1, second batch
    >>> b.epoch, b.indices, b.y, b.noise_cov
    (1, array([0, 1]), array([0., 1., 2., 3.]), 0.5)
    """

    observations: Any
    noise_cov: Any
    minibatcher: Any = None
    y: np.ndarray = field(init=False, repr=False)
    n_data: int = field(init=False)
    block: int = field(init=False)
    n_batches: int = field(init=False)

    def __post_init__(self) -> None:
        y = np.asarray(self.observations)
        if y.dtype == object or not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y):
            raise TypeError(f"`observations` must hold real numbers; got dtype {y.dtype}.")
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
            raise ValueError(
                f"`observations` must have shape (N,) or (N, k) with N >= 1; got {y.shape}."
            )
        y = y.astype(np.float64)
        if not np.isfinite(y).all():
            raise ValueError("`observations` must be finite.")
        n, k = y.shape
        cov = np.asarray(self.noise_cov)
        if cov.dtype == object or not np.issubdtype(cov.dtype, np.number):
            raise TypeError(f"`noise_cov` must be numeric; got {self.noise_cov!r}.")
        cov = cov.astype(np.float64)
        if cov.ndim == 1 and k == 1 and cov.shape == (n,):
            cov = cov[:, None]
        if not np.isfinite(cov).all():
            raise ValueError("`noise_cov` must be finite.")
        if cov.ndim == 0 or cov.shape == (n, k):
            if (cov <= 0).any():
                raise ValueError("`noise_cov` variances must be > 0.")
        elif cov.shape == (n, k, k):
            if not np.allclose(cov, np.swapaxes(cov, 1, 2)):
                raise ValueError("`noise_cov` blocks must be symmetric.")
            if (np.linalg.eigvalsh(cov)[:, 0] <= 0).any():
                raise ValueError("`noise_cov` blocks must be positive definite.")
        else:
            raise ValueError(
                f"`noise_cov` must be a scalar, of shape {(n, k)} or {(n, k, k)}; got {cov.shape}."
            )
        minibatcher = self.minibatcher
        if minibatcher is None:
            minibatcher = FixedMinibatcher([np.arange(n)])
        if not isinstance(minibatcher, (FixedMinibatcher, RandomFixedSizeMinibatcher)):
            raise TypeError(
                "`minibatcher` must be a FixedMinibatcher or a RandomFixedSizeMinibatcher; "
                f"got {type(minibatcher).__name__}."
            )
        batches = minibatcher.epoch(n, 0)
        for b in batches:
            if b.max() >= n:
                raise ValueError(
                    f"`minibatcher` indices must lie in [0, {n}); got {int(b.max())}."
                )
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "noise_cov", cov)
        object.__setattr__(self, "minibatcher", minibatcher)
        object.__setattr__(self, "n_data", n)
        object.__setattr__(self, "block", k)
        object.__setattr__(self, "n_batches", len(batches))

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The minibatches (index arrays) of `epoch`."""
        return self.minibatcher.epoch(self.n_data, check_int(epoch, "epoch", low=0))

    def batch(self, iteration: int) -> Minibatch:
        """The data of `iteration`: batch ``iteration mod n_batches`` of its epoch."""
        iteration = check_int(iteration, "iteration", low=0)
        epoch, position = divmod(iteration, self.n_batches)
        idx = self.minibatcher.epoch(self.n_data, epoch)[position]
        y = self.y[idx].reshape(-1)
        cov = self.noise_cov
        if cov.ndim == 0:
            block_cov: Any = float(cov)
        elif cov.ndim == 2:
            block_cov = cov[idx].reshape(-1)
        else:
            block_cov = scipy.linalg.block_diag(*cov[idx])
        return Minibatch(
            iteration=iteration,
            epoch=epoch,
            position=position,
            indices=idx,
            y=y,
            noise_cov=block_cov,
            observation=Gaussian(y, block_cov),
        )


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


def _strategy(method: Any, options: Mapping[str, Any] | None, prior: Gaussian | None) -> Any:
    from .._minimize import resolve_method  # deferred: _minimize registers these methods

    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"`options` must be a dict; got {type(options).__name__}.")
    opts = dict(options or {})
    if isinstance(method, str):
        key = method.lower()
        if key not in KALMAN_METHODS or key == "uki":
            names = sorted(set(KALMAN_METHODS) - {"uki"})
            raise ValueError(f"unknown `method` {method!r}; choose one of {names}.")
        method = KALMAN_METHODS[key]
    strategy = as_optimizer(resolve_method(method, opts))
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
    options: Mapping[str, Any] | None = None,
    callback: Callable[[EnsembleKalmanState, Minibatch], Any] | None = None,
) -> OptimizeResult:
    """Run an ensemble Kalman strategy on a minibatched `ObservationSeries`.

    Iteration ``k`` draws batch ``B = series.batch(k)``, evaluates ``G_B`` on the
    ensemble, whitens ``Gamma_B^{-1/2} (G_B(u) - y_B)`` and calls the strategy's
    ``tell``; ``epochs * series.n_batches`` iterations in all, fewer when the strategy
    stops (collapse, ``xtol``, a terminating scheduler) or `callback` returns True.

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
    workers : int, 'vectorized', ... , default=1
        As in `gradfree.minimize` (`gradfree.evaluators.as_evaluator`).
    options : dict, optional
        Further options of the method.
    callback : callable, optional
        ``callback(state, batch)`` after each update; returning True stops the run.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` and ``mean`` (the final ensemble mean), ``ensemble`` (J, p), ``std``,
        ``nit`` (iterations), ``nfev``, ``epochs`` (completed passes, a float),
        ``misfits`` (per iteration, ``0.5 ||Gamma_B^{-1/2}(y_B - mean G_B)||^2`` on its
        batch), ``time`` (algorithm time), ``message``, ``success``, ``state`` and,
        with a transform, ``constrained_mean``.

    Raises
    ------
    ValueError, TypeError
        Naming the argument, for bad arguments; a forward map that returns the wrong
        number of outputs for a batch.

    Examples
    --------
    Noisy linear regression ``y_i = a_i . u + eta_i`` on 40 data points, 4 per batch:

    >>> gen = np.random.default_rng(0)
    >>> A = gen.normal(size=(40, 2))
    >>> y = A @ np.asarray([1.0, -2.0]) + 0.1 * gen.normal(size=40)
    >>> series = ObservationSeries(y, 0.01, RandomFixedSizeMinibatcher(4, rng=0))
    >>> res = solve_minibatched(lambda U, idx: U @ A[idx].T, series, x0=np.zeros(2),
    ...                         n_ensemble=20, epochs=5, rng=0, workers="vectorized")
    >>> res.nit, np.round(res.x, 2)
    (50, array([ 0.99, -1.99]))
    """
    from ..evaluators import as_evaluator

    if not isinstance(series, ObservationSeries):
        raise TypeError(f"`series` must be an ObservationSeries; got {type(series).__name__}.")
    epochs = check_int(epochs, "epochs", low=1)
    transform = None
    prior: Gaussian | None = None
    if isinstance(forward, InverseProblem):
        if forward.observation.dim != series.n_data * series.block:
            raise ValueError(
                f"`forward` (an InverseProblem) has {forward.observation.dim} outputs; "
                f"`series` has N * k = {series.n_data * series.block}."
            )
        prior, transform = forward.prior, forward.transform
        forward = _ProblemForward(forward.forward, series.block)
    elif not callable(forward):
        raise TypeError(f"`forward` must be callable; got {type(forward).__name__}.")
    if prior_mean is not None or prior_cov is not None:
        if prior is not None:
            raise ValueError("`prior_mean`/`prior_cov` conflict with the InverseProblem's prior.")
        if prior_mean is None or prior_cov is None:
            raise ValueError("`prior_mean` and `prior_cov` must be given together.")
        try:
            prior = Gaussian(as_vector(prior_mean, "prior_mean"), prior_cov)
        except (TypeError, ValueError) as exc:
            raise type(exc)(str(exc).replace("`cov`", "`prior_cov`")) from exc
    opts = dict(options or {}) if isinstance(options, Mapping) else options
    if n_ensemble is not None and isinstance(opts, dict):
        opts["n_ensemble"] = n_ensemble
    strategy = _strategy(method, opts, prior)
    if x0 is None:
        if strategy.prior is None:
            raise ValueError("give `x0` or a prior (`prior_mean` and `prior_cov`).")
        x0 = strategy.prior.mean
    else:
        x0 = as_vector(x0, "x0")
    gen = check_rng(rng)
    evaluator = as_evaluator(workers)
    state = strategy.init(x0, rng=gen)
    J = state.ensemble.shape[0]
    misfits: list[float] = []
    message = f"Completed {epochs} epochs of {series.n_batches} minibatches."
    nit = nfev = 0
    with evaluator:
        for k in range(epochs * series.n_batches):
            batch = series.batch(k)
            X, state = strategy.ask(state, rng=gen)
            fun = _BatchForward(forward, batch.indices, transform, evaluator.vectorized)
            values = evaluator(fun, X)
            xp, _ = get_xp(X)
            values = xp.reshape(like(values, X), (J, -1))
            if values.shape[1] != batch.y.shape[0]:
                raise ValueError(
                    f"the forward model returned {values.shape[1]} outputs per member for "
                    f"{len(batch.indices)} data points; expected {batch.y.shape[0]}."
                )
            R = batch.observation.like(X).whiten(values)
            state = strategy.tell(state, X, R)
            nit, nfev = nit + 1, nfev + J
            misfits.append(float(state.misfit))
            stop = strategy.stop(state)
            if stop is not None:
                message = stop
                break
            if callback is not None and callback(state, batch) is True:
                message = "Stopped by `callback`."
                break
    U = state.ensemble
    xp, _ = get_xp(U)
    mean = xp.mean(U, axis=0)
    A = U - mean
    res = OptimizeResult(
        x=mean,
        mean=mean,
        ensemble=U,
        std=xp.sqrt(xp.sum(A * A, axis=0) / (J - 1)),
        nit=nit,
        nfev=nfev,
        epochs=nit / series.n_batches,
        misfits=np.asarray(misfits),
        time=state.time,
        message=message,
        success=True,
        state=state,
    )
    if transform is not None:
        res.constrained_mean = xp.mean(transform.to_constrained(U), axis=0)
    return res
