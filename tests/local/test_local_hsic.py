"""HSIC bottleneck (gradfree.local._hsic): contract, the hand-written gradient, digits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _data import toy as _toy
from array_api_compat import array_namespace

from gradfree.local import alignment_angles
from gradfree.local._feedback import ReadoutOnlyLocalClassifier
from gradfree.local._hsic import (
    HSICBottleneck,
    HSICClassifier,
    _label_factor,
    _normalized,
    _normalized_factor,
    gaussian_gram,
    nhsic,
)
from gradfree.local._rule import network_of
from gradfree.models import activate, with_ones

# The recommended digits setting; the readout-only control runs with the same one.
DIGITS = {
    "hidden_layer_sizes": (100, 100),
    "learning_rate": 3e-3,
    "batch_size": 128,
    "max_iter": 20,
}


# ---------------------------------------------------------------- contract


def test_shapes_and_namespace(xp):
    X, _, Y = _toy()
    rule = HSICBottleneck(hidden_layer_sizes=(5, 4), batch_size=16)
    Xa, Ya = xp.asarray(X), xp.asarray(Y)
    state = rule.step(rule.init(Xa, Ya, rng=0), Xa, Ya)
    assert [W.shape for W in state.layers] == [(4, 5), (6, 4), (5, 3)]
    assert state.aux == () and state.fixed == ()
    assert all(array_namespace(W) is array_namespace(Xa) for W in state.layers)
    assert state.sweep == 1 and state.t == 3
    out = rule.decision_function(state, xp.asarray(X))
    assert out.shape == (40, 3) and array_namespace(out) is array_namespace(Xa)
    terms = rule.hsic_terms(state, xp.asarray(X), xp.asarray(Y))
    assert len(terms) == 2 and all(isinstance(v, float) for t in terms for v in t)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"beta": 0.0}, "beta"),
        ({"beta": float("nan")}, "beta"),
        ({"sigma": -1.0}, "sigma"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"y_kernel": "laplace"}, "y_kernel"),
        ({"batch_size": 0}, "batch_size"),
        ({"hidden_layer_sizes": ()}, "hidden_layer_sizes"),
        ({"activation": "softsign"}, "activation"),
    ],
)
def test_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        HSICBottleneck(**kwargs)
    with pytest.raises(ValueError, match=f"`{name}`"):
        HSICClassifier(**kwargs, max_iter=1).fit(*_toy()[:2])


def test_sigma_type_is_checked():
    with pytest.raises(TypeError, match="`sigma`"):
        HSICBottleneck(sigma="5")


# ---------------------------------------------------------------- the rule itself


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("y_kernel", ["gaussian", "linear"])
def test_layer_gradient_matches_finite_differences(activation, y_kernel):
    """The hand-written single-layer gradient of eq. (6), input of the layer held fixed."""
    X, _, Y = _toy(n=24, d=4)
    rule = HSICBottleneck(
        hidden_layer_sizes=(5, 4),
        activation=activation,
        sigma=0.8,
        beta=3.0,
        epsilon=1e-3,
        y_kernel=y_kernel,
    )
    state = rule.init(X, Y, rng=0)
    layers = tuple(np.vstack([W[:-1], W[-1:] + 0.1]) for W in state.layers)  # off ReLU's kink
    state = replace(state, layers=layers)
    grads, aux, *_ = rule.local_grads(state, X, Y, np.random.default_rng(0))
    assert aux == []
    R_X, R_Y = rule._targets(X, Y)
    H = network_of(layers, activation).forward_cache(layers, X)[0]
    eps = 1e-6
    for i in range(2):
        W = layers[i]
        fd = np.zeros_like(W)
        for idx in np.ndindex(*W.shape):
            plus, minus = W.copy(), W.copy()
            plus[idx] += eps
            minus[idx] -= eps
            fd[idx] = (
                rule.layer_objective(activate(activation, with_ones(H[i]) @ plus), R_X, R_Y)
                - rule.layer_objective(activate(activation, with_ones(H[i]) @ minus), R_X, R_Y)
            ) / (2 * eps)
        np.testing.assert_allclose(grads[i], fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())


def test_no_signal_crosses_layers():
    """A hidden layer's update ignores the weights above it; the readout's is cross-entropy."""
    X, _, Y = _toy()
    rule = HSICBottleneck(hidden_layer_sizes=(6, 5))
    state = rule.init(X, Y, rng=0)
    rng = np.random.default_rng(0)
    moved = replace(state, layers=(state.layers[0], *(W + 1.0 for W in state.layers[1:])))
    a, _, *_ = rule.local_grads(state, X, Y, rng)
    b, _, *_ = rule.local_grads(moved, X, Y, rng)
    np.testing.assert_array_equal(a[0], b[0])
    readout_only = replace(state, layers=(*state.layers[:-1], state.layers[-1] * 3.0))
    c, _, *_ = rule.local_grads(readout_only, X, Y, rng)
    for g, h in zip(a[:-1], c[:-1]):
        np.testing.assert_array_equal(g, h)


@pytest.mark.parametrize("kernel", ["gaussian", "linear"])
def test_low_rank_label_term_equals_full_gram(kernel):
    _, _, Y = _toy(n=50, k=3)
    K = gaussian_gram(Y, 5.0) if kernel == "gaussian" else Y @ Y.T
    full, _ = _normalized(K, 1e-5)
    low = _normalized_factor(_label_factor(Y, 5.0, kernel), 1e-5)
    np.testing.assert_allclose(low, full, atol=1e-9)


def test_nhsic_is_a_dependence_measure():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(60, 3))
    K = gaussian_gram(Z, 1.0)
    same = nhsic(K, K)
    indep = nhsic(K, gaussian_gram(rng.normal(size=(60, 3)), 1.0))
    assert 0.0 < indep < same <= 59.0 + 1e-9


def test_training_raises_label_dependence(digits):
    """Three epochs lower every layer's eq. (6) and raise its nHSIC with the labels."""
    X, y, _, _ = digits
    Y = np.eye(10)[y]
    rule = HSICBottleneck(hidden_layer_sizes=(64, 64), learning_rate=3e-3)
    s0 = rule.init(X, Y, rng=0)
    s = rule.step(rule.step(rule.step(s0, X, Y), X, Y), X, Y)
    batch = (X[:128], Y[:128])
    before, after = rule.hsic_terms(s0, *batch), rule.hsic_terms(s, *batch)
    for (x0, y0), (x1, y1) in zip(before, after):
        assert y1 > y0 and x1 - rule.beta * y1 < x0 - rule.beta * y0, (before, after)


def test_alignment_is_not_defined():
    X, _, Y = _toy()
    rule = HSICBottleneck(hidden_layer_sizes=(4,))
    assert HSICBottleneck.aligns is False
    with pytest.raises(TypeError, match="gradient"):
        alignment_angles(rule, rule.init(X, Y, rng=0), X, Y)


def test_digits_accuracy_and_beats_readout(digits):
    X, y, Xt, yt = digits
    accs = [HSICClassifier(**DIGITS, rng=s).fit(X, y).score(Xt, yt) for s in range(3)]
    control = [
        ReadoutOnlyLocalClassifier(**DIGITS, rng=s).fit(X, y).score(Xt, yt) for s in range(3)
    ]
    assert np.mean(accs) >= 0.93, accs
    assert np.mean(accs) >= np.mean(control) + 0.01, (accs, control)
