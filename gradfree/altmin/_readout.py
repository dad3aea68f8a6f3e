"""Readout-only control: random frozen ReLU hidden layers, output layer by ridge regression.

A network that learns features must beat this (the random-features baseline of
Rahimi & Recht, "Random features for large-scale kernel machines", NIPS 2007).
"""

from __future__ import annotations

from typing import Any

from .._random import check_rng
from .._validate import check_int, check_nonnegative
from ._common import AltMinClassifierMixin, init_layers, refit_readout

__all__ = ["ReadoutOnlyClassifier"]


class ReadoutOnlyClassifier(AltMinClassifierMixin):
    """Random He-initialized ReLU hidden layers (frozen) and a ridge-regression readout.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
    alpha : float, default=1e-3
        Ridge penalty of the readout (square loss on one-hot targets).
    rng : None, int, SeedSequence or Generator, default=None

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> ReadoutOnlyClassifier((32,), rng=0).fit(X, y).score(X, y) > 0.9
    True
    """

    def __init__(
        self, hidden_layer_sizes: tuple[int, ...] = (100,), *, alpha: float = 1e-3, rng: Any = None
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha, self.rng = alpha, rng

    def fit(self, X: Any, y: Any) -> ReadoutOnlyClassifier:
        """Draw the hidden layers, then solve the readout in closed form; returns self."""
        for h in self.hidden_layer_sizes:
            check_int(h, "hidden_layer_sizes", low=1)
        alpha = check_nonnegative(self.alpha, "alpha")
        X, Y = self._encode(X, y)
        sizes = (X.shape[1], *self.hidden_layer_sizes, Y.shape[1])
        layers = init_layers(sizes, X, check_rng(self.rng))
        self.layers_ = refit_readout(tuple(layers), X, Y, alpha)
        return self
