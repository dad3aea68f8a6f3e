"""The estimator machinery every family shares: input checks, the fit loop, the network mixins.

- `fit`: the one fit loop of the layer-wise trainers (alternating minimization and the
  local rules): ``init``, then ``step`` per sweep, to a stop rule; returns a
  `scipy.optimize.OptimizeResult`; `epoch_batches`, the shuffled mini-batches of one
  epoch of the mini-batch trainers.
- `NetworkSolver`: a solver's network (a `gradfree.models.MLP`), starting layers and
  class scores.
- `NetworkClassifier`, `OnlineNetworkClassifier`: scikit-learn classifiers over a
  solver, with ``model_``, ``params_``, ``warm_start`` and ``init_params``.
- `check_X`, `check_Xy`, `check_n_features`, `validate_X`, `validate_Xy`: input checks,
  scikit-learn's own for host data, the same rules on any array namespace (the fit and
  its predictions stay on the namespace and device of ``X``).

Families import this module, never each other.

Examples
--------
>>> from gradfree.estimators import fit
>>> from gradfree.local import FeedbackAlignment
>>> X = np.random.default_rng(0).normal(size=(40, 3))
>>> Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
>>> fit(FeedbackAlignment(hidden_layer_sizes=(8,)), X, Y, rng=0, maxiter=3).nit
3
"""

from ._loop import epoch_batches, fit
from ._network import NetworkClassifier, NetworkSolver, OnlineNetworkClassifier
from ._validation import (
    CONTINUOUS_DATA_CHECKS,
    check_n_features,
    check_X,
    check_Xy,
    validate_X,
    validate_Xy,
)

__all__ = [
    "CONTINUOUS_DATA_CHECKS",
    "NetworkClassifier",
    "NetworkSolver",
    "OnlineNetworkClassifier",
    "check_X",
    "check_Xy",
    "check_n_features",
    "epoch_batches",
    "fit",
    "validate_X",
    "validate_Xy",
]
