"""Spherical Gaussian mixture with a common variance, learned by the method of moments.

Hsu & Kakade, "Learning mixtures of spherical Gaussians: moment methods and spectral
decompositions", ITCS 2013, Thm. 1 (and AGHKT 2014, Thm. 3.2 / Sec. 4.3): for
``x ~ sum_j w_j N(mu_j, sigma^2 I_d)`` with ``k < d`` linearly independent means,

* ``sigma^2`` is the smallest eigenvalue of ``Cov(x)``, with eigenvector ``v``;
* ``m = E[x (v^T (x - E x))^2]`` ``(= sigma^2 E[x])``;
* ``M2 = E[x x^T] - sigma^2 I = sum_j w_j mu_j mu_j^T``;
* ``M3 = E[x^(x)3] - sum_i (m (x) e_i (x) e_i + e_i (x) m (x) e_i + e_i (x) e_i (x) m)
  = sum_j w_j mu_j^(x)3``.

`whitened_symmetric_cp`'s route (whiten with ``M2``, robust tensor power method on the
``k^3`` core, un-whiten) then gives ``mu_j`` and ``w_j``. Every moment is streamed over
chunks of rows; no ``d^3`` array is formed.
"""

from __future__ import annotations

import math
from typing import Any

from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import check_is_fitted

from .._array import get_xp, to_host
from .._random import check_rng
from .._typing import Array
from .._validate import check_int
from ..estimators import validate_X
from ._moments import DEFAULT_CHUNK, _chunks, check_data, whiten, whitened_third_moment
from ._power import robust_power_method

__all__ = ["SphericalGMM", "spherical_gmm_moments"]


def spherical_gmm_moments(
    X: Array, k: int, *, chunk_size: int = DEFAULT_CHUNK
) -> tuple[Array, Array, float]:
    """The Hsu-Kakade corrected moments of a spherical mixture: ``(M2, m, sigma^2)``.

    Parameters
    ----------
    X : array of shape (n, d)
        Samples.
    k : int
        Number of components, ``1 <= k < d``.
    chunk_size : int, default=4096
        Rows per chunk.

    Returns
    -------
    M2 : array of shape (d, d)
        ``E[x x^T] - sigma^2 I`` (Hsu & Kakade 2013, Thm. 1).
    m : array of shape (d,)
        The third-moment correction vector ``E[x (v^T (x - E x))^2]``; pass it as
        ``correction`` to `whitened_third_moment` to get ``M3(W, W, W)``.
    sigma2 : float
        Smallest eigenvalue of the covariance.

    Raises
    ------
    ValueError
        For a bad `X` or ``k >= d``.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((20000, 3)) * 0.5 + [1.0, 0.0, 0.0]
    >>> M2, m, sigma2 = spherical_gmm_moments(X, 1)
    >>> round(sigma2, 1), bool(np.allclose(m, [0.25, 0.0, 0.0], atol=0.02))
    (0.2, True)
    """
    X = check_data(X)
    xp, _ = get_xp(X)
    n, d = X.shape
    k = check_int(k, "k", low=1)
    if k >= d:
        raise ValueError(
            f"`k` must be < d = {d}: the variance is read off a direction free of means; got {k}."
        )
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    S2 = xp.zeros((d, d), dtype=X.dtype, device=X.device)
    S1 = xp.zeros((d,), dtype=X.dtype, device=X.device)
    for a, b in _chunks(n, chunk_size):
        S2 = S2 + X[a:b, :].T @ X[a:b, :]
        S1 = S1 + xp.sum(X[a:b, :], axis=0)
    raw = S2 / n
    raw = (raw + raw.T) / 2
    mean = S1 / n
    cov = raw - mean[:, None] * mean[None, :]
    evals, evecs = xp.linalg.eigh(cov)
    sigma2 = max(float(to_host(evals[0])), 0.0)
    v = evecs[:, 0]
    m = xp.zeros((d,), dtype=X.dtype, device=X.device)
    for a, b in _chunks(n, chunk_size):
        p = (X[a:b, :] - mean[None, :]) @ v
        m = m + (p * p) @ X[a:b, :]
    m = m / n
    M2 = raw - sigma2 * xp.eye(d, dtype=X.dtype, device=X.device)
    return M2, m, sigma2


class SphericalGMM(DensityMixin, BaseEstimator):
    """Spherical Gaussian mixture (common variance) fitted by the method of moments.

    Needs no EM and no likelihood gradient: three streamed passes over the data, one
    ``d x d`` eigendecomposition and a robust tensor power method on a ``k^3`` tensor
    (Hsu & Kakade 2013; AGHKT 2014, Sec. 3.2, 4.3, Algorithm 1).

    Parameters
    ----------
    n_components : int, default=1
        ``k``; must be smaller than the dimension ``d``.
    n_restarts : int, default=10
        Random restarts per component of the power method.
    n_iter : int, default=100
        Maximum power updates per phase.
    chunk_size : int, default=4096
        Rows per chunk of the moment passes.
    rng : None, int, SeedSequence or Generator, default=None
        Source of the power method's random starts.

    Attributes
    ----------
    means_ : array of shape (k, d)
    weights_ : array of shape (k,)
        Mixing weights ``1 / lambda_j^2``, renormalized to sum to one.
    sigma2_ : float
        Common variance ``sigma^2``.
    n_features_in_ : int

    References
    ----------
    D. Hsu, S. M. Kakade. Learning mixtures of spherical Gaussians: moment methods and
    spectral decompositions. ITCS 2013, Thm. 1. AGHKT, JMLR 15, 2014, Thm. 3.2, 4.3.

    Examples
    --------
    >>> g = np.random.default_rng(0)
    >>> means = 3.0 * np.eye(4)[:2]
    >>> labels = g.integers(2, size=20000)
    >>> X = means[labels] + 0.5 * g.standard_normal((20000, 4))
    >>> gmm = SphericalGMM(2, rng=0).fit(X)
    >>> order = np.argsort(gmm.means_[:, 0])[::-1]
    >>> bool(np.abs(gmm.means_[order] - means).max() < 0.1), round(gmm.sigma2_, 1)
    (True, 0.2)
    >>> bool((gmm.predict(X) == labels).mean() > 0.99 or (gmm.predict(X) != labels).mean() > 0.99)
    True
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        n_restarts: int = 10,
        n_iter: int = 100,
        chunk_size: int = DEFAULT_CHUNK,
        rng: Any = None,
    ) -> None:
        self.n_components = n_components
        self.n_restarts = n_restarts
        self.n_iter = n_iter
        self.chunk_size = chunk_size
        self.rng = rng

    def fit(self, X: Array, y: Any = None) -> SphericalGMM:
        """Estimate means, weights and the common variance from samples `X` (n, d).

        Raises
        ------
        ValueError
            For a bad `X`, ``n_components >= d``, or a degenerate second moment.
        """
        del y
        X = validate_X(self, X, reset=True)
        xp, _ = get_xp(X)
        n, d = X.shape
        k = check_int(self.n_components, "n_components", low=1)
        if k >= d:
            raise ValueError(f"`n_components` must be < n_features = {d}; got {k}.")
        if n < 2:
            raise ValueError(
                f"SphericalGMM needs n_samples >= 2 for moments; got n_samples = {n}."
            )
        rng = check_rng(self.rng)
        M2, m, sigma2 = spherical_gmm_moments(X, k, chunk_size=self.chunk_size)
        W, B = whiten(M2, k)
        T = whitened_third_moment(X, W, correction=m, chunk_size=self.chunk_size)
        lam, V = robust_power_method(T, k, n_restarts=self.n_restarts, n_iter=self.n_iter, rng=rng)
        means = (B @ V) * lam[None, :]  # mu_j = lambda_j B v_j (AGHKT Thm. 4.3)
        weights = 1.0 / (lam * lam)
        self.means_ = means.T
        self.weights_ = weights / xp.sum(weights)
        self.sigma2_ = sigma2
        return self

    def _log_joint(self, X: Array) -> Array:
        """``log w_j + log N(x_i; mu_j, sigma^2 I)`` of shape (n, k)."""
        check_is_fitted(self, "means_")
        X = validate_X(self, X, reset=False)
        xp, _ = get_xp(X, self.means_)
        s2 = max(self.sigma2_, 1e-300)
        sq = (
            xp.sum(X * X, axis=1)[:, None]
            - 2 * X @ self.means_.T
            + xp.sum(self.means_ * self.means_, axis=1)[None, :]
        )
        const = -0.5 * self.n_features_in_ * math.log(2 * math.pi * s2)
        return xp.log(self.weights_)[None, :] + const - sq / (2 * s2)

    def predict(self, X: Array) -> Array:
        """Index of the most probable component of each row of `X`."""
        xp, _ = get_xp(X)
        return xp.argmax(self._log_joint(X), axis=1)

    def score_samples(self, X: Array) -> Array:
        """Log-likelihood ``log p(x_i)`` of each row of `X` under the fitted mixture."""
        xp, _ = get_xp(X)
        L = self._log_joint(X)
        top = xp.max(L, axis=1)
        return top + xp.log(xp.sum(xp.exp(L - top[:, None]), axis=1))

    def score(self, X: Array, y: Any = None) -> float:
        """Mean log-likelihood of the rows of `X` (scikit-learn's ``score``)."""
        del y
        xp, _ = get_xp(X)
        return float(to_host(xp.mean(self.score_samples(X))))
