"""The pieces of NN-LIFT: score functions, streamed cross-moment sketches, the
Gaussianity check and the gradient-free search for each neuron's scale and bias
(`gradfree.tensor.NNLIFTRegressor` puts them together)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from .._array import asarray_like, get_xp, to_host
from .._typing import Array
from .._validate import GradfreeWarning
from ..models import activate
from ._moments import _chunks, check_data

__all__ = ["gaussian_score3"]

_ACTIVATIONS = ("tanh", "sigmoid", "relu")


def _activation(name: str | Callable, xp: Any) -> Callable:
    """The elementwise activation ``sigma`` (a name of `gradfree.models.activate`, which
    keeps the namespace of its input, or a callable)."""
    if callable(name):
        return name
    return partial(activate, name)  # the package's one activation table


def gaussian_score3(X: Array, mean: Array, cov: Array) -> Array:
    """Third-order score function of ``N(mean, cov)`` at each row of `X` (dense).

    ``S3(x) = u (x) u (x) u - sym(u (x) Sigma^-1)`` with ``u = Sigma^-1 (x - mu)`` and
    ``sym(u (x) M) = u (x) M + (u (x) M) permuted to modes (2, 1, 3) and (2, 3, 1)``
    (Janzamin, Sedghi & Anandkumar 2014, arXiv:1412.2863, Hermite form); for ``N(0, I)`` it
    is the Hermite tensor ``x^(x)3 - sum_i (x (x) e_i (x) e_i + ...)``. It satisfies
    ``E[f(x) S3(x)] = E[grad^3 f(x)]``. Forms ``n d^3`` numbers: for small data, tests,
    or as a template for the `score` argument of `NNLIFTRegressor`.

    Parameters
    ----------
    X : array of shape (n, d)
    mean : array of shape (d,)
    cov : array of shape (d, d)
        Symmetric positive definite.

    Returns
    -------
    S3 : array of shape (n, d, d, d)

    Examples
    --------
    >>> S = gaussian_score3(np.asarray([[2.0]]), np.zeros(1), np.eye(1))
    >>> float(S[0, 0, 0, 0])  # He_3(2) = 2^3 - 3 * 2
    2.0
    """
    X = check_data(X)
    xp, _ = get_xp(X)
    mean = asarray_like(to_host(mean) if is_array_api_obj(mean) else mean, X)
    cov = asarray_like(to_host(cov) if is_array_api_obj(cov) else cov, X)
    P = xp.linalg.inv(cov)
    U = (X - mean[None, :]) @ P
    uuu = U[:, :, None, None] * U[:, None, :, None] * U[:, None, None, :]
    sym = (
        U[:, :, None, None] * P[None, None, :, :]
        + U[:, None, :, None] * P[None, :, None, :]
        + U[:, None, None, :] * P[None, :, :, None]
    )
    return uuu - sym


def _gaussian_sketches(Z: Array, w: Array, Theta: Array, chunk_size: int) -> tuple[Array, Array]:
    """Stacked slices ``[T(I, I, theta_r)]_r`` (d, d p) of ``T = E[w S3(z)]``, and ``m = E[w z]``.

    Per chunk one ``(d p, c) @ (c, d)`` product; ``S3(z)(I, I, theta) = (z.theta) z z^T -
    (z theta^T + theta z^T + (z.theta) I)``.
    """
    xp, _ = get_xp(Z)
    n, d = Z.shape
    p = Theta.shape[1]
    acc = xp.zeros((d * p, d), dtype=Z.dtype, device=Z.device)
    m = xp.zeros((d,), dtype=Z.dtype, device=Z.device)
    for a, b in _chunks(n, chunk_size):
        Zc = Z[a:b, :]
        Zw = Zc * w[a:b, None]
        P = Zc @ Theta  # (c, p)
        acc = acc + xp.reshape(Zw[:, :, None] * P[:, None, :], (b - a, d * p)).T @ Zc
        m = m + xp.sum(Zw, axis=0)
    K = xp.reshape(acc / n, (d, p, d))  # K[a, r, b] = E[w z_a z_b (z.theta_r)]
    m = m / n
    mt = m @ Theta  # (p,)
    eye = xp.eye(d, dtype=Z.dtype, device=Z.device)
    K = (
        K
        - m[:, None, None] * Theta.T[None, :, :]
        - Theta[:, :, None] * m[None, None, :]
        - eye[:, None, :] * mt[None, :, None]
    )
    return xp.reshape(K, (d, p * d)), m


def _batched_sketches(
    Z: Array, w: Array, Theta: Array, chunk_size: int, n_batches: int = 16
) -> tuple[np.ndarray, Array, float]:
    """`_gaussian_sketches` over contiguous batches: the mean, ``m``, and a noise floor.

    The moment is linear in the samples, so the size-weighted mean of the batch moments is
    the full moment; their spread gives its standard error, and ``rms(se) (sqrt(rows) +
    sqrt(cols))`` the spectral norm of a random matrix of that entry size.
    """
    n = Z.shape[0]
    edges = np.linspace(0, n, min(n_batches, n) + 1).astype(int)
    Ks, ms, sizes = [], [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        Kb, mb = _gaussian_sketches(Z[a:b, :], w[a:b], Theta, chunk_size)
        Ks.append(to_host(Kb))
        ms.append(mb)
        sizes.append(float(b - a) / n)
    frac = np.asarray(sizes)
    Kall = np.stack(Ks)
    K = np.tensordot(frac, Kall, axes=1)
    m = ms[0] * sizes[0]
    for mb, f in zip(ms[1:], sizes[1:], strict=True):
        m = m + mb * f
    B = len(sizes)
    var = np.tensordot(frac**2, (Kall - K) ** 2, axes=1) * B / max(B - 1, 1)
    floor = float(np.sqrt(var.mean()) * (np.sqrt(K.shape[0]) + np.sqrt(K.shape[1])))
    return K, m, floor


def _core(Z: Array, w: Array, U: Array, m: Array, chunk_size: int) -> Array:
    """The projected core ``E[w S3(z)](U, U, U)`` of shape (k, k, k), streamed."""
    from ._moments import _sym_outer

    xp, _ = get_xp(Z)
    n = Z.shape[0]
    k = U.shape[1]
    acc = xp.zeros((k * k, k), dtype=Z.dtype, device=Z.device)
    for a, b in _chunks(n, chunk_size):
        Y = Z[a:b, :] @ U
        Yw = Y * w[a:b, None]
        acc = acc + xp.reshape(Yw[:, :, None] * Y[:, None, :], (b - a, k * k)).T @ Y
    return xp.reshape(acc, (k, k, k)) / n - _sym_outer(m @ U, U.T @ U)


def _user_moment(X: Array, w: Array, score: Callable, chunk_size: int) -> Array:
    """Dense ``E[w S3(x)]`` (d, d, d) from a user score, formed one chunk at a time."""
    xp, _ = get_xp(X)
    n, d = X.shape
    T = xp.zeros((d, d, d), dtype=X.dtype, device=X.device)
    for a, b in _chunks(n, chunk_size):
        S = score(X[a:b, :])
        if not is_array_api_obj(S) or tuple(S.shape) != (b - a, d, d, d):
            raise ValueError(
                f"`score` must return an array of shape ({b - a}, {d}, {d}, {d}) for a chunk "
                f"of {b - a} rows; got {getattr(S, 'shape', type(S).__name__)}."
            )
        S = xp.asarray(S, dtype=X.dtype, device=X.device)
        T = T + xp.reshape(w[a:b] @ xp.reshape(S, (b - a, d * d * d)), (d, d, d))
    return T / n


def _gaussianity(Z: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """Largest |excess kurtosis| and |skewness| of `Z` along axes and random directions."""
    d = Z.shape[1]
    D = rng.standard_normal((d, d))
    D = np.concatenate([np.eye(d), D / np.linalg.norm(D, axis=0)], axis=1)
    P = Z @ D
    P = P - P.mean(axis=0)
    sd = P.std(axis=0)
    P = P / np.where(sd > 0, sd, 1.0)
    return float(np.abs((P**4).mean(axis=0) - 3.0).max()), float(np.abs((P**3).mean(axis=0)).max())


def _warn_gaussianity(Z: np.ndarray, rng: np.random.Generator) -> None:
    """Warn when the standardized inputs `Z` are clearly not Gaussian (beyond sampling error)."""
    kurt, skew = _gaussianity(Z, rng)
    se = math.sqrt(24.0 / Z.shape[0])
    if kurt > 0.5 + 10 * se or skew > 0.3 + 10 * math.sqrt(6.0 / Z.shape[0]):
        warnings.warn(
            f"`X` does not look Gaussian (max |excess kurtosis| {kurt:.2f}, max "
            f"|skewness| {skew:.2f} along axes and random directions): the "
            'Gaussian score function is then wrong; pass density="custom" and '
            "the `score_function` of the true input density.",
            GradfreeWarning,
            stacklevel=4,
        )


def _warn_visibility(sv: np.ndarray, k: int, floor: float | None, ratio: float) -> None:
    """Warn when fewer than ``k`` singular values stand out of the moment's noise floor."""
    if floor is None:  # user score: the (k+1)-th singular value is the floor
        floor = sv[k] if sv.size > k else 0.0
    top = sv[0] if sv.size else 0.0
    cut = max(ratio * floor, 1e-8 * top)
    visible = int(np.sum(sv[:k] > cut))
    if top <= 0 or visible < k:
        warnings.warn(
            f"only {visible} of `n_hidden`={k} neurons stand out of the noise in "
            f"E[y S3(x)] (singular values {np.array2string(sv[: k + 1], precision=3)}, "
            f"noise floor {floor:.3g}): some lambda_j = a2_j E[sigma'''(z_j)] is ~0 (e.g. "
            "a zero output weight, or an activation whose third derivative averages to 0, "
            "like relu with zero bias) or n is too small to see it, so its direction is "
            "noise; use fewer hidden units or more samples.",
            GradfreeWarning,
            stacklevel=4,
        )


def _profile_sse(Q: np.ndarray, ry: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Residual sum of squares of ``y ~ [Q, h]`` per column of `H` (Q orthonormal, ry ⟂ Q)."""
    num = ry @ H
    QH = H.T @ Q  # not Q.T @ H: OpenBLAS is very slow on that thin transposed product
    den = np.einsum("ij,ij->j", H, H) - np.einsum("ji,ji->j", QH, QH)
    gain = np.where(den > 1e-9 * H.shape[0], num * num / np.maximum(den, 1e-300), 0.0)
    return ry @ ry - gain


def _fit_scale_bias(
    T: np.ndarray, y: np.ndarray, sigma: Callable, n_sweeps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Backfitting grid search of ``(s_j, b_j)`` in ``sigma(s_j t_j + b_j)``, t standardized."""
    n, k = T.shape
    s_grid = np.concatenate([-np.geomspace(0.1, 8.0, 12), np.geomspace(0.1, 8.0, 12)])
    b_grid = np.linspace(-4.0, 4.0, 17)
    S = np.zeros(k)
    B = np.zeros(k)
    fitted = np.zeros(k, dtype=bool)
    feats = np.zeros((n, k))
    ones = np.ones((n, 1))
    for _ in range(n_sweeps):
        for j in range(k):
            others = [feats[:, i] for i in range(k) if fitted[i] and i != j]
            Q, _ = np.linalg.qr(np.column_stack([ones, *others]))
            Q = np.ascontiguousarray(Q)
            ry = y - Q @ (Q.T @ y)
            s, b = _grid_min(Q, ry, T[:, j], sigma, s_grid, b_grid)
            for level in range(3):  # coarse-to-fine refinement around the best point
                ds = 0.12 * abs(s) / 2**level
                db = 0.25 / 2**level
                s, b = _grid_min(
                    Q,
                    ry,
                    T[:, j],
                    sigma,
                    s + ds * np.linspace(-2, 2, 9),
                    b + db * np.linspace(-2, 2, 9),
                )
            S[j], B[j] = s, b
            feats[:, j] = sigma(s * T[:, j] + b)
            fitted[j] = True
    return S, B


def _grid_min(
    Q: np.ndarray, ry: np.ndarray, t: np.ndarray, sigma: Callable, s_grid: Any, b_grid: Any
) -> tuple[float, float]:
    """The ``(s, b)`` on the grid with the smallest profiled residual."""
    s_all, b_all = np.meshgrid(np.asarray(s_grid), np.asarray(b_grid), indexing="ij")
    s_all, b_all = s_all.ravel(), b_all.ravel()
    best, best_sse = 0, np.inf
    for start in range(0, s_all.size, 128):
        sl = slice(start, start + 128)
        H = sigma(t[:, None] * s_all[None, sl] + b_all[None, sl])
        sse = _profile_sse(Q, ry, H)
        i = int(np.argmin(sse))
        if sse[i] < best_sse:
            best, best_sse = start + i, sse[i]
    return float(s_all[best]), float(b_all[best])


def _symmetric_factor(factors: list) -> np.ndarray:
    """One unit factor per component from the three CP factors of a symmetric tensor."""
    F = [to_host(f) for f in factors]
    V = F[0].copy()
    for other in F[1:]:
        V = V + other * np.sign(np.sum(other * F[0], axis=0))[None, :]
    return V / np.linalg.norm(V, axis=0)
