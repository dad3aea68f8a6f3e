"""Defaults and fitness shaping shared by the natural evolution strategies (SNES, xNES).

Wierstra, Schaul, Glasmachers, Sun, Peters & Schmidhuber (2014), "Natural Evolution
Strategies", JMLR 15, 949-980: sec. 3.1 (fitness shaping) and Table 1 (default
population size, learning rates and utility values as functions of the dimension d).
"""

from __future__ import annotations

import math

import numpy as np

from .._array import asarray_like, get_xp
from .._typing import Array
from ..shaping import finite_or_inf

__all__ = ["nes_utilities", "utility_table"]


def utility_table(n: int) -> np.ndarray:
    """Utilities by rank (best first): ``max(0, ln(n/2 + 1) - ln k) / sum - 1/n``.

    A NumPy table on the host (Table 1, sec. 3.1): the values sum to zero, decrease
    with the rank ``k``, and every rank ``k >= n/2 + 1`` gets the same ``-1/n``.

    Examples
    --------
    >>> np.round(utility_table(4), 4)
    array([ 0.4804,  0.0196, -0.25  , -0.25  ])
    """
    k = np.arange(1, n + 1, dtype=np.float64)
    raw = np.maximum(0.0, math.log(n / 2 + 1) - np.log(k))
    return raw / raw.sum() - 1.0 / n


def nes_utilities(values: Array) -> Array:
    """Map one generation's objective values to the NES utilities of their ranks.

    Parameters
    ----------
    values : array of shape (n,)
        Objective values (lower is better); NaN and inf count as the worst. Ties are
        broken by position (stable sort).

    Returns
    -------
    utilities : array of shape (n,)
        Same namespace, device and dtype; the best value gets the largest utility,
        and the utilities sum to zero, so a step ``sum_k u_k s_k`` moves towards the
        better candidates.

    References
    ----------
    D. Wierstra et al., "Natural Evolution Strategies", JMLR 15 (2014), sec. 3.1 and
    Table 1.

    Examples
    --------
    >>> np.round(nes_utilities(np.asarray([3.0, 1.0, np.inf, 2.0])), 4)
    array([-0.25  ,  0.4804, -0.25  ,  0.0196])
    """
    xp, _ = get_xp(values)
    order = xp.argsort(finite_or_inf(values), stable=True)
    ranks = xp.argsort(order, stable=True)  # 0 = best
    table = asarray_like(utility_table(values.shape[0]), values)
    return xp.take(table, ranks, axis=0)  # sec. 3.1, u_k by rank k
