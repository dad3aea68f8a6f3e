"""Robust tensor power method and symmetric CP of non-orthogonal tensors by whitening.

Anandkumar, Ge, Hsu, Kakade & Telgarsky, "Tensor decompositions for learning latent
variable models", JMLR 15 (2014): Algorithm 1 (robust tensor power method) with the
update ``theta <- T(I, theta, theta) / ||T(I, theta, theta)||`` (eq. (7)), ``L``
random restarts, the best restart chosen by ``T(theta, theta, theta)``, ``N`` more
refinement steps and deflation ``T <- T - lambda v^(x)3``; whitening and un-whitening
as in Sec. 4.3 (Thm. 4.3: ``mu_j = lambda_j (W^T)^+ v_j``, ``w_j = lambda_j^-2``).

Deflation is never applied to a tensor: ``T(I, theta, theta)`` of the deflated tensor is
``T(I, theta, theta) - sum_j lambda_j (v_j . theta)^2 v_j``, so the same code runs on a
dense ``(k, k, k)`` array and on a sample-defined `SampleMoment3`.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import is_array_api_obj

from .._array import get_xp, to_host
from .._random import check_rng, normal
from .._typing import Array
from .._validate import check_int, check_nonnegative
from ._implicit import SampleMoment3
from ._moments import multilinear, whiten

__all__ = ["robust_power_method", "whitened_symmetric_cp"]


def _check_tensor(T: Any) -> tuple[Any, int, Any]:
    """Validate a dense cubical 3-way array or a `SampleMoment3`; return (T, dim, like)."""
    if isinstance(T, SampleMoment3):
        return T, T.dim, T.X
    if not is_array_api_obj(T):
        raise TypeError(f"`T` must be an array or a SampleMoment3; got {type(T).__name__}.")
    xp, _ = get_xp(T)
    if T.ndim != 3 or len(set(T.shape)) != 1 or T.shape[0] < 1:
        raise ValueError(f"`T` must be a cubical (k, k, k) tensor; got shape {tuple(T.shape)}.")
    if not xp.isdtype(T.dtype, "real floating"):
        raise TypeError(f"`T` must hold real floating numbers; got dtype {T.dtype}.")
    if not bool(to_host(xp.all(xp.isfinite(T)))):
        raise ValueError("`T` must be finite.")
    return T, T.shape[0], T


def _apply(T: Any, V: Array) -> Array:
    """``T(I, v, v)`` for a batch ``V`` of shape (L, k)."""
    if isinstance(T, SampleMoment3):
        return T.apply(V)
    xp, _ = get_xp(V)
    k = T.shape[0]
    VV = xp.reshape(V[:, :, None] * V[:, None, :], (V.shape[0], k * k))
    return VV @ xp.permute_dims(xp.reshape(T, (k, k * k)), (1, 0))


def _deflated_apply(T: Any, V: Array, lams: list, vecs: list) -> Array:
    """``T(I, v, v)`` of ``T - sum_j lambda_j v_j^(x)3`` (AGHKT 2014, Alg. 1, deflation)."""
    out = _apply(T, V)
    for lam, u in zip(lams, vecs, strict=True):
        p = V @ u
        out = out - lam * (p * p)[:, None] * u[None, :]
    return out


def _normalize(V: Array) -> Array:
    """Rows scaled to unit norm (zero rows stay zero)."""
    xp, _ = get_xp(V)
    norms = xp.sqrt(xp.sum(V * V, axis=1))
    return V / xp.where(norms > 0, norms, xp.ones_like(norms))[:, None]


def _iterate(T: Any, V: Array, lams: list, vecs: list, n_iter: int, tol: float) -> Array:
    """Up to `n_iter` power updates (eq. (7)) of every row of `V`, stopping at `tol`."""
    xp, _ = get_xp(V)
    for _ in range(n_iter):
        V_new = _normalize(_deflated_apply(T, V, lams, vecs))
        change = float(to_host(xp.max(xp.abs(V_new - V))))
        V = V_new
        if change <= tol:
            break
    return V


def robust_power_method(
    T: Any,
    k: int,
    *,
    n_restarts: int = 10,
    n_iter: int = 100,
    tol: float = 1e-12,
    rng: Any = None,
) -> tuple[Array, Array]:
    """Robust tensor power method with deflation for an orthogonally decomposable tensor.

    Finds ``T ~ sum_j lambda_j v_j (x) v_j (x) v_j`` with orthonormal ``v_j`` (AGHKT 2014,
    Algorithm 1): for each of `k` components, `n_restarts` random unit starts run up to
    `n_iter` updates ``theta <- T(I, theta, theta) / ||.||`` (eq. (7)), the start with the
    largest ``T(theta, theta, theta)`` is refined by up to `n_iter` more updates, and
    its pair ``(lambda, v)`` is deflated. The restarts run as one batch.

    Parameters
    ----------
    T : array of shape (k0, k0, k0) or SampleMoment3
        Symmetric tensor (dense, e.g. whitened) or a sample-defined one used only through
        ``T(I, v, v)``.
    k : int
        Number of components, ``1 <= k <= k0``.
    n_restarts : int, default=10
        ``L``, random restarts per component (the theory asks for ``poly(k) log(1/eta)``).
    n_iter : int, default=100
        ``N``, maximum power updates per phase.
    tol : float, default=1e-12
        A phase stops once no entry of any iterate moves by more than `tol`.
    rng : None, int, SeedSequence or Generator, default=None
        Source of the random starts (Gaussian directions, drawn on the host).

    Returns
    -------
    eigenvalues : array of shape (k,)
        ``lambda_j = T(v_j, v_j, v_j)`` of the deflated tensor, in the order found
        (decreasing for an exact orthogonal tensor).
    eigenvectors : array of shape (k0, k)
        Unit columns ``v_j``.

    Raises
    ------
    ValueError
        For a non-cubical or non-finite `T`, ``k > k0`` or bad iteration counts.

    References
    ----------
    A. Anandkumar, R. Ge, D. Hsu, S. M. Kakade, M. Telgarsky. Tensor decompositions for
    learning latent variable models. JMLR 15:2773-2832, 2014. Algorithm 1, Thm. 5.1.

    Examples
    --------
    >>> V = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 2)))[0]
    >>> T = np.einsum("r,ir,jr,lr->ijl", [3.0, 1.0], V, V, V)
    >>> lam, vec = robust_power_method(T, 2, rng=0)
    >>> np.round(lam, 6)
    array([3., 1.])
    >>> bool(np.allclose(np.abs(vec.T @ V), np.eye(2)))
    True
    """
    T, dim, like = _check_tensor(T)
    k = check_int(k, "k", low=1)
    if k > dim:
        raise ValueError(f"`k` must be <= the mode size of `T` ({dim}); got {k}.")
    n_restarts = check_int(n_restarts, "n_restarts", low=1)
    n_iter = check_int(n_iter, "n_iter", low=1)
    tol = check_nonnegative(tol, "tol")
    rng = check_rng(rng)
    xp, _ = get_xp(like)
    lams: list = []
    vecs: list = []
    for _ in range(k):
        V0 = _normalize(normal(rng, (n_restarts, dim), like=like))
        V = _iterate(T, V0, lams, vecs, n_iter, tol)
        values = xp.sum(_deflated_apply(T, V, lams, vecs) * V, axis=1)
        best = int(to_host(xp.argmax(values)))
        v = _iterate(T, V[best : best + 1, :], lams, vecs, n_iter, tol)
        lam = xp.sum(_deflated_apply(T, v, lams, vecs) * v)
        lams.append(lam)
        vecs.append(v[0, :])
    return xp.stack(lams), xp.stack(vecs, axis=1)


def whitened_symmetric_cp(
    T: Any,
    M2: Array,
    k: int,
    *,
    n_restarts: int = 10,
    n_iter: int = 100,
    tol: float = 1e-12,
    rng: Any = None,
) -> tuple[Array, Array]:
    """Symmetric CP of non-orthogonal components by whitening, power method, un-whitening.

    Given ``M2 = sum_j w_j a_j a_j^T`` (positive ``w_j``, linearly independent ``a_j``)
    and ``T = sum_j w_j a_j (x) a_j (x) a_j``, whiten with ``W = U D^{-1/2}`` from the top
    ``k`` eigenpairs of `M2`, decompose the orthogonal ``T(W, W, W)`` with
    `robust_power_method` and return ``a_j = lambda_j B v_j``, ``w_j = lambda_j^-2``
    (AGHKT 2014, Sec. 4.3, Thm. 4.3). Unlike the unwhitened power method, this is exact
    for non-orthogonal components.

    Parameters
    ----------
    T : array of shape (d, d, d) or SampleMoment3
        The symmetric third-order tensor. A `SampleMoment3` without ``W`` is whitened
        implicitly (``W`` is attached to a copy), so ``d^3`` is never formed.
    M2 : array of shape (d, d)
        The matching second moment.
    k : int
        Number of components, ``1 <= k <= d``.
    n_restarts, n_iter, tol, rng
        As in `robust_power_method`.

    Returns
    -------
    weights : array of shape (k,)
        The ``w_j``.
    factors : array of shape (d, k)
        The ``a_j`` as columns (not normalized: the scale is the one fixed by `M2`).

    Raises
    ------
    ValueError
        For bad shapes, ``k > d``, or an `M2` with fewer than `k` positive eigenvalues.

    References
    ----------
    AGHKT 2014 (see `robust_power_method`), Sec. 4.3.1 and Thm. 4.3.

    Examples
    --------
    >>> A = np.asarray([[1.0, 0.6], [0.0, 0.8], [0.0, 0.0]])  # non-orthogonal columns
    >>> w = np.asarray([0.3, 0.7])
    >>> M2 = (A * w) @ A.T
    >>> T = np.einsum("r,ir,jr,lr->ijl", w, A, A, A)
    >>> weights, factors = whitened_symmetric_cp(T, M2, 2, rng=0)
    >>> order = np.argsort(weights)
    >>> np.round(weights[order], 8), bool(np.allclose(factors[:, order], A))
    (array([0.3, 0.7]), True)
    """
    k = check_int(k, "k", low=1)
    if isinstance(T, SampleMoment3):
        if T.W is not None:
            raise ValueError("`T` must be an unwhitened SampleMoment3 (its `W` is set).")
        d = T.dim
    else:
        T, d, _ = _check_tensor(T)
    if not is_array_api_obj(M2) or M2.ndim != 2 or tuple(M2.shape) != (d, d):
        shape = tuple(M2.shape) if is_array_api_obj(M2) else type(M2).__name__
        raise ValueError(f"`M2` must have shape ({d}, {d}) to match `T`; got {shape}.")
    if k > d:
        raise ValueError(f"`k` must be <= d = {d}; got {k}.")
    W, B = whiten(M2, k)
    if isinstance(T, SampleMoment3):
        Tw: Any = SampleMoment3(
            T.X, W, weights=T.weights, correction=T.correction, chunk_size=T.chunk_size
        )
    else:
        Tw = multilinear(T, W)
    lam, V = robust_power_method(Tw, k, n_restarts=n_restarts, n_iter=n_iter, tol=tol, rng=rng)
    factors = (B @ V) * lam[None, :]
    return 1.0 / (lam * lam), factors
