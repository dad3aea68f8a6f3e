"""Ensemble Kalman inversion (EKI) and Tikhonov-regularized EKI (TEKI).

EKI: M. A. Iglesias, K. J. H. Law and A. M. Stuart, "Ensemble Kalman methods for
inverse problems", Inverse Problems 29 (2013) 045001, sec. 2 (the iterative ensemble
Kalman update with perturbed observations); step size as the algorithm time step of
C. Schillings and A. M. Stuart, SIAM J. Numer. Anal. 55 (2017) 1264 (the discrete
scheme whose continuum limit is their gradient-flow system). TEKI: N. K. Chada, A. M.
Stuart and X. T. Tong, "Tikhonov regularization within ensemble Kalman inversion",
SIAM J. Numer. Anal. 58 (2020) 1263, sec. 3 (augmented forward map, data and noise).

Update (per successful member ``j``, whitened so that ``Gamma = I``):

    u_j <- u_j + C_uG (C_GG + I / dt)^{-1} (y_j - G(u_j)),  y_j = y + z_j / sqrt(dt)   (1)

with ``z_j ~ N(0, I)`` (perturbed observations) or ``z_j = 0`` (deterministic).
With ``A = U - mean(U)`` and ``B = R - mean(R)`` (rows = members, ``R`` the
residuals ``G - y``), ``C_uG = A^T B / (J - 1)`` and ``C_GG = B^T B / (J - 1)``; the
push-through identity ``B^T (B B^T / (J-1) + I/dt)^{-1} = (B^T B / (J-1) + I/dt)^{-1}
B^T`` turns (1) into a ``J x J`` solve:

    U <- U + W^T A,   W = (K + I / dt)^{-1} B D^T / (J - 1),   K = B B^T / (J - 1)      (2)

where the rows of ``D`` are the innovations ``y_j - G(u_j)``. ``K`` (or, when
``m < J``, the ``m x m`` matrix ``C_GG``, which has the same nonzero eigenvalues) is
factorized by a symmetric eigendecomposition; see `gradfree.kalman._algebra`.

Localization (``localization=``, `gradfree.kalman._localization`) replaces ``C_uG``
and ``C_GG`` in (1) by Schur products ``C_uG o L_uG``, ``C_GG o L_GG`` with factors
from the sample correlations (Lee 2021; Tong & Morzfeld 2023). No ``J x J`` form
exists then, so that path forms the ``p x m`` and ``m x m`` blocks explicitly
(``O(m (p + m))`` memory, affordable where ``p x p`` is not) and applies

    U <- U + Z (C_uG o L_uG)^T,   Z = D (C_GG o L_GG + I/dt)^{-1}                  (3)

by one ``m x m`` eigendecomposition (`gradfree.kalman._algebra.noise_function_rows`).
``L = 1`` gives (2) up to rounding. Without localization (2) is used unchanged.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._array import get_xp
from .._random import normal
from .._typing import Array
from .._validate import check_positive
from ._algebra import gain_weights, noise_function_rows
from ._ensemble import EnsembleKalmanBase, EnsembleKalmanState
from ._localization import as_localizer, localize

__all__ = ["EKI", "TEKI"]


def _centred(X: Array) -> tuple[Array, Array]:
    xp, _ = get_xp(X)
    mean = xp.mean(X, axis=0)
    return mean, X - mean


@dataclass(frozen=True)
class EKI(EnsembleKalmanBase):
    """Ensemble Kalman inversion (Iglesias, Law & Stuart 2013), perturbed or deterministic.

    The model ``fun(u) -> (m,)`` returns whitened residuals
    ``Gamma^{-1/2} (G(u) - y)``: with `gradfree.minimize`, a residual function (the
    least-squares case ``y = 0``, ``Gamma = I``); with `gradfree.kalman.solve`, an
    `InverseProblem` that whitens for you. Every generation evaluates the ``J``
    members once and moves each by the Kalman update (1)-(2) of the module docstring,
    which costs ``O(J^2 (p + m) + J^3)`` and never forms a ``p x p``, ``m x m`` or
    ``(p + m)^2`` matrix, so ``p`` can be the size of a network.

    The ensemble stays in the affine span of the initial ensemble (Iglesias et al.
    2013, sec. 3), so ``J - 1`` should be at least the number of directions that
    matter. A scalar objective ``fun(u) -> [f(u)]`` works but is weaker: each step is
    a rank-one update (use residual vectors when you have them).

    Parameters
    ----------
    n_ensemble : int, optional
        Ensemble size ``J`` (>= 2). Default: ``10 p`` clipped to [10, 100]
        (EnsembleKalmanProcesses.jl's rule of thumb).
    sigma0 : float, default=1.0
        Without a `prior`, the initial ensemble is ``x0 + sigma0 * N(0, I)``.
    prior : Gaussian, optional
        Prior ``N(m0, C0)``: the initial ensemble is drawn from it (``x0`` then only
        fixes the namespace and dtype; `gradfree.kalman.solve` passes ``m0``).
    scheduler : scheduler or float, optional
        The step ``dt`` per generation; a number is a constant step
        (`DefaultScheduler`). Unset, the entry point chooses:
        `gradfree.kalman.solve` uses ``DataMisfitController()``, which stops at
        algorithm time ``t = 1`` with a message (the posterior approximation), and
        `gradfree.minimize` uses ``DataMisfitController(on_terminate='continue')``,
        which goes on towards the least-squares solution until a convergence rule
        (`xtol`, `collapse_tol`, `discrepancy`) or the budget ends the run.
    perturbed : bool, optional
        Perturbed observations ``y_j = y + N(0, Gamma / dt)`` (stochastic EKI, the
        right spread at ``t = 1`` for linear problems), or ``y_j = y`` (deterministic
        EKI: the mean moves as in the Kalman filter but the spread collapses faster).
        Unset: perturbed, except with an `accelerator`, where the perturbations would
        swamp the momentum (EnsembleKalmanProcesses.jl also switches them off);
        ``perturbed=True`` with an accelerator warns.
    discrepancy : float, optional
        Discrepancy principle: stop, without updating, once
        ``||Gamma^{-1/2} (y - mean_j G(u_j))|| <= discrepancy * sqrt(m)`` (Morozov's
        ``tau``, e.g. 1.2; the mean is over the successful outputs).
    xtol : float, optional
        Stop once the ensemble mean moves by at most ``xtol * (1 + ||mean||)`` between
        generations.
    collapse_tol : float, default=1e-8
        Stop once the spread ``sqrt(trace C)`` falls to ``collapse_tol`` times its
        initial value (the ensemble can no longer move); None disables.
    localization : Localizer, str or bool, optional
        Sampling-error correction of ``C_uG``: `SEC`, `SECFisher`, `SECNice`,
        `BernoulliDropout`, or a name (``'sec'``, ``'sec-fisher'``, ``'sec-nice'``,
        ``'bernoulli'``, ``'none'``); True means ``SECNice()``, the tuning-free choice.
        Costs ``O(J m (p + m) + m^3)`` time and ``O(m (p + m))`` memory per step
        (update (3)): for moderate ``m``.
    inflation : Inflation or sequence of Inflation, optional
        `MultiplicativeInflation` and/or `AdditiveInflation`, applied after each update.
    accelerator : Accelerator or str, optional
        Momentum on the ensemble: `NesterovAccelerator` (``'nesterov'``),
        `FirstOrderNesterovAccelerator` (``'first-order'``) or
        `ConstantNesterovAccelerator` (``'constant'``); best with ``perturbed=False``.

    Notes
    -----
    Failed members (NaN or inf in their output) are handled as EnsembleKalmanProcesses.jl's
    ``SampleSuccGauss``: see `gradfree.kalman` (module ``_ensemble``); with fewer than
    2 successes ``tell`` raises `ValueError`.

    References
    ----------
    M. A. Iglesias, K. J. H. Law and A. M. Stuart, Inverse Problems 29 (2013) 045001.
    C. Schillings and A. M. Stuart, SIAM J. Numer. Anal. 55 (2017) 1264-1290.

    Examples
    --------
    Least squares through `gradfree.minimize` (``y = 0``, ``Gamma = I``), with the
    data-misfit controller told to keep going after ``t = 1``:

    >>> from gradfree import minimize
    >>> from gradfree.kalman import DataMisfitController
    >>> A = np.asarray([[1.0, 2.0], [0.0, 1.0], [1.0, -1.0]])
    >>> y = np.asarray([1.0, 2.0, 3.0])
    >>> eki = EKI(n_ensemble=20, scheduler=DataMisfitController(on_terminate="continue"))
    >>> res = minimize(lambda U: U @ A.T - y, np.zeros(2), method=eki,
    ...                workers="vectorized", rng=0, maxiter=30)
    >>> x_ls = np.linalg.lstsq(A, y, rcond=None)[0]
    >>> bool(np.allclose(res.state.ensemble.mean(axis=0), x_ls, atol=1e-4))
    True
    """

    name: ClassVar[str] = "eki"

    perturbed: bool | None = None
    localization: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.perturbed is not None and not isinstance(self.perturbed, bool):
            raise TypeError(f"`perturbed` must be a bool; got {type(self.perturbed).__name__}.")
        object.__setattr__(self, "localization", as_localizer(self.localization))

    def init(self, x0: Array, *, rng: Any) -> EnsembleKalmanState:
        if self.perturbed and self.accelerator is not None:
            warnings.warn(
                "`perturbed=True` with an `accelerator`: the observation perturbations "
                "swamp the momentum, which then brings little gain; leave `perturbed` "
                "unset (off with an accelerator) or pass perturbed=False.",
                UserWarning,
                stacklevel=2,
            )
        return super().init(x0, rng=rng)

    @property
    def perturbs(self) -> bool:
        """Whether the update perturbs the observations (`perturbed`, resolved)."""
        return self.accelerator is None if self.perturbed is None else self.perturbed

    def _analysis(
        self, state: EnsembleKalmanState, U: Array, R: Array, dt: float, gen: np.random.Generator
    ) -> Array:
        del state
        _, A = _centred(U)
        _, B = _centred(R)
        D = -R  # innovations y - G(u_j), whitened
        if self.perturbs:
            D = D + normal(gen, tuple(R.shape), like=R) / math.sqrt(dt)  # eq. (1)
        if self.localization is not None:  # eq. (3)
            Cug, Cgg = localize(self.localization, A, B, gen)
            return U + noise_function_rows(Cgg, D, dt) @ Cug.T
        W = gain_weights(B, D, dt)  # eq. (2)
        return U + W.T @ A


@dataclass(frozen=True)
class TEKI(EKI):
    """Tikhonov-regularized EKI by augmentation (Chada, Stuart & Tong 2020).

    EKI on the augmented system ``G~(u) = [G(u); u]``, ``y~ = [y; m0]``,
    ``Gamma~ = blockdiag(Gamma, C0 / regularization)`` with the prior ``N(m0, C0)``
    (Chada et al. 2020, sec. 3). Whitened, the members' residuals gain the block
    ``sqrt(regularization) * C0^{-1/2} (u_j - m0)``; the update is (1)-(2) of `EKI`
    with ``m + p`` outputs, still without any ``(m + p)^2`` matrix. As the algorithm
    time grows the ensemble approaches the minimizer of the Tikhonov functional

    ``0.5 ||Gamma^{-1/2} (y - G(u))||^2 + 0.5 * regularization * ||C0^{-1/2} (u - m0)||^2``

    (the MAP point for ``regularization = 1``) instead of over-fitting the noise, so
    runs need no early stopping. The scheduler sees the augmented misfit (``m + p``
    outputs); `discrepancy`, `loss` and the best point use the data misfit alone.

    Parameters
    ----------
    regularization : float, default=1.0
        Weight ``lambda`` of the Tikhonov term (> 0).
    **kwargs
        All options of `EKI`. Without a `prior`, the prior is ``N(x0, sigma0**2 I)``.

    References
    ----------
    N. K. Chada, A. M. Stuart and X. T. Tong, SIAM J. Numer. Anal. 58 (2020) 1263-1294.

    Examples
    --------
    >>> from gradfree import minimize
    >>> from gradfree.kalman import DataMisfitController
    >>> A = np.asarray([[1.0, 1.0]])              # one datum, two unknowns
    >>> teki = TEKI(n_ensemble=30, scheduler=DataMisfitController(on_terminate="continue"))
    >>> res = minimize(lambda U: U @ A.T - 2.0, np.zeros(2), method=teki,
    ...                workers="vectorized", rng=0, maxiter=30)
    >>> np.round(res.state.ensemble.mean(axis=0), 4)   # (A^T A + I)^{-1} A^T 2
    array([0.6667, 0.6667])
    """

    name: ClassVar[str] = "teki"

    regularization: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self.regularization, "regularization")
        if self.localization is not None:
            raise ValueError(
                "`localization` is not supported by TEKI: its augmented cross-covariance "
                "is p x (m + p); use EKI or ETKI with localization."
            )

    def _residuals(self, state: EnsembleKalmanState, U: Array, values: Array) -> Array:
        xp, _ = get_xp(U)
        penalty = math.sqrt(self.regularization) * state.prior.whiten(U)
        return xp.concat([values, penalty], axis=1)
