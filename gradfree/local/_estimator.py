"""The scikit-learn-style estimator over a local rule, generated from the rule's fields."""

from __future__ import annotations

import inspect
from dataclasses import MISSING, fields
from typing import Any, ClassVar

from ..altmin._common import OnlineClassifierMixin
from ._common import LocalRule

__all__ = ["LocalClassifier"]


class LocalClassifier(OnlineClassifierMixin):
    """Scikit-learn-style estimator over a `LocalRule`; subclasses name the rule.

    A subclass declared as ``class FAClassifier(LocalClassifier, rule=FeedbackAlignment)``
    takes the rule's fields as keyword arguments (``hidden_layer_sizes`` may also be
    positional), plus ``max_iter`` (epochs of `fit`) and ``rng``. It is a scikit-learn
    estimator (`get_params`, `set_params`, `clone`, model selection).

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

    _rule: ClassVar[type[LocalRule]]

    def __init_subclass__(cls, rule: type[LocalRule] | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if rule is None:
            return
        cls._rule = rule
        params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        for f in fields(rule):
            default = f.default if f.default_factory is MISSING else f.default_factory()
            kind = (
                inspect.Parameter.POSITIONAL_OR_KEYWORD
                if f.name == "hidden_layer_sizes"
                else inspect.Parameter.KEYWORD_ONLY
            )
            params.append(inspect.Parameter(f.name, kind, default=default))
        params.append(inspect.Parameter("max_iter", inspect.Parameter.KEYWORD_ONLY, default=20))
        params.append(inspect.Parameter("rng", inspect.Parameter.KEYWORD_ONLY, default=None))
        signature = inspect.Signature(params)

        def __init__(self: LocalClassifier, *args: Any, **kw: Any) -> None:
            bound = signature.bind(self, *args, **kw)
            bound.apply_defaults()
            for name, value in list(bound.arguments.items())[1:]:
                setattr(self, name, value)

        __init__.__signature__ = signature  # type: ignore[attr-defined]
        cls.__init__ = __init__  # type: ignore[method-assign]

    def _solver(self) -> LocalRule:
        names = [f.name for f in fields(self._rule)]
        return self._rule(**{name: getattr(self, name) for name in names})

    def decision_function(self, X: Any) -> Any:
        """Class scores ``(n, n_classes)`` of the rule; the predicted class is the arg-max."""
        X = self._check_predict_X(X)
        return self._solver().decision_function(self.state_, X)
