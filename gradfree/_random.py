"""Randomness enters only through an explicit `numpy.random.Generator` named ``rng``.

Small draws are made on the host and moved to the array's device, so one seed gives the
same run on NumPy and CuPy. Large draws for device arrays are made on the device by a
generator seeded from ``rng`` for that one call, so nothing big crosses the bus and a
checkpoint needs only the host generator.
"""

from __future__ import annotations

import math
from numbers import Integral
from typing import Any

import numpy as np
from array_api_compat import is_cupy_array

from ._array import asarray_like
from ._typing import Array

__all__ = ["DEVICE_DRAW_THRESHOLD", "check_rng", "normal", "spawn"]

DEVICE_DRAW_THRESHOLD = 1 << 20
"""Draws of at least this many numbers for a GPU array are made on the GPU."""


def check_rng(rng: Any = None) -> np.random.Generator:
    """Normalize `rng` to a `numpy.random.Generator`.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator, default=None
        Anything `numpy.random.default_rng` accepts. A Generator is used as is (not
        copied), so the caller's stream advances.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    TypeError
        For a legacy `numpy.random.RandomState` or any other type.
    ValueError
        For a negative seed.

    Examples
    --------
    >>> int(check_rng(0).integers(10)) == int(check_rng(0).integers(10))
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        raise TypeError(
            "`rng` must be None, an int, a SeedSequence or a numpy.random.Generator; "
            "legacy RandomState is not supported (use numpy.random.default_rng(seed))."
        )
    if rng is None or isinstance(rng, (np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(rng)
    if isinstance(rng, Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"`rng` seed must be >= 0; got {rng!r}.")
        return np.random.default_rng(int(rng))
    raise TypeError(
        "`rng` must be None, an int, a SeedSequence or a numpy.random.Generator; "
        f"got {type(rng).__name__}."
    )


def normal(rng: np.random.Generator, shape: tuple[int, ...], *, like: Array) -> Array:
    """Standard normal draws with the namespace, device and dtype of `like`.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; advanced by every call.
    shape : tuple of int
        Shape of the draw.
    like : array
        Template for namespace, device and dtype.

    Returns
    -------
    array of shape `shape`

    Notes
    -----
    Draws of fewer than `DEVICE_DRAW_THRESHOLD` numbers are made on the host in float64
    and moved, so NumPy and CuPy runs see the same numbers. Larger draws for CuPy arrays
    are made on the GPU by ``cupy.random.default_rng(seed)`` with
    ``seed = rng.integers(2**63)``: reproducible, and only the host generator needs to
    be checkpointed.

    Examples
    --------
    >>> z = normal(check_rng(0), (2, 3), like=np.zeros(1, dtype=np.float32))
    >>> z.shape, z.dtype
    ((2, 3), dtype('float32'))
    """
    if type(like) is np.ndarray:
        z = rng.standard_normal(shape)
        return z if like.dtype == np.float64 else z.astype(like.dtype)
    if is_cupy_array(like) and math.prod(shape) >= DEVICE_DRAW_THRESHOLD:
        import cupy

        seed = int(rng.integers(2**63))
        with cupy.cuda.Device(like.device):
            gen = cupy.random.default_rng(seed)
            return gen.standard_normal(shape, dtype=like.dtype)
    return asarray_like(rng.standard_normal(shape), like)


def spawn(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """Independent child generators, e.g. one per parallel evaluation.

    Examples
    --------
    >>> len(spawn(check_rng(0), 3))
    3
    """
    return list(rng.spawn(n))
