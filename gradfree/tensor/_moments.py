"""Streamed moment estimators, whitening and implicit third-moment products.

Method-of-moments learners (Anandkumar, Ge, Hsu, Kakade & Telgarsky, "Tensor
decompositions for learning latent variable models", JMLR 15, 2014, Sec. 4.3 and 5.1)
need the second moment ``M2 = E[x x^T]``, a whitening matrix ``W`` with
``W^T M2 W = I_k`` and the whitened third moment ``T = M3(W, W, W)``. Everything here
is accumulated over chunks of rows of ``X``, so no ``(n, d, d, d)`` or ``(d, d, d)``
array is ever formed: the whitened tensor is ``k^3`` (`SampleMoment3`, in
``_implicit.py``, gives ``T(I, v, v)`` straight from the samples).

Model-specific corrections (Gaussian noise, centering, score functions) enter as a
"linear correction" ``m``: the corrected tensor is ``E[w x^(x)3] - sym(m (x) I)``, with
``sym(m (x) I) = sum_i (m (x) e_i (x) e_i + e_i (x) m (x) e_i + e_i (x) e_i (x) m)``.
This covers the spherical Gaussian mixture (AGHKT Thm. 3.2, ``m = sigma^2 E[x]``) and
the Gaussian score function of NN-LIFT (``w = y``, ``m = E[y x]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from .._array import get_xp, to_host
from .._typing import Array
from .._validate import check_int

__all__ = [
    "check_data",
    "multilinear",
    "second_moment",
    "whiten",
    "whitened_third_moment",
]

DEFAULT_CHUNK = 4096


def check_data(X: Any, name: str = "X") -> Array:
    """Validate a data matrix: 2-d, real floating (integers become float64), finite.

    Parameters
    ----------
    X : array of shape (n, d)
        Samples in rows; NumPy, CuPy or any array-API array (lists become NumPy).
    name : str, default="X"
        Argument name used in error messages.

    Returns
    -------
    X : array of shape (n, d)
        Same namespace and device; not copied when already floating.

    Raises
    ------
    ValueError
        For a shape other than ``(n, d)`` with ``n, d >= 1``, or NaN / inf entries.
    TypeError
        For a non-numeric dtype.

    Examples
    --------
    >>> check_data([[1, 2], [3, 4]]).dtype
    dtype('float64')
    >>> check_data(np.ones(3))
    Traceback (most recent call last):
    ...
    ValueError: `X` must be 2-d of shape (n, d); got shape (3,).
    """
    if not is_array_api_obj(X):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"`{name}` must be a 2-d array of real numbers.") from exc
    xp, _ = get_xp(X)
    if xp.isdtype(X.dtype, "integral") or xp.isdtype(X.dtype, "bool"):
        X = xp.astype(X, xp.float64)
    if not xp.isdtype(X.dtype, "real floating"):
        raise TypeError(f"`{name}` must hold real numbers; got dtype {X.dtype}.")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"`{name}` must be 2-d of shape (n, d); got shape {tuple(X.shape)}.")
    finite = to_host(xp.all(xp.isfinite(X), axis=1))
    if not finite.all():
        bad = np.flatnonzero(~finite)[:10].tolist()
        raise ValueError(f"`{name}` must be finite; rows {bad} hold NaN or inf.")
    return X


def _check_weights(weights: Any, X: Array) -> Array | None:
    """Validate per-sample weights (e.g. labels y) against `X`; returns them like `X`."""
    if weights is None:
        return None
    xp, dev = get_xp(X)
    w = weights if is_array_api_obj(weights) else np.asarray(weights)
    w = xp.asarray(w, dtype=X.dtype, device=dev)
    if w.ndim != 1 or w.shape[0] != X.shape[0]:
        raise ValueError(
            f"`weights` must have shape ({X.shape[0]},), one per row of `X`; got {tuple(w.shape)}."
        )
    if not bool(to_host(xp.all(xp.isfinite(w)))):
        raise ValueError("`weights` must be finite.")
    return w


def _chunks(n: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """Start/stop pairs covering ``range(n)``."""
    for start in range(0, n, chunk_size):
        yield start, min(start + chunk_size, n)


def second_moment(
    X: Array,
    *,
    weights: Array | None = None,
    center: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
) -> Array:
    """Streamed empirical second moment ``(1/n) sum_i w_i x_i x_i^T`` (or the covariance).

    Parameters
    ----------
    X : array of shape (n, d)
        Samples in rows.
    weights : array of shape (n,), optional
        Per-sample weights ``w_i`` (default: all ones).
    center : bool, default=False
        Return the covariance ``E[(x - E x)(x - E x)^T]`` instead (unweighted only).
    chunk_size : int, default=4096
        Rows per chunk; memory is ``O(chunk_size * d + d^2)``.

    Returns
    -------
    M2 : array of shape (d, d)

    Raises
    ------
    ValueError
        For a bad `X`, `weights` or `chunk_size`, or ``center=True`` with weights.

    Examples
    --------
    >>> X = np.asarray([[1.0, 0.0], [0.0, 2.0]])
    >>> second_moment(X, chunk_size=1)
    array([[0.5, 0. ],
           [0. , 2. ]])
    """
    X = check_data(X)
    w = _check_weights(weights, X)
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    if center and w is not None:
        raise ValueError("`center=True` is only defined without `weights`.")
    xp, _ = get_xp(X)
    n, d = X.shape
    M2 = xp.zeros((d, d), dtype=X.dtype, device=X.device)
    total = xp.zeros((d,), dtype=X.dtype, device=X.device)
    for a, b in _chunks(n, chunk_size):
        Xc = X[a:b, :]
        Xw = Xc if w is None else Xc * w[a:b, None]
        M2 = M2 + Xw.T @ Xc
        total = total + xp.sum(Xc, axis=0)
    M2 = M2 / n
    if center:
        mean = total / n
        M2 = M2 - mean[:, None] * mean[None, :]
    return (M2 + M2.T) / 2


def whiten(M2: Array, k: int) -> tuple[Array, Array]:
    """Whitening from the top-``k`` eigen-subspace of a PSD second moment.

    With ``M2 = U D U^T + (rest)``, ``U`` the top-``k`` eigenvectors,
    ``W = U D^{-1/2}`` satisfies ``W^T M2 W = I_k`` and ``B = U D^{1/2}`` un-whitens
    (``B^T W = I_k``; AGHKT 2014, Sec. 4.3.1, and ``mu_j = lambda_j B v_j``, Thm. 4.3).

    Parameters
    ----------
    M2 : array of shape (d, d)
        Symmetric second moment whose top-``k`` eigenvalues are positive.
    k : int
        Rank, ``1 <= k <= d``.

    Returns
    -------
    W : array of shape (d, k)
        Whitening matrix.
    B : array of shape (d, k)
        Un-whitening matrix, ``B = M2 W``.

    Raises
    ------
    ValueError
        If `M2` is not square, symmetric and finite, if ``k > d``, or if one of its top
        ``k`` eigenvalues is not clearly positive (rank below ``k``).

    Examples
    --------
    >>> W, B = whiten(np.diag([4.0, 1.0, 0.0]), 2)
    >>> np.allclose(W.T @ np.diag([4.0, 1.0, 0.0]) @ W, np.eye(2)), np.allclose(B.T @ W, np.eye(2))
    (True, True)
    """
    xp, _ = get_xp(M2)
    if M2.ndim != 2 or M2.shape[0] != M2.shape[1]:
        raise ValueError(f"`M2` must be square (d, d); got shape {tuple(M2.shape)}.")
    d = M2.shape[0]
    k = check_int(k, "k", low=1)
    if k > d:
        raise ValueError(f"`k` must be <= d = {d} (the dimension of `M2`); got {k}.")
    if not bool(to_host(xp.all(xp.isfinite(M2)))):
        raise ValueError("`M2` must be finite.")
    scale = float(to_host(xp.max(xp.abs(M2))))
    asym = float(to_host(xp.max(xp.abs(M2 - M2.T))))
    if asym > 1e-8 * max(scale, 1e-300):
        raise ValueError(f"`M2` must be symmetric; max |M2 - M2^T| = {asym:.3g}.")
    evals, evecs = xp.linalg.eigh((M2 + M2.T) / 2)
    top = evals[d - k :]
    lam_min = float(to_host(top[0]))
    if not lam_min > 1e-12 * max(scale, 1e-300) * d:
        raise ValueError(
            f"`M2` must have {k} clearly positive eigenvalues (rank >= `k`); its k-th "
            f"largest is {lam_min:.3g}."
        )
    U = evecs[:, d - k :]
    W = U / xp.sqrt(top)[None, :]
    B = U * xp.sqrt(top)[None, :]
    return W, B


def multilinear(T: Array, W: Array) -> Array:
    """The symmetric multilinear map ``T(W, W, W)`` of a dense ``(d, d, d)`` tensor.

    ``T(W, W, W)[a, b, c] = sum_{ijl} T[i, j, l] W[i, a] W[j, b] W[l, c]`` (AGHKT 2014,
    eq. (1)), computed as three matrix products.

    Parameters
    ----------
    T : array of shape (d, d, d)
    W : array of shape (d, k)

    Returns
    -------
    array of shape (k, k, k)

    Examples
    --------
    >>> T = np.zeros((2, 2, 2)); T[0, 0, 0] = 1.0
    >>> multilinear(T, np.asarray([[2.0], [5.0]]))
    array([[[8.]]])
    """
    xp, _ = get_xp(T, W)
    if T.ndim != 3 or len(set(T.shape)) != 1:
        raise ValueError(f"`T` must be a cubical 3-way tensor; got shape {tuple(T.shape)}.")
    if W.ndim != 2 or W.shape[0] != T.shape[0]:
        raise ValueError(f"`W` must have shape ({T.shape[0]}, k); got {tuple(W.shape)}.")
    d, k = W.shape
    G = xp.reshape(W.T @ xp.reshape(T, (d, d * d)), (k, d, d))  # (k, d, d)
    G = xp.permute_dims(xp.reshape(G, (k * d, d)) @ W, (1, 0))  # (c, a*d + j)
    G = xp.reshape(G, (k * k, d)) @ W  # (c*k + a, b)
    return xp.permute_dims(xp.reshape(G, (k, k, k)), (1, 2, 0))


def _sym_outer(m: Array, G: Array) -> Array:
    """``sum_i (m (x) g_i (x) g_i + g_i (x) m (x) g_i + g_i (x) g_i (x) m)`` with ``G = W^T W``."""
    return (
        m[:, None, None] * G[None, :, :]
        + G[:, None, :] * m[None, :, None]
        + G[:, :, None] * m[None, None, :]
    )


def whitened_third_moment(
    X: Array,
    W: Array | None = None,
    *,
    weights: Array | None = None,
    correction: Array | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Array:
    """Streamed whitened third moment ``T = M3(W, W, W)`` of size ``k^3``.

    ``M3 = (1/n) sum_i w_i x_i (x) x_i (x) x_i - sym(m (x) I)`` (the correction only when
    `correction` = ``m`` is given), so ``T = (1/n) sum_i w_i y_i^(x)3 - sym(W^T m (x) W^T W)``
    with ``y_i = W^T x_i`` (AGHKT 2014, Sec. 4.3.1; Hsu & Kakade 2013, Thm. 1). Each
    chunk costs one ``(k^2, c) @ (c, k)`` product; nothing of size ``d^3`` is formed.

    Parameters
    ----------
    X : array of shape (n, d)
        Samples in rows.
    W : array of shape (d, k), optional
        Whitening (or any projection) matrix; default: identity (the raw ``d^3`` moment).
    weights : array of shape (n,), optional
        Per-sample weights (labels ``y`` for cross-moments); default all ones.
    correction : array of shape (d,), optional
        The vector ``m`` of the ``sym(m (x) I)`` correction.
    chunk_size : int, default=4096
        Rows per chunk.

    Returns
    -------
    T : array of shape (k, k, k)

    Raises
    ------
    ValueError
        For bad shapes or non-finite input.

    Examples
    --------
    >>> X = np.asarray([[1.0, 2.0], [3.0, -1.0]])
    >>> T = whitened_third_moment(X)
    >>> bool(np.allclose(T, np.einsum("ni,nj,nl->ijl", X, X, X) / 2))
    True
    """
    X = check_data(X)
    xp, _ = get_xp(X)
    n, d = X.shape
    w = _check_weights(weights, X)
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    if W is None:
        W = xp.eye(d, dtype=X.dtype, device=X.device)
    if W.ndim != 2 or W.shape[0] != d:
        raise ValueError(f"`W` must have shape ({d}, k); got {tuple(W.shape)}.")
    k = W.shape[1]
    acc = xp.zeros((k * k, k), dtype=X.dtype, device=X.device)
    for a, b in _chunks(n, chunk_size):
        Y = X[a:b, :] @ W
        Yw = Y if w is None else Y * w[a:b, None]
        YY = xp.reshape(Yw[:, :, None] * Y[:, None, :], (b - a, k * k))
        acc = acc + YY.T @ Y
    T = xp.reshape(acc, (k, k, k)) / n
    if correction is not None:
        m = _check_vector(correction, d, "correction", X)
        T = T - _sym_outer(m @ W, W.T @ W)
    return T


def _check_vector(v: Any, d: int, name: str, like: Array) -> Array:
    """A length-``d`` vector in the namespace of `like`."""
    xp, dev = get_xp(like)
    v = xp.asarray(v if is_array_api_obj(v) else np.asarray(v), dtype=like.dtype, device=dev)
    if v.ndim != 1 or v.shape[0] != d:
        raise ValueError(f"`{name}` must have shape ({d},); got {tuple(v.shape)}.")
    return v
