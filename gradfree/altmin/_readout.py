"""The readout refit of BCD and ADMM, and the readout-only control (random features).

The control is the random-features baseline of Rahimi & Recht, "Random features for
large-scale kernel machines", NIPS 2007: a network that learns features must beat it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .._array import get_xp
from .._random import check_rng
from .._validate import check_int, check_nonnegative, check_positive
from ..estimators import NetworkClassifier, NetworkSolver, check_Xy
from ._solves import refit_readout

__all__ = ["RandomFeatures", "RandomFeaturesState", "ReadoutOnlyClassifier", "ReadoutRefit"]


class ReadoutRefit:
    """Estimator mixin: after the sweeps, refit the readout with ridge ``readout_ridge``
    (`refit_readout`); ``readout_ridge=None`` keeps the trained readout."""

    def _finish(self, solver: Any, state: Any, X: Any, Y: Any) -> Any:
        ridge = self.readout_ridge  # type: ignore[attr-defined]
        if ridge is None:
            return state
        ridge = check_positive(ridge, "readout_ridge")
        net = solver.network(X.shape[1], Y.shape[1])
        return replace(state, layers=refit_readout(net, tuple(state.layers), X, Y, ridge))


@dataclass(frozen=True)
class RandomFeaturesState:
    """Random frozen hidden layers and the ridge readout: ``layers``, ``sweep``."""

    layers: tuple[Any, ...]
    sweep: int = 0


@dataclass(frozen=True)
class RandomFeatures(NetworkSolver):
    """Random He-initialized ReLU hidden layers, frozen, and a ridge-regression readout.

    `init` draws the hidden layers (or takes them from ``params``) and solves the readout
    in closed form; `step` changes nothing (there is nothing left to train).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
    alpha : float, default=1e-3
        Ridge penalty of the readout (square loss on one-hot targets).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(30, 4))
    >>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    >>> rf = RandomFeatures(hidden_layer_sizes=(6,))
    >>> [W.shape for W in rf.init(X, Y, rng=0).layers]
    [(5, 6), (7, 2)]
    """

    hidden_layer_sizes: tuple[int, ...] = (100,)
    alpha: float = 1e-3

    def __post_init__(self) -> None:
        sizes = tuple(self.hidden_layer_sizes)
        for h in sizes:
            check_int(h, "hidden_layer_sizes", low=1)
        object.__setattr__(self, "hidden_layer_sizes", sizes)
        check_nonnegative(self.alpha, "alpha")

    def init(self, X: Any, Y: Any, *, rng: Any = None, params: Any = None) -> RandomFeaturesState:
        """Draw (or take) the hidden layers, then solve the readout."""
        X, Y = check_Xy(X, Y)
        d, k = X.shape[1], Y.shape[1]
        layers = self.start_layers(d, k, X[:1, 0], check_rng(rng), params)
        return RandomFeaturesState(refit_readout(self.network(d, k), layers, X, Y, self.alpha))

    def step(self, state: RandomFeaturesState, X: Any, Y: Any) -> RandomFeaturesState:
        """Nothing to train: the same layers, one more sweep counted."""
        return replace(state, sweep=state.sweep + 1)

    def objective(self, state: RandomFeaturesState, X: Any, Y: Any) -> float:
        """Training square loss ``1/2 mean_i ||out_i - y_i||^2``."""
        xp, _ = get_xp(X)
        return float(0.5 * xp.sum((self.decision_function(state, X) - Y) ** 2)) / X.shape[0]


class ReadoutOnlyClassifier(NetworkClassifier, solver=RandomFeatures, max_iter=1):
    """Random He-initialized ReLU hidden layers (frozen) and a ridge-regression readout.

    Parameters are the fields of `RandomFeatures` (``hidden_layer_sizes``, ``alpha``) and
    those of every `gradfree.estimators.NetworkClassifier`; the fit is closed form, so
    ``max_iter`` (default 1) only counts.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> ReadoutOnlyClassifier((32,), rng=0).fit(X, y).score(X, y) > 0.9
    True
    """
