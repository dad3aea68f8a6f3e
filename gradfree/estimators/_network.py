"""What every layer-wise trainer shares: its network, and the scikit-learn classifier around it.

`NetworkSolver` gives a solver (a frozen dataclass with ``hidden_layer_sizes``) its
`gradfree.models.MLP`, the first layers (a seeded draw, or a starting network) and the
network's class scores. `NetworkClassifier` turns any such solver into a scikit-learn
classifier: its parameters are the solver's fields plus ``max_iter``, ``tol``,
``warm_start``, ``init_params`` and ``rng``; `fit` runs the one fit loop
(`gradfree.estimators.fit`); a fitted classifier exposes ``model_`` (the MLP),
``params_`` (its flat parameter vector), ``n_iter_``, ``classes_`` and
``n_features_in_``. `OnlineNetworkClassifier` adds `partial_fit` for solvers with
``partial_step``.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import MISSING, fields
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .._array import asarray_like, get_xp, to_host
from .._validate import check_int, check_nonnegative
from ..models import MLP, flatten, unflatten_like
from ._loop import fit
from ._validation import validate_X, validate_Xy

__all__ = ["NetworkClassifier", "NetworkSolver", "OnlineNetworkClassifier"]


class NetworkSolver:
    """Mixin of the layer-wise solvers: the network they train and its starting layers.

    A solver sets ``hidden_layer_sizes`` and ``activation`` (a dataclass field, or this
    class's default ``'relu'``); the output layer is linear. Solvers whose network is
    not one MLP (Forward-Forward, NoProp) override `network`, `param_shapes` and
    `decision_function`.

    Examples
    --------
    >>> from gradfree.altmin import BCD
    >>> BCD(hidden_layer_sizes=(8,)).network(4, 3).layer_sizes
    (4, 8, 3)
    """

    activation: str = "relu"

    def network(self, d: int, k: int) -> MLP:
        """The MLP from `d` inputs to `k` outputs: hidden `activation`, linear output."""
        sizes = (d, *self.hidden_layer_sizes, k)  # type: ignore[attr-defined]
        return MLP(sizes, activations=(self.activation,) * (len(sizes) - 2) + ("identity",))

    def param_shapes(self, d: int, k: int) -> list[tuple[int, ...]]:
        """Shapes of the trained network arrays (``state.layers``), in order."""
        return list(self.network(d, k).layer_shapes)

    def start_layers(
        self, d: int, k: int, like: Any, rng: np.random.Generator, params: Any = None
    ) -> tuple[Any, ...]:
        """`params` (a starting network, one array per layer) checked and moved to the
        namespace, device and dtype of `like`; else `network` layers drawn from `rng`."""
        if params is None:
            return tuple(self.network(d, k).init_params(rng=rng, like=like))
        shapes = self.param_shapes(d, k)
        if len(params) != len(shapes):
            raise ValueError(f"`params` must hold {len(shapes)} layer arrays; got {len(params)}.")
        out = []
        for i, (W, shape) in enumerate(zip(params, shapes)):
            W = asarray_like(W, like)
            if tuple(W.shape) != tuple(shape):
                raise ValueError(f"`params[{i}]` must have shape {shape}; got {tuple(W.shape)}.")
            out.append(W)
        return tuple(out)

    def decision_function(self, state: Any, X: Any) -> Any:
        """Class scores ``(n, k)``: the network output; the predicted class is the arg-max."""
        layers = state.layers
        net = self.network(layers[0].shape[0] - 1, layers[-1].shape[1])
        return net.forward_layers(layers, X)[-1]


def _estimator_signature(solver: type, extra: dict[str, Any]) -> inspect.Signature:
    """``(self, hidden_layer_sizes, *, <solver fields>, <extra>)``; an entry of `extra` that
    names a solver field replaces that field's default."""
    kind = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    extra = dict(extra)
    for f in fields(solver):
        default = f.default if f.default_factory is MISSING else f.default_factory()
        default = extra.pop(f.name, default)  # the estimator's own default
        first = f.name == "hidden_layer_sizes"
        params.append(
            inspect.Parameter(
                f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD if first else kind, default=default
            )
        )
    params += [inspect.Parameter(name, kind, default=value) for name, value in extra.items()]
    return inspect.Signature(params)


class NetworkClassifier(ClassifierMixin, BaseEstimator):
    """Scikit-learn classifier over a `NetworkSolver`; subclasses name the solver.

    ``class BCDClassifier(NetworkClassifier, solver=BCD, max_iter=30)`` takes the
    solver's fields as keyword arguments (``hidden_layer_sizes`` may be positional), then

    - ``max_iter`` (sweeps or epochs of `fit`, >= 1; the class keyword gives its default),
    - ``tol`` (see `gradfree.estimators.fit`, default 0),
    - ``warm_start`` (False; True starts `fit` from the network of the previous fit),
    - ``init_params`` (None; a flat parameter vector to start from, such as the
      ``params_`` of another fitted estimator or a `gradfree.minimize` result's ``x``),
    - ``rng`` (None, an int, SeedSequence or Generator),

    and any further class keyword as an estimator parameter with that default (one that
    names a solver field sets the estimator's default for it; others are read by the
    subclass, e.g. in `_finish`).

    Examples
    --------
    >>> from gradfree.altmin import BCD
    >>> class MyBCD(NetworkClassifier, solver=BCD, max_iter=5):
    ...     "BCD as an estimator."
    >>> X = np.random.default_rng(0).normal(size=(40, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = MyBCD((8,), rng=0).fit(X, y)
    >>> clf.n_iter_, clf.model_.layer_sizes, clf.params_.shape
    (5, (2, 8, 2), (42,))
    >>> warm = MyBCD((8,), init_params=clf.params_, max_iter=1, rng=1).fit(X, y)
    >>> warm.score(X, y) >= 0.9
    True
    """

    _solver_class: ClassVar[type]

    def __init_subclass__(
        cls, solver: type | None = None, max_iter: int = 20, **extra: Any
    ) -> None:
        super().__init_subclass__()
        if solver is None:
            return
        cls._solver_class = solver
        defaults = {
            "max_iter": max_iter,
            "tol": 0.0,
            "warm_start": False,
            "init_params": None,
            "rng": None,
            **extra,
        }
        signature = _estimator_signature(solver, defaults)

        def __init__(self: NetworkClassifier, *args: Any, **kw: Any) -> None:
            bound = signature.bind(self, *args, **kw)
            bound.apply_defaults()
            for name, value in list(bound.arguments.items())[1:]:
                setattr(self, name, value)

        __init__.__signature__ = signature  # type: ignore[attr-defined]
        cls.__init__ = __init__  # type: ignore[method-assign,assignment]

    # -- pieces a subclass may change ------------------------------------------------------

    def _solver(self) -> Any:
        """The solver built from this estimator's parameters (validated there)."""
        names = [f.name for f in fields(self._solver_class)]
        return self._solver_class(**{name: getattr(self, name) for name in names})

    def _targets(self, idx: np.ndarray, like: Any) -> Any:
        """One-hot rows ``(n, n_classes)`` of the class indices `idx`, like `like`."""
        Y = np.zeros((idx.shape[0], self.classes_.shape[0]))
        Y[np.arange(idx.shape[0]), idx] = 1.0
        return asarray_like(Y, like)

    def _finish(self, solver: Any, state: Any, X: Any, Y: Any) -> Any:
        """The state to keep after the loop (a readout refit goes here); default as is."""
        return state

    # -- fit -----------------------------------------------------------------------------------

    def _encode(self, X: Any, y: Any, classes: Any = None) -> tuple[Any, Any]:
        """Validated `X` and one-hot targets; sets ``classes_`` and ``n_features_in_``."""
        X, y = validate_Xy(self, X, y, classifier=True)
        if classes is not None:
            self.classes_ = np.unique(column_or_1d(to_host(classes)))
        else:
            self.classes_ = np.unique(y)
        if self.classes_.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the data; "
                f"got 1 class: {self.classes_[0]!r}."
            )
        return X, self._targets(self._class_index(y), X)

    def _class_index(self, y: np.ndarray) -> np.ndarray:
        """Index of each label of `y` in ``classes_``; labels outside it raise."""
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"`y` has labels outside `classes_`: {unknown[:5]!r}.")
        return np.searchsorted(self.classes_, y)

    def _start(self, solver: Any, X: Any, k: int) -> list[Any] | None:
        """The starting network: the last fit's (`warm_start`), `init_params`, or None."""
        shapes = solver.param_shapes(X.shape[1], k)
        if self.warm_start and hasattr(self, "state_"):
            if [tuple(W.shape) for W in self.state_.layers] == [tuple(t) for t in shapes]:
                return list(self.state_.layers)
        if self.init_params is None:
            return None
        flat = asarray_like(self.init_params, X)
        p = sum(math.prod(shape) for shape in shapes)
        if flat.ndim != 1 or flat.shape[0] != p:
            raise ValueError(
                f"`init_params` must be a flat vector of the network's {p} parameters (the "
                f"layout of `params_`); got shape {tuple(flat.shape)}."
            )
        return unflatten_like(shapes)(flat)

    def _set_fitted(self, solver: Any, state: Any) -> None:
        """``state_``, ``layers_``, ``model_`` and ``params_`` from a solver state."""
        self.state_ = state
        self.layers_ = tuple(state.layers)
        d, k = self.n_features_in_, self.classes_.shape[0]
        self.model_ = solver.network(d, k)
        self.params_ = flatten(list(state.layers))[0]

    def fit(self, X: Any, y: Any) -> NetworkClassifier:
        """Train on inputs ``(n, d)`` and labels ``(n,)`` for `max_iter` sweeps; returns self."""
        solver = self._solver()
        maxiter = check_int(self.max_iter, "max_iter", low=1)
        tol = check_nonnegative(self.tol, "tol")
        X, Y = self._encode(X, y)
        params = self._start(solver, X, Y.shape[1])
        self.result_ = fit(solver, X, Y, rng=self.rng, maxiter=maxiter, tol=tol, params=params)
        self.n_iter_ = self.result_.nit
        self._set_fitted(solver, self._finish(solver, self.result_.state, X, Y))
        return self

    # -- predictions ---------------------------------------------------------------------------

    def _scores(self, X: Any) -> Any:
        """Class scores ``(n, n_classes)`` in the namespace and on the device of `X`."""
        check_is_fitted(self, "state_")
        X = validate_X(self, X, reset=False)
        return self._solver().decision_function(self.state_, X)

    def decision_function(self, X: Any) -> Any:
        """Class scores ``(n, n_classes)``; for two classes the score of the second minus the
        first, ``(n,)``, positive for ``classes_[1]`` (scikit-learn's convention)."""
        scores = self._scores(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X: Any) -> Any:
        """Predicted labels ``(n,)``: numeric labels in the namespace and on the device of
        `X`, other labels (strings, objects) as a host NumPy array."""
        scores = self._scores(X)
        xp, _ = get_xp(scores)
        labels = self.classes_[to_host(xp.argmax(scores, axis=1))]
        if isinstance(X, np.ndarray) or labels.dtype.kind not in "iuf":
            return labels
        return asarray_like(labels, scores, dtype=xp.int64 if labels.dtype.kind in "iu" else None)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on ``(X, y)`` (host labels compared; `sample_weight` as scikit-learn)."""
        from sklearn.metrics import accuracy_score

        return float(
            accuracy_score(to_host(y), to_host(self.predict(X)), sample_weight=sample_weight)
        )


class OnlineNetworkClassifier(NetworkClassifier):
    """`NetworkClassifier` with `partial_fit`, for solvers with ``partial_step``.

    Examples
    --------
    >>> from gradfree.local import FAClassifier
    >>> X = np.random.default_rng(0).normal(size=(40, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = FAClassifier((8,), rng=0).partial_fit(X, y, classes=[0, 1])
    >>> clf.n_iter_, clf.partial_fit(X, y).n_iter_
    (1, 2)
    """

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> OnlineNetworkClassifier:
        """One mini-batch update; `classes` is required on the first call. Returns self."""
        solver = self._solver()
        if not hasattr(self, "state_"):
            if classes is None:
                raise ValueError("`classes` must be given on the first call to partial_fit.")
            X, Y = self._encode(X, y, classes)
            params = self._start(solver, X, Y.shape[1])
            state = solver.init(X, Y, rng=self.rng, params=params)
            self.n_iter_ = 0
        else:
            X = validate_X(self, X, reset=False)
            y = column_or_1d(to_host(y), warn=True)
            if y.shape[0] != X.shape[0]:
                raise ValueError(
                    f"`X` and `y` have different numbers of rows: {X.shape[0]} and {y.shape[0]}."
                )
            Y = self._targets(self._class_index(y), X)
            state = self.state_
        self.n_iter_ += 1
        self._set_fitted(solver, solver.partial_step(state, X, Y))
        return self
