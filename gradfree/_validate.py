"""Argument checks at the boundaries; each error names the argument and the bad value."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from ._array import asarray_like, get_xp, to_host
from ._typing import Array

__all__ = [
    "GradfreeWarning",
    "NonFiniteGeneration",
    "check_bounds",
    "check_choice",
    "check_int",
    "check_nonnegative",
    "check_positive",
    "check_x0",
]


class GradfreeWarning(UserWarning):
    """Warnings raised by gradfree (always with ``stacklevel=2``; the library never prints)."""


class NonFiniteGeneration(ValueError):
    """Raised by a strategy's ``tell`` whose generation spans several batches
    (``partial_batches``) when every value of the generation was NaN or inf; the run
    layer ends the run with ``Status.NONFINITE``."""


def check_positive(value: Any, name: str) -> float:
    """Return `value` as a float, or raise if it is not a finite number > 0.

    Examples
    --------
    >>> check_positive(0.5, "sigma")
    0.5
    >>> check_positive(0, "sigma")
    Traceback (most recent call last):
    ...
    ValueError: `sigma` must be finite and > 0; got 0.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number; got {type(value).__name__}.")
    if not (math.isfinite(value) and float(value) > 0):
        raise ValueError(f"`{name}` must be finite and > 0; got {value!r}.")
    return float(value)


def check_nonnegative(value: Any, name: str) -> float:
    """Return `value` as a float, or raise if it is not a finite number >= 0.

    Examples
    --------
    >>> check_nonnegative(0, "weight_decay")
    0.0
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number; got {type(value).__name__}.")
    if not (math.isfinite(value) and float(value) >= 0):
        raise ValueError(f"`{name}` must be finite and >= 0; got {value!r}.")
    return float(value)


def check_int(
    value: Any,
    name: str,
    *,
    low: int | None = None,
    high: int | None = None,
    even: bool = False,
) -> int:
    """Return `value` as an int in ``[low, high]`` (and even when asked), or raise.

    Examples
    --------
    >>> check_int(4, "popsize", low=2, even=True)
    4
    >>> check_int(3, "popsize", low=2, even=True)
    Traceback (most recent call last):
    ...
    ValueError: `popsize` must be even; got 3.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"`{name}` must be an integer; got {type(value).__name__}.")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"`{name}` must be >= {low}; got {value}.")
    if high is not None and value > high:
        raise ValueError(f"`{name}` must be <= {high}; got {value}.")
    if even and value % 2:
        raise ValueError(f"`{name}` must be even; got {value}.")
    return value


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """Return `value` if it is one of `choices`, or raise naming them.

    Examples
    --------
    >>> check_choice("nan", "on_error", ("raise", "nan"))
    'nan'
    """
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}; got {value!r}.")
    return value


def check_x0(x0: Any) -> Array:
    """Validate the starting point and return it as a 1-d floating-point array.

    Arrays keep their namespace and device; lists and scalars become NumPy. Floating
    dtypes are kept (float32 stays float32); integers become float64.

    Raises
    ------
    TypeError
        For a boolean, complex or non-numeric `x0`.
    ValueError
        For an empty or multi-dimensional `x0`, or one holding NaN or inf.

    Examples
    --------
    >>> check_x0([1, 2])
    array([1., 2.])
    >>> check_x0([1.0, float("nan")])
    Traceback (most recent call last):
    ...
    ValueError: `x0` must be finite; entries [1] are NaN or inf.
    """
    if not is_array_api_obj(x0):
        try:
            x0 = np.asarray(x0)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"`x0` must be a 1-d array of real numbers; got {x0!r}.") from exc
    xp, _ = get_xp(x0)
    kind = "integral" if xp.isdtype(x0.dtype, "integral") else None
    if xp.isdtype(x0.dtype, "real floating"):
        kind = "real floating"
    if kind is None:
        raise TypeError(f"`x0` must hold real numbers; got dtype {x0.dtype}.")
    if x0.ndim == 0:
        x0 = xp.reshape(x0, (1,))
    if x0.ndim != 1:
        raise ValueError(f"`x0` must be 1-d of shape (d,); got shape {tuple(x0.shape)}.")
    if x0.shape[0] == 0:
        raise ValueError("`x0` must have at least one entry; got shape (0,).")
    if kind == "integral":
        x0 = xp.astype(x0, xp.float64)
    finite = to_host(xp.isfinite(x0))
    if not finite.all():
        bad = np.flatnonzero(~finite)[:10].tolist()
        raise ValueError(f"`x0` must be finite; entries {bad} are NaN or inf.")
    return xp.asarray(x0, copy=True)


def check_bounds(bounds: Any, x0: Array) -> tuple[Array, Array] | None:
    """Validate `bounds` for `x0` and return ``(lb, ub)`` arrays like `x0`, or None.

    Parameters
    ----------
    bounds : None, scipy.optimize.Bounds or sequence of (low, high) pairs
        ``None`` in a pair means unbounded on that side, as in scipy.
    x0 : array of shape (d,)
        Validated starting point; it must lie within the bounds.

    Raises
    ------
    ValueError
        For a wrong length, NaN, ``low > high``, or `x0` outside the box.
    TypeError
        For anything that is neither a Bounds object nor a sequence of pairs.

    Examples
    --------
    >>> lb, ub = check_bounds([(0, 1), (None, 2)], np.zeros(2))
    >>> lb, ub
    (array([  0., -inf]), array([1., 2.]))
    """
    if bounds is None:
        return None
    from scipy.optimize import Bounds

    d = x0.shape[0]
    if isinstance(bounds, Bounds):
        lb, ub = (np.asarray(b, dtype=np.float64) for b in (bounds.lb, bounds.ub))
        if any(b.ndim > 1 or (b.ndim == 1 and b.shape[0] != d) for b in (lb, ub)):
            raise ValueError(
                f"`bounds` must have one (low, high) pair per entry of `x0` ({d}); "
                f"got lb {lb.shape} and ub {ub.shape}."
            )
        lb, ub = np.broadcast_to(lb, (d,)), np.broadcast_to(ub, (d,))
    else:
        try:
            pairs = np.asarray(
                [
                    [-np.inf if lo is None else lo, np.inf if hi is None else hi]
                    for lo, hi in bounds
                ],
                dtype=np.float64,
            )
        except (TypeError, ValueError) as exc:
            raise TypeError(
                "`bounds` must be a scipy.optimize.Bounds or a sequence of (low, high) "
                f"pairs; got {bounds!r}."
            ) from exc
        if pairs.shape != (d, 2):
            raise ValueError(
                f"`bounds` must have one (low, high) pair per entry of `x0` ({d}); "
                f"got {pairs.shape[0] if pairs.ndim else 0}."
            )
        lb, ub = pairs[:, 0], pairs[:, 1]
    if np.isnan(lb).any() or np.isnan(ub).any():
        raise ValueError("`bounds` must not contain NaN.")
    if (lb > ub).any():
        i = int(np.flatnonzero(lb > ub)[0])
        raise ValueError(f"`bounds` low > high at entry {i}: ({lb[i]}, {ub[i]}).")
    if (lb == np.inf).any() or (ub == -np.inf).any():
        raise ValueError("`bounds` must not have low = +inf or high = -inf (an empty side).")
    x = to_host(x0)
    outside = (x < lb) | (x > ub)
    if outside.any():
        raise ValueError(
            f"`x0` lies outside `bounds` at entries {np.flatnonzero(outside)[:10].tolist()}."
        )
    return asarray_like(lb, x0), asarray_like(ub, x0)
