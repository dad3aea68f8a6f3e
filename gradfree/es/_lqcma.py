"""lq-CMA-ES: CMA-ES ranked by the lq surrogate (Hansen 2019, GECCO '19)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .._base import option_names
from ..wrappers import LQSurrogate
from ._cmaes import CMAES

__all__ = ["LQCMAES"]


@dataclass(frozen=True)
class LQCMAES(LQSurrogate, CMAES):  # type: ignore[misc]  # the wrapper's steps win
    """lq-CMA-ES: CMA-ES whose populations are ranked by `gradfree.wrappers.LQSurrogate`.

    Takes every option of `gradfree.es.CMAES` (``sigma0``, ``popsize``, the stop rules)
    and of the surrogate (``tau_threshold``, ``max_coefficients``, ``inject_optimum``);
    ``method="lq-cma-es"`` in `gradfree.minimize`. With ``options={"restarts": ...}``
    each restart begins with a new model, as pycma's ``fmin_lq_surr2``.

    Examples
    --------
    >>> from gradfree import minimize
    >>> def ellipsoid(X):
    ...     return (10 ** (6 * np.linspace(0, 1, X.shape[1])) * X**2).sum(axis=1)
    >>> res = minimize(ellipsoid, np.ones(5), method="lq-cma-es", rng=0, workers="vectorized")
    >>> bool(res.fun < 1e-8), res.nfev < 1000
    (True, True)
    """

    name: ClassVar[str] = "lq-cma-es"
    strategy: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        CMAES.__post_init__(self)
        options = {k: getattr(self, k) for k in option_names(CMAES)}
        object.__setattr__(self, "strategy", CMAES(**options))
        LQSurrogate.__post_init__(self)
