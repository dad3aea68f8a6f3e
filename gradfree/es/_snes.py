"""SNES: separable natural evolution strategy (diagonal Gaussian, exponential sigma update).

Wierstra, Schaul, Glasmachers, Sun, Peters & Schmidhuber (2014), "Natural Evolution
Strategies", JMLR 15, 949-980: Algorithm 6 (SNES), sec. 3.1 (fitness shaping by
utilities), Table 1 (default population size and learning rates).
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

__all__ = ["SNES", "SNESState"]


@dataclass(frozen=True)
class SNESState:
    """State of `SNES` between generations."""

    mean: Array  # (d,) mu, centre of the search distribution
    sigma: Array  # (d,) per-coordinate standard deviations
    noise: Array | None  # (n, d) standard normal s_k of the pending generation
    popsize: int  # resolved population size n
    stdev_learning_rate: float  # resolved eta_sigma
    generation: int = 0


@dataclass(frozen=True)
class SNES(StrategyBase):
    """Separable natural evolution strategy (Wierstra et al. 2014, Algorithm 6).

    Each generation draws ``s_k ~ N(0, I)`` and evaluates ``z_k = mu + sigma * s_k``.
    The values become rank-based utilities ``u_k`` (sec. 3.1; the best gets the most,
    the worse half a constant negative weight), and the natural gradients
    ``g_mu = sum_k u_k s_k`` and ``g_sigma = sum_k u_k (s_k**2 - 1)`` update
    ``mu += eta_mu * sigma * g_mu`` and ``sigma *= exp(eta_sigma / 2 * g_sigma)``.
    Cost per generation is O(n d): SNES suits large dimensions and separable problems;
    it cannot learn correlations (use `XNES` or CMA-ES for those).

    Parameters
    ----------
    popsize : int, optional
        Evaluations per generation (>= 2); default ``4 + floor(3 ln d)`` (Table 1),
        rounded up to even with `mirrored`.
    sigma0 : float, default=1.0
        Initial standard deviation of every coordinate.
    center_learning_rate : float, default=1.0
        ``eta_mu`` of Table 1.
    stdev_learning_rate : float, optional
        ``eta_sigma``; default ``(3 + ln d) / (5 sqrt d)`` (Table 1).
    mirrored : bool, default=False
        Sample ``+s_k`` and ``-s_k`` in pairs (antithetic sampling); needs an even
        `popsize`.

    Raises
    ------
    TypeError, ValueError
        For a non-integer or too small `popsize` (odd with `mirrored`), or a learning
        rate or `sigma0` that is not a finite positive number.

    References
    ----------
    D. Wierstra, T. Schaul, T. Glasmachers, Y. Sun, J. Peters, J. Schmidhuber,
    "Natural Evolution Strategies", JMLR 15 (2014) 949-980, Algorithm 6 and Table 1.

    Examples
    --------
    >>> from gradfree import minimize
    >>> res = minimize(lambda X: (X**2).sum(axis=1), np.ones(5), method=SNES(),
    ...                workers="vectorized", rng=0, maxiter=300)
    >>> res.fun < 1e-8
    True
    """

    name: ClassVar[str] = "snes"

    popsize: int | None = None
    sigma0: float = 1.0
    center_learning_rate: float = 1.0
    stdev_learning_rate: float | None = None
    mirrored: bool = False

    def __post_init__(self) -> None:
        if self.popsize is not None:
            check_int(self.popsize, "popsize", low=2, even=bool(self.mirrored))
        check_positive(self.sigma0, "sigma0")
        check_positive(self.center_learning_rate, "center_learning_rate")
        if self.stdev_learning_rate is not None:
            check_positive(self.stdev_learning_rate, "stdev_learning_rate")
        if not isinstance(self.mirrored, bool):
            raise TypeError(f"`mirrored` must be a bool; got {type(self.mirrored).__name__}.")

    def step_size(self, state: Any) -> float:
        """The per-coordinate standard deviations, averaged."""
        return mean_scale(state.sigma)

    def init(self, x0: Array, *, rng: Any) -> SNESState:
        del rng  # deterministic start
        xp, _ = get_xp(x0)
        d = x0.shape[0]
        n = self.popsize if self.popsize is not None else default_popsize(d)
        if self.mirrored:
            n += n % 2
        eta_sigma = self.stdev_learning_rate
        if eta_sigma is None:
            eta_sigma = (3 + math.log(d)) / (5 * math.sqrt(d))  # Table 1
        return SNESState(
            mean=x0,
            sigma=xp.full_like(x0, self.sigma0),
            noise=None,
            popsize=n,
            stdev_learning_rate=eta_sigma,
        )

    def marginal_std(self, state: SNESState) -> Array:
        """Per-coordinate standard deviations of the sampling distribution, ``(d,)``."""
        return state.sigma

    def ask(self, state: SNESState, *, rng: Any) -> tuple[Array, SNESState]:
        xp, _ = get_xp(state.mean)
        d = state.mean.shape[0]
        if self.mirrored:
            half = normal(rng, (state.popsize // 2, d), like=state.mean)
            s = xp.concat([half, -half])  # antithetic pairs
        else:
            s = normal(rng, (state.popsize, d), like=state.mean)  # Alg. 6: s_k ~ N(0, I)
        X = state.mean + state.sigma * s  # Alg. 6: z_k = mu + sigma * s_k
        return X, replace(state, noise=s)

    def tell(self, state: SNESState, X: Array, values: Array) -> SNESState:
        if state.noise is None or X.shape != state.noise.shape:
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        xp, _ = get_xp(state.mean)
        s = state.noise
        u = xp.astype(nes_utilities(values), s.dtype)  # sec. 3.1, utilities u_k
        grad_mu = u @ s  # Alg. 6: grad_mu J = sum_k u_k s_k
        grad_sigma = u @ (s * s - 1.0)  # Alg. 6: grad_sigma J = sum_k u_k (s_k^2 - 1)
        mean = state.mean + self.center_learning_rate * state.sigma * grad_mu  # Alg. 6, mu
        sigma = state.sigma * xp.exp(0.5 * state.stdev_learning_rate * grad_sigma)  # Alg. 6
        return replace(state, mean=mean, sigma=sigma, noise=None, generation=state.generation + 1)

    def stop(self, state: SNESState) -> str | None:
        """Stop when every standard deviation fell below ``1e-12 * sigma0``."""
        xp, _ = get_xp(state.sigma)
        largest = float(to_host(xp.max(state.sigma)))
        if largest < 1e-12 * self.sigma0:
            return f"sigma collapsed: largest standard deviation {largest:.3g}"
        return None
