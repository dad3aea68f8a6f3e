"""(model, data, loss) -> what the solvers evaluate: a scalar objective or a residual model.

`objective` gives ``f(P) -> (n,)``, one loss per parameter vector, for the scalar
methods (OpenAI-ES, CMA-ES, ...) with ``workers='vectorized'``. `residual` gives
``r(P) -> (n, m)`` with ``m = batch * out``, for the ensemble Kalman methods (EKI
minimizes ``0.5 ||r||^2``). Both run the population forward of the model once per call.

Minibatches are a pure function of a seed and the iteration: iteration ``k`` uses batch
``k mod n_batches`` of the permutation ``default_rng([seed, k // n_batches])`` of the
samples (the remainder of each epoch is dropped). Both are scheduled objectives
(`gradfree._typing.ScheduledObjective`): the run loop evaluates generation ``k`` with
``f.at(k)``, so a run is deterministic given `rng`, every member of a generation sees the
same batch whatever the workers, and a resumed run sees the batches of the uninterrupted
one with nothing about the objective in the checkpoint. Called directly, ``f(P)`` uses
batch ``f.calls`` and advances it.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from .._array import asarray_like, get_xp, to_host
from .._random import check_rng
from .._typing import Array
from .._validate import check_choice, check_int, check_positive
from ._mlp import MLP

__all__ = ["ModelObjective", "ModelResidual", "objective", "residual"]

_LOSSES = ("cross_entropy", "mse")
_LINKS = ("softmax", "identity")


def _log_softmax(Z: Array) -> Array:
    """Numerically stable log-softmax over the last axis."""
    xp, _ = get_xp(Z)
    Z = Z - xp.max(Z, axis=-1, keepdims=True)
    return Z - xp.log(xp.sum(xp.exp(Z), axis=-1, keepdims=True))


def _check_data(model: MLP, X: Any, y: Any, *, labels_only: bool) -> tuple[Array, Array]:
    """Validated inputs ``(N, d)`` and targets ``(N, out)`` (one-hot for labels), like X."""
    if not isinstance(model, MLP):
        raise TypeError(f"`model` must be a gradfree.models.MLP; got {type(model).__name__}.")
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        X = np.asarray(X)
    xp, _ = get_xp(X)
    if X.ndim != 2 or X.shape[1] != model.n_inputs or X.shape[0] == 0:
        raise ValueError(
            f"`X` must have shape (N, {model.n_inputs}) with N >= 1; got {tuple(X.shape)}."
        )
    if xp.isdtype(X.dtype, "integral"):
        X = xp.astype(X, xp.float64)
    elif not xp.isdtype(X.dtype, "real floating"):
        raise TypeError(f"`X` must hold real numbers; got dtype {X.dtype}.")
    finite = to_host(xp.all(xp.isfinite(X), axis=1))
    if not finite.all():
        rows = np.flatnonzero(~finite)[:10].tolist()
        raise ValueError(f"`X` must be finite; rows {rows} hold NaN or inf.")
    y_host = np.asarray(to_host(y))
    n, out = X.shape[0], model.n_outputs
    if y_host.shape[:1] != (n,):
        raise ValueError(
            f"`y` must have one entry per row of `X` ({n}); got shape {y_host.shape}."
        )
    if y_host.ndim == 1 and np.issubdtype(y_host.dtype, np.integer):
        bad = (y_host < 0) | (y_host >= out)
        if bad.any():
            raise ValueError(
                f"`y` labels must lie in [0, {out}) (the model has {out} outputs); "
                f"got {sorted(set(y_host[bad].tolist()))[:10]}."
            )
        targets = np.zeros((n, out))
        targets[np.arange(n), y_host] = 1.0
    elif labels_only:
        raise TypeError(
            f"`y` must be a 1-d array of integer class labels; got shape {y_host.shape} "
            f"and dtype {y_host.dtype}."
        )
    else:
        if not np.issubdtype(y_host.dtype, np.number) or np.iscomplexobj(y_host):
            raise TypeError(f"`y` must hold real numbers; got dtype {y_host.dtype}.")
        targets = y_host.reshape(n, -1).astype(np.float64)
        if targets.shape[1] != out:
            raise ValueError(
                f"`y` targets must have shape (N, {out}) (or (N,) when out = 1); "
                f"got {y_host.shape}."
            )
        if not np.isfinite(targets).all():
            raise ValueError("`y` must be finite.")
    return X, asarray_like(targets, X)


class _Minibatches(ABC):
    """Validated data, the seeded batch schedule and the call counter."""

    def __init__(
        self, model: MLP, X: Any, y: Any, batch_size: Any, rng: Any, *, labels_only: bool
    ) -> None:
        self.model = model
        self.X, self.targets = _check_data(model, X, y, labels_only=labels_only)
        n = self.X.shape[0]
        if batch_size is None:
            self.batch_size, self.seed = n, None
        else:
            self.batch_size = check_int(batch_size, "batch_size", low=1, high=n)
            self.seed = int(check_rng(rng).integers(2**63))
        self.calls = 0

    @property
    def n_batches(self) -> int:
        """Minibatches per epoch (the remainder of each epoch is dropped)."""
        return self.X.shape[0] // self.batch_size

    def indices(self, k: int) -> np.ndarray | None:
        """Host row indices of call `k`'s batch; None for the full data."""
        if self.seed is None:
            return None
        epoch, j = divmod(int(k), self.n_batches)
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.X.shape[0])
        return perm[j * self.batch_size : (j + 1) * self.batch_size]

    def batch(self, k: int) -> tuple[Array, Array]:
        """Inputs and targets (one-hot for labels) of call `k`."""
        idx = self.indices(k)
        if idx is None:
            return self.X, self.targets
        xp, dev = get_xp(self.X)
        idx = xp.asarray(idx, device=dev)
        return xp.take(self.X, idx, axis=0), xp.take(self.targets, idx, axis=0)

    def at(self, iteration: int) -> Callable[[Array], Array]:
        """The objective on minibatch `iteration` (a `gradfree._typing.ScheduledObjective`).

        The run loop asks for it every generation, so what generation ``k`` evaluates
        depends on ``k`` and the seed only: a resumed run sees the uninterrupted run's
        batches with no objective state in the checkpoint, and serial workers see one
        batch per generation too.
        """
        return functools.partial(self.evaluate, iteration=check_int(iteration, "iteration"))

    def __call__(self, P: Array) -> Array:
        """The value on the next minibatch (advances `calls`); runs use `at` instead."""
        out = self.evaluate(P, iteration=self.calls)
        self.calls += 1
        return out

    @abstractmethod
    def evaluate(self, P: Array, *, iteration: int) -> Array:
        """The value on minibatch `iteration`."""

    def _outputs(self, P: Array, iteration: int) -> tuple[Array, Array]:
        """Model outputs on batch `iteration`, and its targets cast like the outputs."""
        X, T = self.batch(iteration)
        out = self.model.forward(P, X)
        xp, _ = get_xp(out)
        return out, (T if T.dtype == out.dtype else xp.astype(T, out.dtype))


class ModelObjective(_Minibatches):
    """Scalar loss per parameter vector; built by `objective` (see there)."""

    def __init__(self, model: MLP, X: Any, y: Any, loss: str, batch_size: Any, rng: Any) -> None:
        self.loss = check_choice(loss, "loss", _LOSSES)
        super().__init__(model, X, y, batch_size, rng, labels_only=self.loss == "cross_entropy")

    def evaluate(self, P: Array, *, iteration: int) -> Array:
        """``(n, p) -> (n,)`` losses on minibatch `iteration` (``(p,) -> ()``)."""
        out, T = self._outputs(P, iteration)
        xp, _ = get_xp(out)
        if self.loss == "cross_entropy":
            per_sample = -xp.sum(T * _log_softmax(out), axis=-1)
        else:
            per_sample = xp.mean((out - T) ** 2, axis=-1)
        return xp.mean(per_sample, axis=-1)


class ModelResidual(_Minibatches):
    """Residual vector per parameter vector; built by `residual` (see there)."""

    def __init__(
        self, model: MLP, X: Any, y: Any, link: str, batch_size: Any, rng: Any, noise_std: float
    ) -> None:
        self.link = check_choice(link, "link", _LINKS)
        self.noise_std = check_positive(noise_std, "noise_std")
        super().__init__(model, X, y, batch_size, rng, labels_only=self.link == "softmax")

    @property
    def n_residuals(self) -> int:
        """Length ``m = batch_size * out`` of each residual vector."""
        return self.batch_size * self.model.n_outputs

    def evaluate(self, P: Array, *, iteration: int) -> Array:
        """``(n, p) -> (n, m)`` residuals on minibatch `iteration` (``(p,) -> (m,)``)."""
        out, T = self._outputs(P, iteration)
        xp, _ = get_xp(out)
        pred = xp.exp(_log_softmax(out)) if self.link == "softmax" else out
        R = (pred - T) / self.noise_std
        return xp.reshape(R, tuple(R.shape[:-2]) + (self.n_residuals,))


def objective(
    model: MLP,
    X: Any,
    y: Any,
    loss: str = "cross_entropy",
    *,
    batch_size: int | None = None,
    rng: Any = None,
) -> ModelObjective:
    """A vectorized scalar objective ``f(P (n, p)) -> (n,)`` for ES and other scalar methods.

    Parameters
    ----------
    model : MLP
    X : array of shape (N, d)
        Training inputs, in the namespace and on the device the run should use (the
        output of `f` follows ``P``; ``P`` and ``X`` must share a device). Checked once
        for NaN and inf.
    y : array of shape (N,) or (N, out)
        Integer class labels in ``[0, out)``; with ``loss='mse'`` also real targets.
    loss : {'cross_entropy', 'mse'}, default='cross_entropy'
        Mean softmax cross-entropy of the logits, or mean squared error of the outputs
        against the targets (one-hot for labels).
    batch_size : int, optional
        Samples per call; None (default) uses all ``N`` every call (deterministic, no
        randomness).
    rng : None, int, SeedSequence or Generator, default=None
        Seeds the minibatch schedule (one draw, at construction). Same seed, same
        batches.

    Returns
    -------
    ModelObjective
        Callable ``f(P)``: ``(n, p) -> (n,)`` or ``(p,) -> ()``, every row on the same
        minibatch, which advances by one per call (attribute ``calls``; set it to
        rewind). Use with ``workers='vectorized'`` so one generation is one call.
        ``f.batch(k)`` returns call ``k``'s inputs and one-hot targets.

    Raises
    ------
    ValueError
        Mismatched shapes, NaN in `X`, labels outside ``[0, out)``, an unknown `loss`
        or a `batch_size` outside ``[1, N]``.
    TypeError
        A `model` that is not an `MLP`, non-numeric data, or float labels with
        cross-entropy.

    Examples
    --------
    >>> from gradfree.models import MLP, objective
    >>> net = MLP((4, 8, 3))
    >>> X, y = np.random.default_rng(0).normal(size=(20, 4)), np.arange(20) % 3
    >>> f = objective(net, X, y, batch_size=5, rng=0)
    >>> P = np.stack([net.init_flat(rng=s) for s in range(6)])
    >>> f(P).shape, f.calls
    ((6,), 1)
    """
    return ModelObjective(model, X, y, loss, batch_size, rng)


def residual(
    model: MLP,
    X: Any,
    y: Any,
    *,
    link: str = "softmax",
    batch_size: int | None = None,
    rng: Any = None,
    noise_std: float = 1.0,
) -> ModelResidual:
    """A vectorized residual model ``r(P (n, p)) -> (n, m)`` for EKI and its relatives.

    The residual of one parameter vector is ``(link(outputs) - targets) / noise_std``
    on the minibatch, flattened sample by sample: ``m = batch_size * out``. EKI
    (`gradfree.minimize` with ``method='eki'``) drives ``0.5 ||r||^2`` down; with
    ``link='softmax'`` that is the Brier score of the class probabilities.

    Parameters
    ----------
    model : MLP
    X : array of shape (N, d)
        As in `objective`.
    y : array of shape (N,) or (N, out)
        Integer class labels (one-hot targets); with ``link='identity'`` also real
        targets.
    link : {'softmax', 'identity'}, default='softmax'
        Class probabilities, or the raw outputs (regression, or logits fit to one-hot).
    batch_size : int, optional
        Samples per call (None: all, every call). Fixed, so ``m`` is the same each call.
    rng : None, int, SeedSequence or Generator, default=None
        Seeds the minibatch schedule, as in `objective`.
    noise_std : float, default=1.0
        Residuals are divided by it (whitening with ``Gamma = noise_std**2 I``): smaller
        values trust the data more and make EKI steps longer.

    Returns
    -------
    ModelResidual
        Callable ``r(P)``: ``(n, p) -> (n, m)`` or ``(p,) -> (m,)``; advances one
        minibatch per call (attribute ``calls``); ``r.n_residuals`` is ``m``.

    Raises
    ------
    ValueError, TypeError
        As in `objective`; also for an unknown `link` or ``noise_std <= 0``.

    Examples
    --------
    >>> from gradfree.models import MLP, residual
    >>> net = MLP((4, 8, 3))
    >>> X, y = np.random.default_rng(0).normal(size=(20, 4)), np.arange(20) % 3
    >>> r = residual(net, X, y, batch_size=5, rng=0)
    >>> r(np.zeros((7, net.n_params))).shape, r.n_residuals
    ((7, 15), 15)
    """
    return ModelResidual(model, X, y, link, batch_size, rng, noise_std)
