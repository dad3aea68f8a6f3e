"""Ensemble-space Kalman algebra: ``J x J`` weights from the smaller Gram matrix.

Rows of ``B`` (n, M) are the centred, whitened residuals of ``n`` members with ``M``
outputs; ``K = B B^T / (n - 1)`` is their ``n x n`` Gram matrix and
``C = B^T B / (n - 1)`` the output covariance ``C_GG``. Both share their nonzero
eigenvalues, so every function factorizes whichever is smaller (a symmetric
eigendecomposition of ``min(n, M)`` rows) and returns ``n x n`` weights that are then
applied to the parameter deviations. Cost ``O(n M min(n, M) + min(n, M)^3)``, linear in
``M``; the parameters only ever meet an ``n x n`` matrix.
"""

from __future__ import annotations

import math

from .._array import get_xp
from .._typing import Array

__all__ = ["gain_weights", "noise_function_rows", "shrink_rows", "transform_weights"]


def _eigh(S: Array) -> tuple[Array, Array]:
    """Eigenpairs of a symmetric PSD matrix, eigenvalues clipped at 0 (rounding is not PSD)."""
    xp, _ = get_xp(S)
    lam, V = xp.linalg.eigh(S)
    return xp.maximum(lam, xp.zeros_like(lam)), V


def gain_weights(B: Array, D: Array, dt: float) -> Array:
    """``W = (K + I/dt)^{-1} B D^T / (n - 1)``: the EKI update is ``U + W^T A``.

    For ``n > M`` the push-through identity ``(K + I/dt)^{-1} B = B (C + I/dt)^{-1}``
    moves the solve to the ``M x M`` side.

    Examples
    --------
    >>> B = np.asarray([[1.0], [-1.0]])          # two members, one output: K = [[1, -1], [-1, 1]]
    >>> gain_weights(B, -B, 1.0)                  # -(K + I)^{-1} K
    array([[-0.33333333,  0.33333333],
           [ 0.33333333, -0.33333333]])
    """
    n, M = B.shape
    if n <= M:
        lam, V = _eigh((B @ B.T) / (n - 1))
        return V @ ((V.T @ (B @ D.T)) / (lam + 1.0 / dt)[:, None]) / (n - 1)
    lam, V = _eigh((B.T @ B) / (n - 1))
    return ((B @ V) / (lam + 1.0 / dt)[None, :]) @ (D @ V).T / (n - 1)


def transform_weights(B: Array, rbar: Array, dt: float) -> tuple[Array, Array]:
    """ETKI weights: ``w = -dt Omega B rbar / (n - 1)`` and ``T = Omega^{1/2}``.

    Here ``Omega = (I + dt K)^{-1}``; the ETKI update is ``mean(U) + w^T A + T A``. For
    ``n > M``, with ``C = V diag(lam) V^T``: ``Omega B = B (I + dt C)^{-1}`` and
    ``Omega^{1/2} = I + dt / (n - 1) (B V) diag(h) (B V)^T`` with
    ``h = ((1 + dt lam)^{-1/2} - 1) / (dt lam) = -1 / (s (1 + s))``,
    ``s = sqrt(1 + dt lam)`` (finite at ``lam = 0``).

    Examples
    --------
    >>> B = np.asarray([[1.0], [-1.0]])
    >>> w, T = transform_weights(B, np.asarray([1.0]), 1.0)
    >>> w
    array([-0.33333333,  0.33333333])
    >>> np.round(T @ T @ (np.eye(2) + B @ B.T), 12)   # T^2 = Omega
    array([[1., 0.],
           [0., 1.]])
    """
    xp, dev = get_xp(B)
    n, M = B.shape
    if n <= M:
        lam, V = _eigh((B @ B.T) / (n - 1))
        s = 1.0 / (1.0 + dt * lam)
        w = -dt * (V @ (s * (V.T @ (B @ rbar)))) / (n - 1)
        return w, (V * xp.sqrt(s)[None, :]) @ V.T
    lam, V = _eigh((B.T @ B) / (n - 1))
    BV = B @ V
    w = -dt * (BV @ ((V.T @ rbar) / (1.0 + dt * lam))) / (n - 1)
    root = xp.sqrt(1.0 + dt * lam)
    h = -1.0 / (root * (1.0 + root))
    eye = xp.eye(n, dtype=B.dtype, device=dev)
    return w, eye + (dt / (n - 1)) * ((BV * h[None, :]) @ BV.T)


def shrink_rows(A: Array, X: Array, c: float) -> Array:
    """Rows of ``X (I_p + c A^T A)^{-1}`` for ``A`` (n, p), through the smaller side.

    For ``n <= p`` by the Woodbury identity
    ``(I + c A^T A)^{-1} = I - c A^T (I_n + c A A^T)^{-1} A`` (an ``n x n``
    eigendecomposition); otherwise directly (``p x p``).

    Examples
    --------
    >>> A = np.asarray([[1.0, 0.0], [0.0, 2.0]])
    >>> shrink_rows(A, np.asarray([[2.0, 5.0]]), 1.0)      # diag(1/2, 1/5)
    array([[1., 1.]])
    """
    xp, _ = get_xp(A)
    n, p = A.shape
    if n <= p:
        lam, V = _eigh(A @ A.T)
        coef = ((X @ A.T) @ V) / (1.0 + c * lam)[None, :]
        return X - c * ((coef @ V.T) @ A)
    lam, V = _eigh(A.T @ A)
    return ((X @ V) / (1.0 + c * lam)[None, :]) @ V.T


def _noise_function(kind: str, lam: Array, dt: float, xp: object) -> Array:
    """``g(lam + 1/dt)``: ``g(s) = 1/s`` (``'inv'``) or ``1 / (sqrt(s) (sqrt(s) + r))``
    with ``r = dt^{-1/2}`` (``'root'``, the Potter / Whitaker-Hamill square-root gain)."""
    r2 = 1.0 / dt
    if kind == "inv":
        return 1.0 / (lam + r2)
    q = xp.sqrt(lam + r2)  # type: ignore[attr-defined]
    return 1.0 / (q * (q + math.sqrt(r2)))


def noise_function_rows(C: Array, X: Array, dt: float, kind: str = "inv") -> Array:
    """Rows of ``X g(S)``, ``S = C + I/dt``, for a symmetric ``M x M`` output covariance `C`.

    ``kind='inv'`` gives ``X S^{-1}`` (innovations weighted for the Kalman gain
    ``C_uG S^{-1}``); ``kind='root'`` gives ``X S^{-1/2} (S^{1/2} + I/sqrt(dt))^{-1}``
    (the gain of the deterministic square-root update of Potter and of Whitaker & Hamill
    2002, ``a_j <- a_j - C_uG g(S) b_j``). `C` is symmetrized and its eigenvalues
    clipped at 0 (a localized covariance need not be PSD; EnsembleKalmanProcesses.jl
    corrects it the same way). One ``M x M`` eigendecomposition: this is the localized
    path, where ``C`` is the Schur-localized ``C_GG``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> B, X = rng.standard_normal((3, 5)), rng.standard_normal((2, 5))
    >>> C = B.T @ B / 2
    >>> S = C + np.eye(5) / 0.5
    >>> bool(np.allclose(noise_function_rows(C, X, 0.5), X @ np.linalg.inv(S)))
    True
    >>> w, V = np.linalg.eigh(S)
    >>> root = V @ np.diag(1 / (np.sqrt(w) * (np.sqrt(w) + np.sqrt(2.0)))) @ V.T
    >>> bool(np.allclose(noise_function_rows(C, X, 0.5, "root"), X @ root))
    True
    """
    xp, _ = get_xp(C)
    lam, V = _eigh(0.5 * (C + C.T))
    return ((X @ V) * _noise_function(kind, lam, dt, xp)[None, :]) @ V.T
