"""Digits without backprop's backward chain: local learning rules against backprop.

Every rule trains the same 64-100-100-10 network with mini-batch Adam; only what reaches
each layer differs. The estimators follow scikit-learn (fit / predict / score /
partial_fit); the solver view (init / step) runs through the fit loop every layer-wise
trainer shares (`gradfree.estimators.fit`).

Run: python examples/local_rules.py
"""

import numpy as np

from gradfree.datasets import load_digits
from gradfree.estimators import fit
from gradfree.local import (
    BackpropClassifier,
    DFAClassifier,
    FAClassifier,
    FeedbackAlignment,
    ReadoutOnlyLocalClassifier,
    alignment_angles,
)


def main():
    data = load_digits()
    mu, sd = data.X_train.mean(0), data.X_train.std(0) + 1e-8
    X, Xt = (data.X_train - mu) / sd, (data.X_test - mu) / sd
    y, yt = data.y_train, data.y_test

    # 1. estimators: the same network, epochs and optimizer for each rule
    for cls in (BackpropClassifier, FAClassifier, DFAClassifier, ReadoutOnlyLocalClassifier):
        clf = cls((100, 100), learning_rate=3e-3, max_iter=15, rng=0).fit(X, y)
        print(f"{cls.__name__:28s} test accuracy {clf.score(Xt, yt):.3f}")

    # 2. the solver view: feedback alignment's update turns towards the true gradient
    rule = FeedbackAlignment(hidden_layer_sizes=(100, 100), learning_rate=3e-3)
    Y = np.eye(10)[y]
    before = alignment_angles(rule, rule.init(X, Y, rng=0), X[:256], Y[:256])
    res = fit(rule, X, Y, rng=0, maxiter=5)
    after = alignment_angles(rule, res.state, X[:256], Y[:256])
    print("angle to the backprop gradient per hidden layer (degrees):")
    print("  at the start", np.round(before, 1), " after 5 epochs", np.round(after, 1))


if __name__ == "__main__":
    main()
