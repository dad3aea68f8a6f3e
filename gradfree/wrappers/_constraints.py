"""scipy's constraint objects as the constraint functions of `gradfree.Constrained`:
`parse_constraints` reads them, `ConstrainedObjective` evaluates ``f`` and ``c`` together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._array import asarray_like, to_host
from .._typing import Array, Objective

__all__ = ["ConstrainedObjective", "parse_constraints"]


def parse_constraints(
    constraints: Any, x0: Array
) -> tuple[tuple[Callable[[Array], Any], ...], np.ndarray, np.ndarray]:
    """Constraint functions and their bounds from scipy-style constraint objects.

    Parameters
    ----------
    constraints : NonlinearConstraint, LinearConstraint, dict or a sequence of them
        scipy's objects (``fun(x) -> (k,)`` with ``lb <= fun(x) <= ub``; ``A @ x``) or
        the old-style dicts ``{'type': 'ineq' | 'eq', 'fun': fun, 'args': ()}`` meaning
        ``fun(x) >= 0`` or ``fun(x) == 0``. Jacobians and Hessians are ignored.
    x0 : array of shape (d,)
        Each constraint is evaluated once at `x0` to learn its length.

    Returns
    -------
    funs : tuple of callables
        One per constraint object, each ``fun(x) -> (k_j,)`` host array.
    lb, ub : ndarray of shape (k,)
        Bounds of the concatenated constraint values.

    Raises
    ------
    TypeError
        For an object that is not a constraint.

    Examples
    --------
    >>> from scipy.optimize import LinearConstraint
    >>> funs, lb, ub = parse_constraints(
    ...     [LinearConstraint(np.eye(2), 0, 1), {"type": "ineq", "fun": lambda x: x[0]}],
    ...     np.zeros(2))
    >>> len(funs), lb, ub
    (2, array([0., 0., 0.]), array([ 1.,  1., inf]))
    """
    from scipy.optimize import LinearConstraint, NonlinearConstraint

    if isinstance(constraints, (NonlinearConstraint, LinearConstraint, dict)):
        constraints = [constraints]
    if not isinstance(constraints, Sequence):
        raise TypeError(
            "`constraints` must be a NonlinearConstraint, LinearConstraint, dict or a "
            f"sequence of them; got {type(constraints).__name__}."
        )
    funs: list[Callable[[Array], np.ndarray]] = []
    lbs, ubs = [], []
    for i, con in enumerate(constraints):
        if isinstance(con, NonlinearConstraint):
            fun: Callable[[Array], np.ndarray] = _Call(con.fun, ())
            lb, ub = con.lb, con.ub
        elif isinstance(con, LinearConstraint):
            fun, lb, ub = _Linear(np.asarray(con.A, dtype=np.float64)), con.lb, con.ub
        elif isinstance(con, dict):
            kind = con.get("type")
            if kind not in ("ineq", "eq") or not callable(con.get("fun")):
                raise TypeError(
                    f"`constraints[{i}]`: a dict needs 'type' ('ineq' or 'eq') and a "
                    f"callable 'fun'; got {con!r}."
                )
            fun, lb, ub = (
                _Call(con["fun"], tuple(con.get("args", ()))),
                0.0,
                (np.inf if kind == "ineq" else 0.0),
            )
        else:
            raise TypeError(
                f"`constraints[{i}]` must be a NonlinearConstraint, LinearConstraint or "
                f"dict; got {type(con).__name__}."
            )
        k = fun(x0).size
        lbs.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), (k,)))
        ubs.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), (k,)))
        funs.append(fun)
    if not funs:
        raise ValueError("`constraints` is empty.")
    return tuple(funs), np.concatenate(lbs), np.concatenate(ubs)


@dataclass(frozen=True)
class _Call:
    """``fun(x, *args)`` as a flat host float64 vector (picklable for workers)."""

    fun: Callable[..., Any]
    args: tuple[Any, ...]

    def __call__(self, x: Array) -> np.ndarray:
        return np.asarray(to_host(self.fun(x, *self.args)), dtype=np.float64).reshape(-1)


@dataclass(frozen=True)
class _Linear:
    """``A @ x`` on the host."""

    A: np.ndarray

    def __call__(self, x: Array) -> np.ndarray:
        return np.atleast_1d(self.A @ np.asarray(to_host(x), dtype=np.float64))


@dataclass(frozen=True)
class ConstrainedObjective:
    """``x -> [f(x), c_1(x), ..., c_k(x)]``: the model `Constrained` consumes.

    Called with one point ``(d,)`` it returns a host vector; called with a population
    ``(n, d)`` (``workers='vectorized'``) it calls ``fun(X) -> (n,)`` once and the
    constraint functions row by row. Picklable when its parts are, so it runs in
    process pools.

    Examples
    --------
    >>> obj = ConstrainedObjective(lambda x: float(x @ x), (), (lambda x: x[:1],))
    >>> obj(np.array([1.0, 2.0]))
    array([5., 1.])
    """

    fun: Objective
    args: tuple[Any, ...]
    constraints: tuple[Callable[[Array], Any], ...]

    def __call__(self, x: Array) -> Any:
        if x.ndim == 2:
            F = np.asarray(to_host(self.fun(x, *self.args)), dtype=np.float64).reshape(-1, 1)
            C = np.stack([self._c(x[i, ...]) for i in range(x.shape[0])])
            return asarray_like(np.concatenate([F, C], axis=1), x)
        return np.concatenate([[float(self.fun(x, *self.args))], self._c(x)])

    def _c(self, x: Array) -> np.ndarray:
        return np.concatenate(
            [np.asarray(c(x), dtype=np.float64).reshape(-1) for c in self.constraints]
        )
