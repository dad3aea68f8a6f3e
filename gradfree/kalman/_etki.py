"""Ensemble transform Kalman inversion (ETKI): a square-root update in ensemble space.

The ensemble transform Kalman filter of C. H. Bishop, B. J. Etherton and S. J. Majumdar,
"Adaptive sampling with the ensemble transform Kalman filter. Part I", Monthly Weather
Review 129 (2001) 420-436, used as an inversion step as in D. Z. Huang, J. Huang,
S. Reich and A. M. Stuart, "Efficient derivative-free Bayesian inference for
large-scale inverse problems", Inverse Problems 38 (2022) 125006 (the ETKI of
EnsembleKalmanProcesses.jl's ``TransformInversion``).

With rows ``X = (U - u_bar) / sqrt(J - 1)``, ``Y = (R - r_bar) / sqrt(J - 1)`` of the
whitened residuals ``R = Gamma^{-1/2} (G - y)`` and the step ``dt`` (noise
``Gamma / dt``):

    Omega = (I_J + dt Y Y^T)^{-1}                                                   (1)
    u_bar <- u_bar - dt X^T Omega Y r_bar                                           (2)
    X <- Omega^{1/2} X   (symmetric square root, so the deviations stay centred)    (3)

One symmetric eigendecomposition of ``Y Y^T`` (or of ``Y^T Y`` when ``m < J``) gives
``Omega`` and its square root, so the cost is linear in both ``m`` and ``p``. The
update is deterministic; for a linear model it is exactly the Kalman filter with the
ensemble covariance as prior, so the mean and covariance after algorithm time ``t``
are those of the tempered posterior ``prior x likelihood^t`` (any splitting of ``t``
into steps gives the same).

Localization (EnsembleKalmanProcesses.jl cannot localize its ETKI: its issue #374).
(2)-(3) act on the ensemble from the right, so there is no place for a Schur product
with ``C_uG``. We write the same step in gain form instead. With ``B = sqrt(J - 1) Y``,
``C_uG = A^T B / (J - 1)``, ``S = C_GG + I/dt`` and ``r = dt^{-1/2}``, the push-through
identity turns (2) into ``u_bar <- u_bar - C_uG S^{-1} r_bar``, and (3) equals the
deterministic square-root update of Potter (1964) and Whitaker & Hamill (2002, Mon.
Wea. Rev. 130:1913, eq. 13)

    a_j <- a_j - C_uG S^{-1/2} (S^{1/2} + r I)^{-1} b_j                              (4)

because for every eigenvalue ``lam`` of ``C_GG``,
``1 - lam / (sqrt(lam + r^2) (sqrt(lam + r^2) + r)) = r / sqrt(lam + r^2)
= (1 + dt lam)^{-1/2}``, the eigenvalue of ``Omega^{1/2}``. Replacing ``C_uG`` by
``C_uG o L`` and ``C_GG`` by ``C_GG o L_GG`` (in ``S``) in the mean update and in (4) is the
localized ETKI:

    u_bar <- u_bar - (C_uG o L_uG) S_L^{-1} r_bar,
    A <- A - B g(S_L) (C_uG o L_uG)^T,   S_L = C_GG o L_GG + I/dt                    (5)

with ``g(S) = S^{-1/2} (S^{1/2} + r I)^{-1}``, by one ``m x m`` eigendecomposition
(`gradfree.kalman._algebra.noise_function_rows`), never ``p x p``. With ``L = 1``,
(5) is (2)-(3) up to rounding; with a nontrivial ``L`` the deviations follow the
localized deterministic square-root form (the ensemble square-root filter with
localized gain, as Whitaker & Hamill 2002 localize theirs), stay deterministic and stay
centred (``sum_j b_j = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._array import get_xp
from .._typing import Array
from ._algebra import noise_function_rows, transform_weights
from ._ensemble import EnsembleKalmanBase, EnsembleKalmanState
from ._localization import as_localizer, localize

__all__ = ["ETKI"]


@dataclass(frozen=True)
class ETKI(EnsembleKalmanBase):
    """Ensemble transform Kalman inversion (square-root EKI, cost linear in ``m``).

    Same model convention, options, failure handling and stop rules as `EKI`
    (whitened residuals ``Gamma^{-1/2} (G(u) - y)`` per member), but the analysis is
    the deterministic transform (1)-(3) of the module docstring: the mean moves by the
    Kalman gain and the deviations are multiplied by ``Omega^{1/2}``, so the ensemble
    covariance is exactly the Kalman posterior covariance of each step (no sampling
    noise from perturbed observations). A step costs ``O(J^2 (p + m) + J^3)``.

    Parameters
    ----------
    n_ensemble, sigma0, prior, scheduler, discrepancy, xtol, collapse_tol
        As in `EKI`.
    localization : Localizer, str or bool, optional
        As in `EKI`; the update is then the localized transform (5) of the module
        docstring (``O(J m (p + m) + m^3)`` time, ``O(m (p + m))`` memory).
    inflation, accelerator
        As in `EKI`.

    References
    ----------
    C. H. Bishop, B. J. Etherton and S. J. Majumdar, Mon. Wea. Rev. 129 (2001) 420-436.
    D. Z. Huang, J. Huang, S. Reich and A. M. Stuart, Inverse Problems 38 (2022) 125006.

    Examples
    --------
    >>> from gradfree import minimize
    >>> from gradfree.kalman import DataMisfitController
    >>> A = np.asarray([[1.0, 2.0], [0.0, 1.0], [1.0, -1.0]])
    >>> y = np.asarray([1.0, 2.0, 3.0])
    >>> etki = ETKI(n_ensemble=10, scheduler=DataMisfitController(on_terminate="continue"))
    >>> res = minimize(lambda U: U @ A.T - y, np.zeros(2), method=etki,
    ...                workers="vectorized", rng=0, maxiter=30)
    >>> x_ls = np.linalg.lstsq(A, y, rcond=None)[0]
    >>> bool(np.allclose(res.state.ensemble.mean(axis=0), x_ls, atol=1e-6))
    True
    """

    name: ClassVar[str] = "etki"

    localization: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "localization", as_localizer(self.localization))

    def _analysis(
        self, state: EnsembleKalmanState, U: Array, R: Array, dt: float, gen: np.random.Generator
    ) -> Array:
        del state  # deterministic unless the localizer draws (BernoulliDropout)
        xp, _ = get_xp(U)
        ubar = xp.mean(U, axis=0)
        A = U - ubar
        rbar = xp.mean(R, axis=0)
        if self.localization is not None:  # eq. (5)
            B = R - rbar
            Cug, Cgg = localize(self.localization, A, B, gen)
            mean = ubar - noise_function_rows(Cgg, rbar[None, :], dt)[0, :] @ Cug.T
            return mean + (A - noise_function_rows(Cgg, B, dt, "root") @ Cug.T)
        w, T = transform_weights(R - rbar, rbar, dt)  # eqs. (1)-(3)
        return ubar + w @ A + T @ A
