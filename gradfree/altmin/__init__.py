"""Backprop-free training by alternating minimization over layers and auxiliary variables.

- `BCD` / `BCDClassifier`: gradient-free block coordinate descent (Zeng, Lau, Lin and Yao,
  ICML 2019), closed-form updates for ReLU networks with square loss.
- `ADMM` / `ADMMClassifier`: gradient-free ADMM (Taylor et al., ICML 2016), least-squares
  weights, closed-form activations, entrywise ReLU prox, output-layer multiplier.
- `ReadoutOnlyClassifier`: control with random frozen hidden layers and a ridge readout.
- `refit_readout`: the closing ridge fit of the output layer on the forward-pass hidden
  features, which `BCDClassifier` and `ADMMClassifier` apply by default.

Solvers have ``init(X, Y, *, rng)`` / ``step(state)`` (one sweep) / ``objective(state)``
and run through `fit`, which returns a `scipy.optimize.OptimizeResult`. Layers use the
`gradfree.models.MLP` layout, ``(d_in + 1, d_out)`` with the bias as last row.

Examples
--------
>>> from gradfree.altmin import BCDClassifier
>>> X = np.random.default_rng(0).normal(size=(60, 2))
>>> y = (X[:, 0] > 0).astype(int)
>>> BCDClassifier((8,), max_iter=5, rng=0).fit(X, y).predict(X[:3]).shape
(3,)
"""

from ._admm import ADMM, ADMMClassifier, ADMMState
from ._bcd import BCD, BCDClassifier, BCDState
from ._common import fit, refit_readout, relu_prox
from ._online import OnlineAM, OnlineAMClassifier, OnlineAMState
from ._readout import ReadoutOnlyClassifier

__all__ = [
    "ADMM",
    "ADMMClassifier",
    "ADMMState",
    "BCD",
    "BCDClassifier",
    "BCDState",
    "OnlineAM",
    "OnlineAMClassifier",
    "OnlineAMState",
    "ReadoutOnlyClassifier",
    "fit",
    "refit_readout",
    "relu_prox",
]
