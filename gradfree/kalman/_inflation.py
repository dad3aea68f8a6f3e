"""Covariance inflation of the ensemble after each update (against collapse).

- `MultiplicativeInflation`: ``u_j <- mean + s (u_j - mean)`` with
  ``s = factor / sqrt(1 - rate dt)``. The ``rate`` form is Huang, Schneider & Stuart
  (2022, J. Comput. Phys. 463:111262, eq. 41) as in EnsembleKalmanProcesses.jl's
  ``multiplicative_inflation`` (covariance scaled by ``1 / (1 - rate dt)``); ``factor``
  is a fixed scale of the deviations (classical multiplicative inflation, Anderson &
  Anderson 1999, Mon. Wea. Rev. 127:2741). The mean and the ensemble span are kept.
- `AdditiveInflation`: ``u_j <- u_j + zeta_j``, ``zeta_j ~ N(0, alpha dt Sigma)`` with
  ``Sigma`` the prior covariance or the diagonal of the (updated) ensemble covariance
  (EKP's ``additive_inflation``). It leaves the span of the initial ensemble. Draws come
  from the generator the tell seeds from ``ask``'s ``rng``, so ``tell`` stays a pure
  function of its inputs.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._array import get_xp
from .._random import normal
from .._typing import Array
from .._validate import check_choice, check_nonnegative, check_positive
from ._gaussian import Gaussian

__all__ = ["AdditiveInflation", "Inflation", "MultiplicativeInflation", "as_inflation"]


class Inflation(ABC):
    """Base of the inflations: ``apply(U, dt, prior, gen) -> U``.

    Examples
    --------
    >>> issubclass(AdditiveInflation, Inflation)
    True
    """

    @abstractmethod
    def apply(self, U: Array, dt: float, prior: Gaussian, gen: np.random.Generator) -> Array:
        """The inflated ensemble (rows are members)."""


@dataclass(frozen=True)
class MultiplicativeInflation(Inflation):
    """Scale the deviations from the ensemble mean by ``factor / sqrt(1 - rate dt)``.

    Parameters
    ----------
    factor : float, default=1.0
        Fixed scale of the deviations (> 0; 1 is none).
    rate : float, default=0.0
        Huang et al. (2022) eq. 41: the covariance grows by ``1 / (1 - rate dt)``
        (needs ``rate dt < 1``; EKP suggests ``|batch| / |data|`` when minibatching).

    Examples
    --------
    >>> U = np.asarray([[0.0, 1.0], [2.0, 3.0]])
    >>> MultiplicativeInflation(2.0).apply(U, 1.0, None, None)
    array([[-1.,  0.],
           [ 3.,  4.]])
    """

    factor: float = 1.0
    rate: float = 0.0

    def __post_init__(self) -> None:
        check_positive(self.factor, "factor")
        check_nonnegative(self.rate, "rate")

    def apply(self, U: Array, dt: float, prior: Gaussian, gen: np.random.Generator) -> Array:
        del prior, gen
        if self.rate * dt >= 1:
            raise ValueError(
                f"multiplicative inflation needs `rate` * dt < 1; got rate={self.rate} "
                f"and dt={dt}."
            )
        scale = self.factor / math.sqrt(1.0 - self.rate * dt)
        if scale == 1.0:
            return U
        xp, _ = get_xp(U)
        mean = xp.mean(U, axis=0)
        return mean + scale * (U - mean)


@dataclass(frozen=True)
class AdditiveInflation(Inflation):
    """Add ``N(0, alpha dt Sigma)`` noise to every member after the update.

    Parameters
    ----------
    alpha : float, default=0.1
        Noise scale (>= 0; 0 is none).
    cov : {'prior', 'ensemble'}, default='prior'
        ``Sigma``: the prior covariance (drawn through its factor, never a ``p x p``
        matrix unless the prior was given dense), or the diagonal of the updated
        ensemble's covariance.

    Examples
    --------
    >>> from gradfree.kalman import Gaussian
    >>> U = np.zeros((4000, 2))
    >>> V = AdditiveInflation(0.5).apply(U, 2.0, Gaussian(np.zeros(2), 4.0),
    ...                                  np.random.default_rng(0))
    >>> np.round(V.var(axis=0), 0)          # alpha * dt * 4
    array([4., 4.])
    """

    alpha: float = 0.1
    cov: str = "prior"

    def __post_init__(self) -> None:
        check_nonnegative(self.alpha, "alpha")
        check_choice(self.cov, "cov", ("prior", "ensemble"))

    def apply(self, U: Array, dt: float, prior: Gaussian, gen: np.random.Generator) -> Array:
        if self.alpha == 0:
            return U
        xp, _ = get_xp(U)
        z = normal(gen, tuple(U.shape), like=U) * math.sqrt(self.alpha * dt)
        if self.cov == "prior":
            return U + prior.scale(z)
        J = U.shape[0]
        A = U - xp.mean(U, axis=0)
        return U + z * xp.sqrt(xp.sum(A * A, axis=0) / (J - 1))


def as_inflation(value: Any) -> tuple[Inflation, ...]:
    """Normalize the `inflation` option: None, an Inflation or a sequence of them.

    Examples
    --------
    >>> as_inflation(None), as_inflation(MultiplicativeInflation(1.1))
    ((), (MultiplicativeInflation(factor=1.1, rate=0.0),))
    """
    if value is None:
        return ()
    items = (
        tuple(value)
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes))
        else (value,)
    )
    for item in items:
        if not isinstance(item, Inflation):
            raise TypeError(
                "`inflation` must be None, a MultiplicativeInflation or AdditiveInflation, "
                f"or a sequence of them; got {type(item).__name__}."
            )
    return items
