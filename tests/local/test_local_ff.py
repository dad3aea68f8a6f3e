"""Forward-Forward (gradfree.local._ff): contract, hand-written gradient, locality, digits."""

from __future__ import annotations

import numpy as np
import pytest
from _data import toy as _toy

from gradfree._result import Status
from gradfree.altmin import fit
from gradfree.local._feedback import ReadoutOnlyLocalClassifier
from gradfree.local._ff import FFClassifier, ForwardForward

# Digits protocol: two layers of 100, 40 epochs of batch 32, Adam 5e-3; FF: ReLU, theta = 100.
# The readout-only control gets the same sizes, epochs, batch and learning rate (with its
# default tanh, which beats ReLU there: 0.948 against 0.927 over seeds 0..2).
DIGITS = {
    "hidden_layer_sizes": (100, 100),
    "learning_rate": 5e-3,
    "batch_size": 32,
    "max_iter": 40,
}
FF_DIGITS = {**DIGITS, "threshold": 100.0, "label_scale": 1.0}


# ---------------------------------------------------------------- contract


def test_seeded_determinism_and_inputs_untouched():
    X, _, Y = _toy()
    X0 = X.copy()
    rule = ForwardForward(hidden_layer_sizes=(6,), batch_size=8, threshold=5.0)
    a = fit(rule, X, Y, rng=1, maxiter=3)
    b = fit(rule, X, Y, rng=1, maxiter=3)
    c = fit(rule, X, Y, rng=2, maxiter=3)
    for Wa, Wb in zip(a.x, b.x):
        np.testing.assert_array_equal(Wa, Wb)
    assert not np.array_equal(a.x[-1], c.x[-1])
    np.testing.assert_array_equal(X, X0)
    assert a.status == Status.MAXITER and a.nit == 3 and len(a.history) == 4
    # the negative labels come from the rng argument: another stream, another update
    state = rule.init(X, Y, rng=0)
    g1, _, *_ = rule.local_grads(state, X, Y, np.random.default_rng(0))
    g2, _, *_ = rule.local_grads(state, X, Y, np.random.default_rng(0))
    g3, _, *_ = rule.local_grads(state, X, Y, np.random.default_rng(1))
    np.testing.assert_array_equal(g1[0], g2[0])
    assert not np.array_equal(g1[0], g3[0])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"label_scale": -1.0}, "label_scale"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes"),
        ({"activation": "gelu"}, "activation"),
    ],
)
def test_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        ForwardForward(**kwargs)
    X, y, _ = _toy()
    with pytest.raises(ValueError, match=f"`{name}`"):
        FFClassifier(max_iter=1, **kwargs).fit(X, y)
    with pytest.raises(TypeError, match="`threshold`"):
        ForwardForward(threshold="1")


# ---------------------------------------------------------------- the rule itself


def _layer_loss(W, U_in, sign, theta, n):
    """The FF loss of one layer as a function of its weights, its input held fixed."""
    H = np.maximum(np.c_[U_in, np.ones(U_in.shape[0])] @ W, 0.0)
    G = np.sum(H * H, axis=1)
    return float(np.sum(np.logaddexp(0.0, -sign * (G - theta)))) / n


def test_hand_written_gradient_matches_finite_differences():
    X, _, Y = _toy(n=12)
    rule = ForwardForward(hidden_layer_sizes=(5, 4), threshold=3.0, label_scale=2.0)
    state = rule.init(X, Y, rng=0)
    grads, aux, *_ = rule.local_grads(state, X, Y, np.random.default_rng(7))
    assert aux == []
    # rebuild the same stacked batch: true labels, then the wrong labels drawn from rng
    off = np.random.default_rng(7).integers(1, 3, size=12)
    Y_neg = np.eye(3)[(np.argmax(Y, 1) + off) % 3]
    assert not np.any(Y_neg * Y)
    U = np.r_[np.c_[X, 2.0 * Y], np.c_[X, 2.0 * Y_neg]]
    sign = np.r_[np.ones(12), -np.ones(12)]
    inputs, _, _ = rule._forward(state.layers, U)
    rms = np.sqrt(np.mean(inputs[1] ** 2, axis=1))
    np.testing.assert_allclose(
        rms[rms > 0], 1.0, rtol=1e-6
    )  # section 2.1: unit-RMS input to layer 2
    for W, U_in, g in zip(state.layers, inputs, grads):
        num = np.zeros_like(W)
        for idx in np.ndindex(*W.shape):
            E = np.zeros_like(W)
            E[idx] = 1e-6
            num[idx] = (
                _layer_loss(W + E, U_in, sign, 3.0, 12) - _layer_loss(W - E, U_in, sign, 3.0, 12)
            ) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)


def test_locality_and_normalization():
    X, _, Y = _toy()
    rule = ForwardForward(hidden_layer_sizes=(6, 5, 4), threshold=5.0)
    state = rule.init(X, Y, rng=0)
    g, _, *_ = rule.local_grads(state, X, Y, np.random.default_rng(0))
    # no signal from above: the first layer's update ignores every layer above it
    other = state.layers[:1] + tuple(3.0 * W + 1.0 for W in state.layers[1:])
    g2, _, *_ = rule.local_grads(
        type(state)(other, (), (), state.opt, state.dims, state.seed),
        X,
        Y,
        np.random.default_rng(0),
    )
    np.testing.assert_array_equal(g[0], g2[0])
    assert not np.allclose(g[1], g2[1])
    # the next layer sees the direction of the activity only: scaling a ReLU layer scales
    # its goodness by c^2 and leaves every goodness above it unchanged
    scaled = (2.0 * state.layers[0],) + state.layers[1:]
    G = rule._goodness(state, X)
    Gs = rule._goodness(type(state)(scaled, (), (), state.opt, state.dims, state.seed), X)
    np.testing.assert_allclose(Gs[0], 4.0 * G[0])
    for a, b in zip(G[1:], Gs[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # section 3.3: the score skips the first layer when there are several
    np.testing.assert_allclose(rule.decision_function(state, X), G[1] + G[2])
    one = ForwardForward(hidden_layer_sizes=(6,), threshold=5.0)
    s1 = one.init(X, Y, rng=0)
    np.testing.assert_allclose(one.decision_function(s1, X), one._goodness(s1, X)[0])


def test_objective_is_the_expected_ff_loss():
    X, _, Y = _toy(n=10)
    rule = ForwardForward(hidden_layer_sizes=(5, 4), threshold=4.0)
    state = rule.init(X, Y, rng=1)
    want = 0.0
    for G in rule._goodness(state, X):
        pos = np.logaddexp(0.0, -(G - 4.0))[Y == 1]
        neg = np.logaddexp(0.0, G - 4.0)[Y == 0].reshape(10, 2).mean(1)
        want += np.mean(pos + neg)
    assert rule.objective(state, X, Y) == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------- digits


def test_digits_accuracy_beats_readout_only(digits):
    X, y, Xt, yt = digits
    acc = [FFClassifier(**FF_DIGITS, rng=s).fit(X, y).score(Xt, yt) for s in range(3)]
    control = [
        ReadoutOnlyLocalClassifier(**DIGITS, rng=s).fit(X, y).score(Xt, yt) for s in range(3)
    ]
    # measured: FF 0.969 0.964 0.971 (mean 0.968), readout-only 0.951 0.949 0.944 (0.948)
    assert np.mean(acc) >= 0.94, acc
    assert np.mean(acc) >= np.mean(control) + 0.01, (acc, control)


def test_goodness_in_blocks_matches_one_pass_per_label():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(5000, 6)), np.eye(4)[rng.integers(0, 4, 5000)]
    rule = ForwardForward(hidden_layer_sizes=(300, 20), label_scale=2.0)
    state = rule.init(X, Y, rng=0)
    G = rule._goodness(state, X)  # blocks of 2**22 // (4 * 300) = 3495 rows: two blocks
    for c in range(4):
        _, _, acts = rule._forward(state.layers, np.c_[X, 2.0 * np.tile(np.eye(4)[c], (5000, 1))])
        for Gl, H in zip(G, acts):
            np.testing.assert_allclose(Gl[:, c], np.sum(H * H, axis=1), rtol=1e-10)
