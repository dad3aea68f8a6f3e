"""Difference target propagation (gradfree.local._dtp): contract, eq. (15), digits accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _data import DIGITS
from array_api_compat import array_namespace

from gradfree._array import to_host
from gradfree.local import alignment_angles
from gradfree.local._dtp import DifferenceTargetPropagation, DTPClassifier
from gradfree.local._rule import softmax
from gradfree.models import activate, with_ones

HIDDEN = (6, 5)


def _toy(n=40, d=4, k=3, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, d))
    y = np.argmax(X[:, :k], axis=1)
    return X, np.eye(k)[y], y


def _reconstruction_error(rule, state, X):
    """Mean squared error of ``g_l(f_l(h_{l-1}))`` against ``h_{l-1}``, per inverse."""
    A, H = rule.forward_cache(state.layers, X)
    out = []
    for i in range(1, len(state.layers)):
        Z = A[i] if i == len(state.layers) - 1 else H[i + 1]
        R = activate(rule.activation, with_ones(Z) @ state.aux[i - 1])
        out.append(float(np.mean((R - H[i]) ** 2)))
    return out


# -- contract ------------------------------------------------------------------------------


def test_state_and_grad_shapes():
    X, Y, _ = _toy()
    rule = DifferenceTargetPropagation(hidden_layer_sizes=HIDDEN)
    state = rule.init(X, Y, rng=0)
    assert [W.shape for W in state.layers] == [(5, 6), (7, 5), (6, 3)]
    # one inverse per layer above the first hidden one, (d_l + 1, d_{l-1})
    assert [V.shape for V in state.aux] == [(6, 6), (4, 5)]
    assert state.fixed == ()
    assert len(state.opt) == len(state.layers) + len(state.aux)
    grads, aux_grads, *_ = rule.local_grads(state, X, Y, np.random.default_rng(0))
    assert [g.shape for g in grads] == [W.shape for W in state.layers]
    assert [g.shape for g in aux_grads] == [V.shape for V in state.aux]
    state = rule.step(state, X, Y)
    assert state.t == math.ceil(40 / rule.batch_size) and state.sweep == 1


def test_one_hidden_layer_has_one_inverse_from_the_logits():
    X, Y, _ = _toy()
    rule = DifferenceTargetPropagation(hidden_layer_sizes=(7,))
    state = rule.step(rule.init(X, Y, rng=1), X, Y)
    assert [V.shape for V in state.aux] == [(4, 7)]


def test_result_and_classifier_attributes():
    X, _, y = _toy(n=60)
    clf = DTPClassifier(HIDDEN, max_iter=3, rng=0).fit(X, y)
    assert clf.result_.nit == 3 and len(clf.result_.history) == 4
    assert clf.decision_function(X).shape == (60, 3)
    assert clf.predict(X[:5]).shape == (5,)
    assert set(clf.get_params()) >= {"target_lr", "noise", "max_iter", "rng"}
    assert clf.set_params(noise=0.0).noise == 0.0
    t = clf.state_.t
    assert clf.partial_fit(X[:10], y[:10]).state_.t == t + 1


def test_deterministic_with_the_same_rng():
    X, Y, _ = _toy()
    rule = DifferenceTargetPropagation(hidden_layer_sizes=HIDDEN)
    a = rule.step(rule.step(rule.init(X, Y, rng=3), X, Y), X, Y)
    b = rule.step(rule.step(rule.init(X, Y, rng=3), X, Y), X, Y)
    for u, v in zip((*a.layers, *a.aux), (*b.layers, *b.aux)):
        np.testing.assert_array_equal(u, v)
    c = rule.step(rule.step(rule.init(X, Y, rng=4), X, Y), X, Y)
    assert not np.array_equal(a.layers[0], c.layers[0])
    # the corruption noise comes from the rng argument, and only from it
    s = rule.init(X, Y, rng=0)
    g1 = rule.local_grads(s, X, Y, np.random.default_rng(7))[1]
    g2 = rule.local_grads(s, X, Y, np.random.default_rng(7))[1]
    g3 = rule.local_grads(s, X, Y, np.random.default_rng(8))[1]
    np.testing.assert_array_equal(g1[0], g2[0])
    assert not np.array_equal(g1[0], g3[0])


def test_namespace_is_kept(xp):
    X, Y, _ = _toy()
    Xx, Yx = xp.asarray(X), xp.asarray(Y)
    rule = DifferenceTargetPropagation(hidden_layer_sizes=HIDDEN)
    state = rule.step(rule.init(Xx, Yx, rng=0), Xx, Yx)
    for W in (*state.layers, *state.aux):
        assert array_namespace(W) is array_namespace(Xx)
    out = rule.decision_function(state, Xx)
    assert array_namespace(out) is array_namespace(Xx) and out.shape == (40, 3)
    ref = rule.step(rule.init(X, Y, rng=0), X, Y)
    np.testing.assert_allclose(to_host(state.aux[0]), ref.aux[0], rtol=1e-10, atol=1e-12)


def test_float32_stays_float32():
    X, Y, _ = _toy()
    rule = DifferenceTargetPropagation(hidden_layer_sizes=HIDDEN)
    state = rule.step(rule.init(X.astype(np.float32), Y, rng=0), X.astype(np.float32), Y)
    assert all(W.dtype == np.float32 for W in (*state.layers, *state.aux))


@pytest.mark.parametrize(
    ("kwargs", "name", "error"),
    [
        ({"target_lr": 0.0}, "target_lr", ValueError),
        ({"target_lr": -1.0}, "target_lr", ValueError),
        ({"target_lr": float("nan")}, "target_lr", ValueError),
        ({"target_lr": "big"}, "target_lr", TypeError),
        ({"noise": -0.1}, "noise", ValueError),
        ({"noise": float("inf")}, "noise", ValueError),
        ({"learning_rate": 0.0}, "learning_rate", ValueError),
        ({"batch_size": 0}, "batch_size", ValueError),
        ({"activation": "gelu"}, "activation", ValueError),
        ({"hidden_layer_sizes": ()}, "hidden_layer_sizes", ValueError),
    ],
)
def test_bad_hyperparameters_name_the_argument(kwargs, name, error):
    with pytest.raises(error, match=f"`{name}`"):
        DifferenceTargetPropagation(**kwargs)
    X, _, y = _toy()
    with pytest.raises(error, match=f"`{name}`"):
        DTPClassifier(**kwargs, max_iter=1).fit(X, y)


# -- the rule ------------------------------------------------------------------------------


def test_no_error_means_no_hidden_update():
    """Eq. (15): at ``e = 0`` the targets equal the activations even with imperfect inverses."""
    X, _, _ = _toy()
    rule = DifferenceTargetPropagation(hidden_layer_sizes=HIDDEN)
    state = rule.init(X, np.eye(3)[np.zeros(40, dtype=int)], rng=0)
    A, _ = rule.forward_cache(state.layers, X)
    grads, _, *_ = rule.local_grads(state, X, softmax(A[-1]), np.random.default_rng(0))
    for g in grads:
        np.testing.assert_allclose(g, 0.0, atol=1e-15)


def test_hidden_grad_is_the_layer_loss_derivative():
    """The hand-written update is the derivative of ``||f(a_l) - t_l||^2 / (2n)`` in ``W_l``."""
    X, Y, _ = _toy(n=12)
    rule = DifferenceTargetPropagation(hidden_layer_sizes=(4,), target_lr=0.3)
    state = rule.init(X, Y, rng=2)
    grads, _, *_ = rule.local_grads(state, X, Y, np.random.default_rng(0))
    A, H = rule.forward_cache(state.layers, X)
    e = softmax(A[-1]) - Y

    def g(Z):
        return np.tanh(with_ones(Z) @ state.aux[0])

    target = H[1] + g(A[-1] - 0.3 * e) - g(A[-1])  # fixed, as in the rule

    def loss(W):
        return np.sum((np.tanh(with_ones(X) @ W) - target) ** 2) / (2 * X.shape[0])

    W, num, h = state.layers[0], np.zeros_like(state.layers[0]), 1e-6
    for idx in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += h
        Wm[idx] -= h
        num[idx] = (loss(Wp) - loss(Wm)) / (2 * h)
    np.testing.assert_allclose(grads[0], num, rtol=1e-5, atol=1e-9)


def test_inverses_learn_to_reconstruct():
    X, Y, _ = _toy(n=200, d=8)
    rule = DifferenceTargetPropagation(hidden_layer_sizes=(16, 16), learning_rate=0.01)
    s0 = rule.init(X, Y, rng=0)
    s = s0
    for _ in range(30):
        s = rule.step(s, X, Y)
    before, after = _reconstruction_error(rule, s0, X), _reconstruction_error(rule, s, X)
    assert all(a < 0.5 * b for a, b in zip(after, before)), (before, after)
    assert rule.objective(s, X, Y) < rule.objective(s0, X, Y)


def test_alignment_angles_are_logged():
    X, Y, _ = _toy()
    rule = DifferenceTargetPropagation(hidden_layer_sizes=HIDDEN)
    angles = alignment_angles(rule, rule.step(rule.init(X, Y, rng=0), X, Y), X, Y)
    assert len(angles) == 2 and all(0.0 <= a <= 180.0 for a in angles)


# -- digits --------------------------------------------------------------------------------


def test_digits_accuracy_beats_readout_only(digits, control):
    Xtr, ytr, Xte, yte = digits
    dtp = [DTPClassifier(**DIGITS, rng=s).fit(Xtr, ytr).score(Xte, yte) for s in range(3)]
    assert np.mean(dtp) >= 0.93, dtp
    assert np.mean(dtp) >= np.mean(control) + 0.01, (dtp, control)
