"""Unscented Kalman inversion (UKI): a Gaussian ``N(m, C)`` moved by a Kalman filter.

D. Z. Huang, T. Schneider and A. M. Stuart, "Iterated Kalman methodology for inverse
problems", J. Comput. Phys. 463 (2022) 111262 (sec. 3: the stochastic dynamical
system and its unscented Kalman filter; sec. 4: linear analysis). Defaults follow
EnsembleKalmanProcesses.jl's ``Unscented`` process.

The parameters are the hidden state of the artificial dynamical system

    theta_{n+1} = r + alpha (theta_n - r) + omega_{n+1},   omega ~ N(0, Sigma_omega)
    y = G(theta_{n+1}) + nu_{n+1},                          nu ~ N(0, Sigma_nu)

with ``r`` the prior mean, ``Sigma_nu = 2 Gamma`` and ``Sigma_omega = (2 - alpha^2) C0``
(refreshed to ``(2 - alpha^2) C_n`` every ``update_freq`` iterations). One iteration:

    prediction   m^ = r + alpha (m - r),   C^ = alpha^2 C + Sigma_omega                (1)
    sigma points t_0 = m^,  t_{+-i} = m^ +- c [sqrt C^]_i,  c = min(2, sqrt(p))        (2)
    analysis     C_tG = sum_j w (t_j - m^)(G_j - G_0)^T,  w = 1 / (2 c^2)
                 C_GG = sum_j w (G_j - G_0)(G_j - G_0)^T + Sigma_nu                     (3)
                 m = m^ + C_tG C_GG^{-1} (y - G_0),  C = C^ - C_tG C_GG^{-1} C_tG^T     (4)

(the modified unscented transform: the predicted observation is ``G_0 = G(m^)``;
``[sqrt C^]_i`` is the i-th column of the Cholesky factor; ``c`` and ``w`` are the
unscented weights with ``kappa = 0``, ``a = min(sqrt(4 / p), 1)``). Residuals arrive
whitened, ``Gamma^{-1/2} (G - y)``, so ``Sigma_nu = 2 I`` and ``y - G_0 = -r_0``.

Linear analysis (sec. 4 of the paper): for ``G(theta) = G theta`` the filter (4) is
exact. With ``alpha = 1`` and ``Sigma_omega = C_n`` (``update_freq=1``) the prediction
doubles the covariance, so ``C_{n+1}^{-1} = C_n^{-1} / 2 + G^T Gamma^{-1} G / 2``: the
covariance converges geometrically (factor 1/2) to ``(G^T Gamma^{-1} G)^{-1}`` and the
mean to the least-squares solution, i.e. the posterior under a flat prior. With
``impose_prior=True`` the prior enters as the extra observation ``theta = m0`` with
noise ``C0`` (the augmented system of the paper's sec. 3.2, EnsembleKalmanProcesses.jl's
``impose_prior``), and the same fixed point is the Gaussian posterior
``N(m_post, C_post)`` exactly.

Cost: ``2p + 1`` model evaluations per iteration, a ``p x p`` Cholesky factorization and
``O(p^2 (p + m))`` algebra, with the solve (3)-(4) done on the smaller of the ``2p``
and ``m`` sides. UKI keeps a ``p x p`` covariance, so it is meant for moderate ``p``
(up to a few hundred); for networks use `EKI` or `ETKI`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from .._array import get_xp, to_host
from .._base import StrategyBase
from .._typing import Array
from .._validate import check_int, check_nonnegative, check_positive
from ._algebra import _eigh
from ._ensemble import half_squared_norm
from ._gaussian import Gaussian, like

__all__ = ["UKI", "UKIState"]


@dataclass(frozen=True)
class UKIState:
    """State of `UKI`: the Gaussian ``N(mean, cov)`` and the pending prediction.

    Examples
    --------
    >>> uki = UKI()
    >>> state = uki.init(np.zeros(2), rng=np.random.default_rng(0))
    >>> X, state = uki.ask(state, rng=np.random.default_rng(0))
    >>> X.shape, state.pred_cov.shape
    ((5, 2), (2, 2))
    """

    mean: Array  # (p,) analysis mean m_n
    cov: Array  # (p, p) analysis covariance C_n
    prior: Gaussian  # N(r, C0) in the namespace and dtype of x0
    omega: Array  # (p, p) Sigma_omega in force
    pred_mean: Array | None = None  # (p,) m^ of the pending ask, eq. (1)
    pred_cov: Array | None = None  # (p, p) C^ of the pending ask, eq. (1)
    generation: int = 0
    misfit: float | None = None  # 0.5 ||Gamma^{-1/2} (y - G(m^))||^2, last generation
    n_failed: int = 0  # failed sigma points in the last generation
    message: str | None = None  # why the strategy asks to stop


@dataclass(frozen=True)
class UKI(StrategyBase):
    """Unscented Kalman inversion (Huang, Schneider & Stuart 2022), ``2p + 1`` sigma points.

    The model ``fun(u) -> (m,)`` returns whitened residuals ``Gamma^{-1/2} (G(u) - y)``,
    as for `EKI` (with `gradfree.minimize`, a residual function: ``y = 0``,
    ``Gamma = I``). Each generation evaluates the ``2p + 1`` sigma points (2) of the
    predicted Gaussian and updates its mean and covariance by (3)-(4) of the module
    docstring. The run is deterministic (no random draws), keeps a full ``p x p``
    covariance (moderate ``p`` only) and does not collapse: the artificial evolution
    error keeps the covariance away from zero.

    Parameters
    ----------
    alpha : float, default=1.0
        Regularization ``alpha`` in ``(0, 1]`` of the prediction (1), pulling the mean
        towards the prior mean ``r``; 1 is no regularization.
    update_freq : int, optional
        Refresh ``Sigma_omega = (2 - alpha^2) C_n`` every `update_freq` iterations
        (>= 0; 0 keeps ``(2 - alpha^2) C0``). Use 1 when the problem is identifiable
        (then the covariance approximates the posterior); 0 when it is not (the
        covariance then only reflects sensitivities but stays bounded). Default: 1
        with `impose_prior`, else 0 (EnsembleKalmanProcesses.jl's default).
    impose_prior : bool, default=False
        Add the prior as observations ``theta = m0`` with noise ``C0`` (augmented
        system); with ``alpha=1`` and ``update_freq=1`` a linear problem converges to
        the exact Gaussian posterior.
    sigma0 : float, default=1.0
        Without a `prior`, the prior is ``N(x0, sigma0**2 I)``.
    prior : Gaussian, optional
        Prior ``N(m0, C0)``: the initial mean, covariance and ``r`` (``x0`` then only
        fixes the namespace and dtype).
    discrepancy : float, optional
        Stop, without updating, once ``||Gamma^{-1/2} (y - G(m^))|| <= discrepancy *
        sqrt(m)`` (Morozov's ``tau``).
    xtol : float, optional
        Stop once an update moves the mean by at most ``xtol * (1 + ||mean||)``.

    Raises
    ------
    TypeError, ValueError
        For a bad option, naming it. ``tell`` raises `ValueError` when fewer than 2
        sigma points return finite outputs.

    Notes
    -----
    A failed sigma point (NaN or inf output) is imputed by reflecting its mirror
    through the centre, ``G_{-i} = 2 G_0 - G_{+i}`` (exact for linear ``G``); when both
    of a pair fail, that direction carries no information this step (its deviation is
    set to zero). A failed centre is replaced by the mean of the pair midpoints. Each
    failed sigma point is counted in the run's ``result.failures``; with fewer than 2
    finite sigma points no update is possible, and the run stops with a `ValueError`
    that carries the result so far as ``exc.gradfree_result``.

    References
    ----------
    D. Z. Huang, T. Schneider and A. M. Stuart, J. Comput. Phys. 463 (2022) 111262,
    eqs. (3.1)-(3.7) (UKI) and sec. 4 (linear analysis).

    Examples
    --------
    Least squares through `gradfree.minimize`: the mean reaches the least-squares
    solution and the covariance ``(A^T A)^{-1}`` (the flat-prior posterior).

    >>> from gradfree import minimize
    >>> A = np.asarray([[1.0, 2.0], [0.0, 1.0], [1.0, -1.0]])
    >>> y = np.asarray([1.0, 2.0, 3.0])
    >>> res = minimize(lambda U: U @ A.T - y, np.zeros(2), method=UKI(update_freq=1),
    ...                workers="vectorized", maxiter=40)
    >>> x_ls = np.linalg.lstsq(A, y, rcond=None)[0]
    >>> bool(np.allclose(res.state.mean, x_ls)), res.nfev
    (True, 200)
    >>> bool(np.allclose(res.state.cov, np.linalg.inv(A.T @ A)))
    True
    """

    name: ClassVar[str] = "uki"

    alpha: float = 1.0
    update_freq: int | None = None
    impose_prior: bool = False
    sigma0: float = 1.0
    prior: Gaussian | None = None
    discrepancy: float | None = None
    xtol: float | None = None

    vector_values: ClassVar[bool] = True
    deterministic: ClassVar[bool] = True  # ask/tell draw nothing: every seed gives one run

    def __post_init__(self) -> None:
        check_positive(self.alpha, "alpha")
        if self.alpha > 1:
            raise ValueError(f"`alpha` must be in (0, 1]; got {self.alpha!r}.")
        if self.update_freq is not None:
            check_int(self.update_freq, "update_freq", low=0)
        if not isinstance(self.impose_prior, bool):
            raise TypeError(
                f"`impose_prior` must be a bool; got {type(self.impose_prior).__name__}."
            )
        check_positive(self.sigma0, "sigma0")
        if self.prior is not None and not isinstance(self.prior, Gaussian):
            raise TypeError(
                "`prior` must be a gradfree.kalman.Gaussian or None; "
                f"got {type(self.prior).__name__}."
            )
        if self.discrepancy is not None:
            check_positive(self.discrepancy, "discrepancy")
        if self.xtol is not None:
            check_nonnegative(self.xtol, "xtol")

    @property
    def _freq(self) -> int:
        if self.update_freq is not None:
            return int(self.update_freq)
        return 1 if self.impose_prior else 0

    # -- protocol -----------------------------------------------------------------
    def step_size(self, state: Any) -> float:
        """The spread ``sqrt(trace C)`` of the analysis covariance."""
        return float(np.sqrt(np.trace(to_host(state.cov))))

    def init(self, x0: Array, *, rng: Any) -> UKIState:
        del rng  # deterministic
        p = x0.shape[0]
        if self.prior is None:
            prior = Gaussian(x0, self.sigma0**2)
        else:
            if self.prior.dim != p:
                raise ValueError(
                    f"`prior` has dimension {self.prior.dim} but `x0` has {p} entries."
                )
            prior = self.prior.like(x0)
        cov = prior.dense_cov()
        return UKIState(mean=prior.mean, cov=cov, prior=prior, omega=(2.0 - self.alpha**2) * cov)

    def ask(self, state: UKIState, *, rng: Any) -> tuple[Array, UKIState]:
        del rng  # deterministic
        xp, _ = get_xp(state.mean)
        p = state.mean.shape[0]
        a = self.alpha
        omega = state.omega
        freq = self._freq
        if freq > 0 and (state.generation + 1) % freq == 0:
            omega = (2.0 - a**2) * state.cov
        r = state.prior.mean
        m_hat = r + a * (state.mean - r)  # eq. (1)
        C_hat = a**2 * state.cov + omega  # eq. (1)
        C_hat = (C_hat + C_hat.T) / 2
        try:
            L = xp.linalg.cholesky(C_hat)
        except Exception as exc:  # LinAlgError differs across namespaces
            raise ValueError(
                "UKI: the predicted covariance is not positive definite "
                f"(generation {state.generation + 1}); check `prior` and the model."
            ) from exc
        c = min(2.0, math.sqrt(p))
        X = xp.concat([m_hat[None, :], m_hat + c * L.T, m_hat - c * L.T])  # eq. (2)
        return X, replace(state, omega=omega, pred_mean=m_hat, pred_cov=C_hat)

    def loss(self, values: Array) -> Array:
        """Data misfit ``0.5 * ||values||^2`` per sigma point (values are whitened residuals).

        Examples
        --------
        >>> UKI().loss(np.asarray([[3.0, 4.0], [0.0, 1.0]]))
        array([12.5,  0.5])
        """
        return half_squared_norm(values)

    def stop(self, state: UKIState) -> str | None:
        return state.message

    def marginal_std(self, state: UKIState) -> Array:
        """Per-coordinate standard deviations ``sqrt(diag C)`` of the current Gaussian."""
        xp, _ = get_xp(state.cov)
        return xp.sqrt(xp.linalg.diagonal(state.cov))

    def tell(self, state: UKIState, X: Array, values: Array) -> UKIState:
        m_hat, C_hat = state.pred_mean, state.pred_cov
        p = state.mean.shape[0]
        n = 2 * p + 1
        if m_hat is None or C_hat is None or tuple(X.shape) != (n, p):
            raise ValueError("`tell` needs the sigma points of the preceding `ask`.")
        if values.ndim != 2 or values.shape[0] != n:
            raise ValueError(
                f"`values` must have shape ({n}, m), one model output per sigma point; "
                f"got {tuple(values.shape)}."
            )
        xp, dev = get_xp(m_hat)
        X, values = like(X, m_hat), like(values, m_hat)
        ok_rows = xp.all(xp.isfinite(values), axis=1)
        R = xp.where(ok_rows[:, None], values, xp.zeros_like(values))
        phi = 0.5 * xp.sum(R * R, axis=1)
        host = to_host(xp.where(ok_rows, phi, xp.full_like(phi, math.nan)))  # one transfer
        ok = np.isfinite(host)
        n_good = int(ok.sum())
        if n_good < 2:
            raise ValueError(
                f"only {n_good} of {n} sigma points returned finite model outputs; "
                "the unscented update needs at least 2. Check the forward model near "
                "the current mean (or start from a smaller prior covariance)."
            )
        if n_good < n:
            R = _impute(R, ok)
        m = values.shape[1]
        r0 = R[0, :]
        misfit = float(host[0]) if ok[0] else 0.5 * float(to_host(xp.sum(r0 * r0)))
        base = replace(
            state, pred_mean=None, pred_cov=None, generation=state.generation + 1,
            misfit=misfit, n_failed=n - n_good,
        )  # fmt: skip
        if self.discrepancy is not None:
            norm, bound = math.sqrt(2 * misfit), self.discrepancy * math.sqrt(m)
            if norm <= bound:  # the evaluated Gaussian is the answer: no update
                return replace(
                    base,
                    mean=m_hat,
                    cov=C_hat,
                    message=(
                        f"Discrepancy principle: ||Gamma^(-1/2) (y - G(mean))|| = {norm:.4g} "
                        f"<= discrepancy * sqrt(m) = {bound:.4g}."
                    ),
                )
        if self.impose_prior:  # augmented system: prior block C0^{-1/2} (theta - m0)
            R = xp.concat([R, state.prior.whiten(X)], axis=1)
            r0 = R[0, :]
        c = min(2.0, math.sqrt(p))
        scale = 1.0 / (c * math.sqrt(2.0))  # sqrt of the weight w = 1 / (2 c^2)
        A = (X[1:, :] - X[:1, :]) * scale  # (2p, p): A^T A = C^
        B = (R[1:, :] - R[:1, :]) * scale  # (2p, M): C_tG = A^T B, eq. (3)
        noise = 2.0  # Sigma_nu = 2 Gamma = 2 I in whitened coordinates
        if B.shape[0] <= B.shape[1]:  # solve on the 2p side (push-through identity)
            lam, V = _eigh(B @ B.T)
            VA = V.T @ A
            gain = (V.T @ (B @ (-r0))) / (lam + noise)
            mean = m_hat + gain @ VA  # eq. (4)
            cov = C_hat - VA.T @ ((lam / (lam + noise))[:, None] * VA)  # eq. (4)
        else:  # solve on the m side
            lam, V = _eigh(B.T @ B)
            P = (A.T @ B) @ V  # C_tG V, (p, M)
            mean = m_hat + P @ ((V.T @ (-r0)) / (lam + noise))  # eq. (4)
            cov = C_hat - (P / (lam + noise)[None, :]) @ P.T  # eq. (4)
        cov = (cov + cov.T) / 2
        message = None
        if self.xtol is not None:
            moved = mean - state.mean
            host2 = to_host(xp.stack([xp.sum(moved * moved), xp.sum(mean * mean)]))
            step, size = math.sqrt(float(host2[0])), math.sqrt(float(host2[1]))
            if step <= self.xtol * (1 + size):
                message = (
                    f"`xtol`: the mean moved {step:.3g} <= xtol * (1 + ||mean||) "
                    f"= {self.xtol * (1 + size):.3g}."
                )
        del dev
        return replace(base, mean=mean, cov=cov, message=message)


def _impute(R: Array, ok: np.ndarray) -> Array:
    """Fill failed sigma-point outputs by reflection through the centre (class Notes)."""
    xp, dev = get_xp(R)
    p = (R.shape[0] - 1) // 2
    ok_d = xp.asarray(ok, device=dev)
    okp, okm = ok_d[1 : p + 1][:, None], ok_d[p + 1 :][:, None]
    Rp, Rm = R[1 : p + 1, :], R[p + 1 :, :]
    if ok[0]:
        r0 = R[0, :]
    else:
        both = ok[1 : p + 1] & ok[p + 1 :]
        if both.any():
            w = xp.asarray(both, dtype=R.dtype, device=dev)[:, None]
            r0 = xp.sum(w * (Rp + Rm) / 2, axis=0) / float(both.sum())
        else:
            w = xp.asarray(ok[1:], dtype=R.dtype, device=dev)[:, None]
            r0 = xp.sum(w * R[1:, :], axis=0) / float(ok[1:].sum())
    Rp_f = xp.where(okp, Rp, xp.where(okm, 2 * r0 - Rm, r0))
    Rm_f = xp.where(okm, Rm, xp.where(okp, 2 * r0 - Rp, r0))
    return xp.concat([r0[None, :], Rp_f, Rm_f])
