"""Backprop-free training by alternating minimization over layers and auxiliary variables.

- `BCD` / `BCDClassifier`: gradient-free block coordinate descent (Zeng, Lau, Lin and Yao,
  ICML 2019), closed-form updates for ReLU networks with square loss.
- `ADMM` / `ADMMClassifier`: gradient-free ADMM (Taylor et al., ICML 2016), least-squares
  weights, closed-form activations, entrywise ReLU prox, output-layer multiplier.
- `RandomFeatures` / `ReadoutOnlyClassifier`: control with random frozen hidden layers and
  a ridge readout.
- `refit_readout`: the closing ridge fit of the output layer on the forward-pass hidden
  features, which `BCDClassifier` and `ADMMClassifier` apply by default.

Solvers have ``init(X, Y, *, rng, params)`` / ``step(state, X, Y)`` (one sweep) /
``objective(state, X, Y)`` and run through `fit` (`gradfree.estimators.fit`, the fit
loop every layer-wise trainer shares), which returns a `scipy.optimize.OptimizeResult`.
States hold parameters, never the training data. The network is a `gradfree.models.MLP`
(``(d_in + 1, d_out)`` per layer, the bias as last row); a fitted classifier exposes it as
``model_`` and ``params_`` and starts from one given as ``init_params``.

Examples
--------
>>> from gradfree.altmin import BCDClassifier
>>> X = np.random.default_rng(0).normal(size=(60, 2))
>>> y = (X[:, 0] > 0).astype(int)
>>> BCDClassifier((8,), max_iter=5, rng=0).fit(X, y).predict(X[:3]).shape
(3,)
"""

from ..estimators import fit
from ._admm import ADMM, ADMMClassifier, ADMMState
from ._bcd import BCD, BCDClassifier, BCDState
from ._online import OnlineAM, OnlineAMClassifier, OnlineAMState
from ._readout import RandomFeatures, RandomFeaturesState, ReadoutOnlyClassifier
from ._solves import refit_readout, relu_prox

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
    "RandomFeatures",
    "RandomFeaturesState",
    "ReadoutOnlyClassifier",
    "fit",
    "refit_readout",
    "relu_prox",
]
