"""Checks of a network's inputs and flat parameters, and the bias column ``[H, 1]``."""

from __future__ import annotations

from .._array import get_xp
from .._typing import Array

__all__ = ["check_flat", "check_inputs", "with_ones"]


def with_ones(H: Array) -> Array:
    """``[H, 1]``: `H` ``(b, d)`` with a column of ones, the input the bias row multiplies.

    Least-squares layer updates (BCD, ADMM, AM) solve for a layer array ``W`` of shape
    ``(d + 1, d_out)`` as a linear map of ``[H, 1]``.

    Examples
    --------
    >>> with_ones(np.zeros((2, 1)))
    array([[0., 1.],
           [0., 1.]])
    """
    xp, dev = get_xp(H)
    return xp.concat([H, xp.ones((H.shape[0], 1), dtype=H.dtype, device=dev)], axis=1)


def check_flat(params: Array, p: int) -> None:
    """Raise unless `params` is a real floating ``(p,)`` or ``(n, p)`` array.

    Examples
    --------
    >>> check_flat(np.zeros(3), 3)
    """
    if not hasattr(params, "shape") or not hasattr(params, "dtype"):
        raise TypeError(f"`params` must be an array; got {type(params).__name__}.")
    xp, _ = get_xp(params)
    if not xp.isdtype(params.dtype, "real floating"):
        raise TypeError(f"`params` must have a real floating dtype; got {params.dtype}.")
    if params.ndim not in (1, 2) or params.shape[-1] != p:
        raise ValueError(
            f"`params` must have shape (p,) or (n, p) with p = {p}; "
            f"got shape {tuple(params.shape)}."
        )


def check_inputs(X: Array, like: Array, d: int) -> Array:
    """`X` as ``(b, d)`` in the dtype of `like`, or raise.

    Examples
    --------
    >>> check_inputs(np.ones((2, 3), dtype=int), np.zeros(1), 3).dtype
    dtype('float64')
    """
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        raise TypeError(f"`X` must be an array of shape (b, d); got {type(X).__name__}.")
    if X.ndim != 2 or X.shape[1] != d:
        raise ValueError(f"`X` must have shape (b, {d}); got shape {tuple(X.shape)}.")
    xp, _ = get_xp(X, like)
    return X if X.dtype == like.dtype else xp.astype(X, like.dtype)
