"""Box bounds for any strategy: search unbounded, evaluate a mapped point inside the box.

The wrapped strategy works on internal (genotype) points ``Y``; a mapping sends each
row to a feasible (phenotype) point ``X`` in ``[lb, ub]``, which is what the objective
sees. The inner strategy is told ``Y`` with the values of ``X``, pycma's convention
(Hansen, pycma ``cma.boundary_handler.BoundTransform``, which uses
``cma.transformations.BoxConstraintsLinQuadTransformation``), so its distribution
update never sees a repaired point it did not sample (pycma issue #234).

Mappings, each an array-API function of a batch ``(n, d)`` (or one point ``(d,)``):

- `transform` (default): pycma's smooth lin-quad map, the identity in the interior,
  quadratic near the bounds, periodic, C^1 over all reals;
- `reflect`: mirror at the bounds, periodic under repeated reflections;
- `clip`: the nearest point of the box.

``-inf``/``+inf`` entries of `lb`/`ub` leave a side unbounded; an entry with
``lb == ub`` fixes that coordinate.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .._array import get_xp
from .._typing import Array

__all__ = [
    "BOUND_METHODS",
    "clip",
    "reflect",
    "transform",
    "transform_inverse",
]

BOUND_METHODS = ("transform", "clip", "reflect")
"""Names accepted by ``Bounded(method=...)``; the first is the default."""


class _Box(NamedTuple):
    """Finite stand-ins for the bounds, side masks and lin-quad margins (all ``(d,)``)."""

    lb: Array  # as given (may hold -inf), in the dtype of the points
    ub: Array
    lo: Array  # lb with infinities replaced by 0 (no inf - inf anywhere)
    hi: Array
    has_lo: Array  # bool: finite lower bound
    has_hi: Array
    both: Array  # bool: finite on both sides and lb < ub
    fixed: Array  # bool: lb == ub
    al: Array  # margins at the lower and upper bound (1 where unused)
    au: Array


def _box(Y: Array, lb: Array, ub: Array) -> tuple[Any, _Box]:
    """Namespace of `Y` and the bounds prepared in the dtype of `Y`."""
    xp, _ = get_xp(Y, lb, ub)
    lb, ub = xp.astype(lb, Y.dtype), xp.astype(ub, Y.dtype)
    zero, one = xp.zeros_like(lb), xp.ones_like(lb)
    has_lo, has_hi = xp.isfinite(lb), xp.isfinite(ub)
    lo, hi = xp.where(has_lo, lb, zero), xp.where(has_hi, ub, zero)
    fixed = has_lo & has_hi & (lo == hi)
    both = has_lo & has_hi & ~fixed
    # pycma 4.x (``linquad_margin_width = margin_width2``):
    # al = min((ub - lb) / 2, max(1, |lb|) / 20), au likewise with |ub|.
    half = xp.where(both, (hi - lo) / 2, xp.full_like(lb, xp.inf))
    al = xp.where(fixed, one, xp.minimum(half, xp.maximum(xp.abs(lo), one) / 20))
    au = xp.where(fixed, one, xp.minimum(half, xp.maximum(xp.abs(hi), one) / 20))
    return xp, _Box(lb, ub, lo, hi, has_lo, has_hi, both, fixed, al, au)


def _into_box(xp: Any, X: Array, b: _Box) -> Array:
    """Clamp to ``[lb, ub]`` (guards the last ulp of rounding); fixed entries get lb."""
    X = xp.minimum(xp.maximum(X, b.lb), b.ub)
    return xp.where(b.fixed, b.lo, X)


def clip(Y: Array, lb: Array, ub: Array) -> Array:
    """Map points into ``[lb, ub]`` by clipping each coordinate.

    Parameters
    ----------
    Y : array of shape (n, d) or (d,)
        Internal points, any real values.
    lb, ub : arrays of shape (d,)
        Bounds in the namespace of `Y`; ``-inf``/``+inf`` leave a side open.

    Returns
    -------
    X : array like `Y`
        The nearest point of the box; the identity inside it.

    Examples
    --------
    >>> clip(np.asarray([[-3.0, 0.5, 7.0]]), np.zeros(3), np.asarray([1.0, 1.0, np.inf]))
    array([[0. , 0.5, 7. ]])
    """
    xp, b = _box(Y, lb, ub)
    return _into_box(xp, Y, b)


def reflect(Y: Array, lb: Array, ub: Array) -> Array:
    """Map points into ``[lb, ub]`` by mirroring at the bounds, repeatedly.

    With both bounds finite the map is periodic with period ``2 (ub - lb)``: a point
    beyond a bound is mirrored back, and again at the other bound when it overshoots.
    With one bound it is the mirror ``lb + |y - lb|`` (or ``ub - |ub - y|``).

    Parameters
    ----------
    Y : array of shape (n, d) or (d,)
        Internal points, any real values.
    lb, ub : arrays of shape (d,)
        Bounds in the namespace of `Y`; ``-inf``/``+inf`` leave a side open.

    Returns
    -------
    X : array like `Y`
        Points in the box; the identity inside it (exactly).

    Examples
    --------
    >>> reflect(np.asarray([-0.25, 0.5, 1.25, 2.75]), np.zeros(4), np.ones(4))
    array([0.25, 0.5 , 0.75, 0.75])
    """
    xp, b = _box(Y, lb, ub)
    one = xp.ones_like(b.lo)
    width = xp.where(b.both, b.hi - b.lo, one)
    t = xp.remainder(Y - b.lo, 2 * width)  # position within one period [0, 2 w)
    two_sided = b.lo + width - xp.abs(t - width)
    X = xp.where(b.has_hi, b.hi - xp.abs(b.hi - Y), Y)
    X = xp.where(b.has_lo, b.lo + xp.abs(Y - b.lo), X)
    X = xp.where(b.both, two_sided, X)
    inside = (Y >= b.lb) & (Y <= b.ub)
    return _into_box(xp, xp.where(inside, Y, X), b)


def transform(Y: Array, lb: Array, ub: Array) -> Array:
    """Map points into ``[lb, ub]`` by pycma's smooth, periodic lin-quad transformation.

    For a finite interval ``[l, u]`` with margins ``al``, ``au`` (below), a point is
    shifted by whole periods ``2 (u - l + al + au)`` into
    ``[l - 2 al - (u - l) / 2, u + 2 au + (u - l) / 2]``, mirrored into
    ``[l - al, u + au]``, and then mapped by

    - ``l + (y - (l - al))**2 / (4 al)`` for ``y < l + al``,
    - ``u - (y - (u + au))**2 / (4 au)`` for ``y > u - au``,
    - ``y`` otherwise (the identity on ``[l + al, u - au]``).

    The result is continuous with a continuous first derivative. A one-sided bound
    uses its half: mirror at ``l - al`` (or ``u + au``) and the quadratic piece.

    Parameters
    ----------
    Y : array of shape (n, d) or (d,)
        Internal points, any real values.
    lb, ub : arrays of shape (d,)
        Bounds in the namespace of `Y`; ``-inf``/``+inf`` leave a side open.

    Returns
    -------
    X : array like `Y`
        Points in the box.

    Notes
    -----
    The margins are pycma 4.x's defaults (``cma.transformations.margin_width2``):
    ``al = min((u - l) / 2, max(1, |l|) / 20)`` and
    ``au = min((u - l) / 2, max(1, |u|) / 20)``, so the identity covers about 90 % of
    an interval of width 1 near the origin and shrinks for narrow intervals far from
    it. With them this function agrees with
    ``cma.boundary_handler.BoundTransform(...).transform`` to rounding.

    References
    ----------
    N. Hansen, pycma, ``cma.transformations.BoxConstraintsLinQuadTransformation``,
    https://github.com/CMA-ES/pycma.

    Examples
    --------
    >>> lb, ub = np.ones(4), np.full(4, 2.0)
    >>> transform(np.asarray([1.5, 1.0, 0.95, 3.0]), lb, ub)
    array([1.5   , 1.0125, 1.    , 1.2   ])
    """
    xp, b = _box(Y, lb, ub)
    lo, hi, al, au = b.lo, b.hi, b.al, b.au
    width = hi - lo
    # shift by whole periods into [lo - 2 al - w/2, hi + 2 au + w/2] (both bounds finite)
    period = 2 * (width + al + au)
    start = lo - 2 * al - width / 2.0
    far = (Y < start) | (Y > hi + 2 * au + width / 2.0)
    shifted = Y - period * xp.floor_divide(Y - start, xp.where(b.both, period, xp.ones_like(lo)))
    y = xp.where(b.both & far, shifted, Y)
    # mirror into [lo - al, hi + au]
    y = xp.where(b.has_hi & (y > hi + au), y - 2 * (y - hi - au), y)
    y = xp.where(b.has_lo & (y < lo - al), y + 2 * (lo - al - y), y)
    # quadratic pieces; their inputs are clamped to where they apply (no overflow)
    low = b.has_lo & (y < lo + al)
    high = b.has_hi & (y > hi - au) & ~low
    yl = xp.minimum(xp.maximum(y, lo - al), lo + al)
    yh = xp.minimum(xp.maximum(y, hi - au), hi + au)
    y = xp.where(low, lo + (yl - (lo - al)) ** 2 / 4 / al, y)
    y = xp.where(high, hi - (yh - (hi + au)) ** 2 / 4 / au, y)
    return _into_box(xp, y, b)


def transform_inverse(X: Array, lb: Array, ub: Array) -> Array:
    """Internal point that `transform` maps to `X`, for `X` in ``[lb, ub]``.

    The preimage lies in ``[lb - al, ub + au]``: the identity on the linear part,
    ``(l - al) + 2 sqrt(al (x - l))`` near the lower bound and
    ``(u + au) - 2 sqrt(au (u - x))`` near the upper one.

    Parameters
    ----------
    X : array of shape (n, d) or (d,)
        Points in the box (points outside are clipped into it first).
    lb, ub : arrays of shape (d,)
        Bounds in the namespace of `X`.

    Returns
    -------
    Y : array like `X`
        ``transform(Y, lb, ub)`` equals `X` up to rounding.

    Examples
    --------
    >>> lb, ub = np.ones(3), np.full(3, 2.0)
    >>> Y = transform_inverse(np.asarray([1.5, 1.0125, 1.0]), lb, ub)
    >>> Y
    array([1.5 , 1.  , 0.95])
    >>> transform(Y, lb, ub)
    array([1.5   , 1.0125, 1.    ])
    """
    xp, b = _box(X, lb, ub)
    lo, hi, al, au = b.lo, b.hi, b.al, b.au
    x = _into_box(xp, X, b)
    low = b.has_lo & (x < lo + al)
    high = b.has_hi & ~(x < hi - au) & ~low
    y = xp.where(low, (lo - al) + 2 * xp.sqrt(al * (xp.maximum(x, lo) - lo)), x)
    y = xp.where(high, (hi + au) - 2 * xp.sqrt(au * (hi - xp.minimum(x, hi))), y)
    return xp.where(b.fixed, lo, y)


def _identity_inside(X: Array, lb: Array, ub: Array) -> Array:
    """Preimage for `clip` and `reflect`: both are the identity on the box."""
    xp, b = _box(X, lb, ub)
    return _into_box(xp, X, b)


_MAPS = {"transform": transform, "clip": clip, "reflect": reflect}
_INVERSES = {"transform": transform_inverse, "clip": _identity_inside, "reflect": _identity_inside}
