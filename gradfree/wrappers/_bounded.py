"""`Bounded`: box bounds for any strategy, through the mappings of `gradfree._bounds`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from array_api_compat import is_array_api_obj

from .._array import to_host
from .._base import WrapperBase, check_inner
from .._typing import Array
from .._validate import check_bounds, check_choice
from ._bound_maps import _INVERSES, _MAPS, BOUND_METHODS

__all__ = ["Bounded", "BoundedState"]


def _host_bound(value: Any, name: str) -> np.ndarray:
    """`value` as a host float64 array of at most one dimension, or raise naming `name`."""
    try:
        host = to_host(value) if is_array_api_obj(value) else np.asarray(value)
        host = np.asarray(host, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be an array of real numbers; got {value!r}.") from exc
    if host.ndim > 1:
        raise ValueError(f"`{name}` must be 1-d of shape (d,); got shape {host.shape}.")
    if np.isnan(host).any():
        raise ValueError(f"`{name}` must not contain NaN; got {value!r}.")
    return host


@dataclass(frozen=True)
class BoundedState:
    """State of `Bounded`: the inner state plus the bounds and the pending internal points."""

    inner: Any  # the inner strategy's state, in internal coordinates
    lb: Array  # (d,) like x0
    ub: Array  # (d,) like x0
    Y: Array | None = None  # (n, d) internal points of the pending generation


@dataclass(frozen=True, eq=False)
class Bounded(WrapperBase):
    """Box bounds for any strategy: it searches internal points, the objective sees mapped ones.

    Each generation the inner strategy proposes internal points ``Y`` (unbounded);
    `ask` returns ``X = map(Y)``, always inside ``[lb, ub]``, and **X is what gets
    evaluated**. `tell` ignores the ``X`` it is handed (beyond its shape) and tells the
    inner strategy **the internal ``Y``** kept in the state, with the values of ``X``
    (pycma's genotype/phenotype convention). The driver's best point, ``result.x``, is
    therefore an evaluated, feasible point; ``result.state.inner`` (e.g. its mean) is in
    internal coordinates: map it with ``transform(y, state.lb, state.ub)`` (or the
    chosen method) to read it as a point of the box.

    Parameters
    ----------
    strategy : strategy
        A configured strategy with scalar values (``init``/``ask``/``tell``); it is
        started at the internal preimage of `x0` and never sees the bounds.
    lb, ub : arrays of shape (d,) or scalars
        Bounds, converted to the namespace, device and dtype of `x0` at `init`;
        ``-inf``/``+inf`` leave a side unbounded, ``lb == ub`` fixes a coordinate.
    method : {'transform', 'clip', 'reflect'}, default='transform'
        The map: pycma's smooth lin-quad `transform` (identity in the interior,
        quadratic near the bounds, periodic), `reflect` (mirror, periodic) or `clip`.
        `clip` makes the objective flat outside the box, so the inner strategy may
        drift there; `transform` and `reflect` keep a unique nearby preimage.

    Raises
    ------
    TypeError
        For a `strategy` without ``init``/``ask``/``tell`` or with vector values, or
        non-numeric bounds.
    ValueError
        For an unknown `method`, NaN bounds, ``lb > ub``, an empty side
        (``lb = +inf`` or ``ub = -inf``), bounds whose length differs from `x0`, or an
        `x0` outside the box.

    Notes
    -----
    ``supports_bounds`` is True: the bounds live in this wrapper, not in the inner
    strategy. Configs compare by identity (``eq=False``) since they hold arrays.

    References
    ----------
    N. Hansen, pycma ``cma.boundary_handler.BoundTransform`` and
    ``cma.transformations.BoxConstraintsLinQuadTransformation``,
    https://github.com/CMA-ES/pycma.

    Examples
    --------
    >>> from gradfree import minimize
    >>> from gradfree.es import CMAES
    >>> from gradfree.testing import sphere
    >>> lb, ub = np.ones(3), np.full(3, 2.0)
    >>> res = minimize(sphere, np.full(3, 1.5), method=Bounded(CMAES(), lb, ub),
    ...                rng=0, workers="vectorized")
    >>> bool(np.all(res.x >= 1.0)), np.round(res.x, 6)
    (True, array([1., 1., 1.]))
    """

    strategy: Any
    lb: Any
    ub: Any
    method: str = "transform"

    supports_bounds: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_inner(self.strategy, "Bounded")
        check_choice(self.method, "method", BOUND_METHODS)
        lb, ub = _host_bound(self.lb, "lb"), _host_bound(self.ub, "ub")
        if (lb == np.inf).any():
            raise ValueError(f"`lb` must not be +inf (empty box); got {self.lb!r}.")
        if (ub == -np.inf).any():
            raise ValueError(f"`ub` must not be -inf (empty box); got {self.ub!r}.")
        try:
            lb, ub = np.broadcast_arrays(lb, ub)
        except ValueError as exc:
            raise ValueError(
                f"`lb` and `ub` must have the same length; got {lb.shape} and {ub.shape}."
            ) from exc
        if (lb > ub).any():
            i = int(np.flatnonzero(lb > ub)[0])
            raise ValueError(f"`lb` > `ub` at entry {i}: ({lb[i]}, {ub[i]}).")

    def _bounds_like(self, x0: Array) -> tuple[Array, Array]:
        """The bounds as ``(d,)`` arrays like `x0`; checks the length and that x0 is inside."""
        from scipy.optimize import Bounds

        box = check_bounds(Bounds(_host_bound(self.lb, "lb"), _host_bound(self.ub, "ub")), x0)
        assert box is not None
        return box

    def init(self, x0: Array, *, rng: Any) -> BoundedState:
        lb, ub = self._bounds_like(x0)
        y0 = _INVERSES[self.method](x0, lb, ub)
        return BoundedState(inner=self.strategy.init(y0, rng=rng), lb=lb, ub=ub)

    def ask(self, state: BoundedState, *, rng: Any) -> tuple[Array, BoundedState]:
        Y, inner = self.strategy.ask(state.inner, rng=rng)
        X = _MAPS[self.method](Y, state.lb, state.ub)
        return X, replace(state, inner=inner, Y=Y)

    def center(self, state: BoundedState) -> Array:
        """The image in the box of the inner strategy's centre."""
        return _MAPS[self.method](super().center(state), state.lb, state.ub)

    def tell(self, state: BoundedState, X: Array, values: Array) -> BoundedState:
        if state.Y is None or X.shape != state.Y.shape:
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        inner = self.strategy.tell(state.inner, state.Y, values)
        return replace(state, inner=inner, Y=None)
