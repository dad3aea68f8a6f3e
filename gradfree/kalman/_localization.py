"""Localization / sampling-error correction of the ensemble covariances of EKI.

With a small ensemble (``J - 1 < p``) the sample cross-covariance ``C_uG`` (``p x m``)
carries spurious correlations between unrelated parameters and outputs, and the EKI
update stays in the span of the initial ensemble. A localizer replaces ``C_uG`` and
``C_GG`` by Schur (elementwise) products ``C_uG o L_uG`` and ``C_GG o L_GG`` with
factors computed blockwise from the sample correlations, e.g.

    R_ik = C_uG[i, k] / (std(u_i) std(G_k))                                        (1)

(EnsembleKalmanProcesses.jl's ``Localizers``; Tong & Morzfeld 2023, arXiv:2201.10821).
The localized ``C_uG`` can have full rank, so the update leaves the ensemble span.
Both blocks of the joint covariance that enter the gain are localized: localizing
``C_uG`` alone is unstable (the gain ``(C_uG o L) (C_GG + Gamma/dt)^{-1}`` then
amplifies, by ``dt / Gamma``, residual directions the rank-deficient ``C_GG`` does not
see). The ``u``-``u`` block is never needed, so the cost is ``O(J m (p + m) + m^3)``
time and ``O(m (p + m))`` memory, never ``p x p`` or ``(p + m)^2``: localization is
for moderate ``m`` (hundreds to a few thousands of observations).

Factors (``J`` is the number of successful members):

- `SEC` (Lee 2021, arXiv:2105.11341): ``L = |R|^alpha``, and ``L = 0`` where
  ``|R| <= cutoff``.
- `SECFisher` (Lee 2021 with Flowerdew 2015, Tellus A 67:25257): Fisher's
  ``z = artanh(R)`` has standard error ``s_z = 1/sqrt(J - 3)``; the correlation's is
  ``s_r = (tanh(z + s_z) - tanh(z - s_z)) / 2`` and ``L = Q^2 / (1 + Q^2)``, ``Q = R / s_r``.
- `SECNice` (Vishny, Morzfeld, Gwirtz, Bach, Dunbar & Hodyss 2024, "High-dimensional
  covariance estimation from a small number of samples", JAMES): tuning-free. The noise
  level of ``R`` is ``tau = delta sqrt(sum_ik sd(R_ik)^2)`` with ``sd(r)`` the standard
  deviation of ``tanh(Z)``, ``Z ~ N(artanh r, 1/(J - 3))`` (here by Gauss-Hermite
  quadrature, deterministic, instead of EKP's Monte Carlo table). The smallest even
  power ``g`` in 2, 4, ..., 10 with ``||R^(g+1) - R||_F > tau`` is taken, then
  ``L = (1 - a) R^(g-2) + a R^g`` with the largest ``a`` in a 10-point grid on [0, 1]
  for which ``||R o L - R||_F < tau``.
- `BernoulliDropout` (EKP's ``BernoulliDropout``): ``L_ik ~ Bernoulli(prob)``,
  independent, drawn from the tell's seeded generator; symmetric with a unit diagonal
  on the ``G``-``G`` block.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from .._array import get_xp, to_host
from .._random import normal
from .._typing import Array
from .._validate import check_nonnegative, check_positive

__all__ = [
    "BernoulliDropout",
    "Localizer",
    "SEC",
    "SECFisher",
    "SECNice",
    "as_localizer",
    "localize",
]

_BOUND = float(1e8 * np.finfo(np.float64).eps)  # correlations are clipped to +-(1 - _BOUND)


class Localizer(ABC):
    """Base of the localizers: ``factor(R, n, gen, symmetric)`` returns the factor ``L``.

    `R` is one block of sample correlations of `n` members (``p x m`` for ``u``-``G``,
    or the symmetric ``m x m`` ``G``-``G`` block, with ``symmetric=True``).

    Examples
    --------
    >>> issubclass(SECNice, Localizer)
    True
    """

    @abstractmethod
    def factor(self, R: Array, n: int, gen: np.random.Generator, symmetric: bool = False) -> Array:
        """The Schur factor ``L`` for the correlations `R` of `n` members."""


@dataclass(frozen=True)
class SEC(Localizer):
    """Sampling-error correction of Lee (2021): ``L = |R|^alpha``, zero below `cutoff`.

    Parameters
    ----------
    alpha : float, default=1.0
        Power (>= 0); ``alpha = 0`` is no localization (apart from the cutoff).
    cutoff : float, default=0.0
        Correlations with ``|R| <= cutoff`` are dropped (``0 <= cutoff < 1``).

    References
    ----------
    Y. Lee, "Sampling error correction in ensemble Kalman inversion",
    arXiv:2105.11341 (2021).

    Examples
    --------
    >>> SEC(alpha=2.0).factor(np.asarray([[0.5, -1.0]]), 10, np.random.default_rng(0))
    array([[0.25, 1.  ]])
    """

    alpha: float = 1.0
    cutoff: float = 0.0

    def __post_init__(self) -> None:
        check_nonnegative(self.alpha, "alpha")
        if check_nonnegative(self.cutoff, "cutoff") >= 1:
            raise ValueError(f"`cutoff` must be < 1; got {self.cutoff!r}.")

    def factor(self, R: Array, n: int, gen: np.random.Generator, symmetric: bool = False) -> Array:
        del n, gen, symmetric
        xp, _ = get_xp(R)
        absR = xp.abs(R)
        L = absR**self.alpha
        if self.cutoff > 0:
            L = xp.where(absR > self.cutoff, L, xp.zeros_like(L))
        return L


def _fisher_sd(n: int) -> float:
    """Standard error ``1/sqrt(n - 3)`` of Fisher's z (``n - 3`` floored at 1)."""
    return 1.0 / math.sqrt(max(n - 3, 1))


@dataclass(frozen=True)
class SECFisher(Localizer):
    """Sampling-error correction with Fisher's z-transform (Lee 2021; Flowerdew 2015).

    ``L = Q^2 / (1 + Q^2)`` with ``Q = R / s_r``, ``s_r`` the standard error of the
    correlation from Fisher's transform with ``J`` members. Tends to 1 (no localization)
    as ``J`` grows. For ``J <= 4`` the z standard error is taken as 1.

    Examples
    --------
    >>> L = SECFisher().factor(np.asarray([[0.05, 0.9]]), 20, np.random.default_rng(0))
    >>> bool(L[0, 0] < 0.1 < 0.9 < L[0, 1] < 1.0)
    True
    """

    def factor(self, R: Array, n: int, gen: np.random.Generator, symmetric: bool = False) -> Array:
        del gen, symmetric
        xp, _ = get_xp(R)
        s = _fisher_sd(n)
        z = xp.atanh(xp.clip(R, -1 + _BOUND, 1 - _BOUND))
        sr = 0.5 * (xp.tanh(z + s) - xp.tanh(z - s))
        Q2 = (R / sr) ** 2
        return Q2 / (1.0 + Q2)


def _correlation_sd(R: Array, n: int, nodes: int = 24) -> Array:
    """sd of ``tanh(Z)``, ``Z ~ N(artanh R, 1/(n - 3))``, by Gauss-Hermite quadrature."""
    xp, _ = get_xp(R)
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    s = _fisher_sd(n)
    z = xp.atanh(xp.clip(R, -1 + _BOUND, 1 - _BOUND))
    m1 = xp.zeros_like(R)
    m2 = xp.zeros_like(R)
    for xk, wk in zip(x.tolist(), w.tolist()):
        t = xp.tanh(z + s * xk)
        m1 = m1 + wk * t
        m2 = m2 + wk * (t * t)
    return xp.sqrt(xp.maximum(m2 - m1 * m1, xp.zeros_like(m1)))


def _norm(x: Array) -> float:
    xp, _ = get_xp(x)
    return math.sqrt(float(to_host(xp.sum(x * x))))


@dataclass(frozen=True)
class SECNice(Localizer):
    """Tuning-free sampling-error correction, SEC-NICE (Vishny, Morzfeld et al. 2024).

    Even powers of the correlations, chosen so that the correction is as large as the
    estimated sampling noise of ``R`` (module docstring); ``L`` is nonnegative and tends
    to 1 as ``J`` grows. EnsembleKalmanProcesses.jl's recommended localizer for EKI.

    Parameters
    ----------
    delta : float, default=1.0
        Multiplier of the noise level (EKP's ``delta_ug``); > 0.

    References
    ----------
    D. Vishny, M. Morzfeld, K. Gwirtz, E. Bach, O. R. A. Dunbar and D. Hodyss,
    "High-dimensional covariance estimation from a small number of samples", J. Adv.
    Model. Earth Syst. (2024).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> R = np.tanh(0.3 * rng.standard_normal((50, 40)))
    >>> L = SECNice().factor(R, 10, rng)
    >>> bool(L.min() >= 0 and L.max() <= 1), float(SECNice().factor(R, 10**9, rng).min())
    (True, 1.0)
    """

    delta: float = 1.0

    def __post_init__(self) -> None:
        check_positive(self.delta, "delta")

    def factor(self, R: Array, n: int, gen: np.random.Generator, symmetric: bool = False) -> Array:
        del gen, symmetric
        xp, _ = get_xp(R)
        R = xp.clip(R, -1 + _BOUND, 1 - _BOUND)
        tau = self.delta * _norm(_correlation_sd(R, n))
        R2 = R * R
        low = xp.ones_like(R)  # R^(gamma - 2)
        for gamma in range(2, 11, 2):
            high = low * R2  # R^gamma
            if _norm(high * R - R) > tau or gamma == 10:  # 10: the largest power tried
                break
            low = high
        for a in np.linspace(1.0, 0.0, 10).tolist():
            L = (1.0 - a) * low + a * high
            if _norm(L * R - R) < tau:
                return L
        return xp.ones_like(R)


@dataclass(frozen=True)
class BernoulliDropout(Localizer):
    """Keep each cross-covariance entry with probability `prob` (EKP's ``BernoulliDropout``).

    A fresh ``p x m`` mask is drawn at every update from the generator the tell seeds
    (so runs are reproducible). ``prob = 1`` is no localization.

    Examples
    --------
    >>> L = BernoulliDropout(0.5).factor(np.zeros((100, 100)), 10, np.random.default_rng(0))
    >>> round(float(L.mean()), 1)
    0.5
    """

    prob: float = 0.9

    def __post_init__(self) -> None:
        if check_positive(self.prob, "prob") > 1:
            raise ValueError(f"`prob` must be in (0, 1]; got {self.prob!r}.")

    def factor(self, R: Array, n: int, gen: np.random.Generator, symmetric: bool = False) -> Array:
        del n
        xp, dev = get_xp(R)
        if self.prob >= 1:
            return xp.ones_like(R)
        z = normal(gen, tuple(R.shape), like=R)
        keep = z < NormalDist().inv_cdf(self.prob)
        if symmetric:  # mirror the upper triangle, keep the diagonal
            i = xp.arange(R.shape[0], device=dev)
            upper = i[:, None] < i[None, :]
            keep = xp.where(upper, keep, keep.T)
            keep = xp.where(i[:, None] == i[None, :], xp.ones_like(keep), keep)
        return xp.astype(keep, R.dtype)


_NAMES: dict[str, type] = {
    "sec": SEC,
    "sec-fisher": SECFisher,
    "sec-nice": SECNice,
    "bernoulli": BernoulliDropout,
}


def as_localizer(value: Any) -> Localizer | None:
    """Normalize the `localization` option: None, a name, True (SECNice) or a Localizer.

    Names: ``'none'``, ``'sec'``, ``'sec-fisher'``, ``'sec-nice'``, ``'bernoulli'``
    (each with default parameters).

    Examples
    --------
    >>> as_localizer("sec-nice"), as_localizer(True), as_localizer("none")
    (SECNice(delta=1.0), SECNice(delta=1.0), None)
    """
    if value is None or value is False:
        return None
    if value is True:
        return SECNice()
    if isinstance(value, str):
        key = value.lower().replace("_", "-")
        if key == "none":
            return None
        if key not in _NAMES:
            raise ValueError(
                f"unknown `localization` {value!r}; choose one of "
                f"{['none', *sorted(_NAMES)]} or pass a Localizer."
            )
        return _NAMES[key]()
    if not isinstance(value, Localizer):
        raise TypeError(
            "`localization` must be None, a name, True or a Localizer (SEC, SECFisher, "
            f"SECNice, BernoulliDropout); got {type(value).__name__}."
        )
    return value


def _correlations(C: Array, su: Array, sg: Array) -> Array:
    """``C / (su sg^T)``, 0 where a standard deviation is 0."""
    xp, _ = get_xp(C)
    denom = su[:, None] * sg[None, :]
    positive = denom > 0
    return xp.where(positive, C / xp.where(positive, denom, xp.ones_like(denom)), xp.zeros_like(C))


def localize(
    localizer: Localizer, A: Array, B: Array, gen: np.random.Generator
) -> tuple[Array, Array]:
    """The localized ``C_uG o L_uG`` (``p x m``) and ``C_GG o L_GG`` (``m x m``).

    `A` (n, p) and `B` (n, m) are the centred parameters and outputs of ``n`` members;
    ``C_uG = A^T B / (n - 1)``, ``C_GG = B^T B / (n - 1)``. Zero-variance coordinates
    get correlation 0.

    Examples
    --------
    >>> A = np.asarray([[1.0, 0.0], [-1.0, 0.0]])
    >>> B = np.asarray([[2.0], [-2.0]])
    >>> Cug, Cgg = localize(SEC(), A, B, np.random.default_rng(0))   # R_uG = [[1], [0]]
    >>> Cug.ravel(), Cgg
    (array([4., 0.]), array([[8.]]))
    """
    xp, _ = get_xp(A)
    n = A.shape[0]
    Cug = (A.T @ B) / (n - 1)
    Cgg = (B.T @ B) / (n - 1)
    su = xp.sqrt(xp.sum(A * A, axis=0) / (n - 1))
    sg = xp.sqrt(xp.sum(B * B, axis=0) / (n - 1))
    Lug = localizer.factor(_correlations(Cug, su, sg), n, gen)
    Lgg = localizer.factor(_correlations(Cgg, sg, sg), n, gen, symmetric=True)
    return Cug * Lug, Cgg * Lgg
