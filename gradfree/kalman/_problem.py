"""Bayesian inverse problems ``y = G(u) + eta`` and the `solve` entry point.

`InverseProblem` holds the forward map ``G``, the data ``y``, the noise covariance
``Gamma`` (``eta ~ N(0, Gamma)``) and a Gaussian prior ``N(m0, C0)`` in unconstrained
space, optionally with a `Transform` to bounded physical parameters. `solve` runs an
ensemble Kalman strategy on the whitened residual ``Gamma^{-1/2} (G(T(u)) - y)``
through `gradfree.run` and returns the final ensemble with its mean and covariance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj
from scipy.optimize import OptimizeResult

from .._array import get_xp
from .._run import run
from .._typing import Array
from ._eki import EKI, TEKI
from ._eks import EKS
from ._ensemble import EnsembleKalmanBase
from ._etki import ETKI
from ._gaussian import Gaussian, as_vector, like
from ._transforms import Transform
from ._uki import UKI, UKIState

__all__ = ["STRATEGIES", "InverseProblem", "configure", "kalman_class", "solve"]

STRATEGIES: tuple[Any, ...] = (EKI, ETKI, TEKI, EKS, UKI)
"""The strategy classes of this family (each declares its ``name``)."""


def configure(method: Any, options: Mapping[str, Any] | None) -> Any:
    """A configured Kalman strategy from a name, a class or an instance, plus `options`.

    Raises
    ------
    ValueError, TypeError
        For an unknown name or option, or a strategy that is not a Kalman method.

    Examples
    --------
    >>> configure("eki", {"n_ensemble": 12}).n_ensemble
    12
    """
    if isinstance(method, str):
        method = kalman_class(method)
    if isinstance(method, type):
        method = method()
    if not isinstance(method, (EnsembleKalmanBase, UKI)):
        raise TypeError(
            "`method` must be an ensemble Kalman strategy (EKI, ETKI, TEKI, EKS) or UKI; "
            f"got {method!r}."
        )
    return method.with_options(dict(options or {}))


def kalman_class(method: str, *, ensemble_only: bool = False) -> type:
    """The Kalman strategy class registered under `method` (`gradfree.METHODS`).

    Examples
    --------
    >>> kalman_class("ETKI").__name__
    'ETKI'
    >>> kalman_class("cma-es")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown `method` 'cma-es'; choose one of ['eki', 'eks', 'etki', 'teki', 'uki'].
    """
    kinds = (EnsembleKalmanBase,) if ensemble_only else (EnsembleKalmanBase, UKI)
    names = {c.name: c for c in STRATEGIES if issubclass(c, kinds)}
    cls = names.get(method.lower())
    if cls is None:
        raise ValueError(f"unknown `method` {method!r}; choose one of {sorted(names)}.")
    return cls


COV_MAX_DIM = 4096
"""`solve` returns the ensemble covariance as a matrix only up to this dimension."""


@dataclass(frozen=True)
class _Residual:
    """``Gamma^{-1/2} (G(T(u)) - y)`` for one member ``(p,)`` or a batch ``(n, p)``."""

    forward: Callable[..., Any]
    observation: Gaussian  # N(y, Gamma)
    transform: Transform | None

    def __call__(self, u: Array) -> Array:
        phi = u if self.transform is None else self.transform.to_constrained(u)
        g = self.forward(phi)
        if not is_array_api_obj(g):
            g = np.asarray(g, dtype=np.float64)
        g = like(g, u)  # namespace, device and dtype of the ensemble
        obs = self.observation.like(u)  # no-op when they agree (`solve` converts once)
        if g.shape[-1] != obs.dim:
            raise ValueError(
                f"the forward model returned {g.shape[-1]} outputs per member; `y` has {obs.dim}."
            )
        return obs.whiten(g)


@dataclass(frozen=True, eq=False)
class InverseProblem:
    """Find ``u`` from data ``y = G(u) + eta``, ``eta ~ N(0, noise_cov)``, prior ``N(m0, C0)``.

    Parameters
    ----------
    forward : callable
        The forward map ``G``: ``forward(phi) -> (m,)`` for one parameter vector, or
        ``(n, p) -> (n, m)`` for a batch when solved with ``workers='vectorized'``.
        It receives the physical parameters ``phi = transform(u)``.
    y : array of shape (m,)
        Observed data.
    noise_cov : float, array of shape (m,) or array of shape (m, m)
        Noise covariance ``Gamma``: a variance, variances (diagonal) or an SPD matrix.
        Its Cholesky factor is computed once; scalar and diagonal ``Gamma`` keep every
        step linear in ``m``.
    prior_mean : array of shape (p,)
        Prior mean ``m0`` in unconstrained space; its namespace (NumPy, CuPy, ...),
        device and dtype are those of the run.
    prior_cov : float, array of shape (p,) or array of shape (p, p)
        Prior covariance ``C0``, in the same forms as `noise_cov`.
    transform : Transform, optional
        Map from unconstrained ``u`` to bounded physical parameters (see
        `constrained_gaussian`).

    Attributes
    ----------
    observation : Gaussian
        ``N(y, noise_cov)``; ``observation.whiten(G)`` is the whitened residual.
    prior : Gaussian
        ``N(prior_mean, prior_cov)``.

    Raises
    ------
    ValueError, TypeError
        For non-finite or mis-shaped data, an indefinite covariance, or a transform of
        the wrong dimension, naming the argument.

    Examples
    --------
    >>> A = np.asarray([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    >>> problem = InverseProblem(lambda u: A @ u, y=np.asarray([1.0, 2.0, 2.0]),
    ...                          noise_cov=0.1, prior_mean=np.zeros(2), prior_cov=1.0)
    >>> problem.residual(np.asarray([1.0, 1.0])) * np.sqrt(0.1)   # G(u) - y
    array([0., 0., 0.])
    """

    forward: Callable[..., Any]
    y: Any
    noise_cov: Any
    prior_mean: Any
    prior_cov: Any
    transform: Transform | None = None
    observation: Gaussian = field(init=False)
    prior: Gaussian = field(init=False)

    def __post_init__(self) -> None:
        if not callable(self.forward):
            raise TypeError(f"`forward` must be callable; got {type(self.forward).__name__}.")
        y = as_vector(self.y, "y")
        mean = as_vector(self.prior_mean, "prior_mean")
        object.__setattr__(self, "observation", _gaussian(y, self.noise_cov, "noise_cov"))
        object.__setattr__(self, "prior", _gaussian(mean, self.prior_cov, "prior_cov"))
        if self.transform is not None:
            if not isinstance(self.transform, Transform):
                raise TypeError(
                    f"`transform` must be a Transform; got {type(self.transform).__name__}."
                )
            if self.transform.dim != mean.shape[0]:
                raise ValueError(
                    f"`transform` has {self.transform.dim} coordinates; "
                    f"`prior_mean` has {mean.shape[0]}."
                )

    def residual(self, u: Array) -> Array:
        """Whitened residual ``Gamma^{-1/2} (G(transform(u)) - y)``, `u` ``(p,)`` or ``(n, p)``.

        Its half squared norm is the data misfit that `solve` reports as ``fun``.
        """
        return _Residual(self.forward, self.observation, self.transform)(u)


def _gaussian(mean: Array, cov: Any, name: str) -> Gaussian:
    """`Gaussian`, with its errors renamed to the argument `name`."""
    try:
        return Gaussian(mean, cov)
    except (TypeError, ValueError) as exc:
        raise type(exc)(str(exc).replace("`cov`", f"`{name}`")) from exc


def solve(
    problem: InverseProblem,
    method: Any = "eki",
    *,
    n_ensemble: int | None = None,
    rng: Any = None,
    workers: Any = 1,
    maxiter: int | None = None,
    maxfev: int | None = None,
    callback: Callable[[OptimizeResult], Any] | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = False,
    on_error: str = "raise",
    history: int = 1000,
) -> OptimizeResult:
    """Solve an `InverseProblem` with an ensemble Kalman method; return the final ensemble.

    The initial ensemble is drawn from the prior; each generation evaluates the
    forward map once per member and updates the ensemble. With the default
    `DataMisfitController` the run stops at algorithm time 1, where for a linear
    ``G`` the ensemble approximates the posterior.

    Parameters
    ----------
    problem : InverseProblem
    method : {'eki', 'etki', 'teki', 'eks'} or strategy, default='eki'
        A name, a class or a configured strategy such as ``ETKI(scheduler=0.5)``.
        Its `prior` must be unset: the problem's prior is used.
    n_ensemble : int, optional
        Ensemble size (an option of the method; default as there).
    rng, workers, maxiter, maxfev, callback, progress, on_error, history
        As in `gradfree.minimize`.
    options : dict, optional
        Further options of the method (e.g. ``{'perturbed': False}``).

    Returns
    -------
    scipy.optimize.OptimizeResult
        The driver's fields (``x`` is the member with the lowest data misfit seen, in
        unconstrained space; ``fun`` its misfit ``0.5 ||Gamma^{-1/2}(y - G)||^2``),
        plus ``ensemble`` (J, p), the final (updated) members; ``mean`` (p,);
        ``cov`` (p, p) (None when ``p > 4096``); ``std`` (p,), marginal standard
        deviations; ``time``, the algorithm time reached; and, with a transform,
        ``constrained_ensemble``, ``constrained_mean`` (mean of the transformed
        members) and ``constrained_x``.

    Raises
    ------
    ValueError, TypeError
        For bad arguments or options; `ValueError` from the update when fewer than 2
        members return finite outputs.

    Examples
    --------
    >>> A = np.asarray([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    >>> problem = InverseProblem(lambda U: U @ A.T, y=np.asarray([1.0, 2.0, 2.0]),
    ...                          noise_cov=0.1, prior_mean=np.zeros(2), prior_cov=1.0)
    >>> res = solve(problem, "etki", n_ensemble=20, rng=0, workers="vectorized")
    >>> res.message[:42], res.ensemble.shape, res.cov.shape
    ('DataMisfitController: algorithm time t = 1', (20, 2), (2, 2))
    """
    if not isinstance(problem, InverseProblem):
        raise TypeError(f"`problem` must be an InverseProblem; got {type(problem).__name__}.")
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"`options` must be a dict; got {type(options).__name__}.")
    opts = dict(options or {})
    if n_ensemble is not None:
        opts["n_ensemble"] = n_ensemble
    strategy = configure(method, opts)
    if strategy.prior is not None and strategy.prior is not problem.prior:
        raise ValueError("`method` has its own `prior`; `solve` uses the problem's prior.")
    strategy = dataclasses.replace(strategy, prior=problem.prior)
    x0 = problem.prior.mean
    fun = _Residual(problem.forward, problem.observation.like(x0), problem.transform)
    res = run(
        strategy,
        fun,
        x0,
        rng=rng,
        workers=workers,
        maxiter=maxiter,
        maxfev=maxfev,
        callback=callback,
        progress=progress,
        on_error=on_error,
        history=history,
    )
    _attach_ensemble(res, problem.transform)
    return res


def _attach_ensemble(res: OptimizeResult, transform: Transform | None) -> None:
    """Add the ensemble, its mean, covariance and (with a transform) constrained views.

    UKI carries a Gaussian, not an ensemble: its mean and covariance are reported, and
    ``ensemble`` is None."""
    if isinstance(res.state, UKIState):
        xp, _ = get_xp(res.state.mean)
        res.ensemble, res.mean, res.cov = None, res.state.mean, res.state.cov
        res.std = xp.sqrt(xp.linalg.diagonal(res.state.cov))
        res.time = None
        if transform is not None:
            res.constrained_ensemble = None
            res.constrained_mean = transform.to_constrained(res.state.mean)
            res.constrained_x = transform.to_constrained(res.x)
        return
    U = res.state.ensemble
    xp, _ = get_xp(U)
    J, p = U.shape
    mean = xp.mean(U, axis=0)
    A = U - mean
    res.ensemble, res.mean = U, mean
    res.std = xp.sqrt(xp.sum(A * A, axis=0) / (J - 1))
    res.cov = (A.T @ A) / (J - 1) if p <= COV_MAX_DIM else None
    res.time = res.state.time
    if transform is not None:
        phi = transform.to_constrained(U)
        res.constrained_ensemble = phi
        res.constrained_mean = xp.mean(phi, axis=0)
        res.constrained_x = transform.to_constrained(res.x)
