"""Fitness shaping: turn one generation's values into update weights.

Rank-based shaping makes a method invariant to any increasing transformation of the
objective (Wierstra et al. 2014, JMLR 15, sec. 3.1; Salimans et al. 2017,
arXiv:1703.03864, sec. 2.1).
"""

from __future__ import annotations

from ._array import get_xp
from ._typing import Array

__all__ = ["centered_ranks", "finite_or_inf", "standardize"]


def finite_or_inf(values: Array) -> Array:
    """Replace NaN and -inf by +inf, so non-finite values rank as the worst.

    Examples
    --------
    >>> finite_or_inf(np.asarray([1.0, np.nan, -np.inf]))
    array([ 1., inf, inf])
    """
    xp, dev = get_xp(values)
    inf = xp.asarray(xp.inf, dtype=values.dtype, device=dev)
    return xp.where(xp.isfinite(values), values, inf)


def centered_ranks(values: Array) -> Array:
    """Map one generation's objective values to evenly spaced weights in [-0.5, 0.5].

    Parameters
    ----------
    values : array of shape (n,)
        Objective values (lower is better); NaN and inf count as the worst. Ties are
        broken by position (stable sort).

    Returns
    -------
    weights : array of shape (n,)
        Same namespace, device and dtype; the best value gets -0.5, the worst 0.5.

    References
    ----------
    Salimans et al. (2017), "Evolution Strategies as a Scalable Alternative to
    Reinforcement Learning", arXiv:1703.03864, sec. 2.1 (fitness shaping).

    Examples
    --------
    >>> centered_ranks(np.asarray([3.0, 1.0, 2.0]))
    array([ 0.5, -0.5,  0. ])
    """
    xp, _ = get_xp(values)
    n = values.shape[0]
    order = xp.argsort(finite_or_inf(values), stable=True)
    ranks = xp.argsort(order, stable=True)
    return xp.astype(ranks, values.dtype) / max(n - 1, 1) - 0.5


def standardize(values: Array) -> Array:
    """Shift and scale finite values to mean 0 and standard deviation 1.

    Non-finite values get the largest weight of the generation (they count as the
    worst). A generation of equal values maps to zeros.

    Examples
    --------
    >>> standardize(np.asarray([1.0, 2.0, 3.0]))
    array([-1.22474487,  0.        ,  1.22474487])
    """
    xp, _ = get_xp(values)
    finite = xp.isfinite(values)
    count = xp.sum(xp.astype(finite, values.dtype))
    count = xp.maximum(count, xp.ones_like(count))
    zero = xp.zeros_like(values)
    v = xp.where(finite, values, zero)
    mean = xp.sum(v) / count
    centered = xp.where(finite, v - mean, zero)
    std = xp.sqrt(xp.sum(centered**2) / count)
    z = xp.where(std > 0, centered / xp.where(std > 0, std, xp.ones_like(std)), zero)
    return xp.where(finite, z, xp.max(z))
