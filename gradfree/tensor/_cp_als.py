"""Multi-start CP-ALS through tensorly, with the user's tensorly backend restored.

CP-ALS (Carroll & Chang 1970; Harshman 1970; Kolda & Bader, SIAM Review 51(3), 2009,
Sec. 3.4, Fig. 3.3) for a general (non-symmetric) 3-way tensor, run by
`tensorly.decomposition.parafac` from an SVD start and several Gaussian starts drawn
from ``rng`` (tensorly's own ``random_state`` is not honoured everywhere, tensorly#615),
keeping the start with the smallest relative reconstruction error: ALS from a single
start stalls often (tensorly#10).

Backends: NumPy input runs under tensorly's ``numpy`` backend and CuPy input under its
``cupy`` backend, each entered only for the call (``tl.backend_context``), so the
caller's backend is left as it was. Other array-API arrays (e.g. array-api-strict) go
through the ``numpy`` backend on a host copy and come back in their own namespace.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj, is_cupy_array, is_numpy_array

from .._array import asarray_like, get_xp, to_host
from .._random import check_rng
from .._typing import Array
from .._validate import check_int, check_positive

__all__ = ["cp_als"]


def cp_als(
    T: Array,
    rank: int,
    *,
    n_starts: int = 5,
    n_iter_max: int = 500,
    tol: float = 1e-10,
    rng: Any = None,
) -> tuple[Array, list[Array], float]:
    """CP decomposition ``T ~ sum_r w_r a_r (x) b_r (x) c_r`` by multi-start ALS (tensorly).

    Parameters
    ----------
    T : array of shape (I, J, K)
        Dense 3-way tensor (NumPy, CuPy, or another array-API array via the host).
    rank : int
        Number of components, >= 1.
    n_starts : int, default=5
        Starts: one SVD start plus ``n_starts - 1`` standard-normal factor starts.
    n_iter_max : int, default=500
        ALS sweeps per start (`parafac`'s ``n_iter_max``).
    tol : float, default=1e-10
        `parafac`'s tolerance on the change of the reconstruction error.
    rng : None, int, SeedSequence or Generator, default=None
        Source of the random starts.

    Returns
    -------
    weights : array of shape (rank,)
        Component weights (unit-norm factor columns).
    factors : list of 3 arrays of shapes (I, rank), (J, rank), (K, rank)
    rel_error : float
        ``||T - T_hat||_F / ||T||_F`` of the kept start.

    Raises
    ------
    ValueError
        For a tensor that is not 3-way or not finite, or bad counts.

    References
    ----------
    T. G. Kolda, B. W. Bader. Tensor decompositions and applications. SIAM Review
    51(3):455-500, 2009, Sec. 3.4. J. Kossaifi et al. TensorLy: tensor learning in
    Python. JMLR 20(26), 2019.

    Examples
    --------
    >>> g = np.random.default_rng(0)
    >>> A, B, C = g.standard_normal((5, 2)), g.standard_normal((4, 2)), g.standard_normal((3, 2))
    >>> T = np.einsum("ir,jr,lr->ijl", A, B, C)
    >>> weights, factors, err = cp_als(T, 2, rng=0)
    >>> err < 1e-6, [f.shape for f in factors]
    (True, [(5, 2), (4, 2), (3, 2)])
    """
    import tensorly as tl
    from tensorly.cp_tensor import CPTensor, cp_to_tensor
    from tensorly.decomposition import parafac

    if not is_array_api_obj(T):
        raise TypeError(f"`T` must be an array; got {type(T).__name__}.")
    if T.ndim != 3 or min(T.shape) < 1:
        raise ValueError(f"`T` must be a 3-way tensor; got shape {tuple(T.shape)}.")
    xp, _ = get_xp(T)
    if not bool(to_host(xp.all(xp.isfinite(T)))):
        raise ValueError("`T` must be finite.")
    rank = check_int(rank, "rank", low=1)
    n_starts = check_int(n_starts, "n_starts", low=1)
    n_iter_max = check_int(n_iter_max, "n_iter_max", low=1)
    tol = check_positive(tol, "tol")
    rng = check_rng(rng)
    backend = "cupy" if is_cupy_array(T) else "numpy"
    data = T if (is_numpy_array(T) or is_cupy_array(T)) else to_host(T)
    inits: list[Any] = ["svd"]
    for _ in range(n_starts - 1):
        factors = [asarray_like(rng.standard_normal((s, rank)), data) for s in T.shape]
        ones = asarray_like(np.ones(rank), data)
        inits.append(CPTensor((ones, factors)))
    norm = float(to_host(xp.sqrt(xp.sum(T * T)))) or 1.0
    best: tuple[float, Any] | None = None
    with tl.backend_context(backend), warnings.catch_warnings():
        # tensorly warns when the SVD start needs random padding (rank > mode size).
        warnings.simplefilter("ignore", UserWarning)
        for init in inits:
            cp = parafac(
                data,
                rank,
                n_iter_max=n_iter_max,
                init=init,
                tol=tol,
                normalize_factors=True,
                random_state=int(rng.integers(2**31)),
            )
            diff = data - cp_to_tensor(cp)
            err = float(to_host(tl.sqrt(tl.sum(diff * diff)))) / norm
            if math.isfinite(err) and (best is None or err < best[0]):
                best = (err, cp)
    if best is None:
        raise RuntimeError("every CP-ALS start gave a non-finite reconstruction error.")
    err, cp = best
    weights = asarray_like(to_host(cp.weights) if data is not T else cp.weights, T)
    factors = [asarray_like(to_host(f) if data is not T else f, T) for f in cp.factors]
    return weights, factors, err
