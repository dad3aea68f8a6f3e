"""Data shared by the local-rule tests."""

from __future__ import annotations

import numpy as np

# The digits protocol of the tests: two layers of 100, 40 epochs of batch 64, Adam 1e-3.
DIGITS = {"hidden_layer_sizes": (100, 100), "learning_rate": 1e-3, "max_iter": 40}


def toy(n=40, d=3, k=3, seed=0):
    """``(X, y, Y)``: Gaussian inputs, the label is the arg-max of the first k features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.argmax(X[:, :k], axis=1)
    return X, y, np.eye(k)[y]
