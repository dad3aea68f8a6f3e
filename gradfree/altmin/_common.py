"""Shared parts of the alternating-minimization trainers: checks, targets, proximal maps, driver.

Everything here is closed-form linear algebra or an entrywise map; no derivative of the
network is taken. Arrays follow the namespace and device of the training inputs ``X``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult
from sklearn.base import BaseEstimator, ClassifierMixin

from .._array import asarray_like, get_xp, to_host
from .._random import check_rng
from .._result import Status, build_result
from .._validate import check_int, check_nonnegative, check_positive
from ..models import MLP

__all__ = [
    "AltMinClassifierMixin",
    "OnlineClassifierMixin",
    "check_X",
    "check_Xy",
    "fit",
    "refit_readout",
    "relu_prox",
]


def check_X(X: Any, name: str = "X") -> Any:
    """Return `X` as a finite 2-d real-floating array of its own namespace, or raise.

    Integer input becomes float64. Raises ``ValueError`` for a wrong rank, no rows, or
    NaN/inf; ``TypeError`` for complex or non-numeric input.

    Examples
    --------
    >>> check_X([[0, 1], [2, 3]]).dtype
    dtype('float64')
    """
    if isinstance(X, (list, tuple)) or not hasattr(X, "__array_namespace__"):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"`{name}` must be a 2-d numeric array.") from exc
        if X.dtype.kind not in "biuf":
            raise TypeError(f"`{name}` must be real numeric; got dtype {X.dtype}.")
    xp, _ = get_xp(X)
    if X.ndim != 2:
        raise ValueError(f"`{name}` must be 2-d (n_samples, n_features); got {X.ndim}-d.")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"`{name}` must be non-empty; got shape {X.shape}.")
    if xp.isdtype(X.dtype, "complex floating") or xp.isdtype(X.dtype, "bool"):
        raise TypeError(f"`{name}` must be real numeric; got dtype {X.dtype}.")
    if not xp.isdtype(X.dtype, "real floating"):
        X = xp.astype(X, xp.float64)
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"`{name}` contains NaN or inf.")
    return X


def check_Xy(X: Any, Y: Any) -> tuple[Any, Any]:
    """Check inputs `X` ``(n, d)`` and targets `Y` ``(n, k)``; cast `Y` to the dtype of `X`.

    Examples
    --------
    >>> X, Y = check_Xy(np.zeros((3, 2)), np.eye(3))
    >>> Y.shape
    (3, 3)
    """
    X = check_X(X)
    Y = check_X(asarray_like(Y, X) if not hasattr(Y, "__array_namespace__") else Y, "Y")
    xp, _ = get_xp(X, Y)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(
            f"`X` and `Y` have different numbers of rows: {X.shape[0]} and {Y.shape[0]}."
        )
    return X, xp.astype(Y, X.dtype)


def relu_prox(V: Any, T: Any, gamma: float, c: float) -> Any:
    """Entrywise global minimizer of ``gamma/2 (v - relu(u))**2 + c/2 (u - t)**2`` over ``u``.

    On ``u >= 0`` the problem is a quadratic with minimizer ``max(0, (gamma v + c t) /
    (gamma + c))``; on ``u <= 0`` it is ``min(0, t)``; the candidate with the lower value
    wins (the ReLU U-update of Zeng et al. 2019; the z-update of Taylor et al. 2016).

    Examples
    --------
    >>> relu_prox(np.asarray([1.0, 0.0]), np.asarray([1.0, -2.0]), 1.0, 1.0)
    array([ 1., -2.])
    """
    xp, _ = get_xp(V, T)
    zero = xp.zeros_like(T)
    up = xp.maximum((gamma * V + c * T) / (gamma + c), zero)
    un = xp.minimum(T, zero)
    fp = gamma * (V - up) ** 2 + c * (up - T) ** 2
    fn = gamma * V**2 + c * (un - T) ** 2
    return xp.where(fp <= fn, up, un)


def ridge_solve(A: Any, B: Any, alpha: float, W0: Any = None) -> Any:
    """Solve ``min_W ||A W - B||^2 + alpha ||W - W0||^2`` via the normal equations.

    Examples
    --------
    >>> ridge_solve(np.eye(2), np.ones((2, 1)), 0.0)
    array([[1.],
           [1.]])
    """
    xp, dev = get_xp(A, B)
    G = A.T @ A + alpha * xp.eye(A.shape[1], dtype=A.dtype, device=dev)
    R = A.T @ B if W0 is None else A.T @ B + alpha * W0
    return xp.linalg.solve(G, R)


def coupled_solve(Wt: Any, R: Any, rho: float, c: float) -> Any:
    """Solve ``V (c I + rho Wt Wt^T) = R`` for ``V`` (rows are samples).

    This is the activation update shared by BCD and ADMM: the minimizer over ``V`` of
    ``c/2 ||V - P||^2 + rho/2 ||Q - V Wt||^2`` with ``R = c P + rho Q Wt^T``. `Wt` is
    ``(h, k)``, the next layer's weights without the bias row. When ``k < h`` (the next
    layer is narrower) the solve goes through the Woodbury identity
    ``(c I + rho Wt Wt^T)^{-1} = (I - rho Wt (c I_k + rho Wt^T Wt)^{-1} Wt^T) / c``:
    a ``k x k`` system instead of ``h x h``, ``O(n h k)`` instead of ``O(h^3 + n h^2)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Wt, R = rng.normal(size=(5, 2)), rng.normal(size=(3, 5))
    >>> V = coupled_solve(Wt, R, 2.0, 0.5)
    >>> bool(np.allclose(V @ (0.5 * np.eye(5) + 2.0 * Wt @ Wt.T), R))
    True
    """
    xp, dev = get_xp(Wt, R)
    h, k = Wt.shape
    if k < h:
        S = rho * (Wt.T @ Wt) + c * xp.eye(k, dtype=Wt.dtype, device=dev)
        return (R - rho * (xp.linalg.solve(S, (R @ Wt).T).T @ Wt.T)) / c
    M = rho * (Wt @ Wt.T) + c * xp.eye(h, dtype=Wt.dtype, device=dev)
    return xp.linalg.solve(M, R.T).T


def refit_readout(layers: tuple[Any, ...], X: Any, Y: Any, ridge: float) -> tuple[Any, ...]:
    """`layers` with the output layer replaced by the ridge fit of `Y` on the hidden features.

    The hidden features are those of the forward pass, ``[h(X), 1]``, so the readout is
    the exact minimizer of ``||[h(X), 1] W - Y||^2 + ridge ||W||^2`` for the trained hidden
    layers. During training BCD and ADMM fit the readout to the auxiliary activations,
    which only approach the forward activations; this closing solve removes that gap.

    Examples
    --------
    >>> X, Y = np.eye(3), np.eye(3)
    >>> layers = (np.ones((4, 3)), np.zeros((4, 3)))
    >>> [W.shape for W in refit_readout(layers, X, Y, 1e-3)]
    [(4, 3), (4, 3)]
    """
    return (*layers[:-1], ridge_solve(with_ones(hidden(layers, X)), Y, ridge))


def with_ones(H: Any) -> Any:
    """``[H, 1]``: append a column of ones (the bias input, last row of each layer array)."""
    xp, dev = get_xp(H)
    return xp.concat([H, xp.ones((H.shape[0], 1), dtype=H.dtype, device=dev)], axis=1)


def relu(Z: Any) -> Any:
    """Rectified linear unit ``max(z, 0)``."""
    xp, _ = get_xp(Z)
    return xp.maximum(Z, xp.zeros_like(Z))


def hidden(layers: tuple[Any, ...], X: Any) -> Any:
    """Activations of the last hidden layer (`X` itself when there is none)."""
    H = X
    for W in layers[:-1]:
        H = relu(with_ones(H) @ W)
    return H


def forward(layers: tuple[Any, ...], X: Any) -> Any:
    """Network output: ReLU hidden layers, identity output; each layer ``(d_in + 1, d_out)``."""
    return with_ones(hidden(layers, X)) @ layers[-1]


def fit(
    solver: Any,
    X: Any,
    Y: Any,
    *,
    rng: Any = None,
    maxiter: int = 30,
    tol: float = 0.0,
    callback: Callable[[Any], Any] | None = None,
) -> OptimizeResult:
    """Run ``solver.init`` then ``solver.step`` (one sweep each) and return an OptimizeResult.

    Parameters
    ----------
    solver : BCD or ADMM
        A trainer with ``init(X, Y, *, rng)``, ``step(state)`` and ``objective(state)``.
    X : array of shape (n, d)
    Y : array of shape (n, k)
        Targets (one-hot rows for square loss, ``+-1`` rows for hinge loss).
    rng : None, int, SeedSequence or Generator
        Seeds the initial weights.
    maxiter : int, default=30
        Number of sweeps.
    tol : float, default=0
        Stop with ``CONVERGED`` when the objective decrease of a sweep is at most
        ``tol * max(1, |F|)``; 0 runs all `maxiter` sweeps.
    callback : callable, optional
        Called with each new state; raising `StopIteration` ends the run.

    Returns
    -------
    OptimizeResult
        ``x``: list of layer arrays ``(d_in + 1, d_out)`` (`gradfree.models.MLP` layout);
        ``fun``: training objective; ``nit``: sweeps; ``history``: objective per sweep
        (entry 0 at the start); ``state``: the final state.

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
    state = solver.init(X, Y, rng=check_rng(rng))
    history = [solver.objective(state)]
    status = Status.MAXITER
    nit = 0
    for nit in range(1, maxiter + 1):  # noqa: B007 - nit is reported
        state = solver.step(state)
        history.append(solver.objective(state))
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


def init_layers(sizes: tuple[int, ...], X: Any, rng: np.random.Generator) -> tuple[Any, ...]:
    """He-scaled random layers with zero biases, in X's namespace and dtype."""
    return tuple(MLP(sizes, activations="relu").init_params(rng=rng, like=X[:1, 0]))


class AltMinClassifierMixin(ClassifierMixin, BaseEstimator):
    """Label encoding, `decision_function`, `predict` and `score` shared by the classifiers.

    The classifiers are scikit-learn estimators (`get_params`, `set_params`, `clone`,
    model selection); `score` also rejects labels outside the fitted classes.
    """

    def _encode(self, X: Any, y: Any, classes: Any = None) -> tuple[Any, Any]:
        X = check_X(X)
        y_host = to_host(y)
        if y_host.ndim != 1:
            raise ValueError(f"`y` must be 1-d; got {y_host.ndim}-d.")
        if y_host.shape[0] != X.shape[0]:
            raise ValueError(
                f"`X` and `y` have different numbers of rows: {X.shape[0]} and {y_host.shape[0]}."
            )
        if classes is not None:
            self.classes_ = np.unique(to_host(classes))
            unknown = np.setdiff1d(y_host, self.classes_)
            if unknown.size:
                raise ValueError(f"`y` has labels outside `classes`: {unknown[:5]!r}.")
        else:
            self.classes_ = np.unique(y_host)
        if self.classes_.shape[0] < 2:
            raise ValueError("`y` must contain at least two classes.")
        self.n_features_in_ = X.shape[1]
        idx = np.searchsorted(self.classes_, y_host)
        lo = -1.0 if getattr(self, "loss", "square") == "hinge" else 0.0
        Y = np.full((X.shape[0], self.classes_.shape[0]), lo)
        Y[np.arange(X.shape[0]), idx] = 1.0
        return X, asarray_like(Y, X)

    def _readout_ridge(self) -> float | None:
        """The validated `readout_ridge` (None: keep the trained readout)."""
        ridge = getattr(self, "readout_ridge", None)
        return None if ridge is None else check_positive(ridge, "readout_ridge")

    @staticmethod
    def _refit(layers: Any, X: Any, Y: Any, ridge: float | None) -> tuple[Any, ...]:
        """The fitted layers, with the readout refit (`refit_readout`) unless `ridge` is None."""
        layers = tuple(layers)
        return layers if ridge is None else refit_readout(layers, X, Y, ridge)

    def _check_predict_X(self, X: Any) -> Any:
        """`X` checked against the fitted estimator (fitted, same number of features)."""
        if not hasattr(self, "layers_"):
            raise ValueError("this estimator is not fitted yet; call `fit` first.")
        X = check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"`X` has {X.shape[1]} features; the estimator was fitted with "
                f"{self.n_features_in_}."
            )
        return X

    def decision_function(self, X: Any) -> Any:
        """Network outputs ``(n, n_classes)``; the predicted class is the arg-max."""
        X = self._check_predict_X(X)
        return forward(self.layers_, X)

    def predict(self, X: Any) -> Any:
        """Predicted labels ``(n,)``: on the namespace and device of `X` for numeric
        classes, else a host NumPy array of the classes seen in `fit`."""
        xp, dev = get_xp(check_X(X))
        best = xp.argmax(self.decision_function(X), axis=1)
        if type(best) is np.ndarray or self.classes_.dtype.kind not in "biuf":
            return self.classes_[to_host(best)]
        return xp.take(xp.asarray(self.classes_, device=dev), best)

    def score(self, X: Any, y: Any) -> float:
        """Mean accuracy on ``(X, y)``; labels outside `classes_` raise ValueError."""
        y_host = to_host(y)
        if y_host.ndim != 1 or y_host.shape[0] != check_X(X).shape[0]:
            raise ValueError("`y` must be 1-d with one label per row of `X`.")
        if not hasattr(self, "classes_"):
            raise ValueError("this estimator is not fitted yet; call `fit` first.")
        unknown = np.setdiff1d(y_host, self.classes_)
        if unknown.size:
            raise ValueError(f"`y` has labels outside the fitted classes: {unknown[:5]!r}.")
        return float(np.mean(to_host(self.predict(X)) == y_host))


class OnlineClassifierMixin(AltMinClassifierMixin):
    """`fit` and `partial_fit` for estimators whose solver (``self._solver()``) has
    ``partial_step``; the estimator holds ``max_iter`` (epochs of `fit`) and ``rng``."""

    def fit(self, X: Any, y: Any) -> Any:
        """`max_iter` epochs from a fresh start; returns self."""
        solver = self._solver()  # type: ignore[attr-defined]
        X, Y = self._encode(X, y)
        self.result_ = fit(solver, X, Y, rng=self.rng, maxiter=self.max_iter)  # type: ignore[attr-defined]
        self.state_ = self.result_.state
        self.layers_ = self.state_.layers
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> Any:
        """One mini-batch update; `classes` is required on the first call. Returns self."""
        solver = self._solver()  # type: ignore[attr-defined]
        if not hasattr(self, "state_"):
            if classes is None:
                raise ValueError("`classes` must be given on the first call to partial_fit.")
            X, Y = self._encode(X, y, classes)
            self.state_ = solver.init(X, Y, rng=check_rng(self.rng))  # type: ignore[attr-defined]
        else:
            d = check_X(X).shape[1]
            if d != self.n_features_in_:
                raise ValueError(
                    f"`X` has {d} features; the estimator was fitted with {self.n_features_in_}."
                )
            X, Y = self._encode(X, y, self.classes_)
        self.state_ = solver.partial_step(self.state_, X, Y)
        self.layers_ = self.state_.layers
        return self
