"""Between a list of arrays (one per layer) and one flat parameter vector."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .._array import get_xp
from .._typing import Array

__all__ = ["flatten", "unflatten_like"]


def flatten(arrays: Sequence[Array]) -> tuple[Array, Callable[[Array], list[Array]]]:
    """Concatenate `arrays` into one vector and return the inverse map.

    Each array is read in C (row-major) order, one after the other.

    Parameters
    ----------
    arrays : sequence of arrays
        Non-empty; one namespace and device. The vector gets their common dtype.

    Returns
    -------
    vector : array of shape (p,)
        ``p`` is the total number of entries.
    unflatten : callable
        ``unflatten(v)`` for ``v`` of shape ``(p,)`` or ``(..., p)`` returns the list of
        arrays of shapes ``(..., *shape_i)``: an exact round trip, and for a population
        ``(n, p)`` one stacked array per layer.

    Raises
    ------
    ValueError
        For an empty list, or (in `unflatten`) a vector whose last axis is not ``p``.

    Examples
    --------
    >>> v, unflatten = flatten([np.ones((2, 3)), np.zeros(2)])
    >>> v.shape
    (8,)
    >>> [a.shape for a in unflatten(np.zeros((5, 8)))]
    [(5, 2, 3), (5, 2)]
    """
    if len(arrays) == 0:
        raise ValueError("`arrays` must hold at least one array; got an empty sequence.")
    xp, _ = get_xp(*arrays)
    shapes = [tuple(a.shape) for a in arrays]
    vector = xp.concat([xp.reshape(a, (-1,)) for a in arrays])
    return vector, unflatten_like(shapes)


def unflatten_like(shapes: Sequence[tuple[int, ...]]) -> Callable[[Array], list[Array]]:
    """The map from a flat vector ``(..., p)`` to arrays of `shapes` (C order), one per shape.

    Examples
    --------
    >>> unflatten_like([(2,), (1, 2)])(np.arange(4.0))
    [array([0., 1.]), array([[2., 3.]])]
    """
    shapes = [tuple(int(s) for s in shape) for shape in shapes]
    sizes = [math.prod(shape) for shape in shapes]
    total = sum(sizes)

    def unflatten(vector: Array) -> list[Array]:
        xp, _ = get_xp(vector)
        if vector.ndim < 1 or vector.shape[-1] != total:
            raise ValueError(
                f"`params` must have shape (p,) or (n, p) with p = {total}; "
                f"got shape {tuple(vector.shape)}."
            )
        lead = tuple(vector.shape[:-1])
        out, start = [], 0
        for shape, size in zip(shapes, sizes):
            out.append(xp.reshape(vector[..., start : start + size], lead + shape))
            start += size
        return out

    return unflatten
