"""Recovery error of estimated components, up to permutation, sign and scale."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from array_api_compat import is_array_api_obj

from .._array import to_host

__all__ = ["RecoveryError", "recovery_error"]


class RecoveryError(NamedTuple):
    """Result of `recovery_error`: ``max``, ``mean`` and the matching ``permutation``."""

    max: float
    mean: float
    permutation: np.ndarray


def _host_matrix(A: Any, name: str) -> np.ndarray:
    """`A` as a finite 2-d float64 NumPy array."""
    A = to_host(A) if is_array_api_obj(A) else np.asarray(A)
    A = np.asarray(A, dtype=np.float64)
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim != 2 or A.shape[1] < 1:
        raise ValueError(f"`{name}` must be 2-d of shape (d, k); got shape {A.shape}.")
    if not np.isfinite(A).all():
        raise ValueError(f"`{name}` must be finite.")
    return A


def recovery_error(A_true: Any, A_est: Any) -> RecoveryError:
    """Column error of `A_est` against `A_true`, up to permutation, sign and scale.

    Columns of both are scaled to unit norm; they are matched by the Hungarian algorithm
    on ``1 - |cos|`` (`scipy.optimize.linear_sum_assignment`), and each true column
    ``a_j`` gets ``min_s ||a_j - s a_hat_pi(j)||`` over signs ``s`` (equal to
    ``sqrt(2 - 2 |cos|)``): 0 is exact, ``sqrt(2)`` orthogonal. True columns left without
    a partner (fewer estimated columns) count ``sqrt(2)``.

    Parameters
    ----------
    A_true : array of shape (d, k)
        Planted components in columns (any array library; compared on the host).
    A_est : array of shape (d, k_est)
        Estimated components in columns.

    Returns
    -------
    RecoveryError
        ``(max, mean, permutation)``: the maximum and mean column errors and, for each
        true column, the index of its estimated partner (-1 when none).

    Raises
    ------
    ValueError
        For non-2-d or non-finite input, different numbers of rows, or zero columns.

    Examples
    --------
    >>> A = np.eye(3)[:, :2]
    >>> err = recovery_error(A, -2.0 * A[:, ::-1])
    >>> err.max, err.permutation.tolist()
    (0.0, [1, 0])
    """
    from scipy.optimize import linear_sum_assignment

    A = _host_matrix(A_true, "A_true")
    B = _host_matrix(A_est, "A_est")
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            f"`A_true` and `A_est` must have the same number of rows; got {A.shape[0]} "
            f"and {B.shape[0]}."
        )
    for M, name in ((A, "A_true"), (B, "A_est")):
        if (np.linalg.norm(M, axis=0) == 0).any():
            raise ValueError(f"`{name}` has a zero column; directions are undefined.")
    A = A / np.linalg.norm(A, axis=0)
    B = B / np.linalg.norm(B, axis=0)
    cos = np.clip(np.abs(A.T @ B), 0.0, 1.0)
    rows, cols = linear_sum_assignment(1.0 - cos)
    errors = np.full(A.shape[1], np.sqrt(2.0))
    a, b = A[:, rows], B[:, cols]  # norms of differences: accurate near 0, unlike sqrt(2-2cos)
    errors[rows] = np.minimum(np.linalg.norm(a - b, axis=0), np.linalg.norm(a + b, axis=0))
    perm = np.full(A.shape[1], -1, dtype=np.int64)
    perm[rows] = cols
    return RecoveryError(float(errors.max()), float(errors.mean()), perm)
