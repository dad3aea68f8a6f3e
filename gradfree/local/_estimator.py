"""The scikit-learn estimator over a local rule: `gradfree.estimators.OnlineNetworkClassifier`."""

from __future__ import annotations

from typing import Any

from ..estimators import OnlineNetworkClassifier
from ._rule import LocalRule

__all__ = ["LocalClassifier"]


class LocalClassifier(OnlineNetworkClassifier):
    """Scikit-learn classifier over a `LocalRule`; subclasses name the rule.

    A subclass declared as ``class FAClassifier(LocalClassifier, rule=FeedbackAlignment)``
    takes the rule's fields as keyword arguments (``hidden_layer_sizes`` may also be
    positional), plus ``max_iter`` (epochs of `fit`, default 20), ``tol``,
    ``warm_start``, ``init_params`` and ``rng`` (see
    `gradfree.estimators.NetworkClassifier`), and has `partial_fit`.

    Examples
    --------
    >>> from gradfree.local import FeedbackAlignment
    >>> class MyFA(LocalClassifier, rule=FeedbackAlignment):
    ...     "Feedback alignment as an estimator."
    >>> clf = MyFA((8,), learning_rate=0.01, max_iter=2)
    >>> sorted(clf.get_params())[:3]
    ['activation', 'batch_size', 'hidden_layer_sizes']
    >>> X = np.random.default_rng(0).normal(size=(20, 2))
    >>> clf.fit(X, (X[:, 0] > 0).astype(int)).predict(X[:2]).shape
    (2,)
    """

    def __init_subclass__(
        cls, rule: type[LocalRule] | None = None, max_iter: int = 20, **kwargs: Any
    ) -> None:
        super().__init_subclass__(solver=rule, max_iter=max_iter, **kwargs)
