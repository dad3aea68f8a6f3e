"""Sample-defined third moments used only through implicit products ``T(I, v, v)``.

AGHKT 2014 (JMLR 15), Sec. 5.1: the power update needs only ``T(I, theta, theta)``,
which for an empirical moment is a weighted sum over samples, so the ``d^3`` tensor is
never formed (cost ``O(n d)`` per vector).
"""

from __future__ import annotations

from typing import Any

from .._array import get_xp
from .._typing import Array
from .._validate import check_int
from ._moments import (
    DEFAULT_CHUNK,
    _check_vector,
    _check_weights,
    _chunks,
    check_data,
    whitened_third_moment,
)

__all__ = ["SampleMoment3"]


class SampleMoment3:
    """A third-moment tensor defined by samples, used only through ``T(I, v, v)``.

    Represents ``T = (1/n) sum_i w_i z_i^(x)3 - sym(W^T m (x) W^T W)`` with
    ``z_i = W^T x_i`` (``W = I`` by default) without forming it: for a batch of vectors
    ``v``, ``T(I, v, v) = (1/n) sum_i w_i (z_i . v)^2 z_i - (W^T m) v^T G v
    - 2 (W^T m . v) G v`` with ``G = W^T W``, at cost ``O(n d)`` per vector and memory
    ``O(chunk_size * L)``; this is the implicit power update of AGHKT 2014 (Sec. 5.1,
    "implicit" computation of ``T(I, theta, theta)``).

    Parameters
    ----------
    X : array of shape (n, d)
        Samples in rows.
    W : array of shape (d, k), optional
        Whitening matrix (default: identity, a ``d``-dimensional tensor).
    weights : array of shape (n,), optional
        Per-sample weights ``w_i``.
    correction : array of shape (d,), optional
        The vector ``m`` of the ``sym(m (x) I)`` correction.
    chunk_size : int, default=4096
        Rows per chunk.

    Attributes
    ----------
    dim : int
        Mode size of the represented tensor (``k``, or ``d`` without `W`).

    Examples
    --------
    >>> X = np.asarray([[1.0, 2.0], [3.0, -1.0]])
    >>> T = SampleMoment3(X)
    >>> v = np.asarray([1.0, 1.0])
    >>> bool(np.allclose(T.apply(v), np.einsum("ijl,j,l->i", T.dense(), v, v)))
    True
    """

    def __init__(
        self,
        X: Array,
        W: Array | None = None,
        *,
        weights: Array | None = None,
        correction: Array | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        self.X = check_data(X)
        xp, _ = get_xp(self.X)
        d = self.X.shape[1]
        if W is not None and (W.ndim != 2 or W.shape[0] != d):
            raise ValueError(f"`W` must have shape ({d}, k); got {tuple(W.shape)}.")
        self.W = W
        self.weights = _check_weights(weights, self.X)
        self.correction = (
            None if correction is None else _check_vector(correction, d, "correction", self.X)
        )
        self.chunk_size = check_int(chunk_size, "chunk_size", low=1)
        self.dim = d if W is None else W.shape[1]
        eye = xp.eye(d, dtype=self.X.dtype, device=self.X.device)
        self._G = eye if W is None else W.T @ W
        self._m = None
        if self.correction is not None:
            self._m = self.correction if W is None else self.correction @ W

    @property
    def dtype(self) -> Any:
        """Floating dtype of the samples."""
        return self.X.dtype

    def apply(self, V: Array) -> Array:
        """``T(I, v, v)`` for one vector ``(dim,)`` or a batch ``(L, dim)`` of them."""
        xp, _ = get_xp(self.X)
        single = V.ndim == 1
        V2 = V[None, :] if single else V
        n = self.X.shape[0]
        out = xp.zeros((V2.shape[0], self.dim), dtype=self.X.dtype, device=self.X.device)
        for a, b in _chunks(n, self.chunk_size):
            Z = self.X[a:b, :] if self.W is None else self.X[a:b, :] @ self.W
            P = Z @ V2.T  # (c, L)
            P2 = P * P if self.weights is None else P * P * self.weights[a:b, None]
            out = out + P2.T @ Z
        out = out / n
        if self._m is not None:
            GV = V2 @ self._G  # (L, dim)
            quad = xp.sum(GV * V2, axis=1)
            mv = V2 @ self._m
            out = out - quad[:, None] * self._m[None, :] - 2 * mv[:, None] * GV
        return out[0, :] if single else out

    def dense(self) -> Array:
        """The full ``(dim, dim, dim)`` tensor (for small ``dim``; streamed)."""
        return whitened_third_moment(
            self.X,
            self.W,
            weights=self.weights,
            correction=self.correction,
            chunk_size=self.chunk_size,
        )
