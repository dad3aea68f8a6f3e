"""The one fit loop of the layer-wise trainers: ``init``, then ``step`` per sweep, to a stop rule.

Alternating minimization (BCD, ADMM, online AM) and every local rule are solvers with

- ``init(X, Y, *, rng, params=None)``: the first state (``params``: a starting network,
  one layer array per layer, in place of the random draw);
- ``step(state, X, Y)``: one sweep or epoch over the data;
- ``objective(state, X, Y)``: the training objective, a Python float.

A state holds parameters and optimizer variables, never the training data: the data
are passed to each call. The loop owns the stop rules (``maxiter``, ``tol``, a
non-finite objective, a callback raising `StopIteration`) and the result, a
`scipy.optimize.OptimizeResult` with the package's `Status` codes; it has no other
logic, so it can sit on the package's run loop as one more kind of step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from .._array import asarray_like, get_xp
from .._random import check_rng
from .._result import Status, build_result
from .._validate import check_int, check_nonnegative
from ._validation import check_Xy

__all__ = ["epoch_batches", "fit"]


def fit(
    solver: Any,
    X: Any,
    Y: Any,
    *,
    rng: Any = None,
    maxiter: int = 30,
    tol: float = 0.0,
    callback: Callable[[Any], Any] | None = None,
    params: Sequence[Any] | None = None,
) -> OptimizeResult:
    """Run ``solver.init`` then ``solver.step`` (one sweep each) and return an OptimizeResult.

    Parameters
    ----------
    solver : object
        A trainer with ``init(X, Y, *, rng, params)``, ``step(state, X, Y)`` and
        ``objective(state, X, Y)``: `gradfree.altmin.BCD`, `gradfree.altmin.ADMM`,
        `gradfree.altmin.OnlineAM` or any `gradfree.local.LocalRule`.
    X : array of shape (n, d)
    Y : array of shape (n, k)
        Targets (one-hot rows for square loss and cross-entropy, ``+-1`` rows for hinge).
    rng : None, int, SeedSequence or Generator
        Seeds the initial weights and the solver's own draws.
    maxiter : int, default=30
        Number of sweeps (epochs for the mini-batch trainers).
    tol : float, default=0
        Stop with ``CONVERGED`` when the objective decrease of a sweep is at most
        ``tol * max(1, |F|)``; 0 runs all `maxiter` sweeps.
    callback : callable, optional
        Called with each new state; raising `StopIteration` ends the run.
    params : sequence of arrays, optional
        Starting network, one ``(d_in + 1, d_out)`` array per layer (warm start).

    Returns
    -------
    OptimizeResult
        ``x``: list of layer arrays ``(d_in + 1, d_out)`` (`gradfree.models.MLP` layout);
        ``fun``: training objective; ``nit``: sweeps; ``history``: objective per sweep
        (entry 0 at the start); ``state``: the final state; ``status``, ``message``.

    Examples
    --------
    >>> from gradfree.altmin import BCD
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> res = fit(BCD(hidden_layer_sizes=(8,)), X, Y, rng=0, maxiter=5)
    >>> res.nit, len(res.history), res.history[-1] <= res.history[0]
    (5, 6, True)
    """
    maxiter = check_int(maxiter, "maxiter", low=0)
    tol = check_nonnegative(tol, "tol")
    X, Y = check_Xy(X, Y)
    state = solver.init(X, Y, rng=check_rng(rng), params=params)
    history = [solver.objective(state, X, Y)]
    status = Status.MAXITER
    nit = 0
    for nit in range(1, maxiter + 1):  # noqa: B007 - nit is reported
        state = solver.step(state, X, Y)
        history.append(solver.objective(state, X, Y))
        if callback is not None:
            try:
                callback(state)
            except StopIteration:
                status = Status.CALLBACK
                break
        if not math.isfinite(history[-1]):
            status = Status.NONFINITE
            break
        if tol > 0 and history[-2] - history[-1] <= tol * max(1.0, abs(history[-1])):
            status = Status.CONVERGED
            break
    return build_result(
        x=list(state.layers),
        fun=history[-1],
        nit=nit,
        nfev=nit,
        status=status,
        history=history,
        state=state,
    )


def epoch_batches(
    X: Any, Y: Any, batch_size: int, seed: int, epoch: int
) -> Iterator[tuple[Any, Any]]:
    """The mini-batches ``(X_b, Y_b)`` of one epoch, shuffled by ``(seed, epoch)``.

    The permutation is drawn on the host, so an epoch visits the same rows on every
    namespace and device; the batches stay in the namespace of `X` (`Y` is cast to its
    dtype). The last batch holds the remainder.

    Examples
    --------
    >>> X, Y = np.arange(10.0).reshape(5, 2), np.ones((5, 1))
    >>> [Xb.shape[0] for Xb, _ in epoch_batches(X, Y, 2, seed=0, epoch=0)]
    [2, 2, 1]
    """
    xp, _ = get_xp(X)
    Y = Y if Y.dtype == X.dtype else xp.astype(Y, X.dtype)
    n = X.shape[0]
    perm = asarray_like(np.random.default_rng([seed, epoch]).permutation(n), X, dtype=xp.int64)
    for start in range(0, n, batch_size):
        idx = perm[start : min(start + batch_size, n)]
        yield xp.take(X, idx, axis=0), xp.take(Y, idx, axis=0)
