"""xNES: exponential natural evolution strategy (full covariance, exponential-map update).

Wierstra, Schaul, Glasmachers, Sun, Peters & Schmidhuber (2014), "Natural Evolution
Strategies", JMLR 15, 949-980: Algorithm 5 (xNES), sec. 3.1 (fitness shaping by
utilities), Table 1 (default population size and learning rates).

Convention: Algorithm 5 writes ``z = mu + sigma B^T s`` but moves the mean along
``sigma B grad_delta``; the two agree only for a symmetric ``B``, which the update
``B <- B expm(...)`` does not keep. We sample ``z = mu + sigma B s`` (covariance
``sigma^2 B B^T``), for which ``mu += eta_mu sigma B grad_delta`` and
``B <- B expm(eta_B / 2 grad_B)`` are exactly the natural-gradient steps in the local
coordinates ``s``. The exponential of the symmetric ``grad_B`` goes through
``eigh``, so the same code runs on every array-API namespace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from .._array import get_xp, to_host
from .._base import StrategyBase, mean_scale
from .._random import normal
from .._typing import Array
from .._validate import check_int, check_positive
from ._cma_common import default_popsize
from ._nes_common import nes_utilities

__all__ = ["XNES", "XNESState", "expm_symmetric"]


def expm_symmetric(S: Array) -> Array:
    """Matrix exponential ``V diag(exp(w)) V^T`` of a symmetric matrix ``S = V diag(w) V^T``.

    Examples
    --------
    >>> from scipy.linalg import expm
    >>> S = np.asarray([[0.1, 0.3], [0.3, -0.2]])
    >>> bool(np.allclose(expm_symmetric(S), expm(S)))
    True
    """
    xp, _ = get_xp(S)
    w, V = xp.linalg.eigh(S)
    return (V * xp.exp(w)) @ V.T


@dataclass(frozen=True)
class XNESState:
    """State of `XNES` between generations."""

    mean: Array  # (d,) mu, centre of the search distribution
    sigma: Array  # () global step size, |det(sigma B)|^(1/d)
    B: Array  # (d, d) shape matrix with det(B) = 1
    noise: Array | None  # (n, d) standard normal s_k of the pending generation
    popsize: int  # resolved population size n
    stdev_learning_rate: float  # resolved eta_sigma
    shape_learning_rate: float  # resolved eta_B
    generation: int = 0


@dataclass(frozen=True)
class XNES(StrategyBase):
    """Exponential natural evolution strategy (Wierstra et al. 2014, Algorithm 5).

    The search distribution is ``N(mu, sigma^2 B B^T)`` with ``det(B) = 1``. Each
    generation draws ``s_k ~ N(0, I)``, evaluates ``z_k = mu + sigma B s_k``, turns the
    values into rank-based utilities ``u_k`` (sec. 3.1) and follows the natural
    gradient in local coordinates: ``G_delta = sum_k u_k s_k``,
    ``G_M = sum_k u_k (s_k s_k^T - I)``, ``G_sigma = tr(G_M) / d``,
    ``G_B = G_M - G_sigma I``; then ``mu += eta_mu sigma B G_delta``,
    ``sigma *= exp(eta_sigma / 2 G_sigma)`` and ``B <- B expm(eta_B / 2 G_B)``.
    A generation costs O(n d^2 + d^3) (one symmetric eigendecomposition).

    Parameters
    ----------
    popsize : int, optional
        Evaluations per generation (>= 2); default ``4 + floor(3 ln d)`` (Table 1).
    sigma0 : float, default=1.0
        Initial step size; the initial covariance is ``sigma0**2 I``.
    center_learning_rate : float, default=1.0
        ``eta_mu`` of Table 1.
    stdev_learning_rate : float, optional
        ``eta_sigma``; default ``3 (3 + ln d) / (5 d sqrt d)`` (Table 1).
    shape_learning_rate : float, optional
        ``eta_B``; default equal to the default ``eta_sigma`` (Table 1).

    Raises
    ------
    TypeError, ValueError
        For a non-integer or too small `popsize`, or a learning rate or `sigma0` that
        is not a finite positive number.

    References
    ----------
    D. Wierstra, T. Schaul, T. Glasmachers, Y. Sun, J. Peters, J. Schmidhuber,
    "Natural Evolution Strategies", JMLR 15 (2014) 949-980, Algorithm 5 and Table 1.
    T. Glasmachers et al., "Exponential Natural Evolution Strategies", GECCO 2010.

    Examples
    --------
    >>> from gradfree import minimize
    >>> from gradfree.testing import rosenbrock
    >>> res = minimize(rosenbrock, np.zeros(2), method=XNES(), workers="vectorized",
    ...                rng=0, maxiter=2000)
    >>> res.fun < 1e-8
    True
    """

    name: ClassVar[str] = "xnes"

    popsize: int | None = None
    sigma0: float = 1.0
    center_learning_rate: float = 1.0
    stdev_learning_rate: float | None = None
    shape_learning_rate: float | None = None

    def __post_init__(self) -> None:
        if self.popsize is not None:
            check_int(self.popsize, "popsize", low=2)
        check_positive(self.sigma0, "sigma0")
        check_positive(self.center_learning_rate, "center_learning_rate")
        for name in ("stdev_learning_rate", "shape_learning_rate"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), name)

    def step_size(self, state: Any) -> float:
        """The global step size ``sigma``."""
        return mean_scale(state.sigma)

    def init(self, x0: Array, *, rng: Any) -> XNESState:
        del rng  # deterministic start
        xp, dev = get_xp(x0)
        d = x0.shape[0]
        eta = 3 * (3 + math.log(d)) / (5 * d * math.sqrt(d))  # Table 1
        eta_sigma, eta_B = self.stdev_learning_rate, self.shape_learning_rate
        return XNESState(
            mean=x0,
            sigma=xp.asarray(self.sigma0, dtype=x0.dtype, device=dev),
            B=xp.eye(d, dtype=x0.dtype, device=dev),
            noise=None,
            popsize=self.popsize if self.popsize is not None else default_popsize(d),
            stdev_learning_rate=eta if eta_sigma is None else eta_sigma,
            shape_learning_rate=eta if eta_B is None else eta_B,
        )

    def marginal_std(self, state: XNESState) -> Array:
        """Per-coordinate standard deviations of the sampling distribution, ``(d,)``."""
        xp, _ = get_xp(state.mean)
        return state.sigma * xp.sqrt(xp.sum(state.B**2, axis=1))

    def ask(self, state: XNESState, *, rng: Any) -> tuple[Array, XNESState]:
        s = normal(rng, (state.popsize, state.mean.shape[0]), like=state.mean)  # s_k ~ N(0, I)
        X = state.mean + state.sigma * (s @ state.B.T)  # Alg. 5: z_k = mu + sigma B s_k
        return X, replace(state, noise=s)

    def tell(self, state: XNESState, X: Array, values: Array) -> XNESState:
        if state.noise is None or X.shape != state.noise.shape:
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        xp, dev = get_xp(state.mean)
        s = state.noise
        d = s.shape[1]
        eye = xp.eye(d, dtype=s.dtype, device=dev)
        u = xp.astype(nes_utilities(values), s.dtype)  # sec. 3.1, utilities u_k
        grad_delta = u @ s  # Alg. 5: grad_delta J = sum_k u_k s_k
        grad_M = (s.T * u) @ s - xp.sum(u) * eye  # Alg. 5: sum_k u_k (s_k s_k^T - I)
        grad_M = 0.5 * (grad_M + grad_M.T)  # symmetric up to rounding; make it exact
        grad_sigma = (u @ xp.sum(s * s, axis=1) - d * xp.sum(u)) / d  # Alg. 5: tr(grad_M) / d
        grad_B = grad_M - grad_sigma * eye  # Alg. 5: grad_B J = grad_M J - grad_sigma J I
        step = self.center_learning_rate * state.sigma * (state.B @ grad_delta)
        mean = state.mean + step  # Alg. 5: mu += eta_mu sigma B grad_delta J
        sigma = state.sigma * xp.exp(0.5 * state.stdev_learning_rate * grad_sigma)  # Alg. 5
        B = state.B @ expm_symmetric(0.5 * state.shape_learning_rate * grad_B)  # Alg. 5
        return replace(
            state, mean=mean, sigma=sigma, B=B, noise=None, generation=state.generation + 1
        )

    def stop(self, state: XNESState) -> str | None:
        """Stop when every coordinate's standard deviation fell below ``1e-12 * sigma0``."""
        xp, _ = get_xp(state.B)
        largest = float(to_host(state.sigma * xp.max(xp.linalg.vector_norm(state.B, axis=1))))
        if largest < 1e-12 * self.sigma0:
            return f"sigma collapsed: largest standard deviation {largest:.3g}"
        return None
