"""Integer variables for Gaussian strategies: CMA-ES with margin (Hamano et al. 2022)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
from scipy.special import ndtr, ndtri

from .._array import asarray_like, get_xp, to_host
from .._base import WrapperBase, center_of, check_inner, marginal_std_of, shift_center
from .._typing import Array
from .._validate import check_positive

__all__ = ["Integrality", "IntegralityState", "check_integrality"]


def check_integrality(integrality: Any, x0: Array) -> np.ndarray | None:
    """`integrality` as a host bool mask of shape (d,), or None when no variable is integer.

    Raises
    ------
    ValueError
        For a shape other than ``(d,)``.

    Examples
    --------
    >>> check_integrality([True, False], np.zeros(2))
    array([ True, False])
    >>> check_integrality(None, np.zeros(2)) is None
    True
    """
    if integrality is None:
        return None
    mask = np.asarray(
        to_host(integrality) if hasattr(integrality, "__array_namespace__") else integrality
    )
    d = int(x0.shape[0])
    if mask.shape != (d,):
        raise ValueError(
            f"`integrality` must have shape ({d},), one flag per variable; got {mask.shape}."
        )
    if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
        raise ValueError("`integrality` must hold booleans (or 0/1).")
    mask = mask.astype(bool)
    return mask if mask.any() else None


@dataclass(frozen=True)
class IntegralityState:
    """State of `Integrality`: the inner state, the margin scaling ``A`` (host, one entry
    per integer variable) and the pending continuous samples."""

    inner: Any
    A: np.ndarray
    Y: Array | None = None


@dataclass(frozen=True, eq=False)
class Integrality(WrapperBase):
    """Integer variables for a Gaussian strategy, by CMA-ES with margin.

    The inner strategy samples continuous points ``y``; the objective sees ``x`` with
    each integer coordinate encoded as ``round(m_j + A_j (y_j - m_j))``, clipped to
    ``[lower_j, upper_j]`` (ties round down), and the inner strategy is told ``y``. After
    each update the margin correction keeps, for every integer coordinate, a
    probability of at least `margin` of sampling a neighbouring integer, so the search
    never freezes on one value (Hamano et al. 2022, Alg. 1): at an end level the mean is
    moved towards the threshold; at an inner level the mean and ``A_j`` are set so that
    both tail probabilities are at least ``margin / 2``.

    ``result.x`` is an evaluated point, so its integer coordinates are integral.

    Parameters
    ----------
    strategy : strategy
        A scalar-objective strategy that reports ``marginal_std`` (``'cma-es'``,
        ``'sep-cma-es'``, ``'snes'``, ``'xnes'``, ``'pgpe'``, ``'openai-es'``), possibly
        inside `Restarts` or `Bounded` (with infinite bounds on the integer
        coordinates, as `gradfree.minimize` arranges).
    mask : array_like of bool, shape (d,)
        Which variables are integers.
    lower, upper : array_like of shape (k,), optional
        Smallest and largest value of each integer variable (``-inf``/``inf`` for
        none); at least two values each.
    margin : float, optional
        The probability floor ``alpha``; default ``1 / (d * popsize)``.

    Raises
    ------
    TypeError
        For a strategy without ``marginal_std`` (at `init`) or with vector values.
    ValueError
        For a mask without integer variables, bounds of the wrong length, a variable
        with fewer than two integer values, or a margin outside ``(0, 0.5)``.

    References
    ----------
    R. Hamano, S. Saito, M. Nomura, S. Shirakawa (2022), "CMA-ES with margin:
    lower-bounding marginal probability for mixed-integer black-box optimization",
    GECCO '22, Alg. 1 and eqs. (8)-(13), arXiv:2205.13482.

    Examples
    --------
    >>> from gradfree import minimize
    >>> def f(x):  # integer optimum at (2, -3), continuous one at x_2 = 0.5
    ...     return float((x[0] - 2.2) ** 2 + (x[1] + 2.7) ** 2 + (x[2] - 0.5) ** 2)
    >>> res = minimize(f, np.zeros(3), integrality=[True, True, False], rng=0, maxfev=2000)
    >>> res.x[:2], round(float(res.x[2]), 4)
    (array([ 2., -3.]), 0.5)
    """

    strategy: Any
    mask: Any
    lower: Any = None
    upper: Any = None
    margin: float | None = None
    _index: np.ndarray = field(init=False, repr=False)  # derived: the integer coordinates
    _lo: np.ndarray = field(init=False, repr=False)  # and their smallest and largest values
    _hi: np.ndarray = field(init=False, repr=False)

    supports_bounds: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_inner(self.strategy, "Integrality")
        mask = np.asarray(self.mask, dtype=bool)
        if mask.ndim != 1 or not mask.any():
            raise ValueError("`mask` must be a 1-d boolean array with at least one True.")
        k = int(mask.sum())
        lo = np.broadcast_to(
            np.asarray(-np.inf if self.lower is None else self.lower, float), (k,)
        )
        hi = np.broadcast_to(np.asarray(np.inf if self.upper is None else self.upper, float), (k,))
        lo, hi = np.ceil(lo), np.floor(hi)
        if (hi - lo < 1).any():
            j = int(np.flatnonzero(hi - lo < 1)[0])
            raise ValueError(
                f"integer variable {int(np.flatnonzero(mask)[j])} has fewer than two values "
                f"in [{lo[j]}, {hi[j]}]."
            )
        if self.margin is not None:
            check_positive(self.margin, "margin")
            if self.margin >= 0.5:
                raise ValueError(f"`margin` must be below 0.5; got {self.margin}.")
        object.__setattr__(self, "_index", np.flatnonzero(mask))
        object.__setattr__(self, "_lo", lo)
        object.__setattr__(self, "_hi", hi)

    def init(self, x0: Array, *, rng: Any) -> IntegralityState:
        if self.mask is not None and np.asarray(self.mask).shape != (x0.shape[0],):
            raise ValueError(
                f"`mask` must have shape ({x0.shape[0]},); got {np.asarray(self.mask).shape}."
            )
        inner = self.strategy.init(x0, rng=rng)
        marginal_std_of(self.strategy, inner)  # fail early: the margin needs it
        return IntegralityState(inner=inner, A=np.ones(self._index.size))

    def _encode(self, v: np.ndarray) -> np.ndarray:
        """Nearest allowed integer (ties down), host."""
        return np.clip(np.ceil(v - 0.5), self._lo, self._hi)

    def _integer_columns(self, Y: Array) -> np.ndarray:
        """The integer coordinates of `Y` (last axis) on the host; only these move."""
        xp, _ = get_xp(Y)
        cols = xp.take(Y, asarray_like(self._index, Y, dtype=xp.int64), axis=-1)
        return np.asarray(to_host(cols), dtype=np.float64)

    def _encode_like(self, Y: Array, Z: np.ndarray) -> Array:
        """`Y` with its integer coordinates replaced by the host values `Z` (``(..., k)``).

        The values are spread to their columns on the device by a one-hot product
        (exact: each entry is one value times 1 plus zeros), so only ``n x k`` numbers
        cross between host and device, not the whole population.
        """
        xp, _ = get_xp(Y)
        d, k = Y.shape[-1], self._index.size
        spread = np.zeros((k, d))
        spread[np.arange(k), self._index] = 1.0
        mask = spread.any(axis=0)
        full = asarray_like(Z, Y) @ asarray_like(spread, Y)
        return xp.where(asarray_like(mask, Y, dtype=xp.bool), full, Y)

    def center(self, state: IntegralityState) -> Array:
        """The inner centre with its integer coordinates encoded (what gets evaluated)."""
        m = super().center(state)
        return self._encode_like(m, self._encode(self._integer_columns(m)))

    def ask(self, state: IntegralityState, *, rng: Any) -> tuple[Array, IntegralityState]:
        Y, inner = self.strategy.ask(state.inner, rng=rng)
        m = self._integer_columns(center_of(self.strategy, inner))
        Z = self._encode(m + state.A * (self._integer_columns(Y) - m))
        return self._encode_like(Y, Z), replace(state, inner=inner, Y=Y)

    def tell(self, state: IntegralityState, X: Array, values: Array) -> IntegralityState:
        if state.Y is None or X.shape != state.Y.shape:
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        inner = self.strategy.tell(state.inner, state.Y, values)
        lam = int(X.shape[0])
        alpha = self.margin if self.margin is not None else 1.0 / (X.shape[1] * lam)
        center = center_of(self.strategy, inner)
        idx = self._index
        m = np.asarray(to_host(center), dtype=np.float64)[idx]
        std = np.asarray(to_host(marginal_std_of(self.strategy, inner)), dtype=np.float64)[idx]
        m_new, A = _margin(m, std, state.A, self._lo, self._hi, alpha)
        if np.array_equal(m_new, m):
            return replace(state, inner=inner, A=A, Y=None)
        delta = np.zeros(X.shape[1])
        delta[idx] = m_new - m
        inner = shift_center(self.strategy, inner, asarray_like(delta, center))
        return replace(state, inner=inner, A=A, Y=None)


def _margin(
    m: np.ndarray, std: np.ndarray, A: np.ndarray, lo: np.ndarray, hi: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """The margin correction of Hamano et al. (2022), Alg. 1, lines 13-22, on the host.

    `m`, `std` are the mean and the standard deviations of the continuous distribution
    at the integer coordinates, `A` the scaling of the encoding. Returns the corrected
    mean and scaling.
    """
    level = np.clip(np.ceil(m - 0.5), lo, hi)
    low = np.maximum(level, lo + 1) - 0.5  # threshold below (at the bottom: the only one)
    up = np.minimum(level, hi - 1) + 0.5  # threshold above (at the top: the only one)
    scale = A * std
    p_low = ndtr((low - m) / scale)  # P(encoded value below `low`)
    p_up = 1.0 - ndtr((up - m) / scale)  # P(above `up`)
    p_mid = 1.0 - p_low - p_up
    # an end level: one threshold, eq. (12); `low == up` also catches a mean exactly on
    # the only threshold, where both tails are 1/2 and eq. (13) would give A = 0
    edge = (low == up) | (np.maximum(p_low, p_up) > 0.5)
    m_new, A_new = m.copy(), A.copy()
    move = edge & (np.minimum(p_low, p_up) < alpha)
    dist = scale * -ndtri(alpha)  # the mean sits this far from the threshold
    m_new = np.where(move, up + np.sign(m - up) * dist, m_new)
    # Inner levels, eq. (13): raise both tails to alpha/2, renormalise, solve for (m, A).
    side = ~edge
    ql, qu = np.maximum(p_low, alpha / 2), np.maximum(p_up, alpha / 2)
    excess = 1.0 - ql - qu - p_mid
    denom = ql + p_mid + qu - 1.5 * alpha
    ql = np.clip(ql + excess * (ql - alpha / 2) / denom, 1e-10, 0.5 - 1e-10)
    qu = np.clip(qu + excess * (qu - alpha / 2) / denom, 1e-10, 0.5 - 1e-10)
    cl, cu = -ndtri(ql), -ndtri(qu)  # z-scores of the two thresholds
    A_new = np.where(side, (up - low) / ((cl + cu) * std), A_new)
    m_new = np.where(side, (low * cu + up * cl) / (cl + cu), m_new)
    return m_new, A_new
