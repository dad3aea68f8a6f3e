"""Test problems with known minima; each works on one point ``(d,)`` or a batch ``(n, d)``.

Every function computes in the namespace of its input, so the same problem serves
NumPy, CuPy and array-api-strict runs, serially or vectorized.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._array import asarray_like, get_xp
from .._typing import Array

__all__ = ["PROBLEMS", "Rotated", "ellipsoid", "rosenbrock", "sphere"]


def sphere(x: Array) -> Array:
    """Sphere ``sum(x**2)``; minimum 0 at the origin.

    Examples
    --------
    >>> sphere(np.asarray([1.0, 2.0])), sphere(np.ones((2, 3)))
    (np.float64(5.0), array([3., 3.]))
    """
    xp, _ = get_xp(x)
    return xp.sum(x**2, axis=-1)


def ellipsoid(x: Array, condition: float = 1e6) -> Array:
    """Axis-parallel ellipsoid ``sum(condition**(i / (d - 1)) * x_i**2)``; minimum 0 at 0.

    Examples
    --------
    >>> float(ellipsoid(np.asarray([0.0, 1.0])))
    1000000.0
    """
    xp, _ = get_xp(x)
    d = x.shape[-1]
    scales = asarray_like(condition ** (np.arange(d) / max(d - 1, 1)), x)
    return xp.sum(scales * x**2, axis=-1)


def rosenbrock(x: Array) -> Array:
    """Rosenbrock ``sum(100 (x_{i+1} - x_i**2)**2 + (1 - x_i)**2)``; minimum 0 at ones.

    Examples
    --------
    >>> float(rosenbrock(np.ones(3)))
    0.0
    """
    xp, _ = get_xp(x)
    a, b = x[..., :-1], x[..., 1:]
    return xp.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2, axis=-1)


@dataclass(frozen=True)
class Rotated:
    """``fun(x @ R)`` for a fixed random rotation ``R`` (seeded, so picklable and repeatable).

    Examples
    --------
    >>> f = Rotated(sphere, d=3, seed=1)
    >>> bool(np.isclose(f(np.ones(3)), 3.0))
    True
    """

    fun: object
    d: int
    seed: int = 0
    matrix: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        q, r = np.linalg.qr(np.random.default_rng(self.seed).standard_normal((self.d, self.d)))
        object.__setattr__(self, "matrix", q * np.sign(np.diag(r)))

    def __call__(self, x: Array) -> Array:
        return self.fun(x @ asarray_like(self.matrix, x))  # type: ignore[operator]


PROBLEMS = {"sphere": sphere, "ellipsoid": ellipsoid, "rosenbrock": rosenbrock}
"""Bundled problems by name (the CLI and job files refer to them this way)."""
