"""Layer-local learning rules: networks trained without a global backward chain.

- `FeedbackAlignment` / `FAClassifier` (Lillicrap et al. 2016) and
  `DirectFeedbackAlignment` / `DFAClassifier` (Nokland 2016).
- `DifferenceTargetPropagation` / `DTPClassifier` (Lee, Zhang, Fischer & Bengio 2015).
- `HSICBottleneck` / `HSICClassifier` (Ma, Lewis & Kleijn 2019).
- `SyntheticGradients` / `DNIClassifier` (Jaderberg et al. 2016, label-conditioned).
- `ForwardForward` / `FFClassifier` (Hinton 2022).
- `NoPropDT` / `NoPropClassifier` (Li, Teh & Pascanu 2025, discrete time).
- `Backprop` / `BackpropClassifier` and `ReadoutOnly` / `ReadoutOnlyLocalClassifier`:
  the baselines on the same network and optimizer.

Rules have ``init(X, Y, *, rng, params)`` / ``step(state, X, Y)`` (one epoch of
mini-batches) / ``partial_step(state, X, Y)`` / ``objective(state, X, Y)`` and run
through `gradfree.estimators.fit`, the fit loop every layer-wise trainer shares; states
hold parameters and optimizer moments, never the training data. Every rule is array
code on the namespace of ``X`` (NumPy, CuPy): no autodiff. The network, its forward pass
and the one derivative a rule may take (`gradfree.models.derivative`) come from
`gradfree.models`; a fitted classifier exposes its network as ``model_`` and ``params_``
and starts from one given as ``init_params``.

Examples
--------
>>> from gradfree.local import DFAClassifier
>>> X = np.random.default_rng(0).normal(size=(60, 2))
>>> y = (X[:, 0] > 0).astype(int)
>>> DFAClassifier((8,), max_iter=2, rng=0).fit(X, y).predict(X[:3]).shape
(3,)
"""

from ._dni import DNIClassifier, SyntheticGradients
from ._dtp import DifferenceTargetPropagation, DTPClassifier
from ._estimator import LocalClassifier
from ._feedback import (
    Backprop,
    BackpropClassifier,
    DFAClassifier,
    DirectFeedbackAlignment,
    FAClassifier,
    FeedbackAlignment,
    ReadoutOnly,
    ReadoutOnlyLocalClassifier,
)
from ._ff import FFClassifier, ForwardForward
from ._hsic import HSICBottleneck, HSICClassifier, gaussian_gram, nhsic
from ._noprop import NoPropClassifier, NoPropDT, noise_schedule
from ._rule import LocalRule, LocalState, alignment_angles, backprop_grads

__all__ = [
    "Backprop",
    "BackpropClassifier",
    "DNIClassifier",
    "DTPClassifier",
    "DifferenceTargetPropagation",
    "HSICBottleneck",
    "HSICClassifier",
    "SyntheticGradients",
    "gaussian_gram",
    "nhsic",
    "DFAClassifier",
    "DirectFeedbackAlignment",
    "FFClassifier",
    "ForwardForward",
    "NoPropClassifier",
    "NoPropDT",
    "noise_schedule",
    "FAClassifier",
    "FeedbackAlignment",
    "LocalClassifier",
    "LocalRule",
    "LocalState",
    "ReadoutOnly",
    "ReadoutOnlyLocalClassifier",
    "alignment_angles",
    "backprop_grads",
]
