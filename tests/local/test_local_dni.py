"""Synthetic gradients (gradfree.local._dni): contract, locality, hand gradients, digits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _data import DIGITS
from _data import toy as _toy
from array_api_compat import array_namespace

from gradfree.altmin import fit
from gradfree.local import alignment_angles, backprop_grads
from gradfree.local._dni import DNIClassifier, SyntheticGradients
from gradfree.local._rule import softmax
from gradfree.models import derivative

DIGITS_KW = dict(learning_rate=1e-3, max_iter=40, batch_size=64)


def _trained_state(rule, X, Y, sweeps=3, seed=0):
    state = rule.init(X, Y, rng=seed)
    for _ in range(sweeps):
        state = rule.step(state, X, Y)
    return state


# ---------------------------------------------------------------- contract


def test_state_shapes_and_namespace(xp):
    X, _, Y = _toy()
    Xa, Ya = xp.asarray(X), xp.asarray(Y)
    rule = SyntheticGradients(hidden_layer_sizes=(5, 4), batch_size=16)
    s0 = rule.init(Xa, Ya, rng=0)
    assert [tuple(M.shape) for M in s0.aux] == [(5 + 3 + 1, 5), (4 + 3 + 1, 4)]
    assert all(not bool(xp.any(M != 0)) for M in s0.aux)  # zero modules, as in the paper
    assert s0.fixed == ()
    state = rule.step(s0, Xa, Ya)
    assert (state.sweep, state.t) == (1, 3)
    assert [tuple(W.shape) for W in state.layers] == [(4, 5), (6, 4), (5, 3)]
    assert len(state.opt) == 5
    for W in (*state.layers, *state.aux):
        assert array_namespace(W) is array_namespace(Xa)
    for g in rule.synthetic_gradients(state, Xa, Ya):
        assert array_namespace(g) is array_namespace(Xa)
    assert np.isfinite(rule.objective(state, Xa, Ya))


def test_first_update_moves_only_output_and_modules():
    """Zero modules give zero synthetic gradients: at first only the readout and M learn."""
    X, _, Y = _toy()
    rule = SyntheticGradients(hidden_layer_sizes=(6, 5), batch_size=40)
    s0 = rule.init(X, Y, rng=0)
    s1 = rule.step(s0, X, Y)
    for W0, W1 in zip(s0.layers[:-1], s1.layers[:-1]):
        np.testing.assert_array_equal(W0, W1)
    assert np.any(s1.layers[-1] != s0.layers[-1])
    assert np.any(s1.aux[-1] != 0)  # the last module gets the true target e W_L^T at once
    s2 = rule.step(s1, X, Y)
    assert np.any(s2.layers[-2] != s1.layers[-2])


def test_updates_match_their_formulas():
    """Layer: backprop's formula with dL/dh replaced by g; module: finite differences."""
    X, _, Y = _toy(n=12)
    rule = SyntheticGradients(hidden_layer_sizes=(5, 4), learning_rate=0.05)
    state = _trained_state(rule, X, Y)
    grads, aux_grads, *_ = rule.local_grads(state, X, Y, np.random.default_rng(0))
    A, H = rule.forward_cache(state.layers, X)
    n, e = X.shape[0], softmax(A[-1]) - Y
    G = rule.synthetic_gradients(state, X, Y)
    assert all(np.any(g != 0) for g in G)
    D = [g * derivative("tanh", a) for g, a in zip(G, A)]
    for i in range(2):
        ref = np.concatenate([H[i], np.ones((n, 1))], 1).T @ D[i] / n
        np.testing.assert_allclose(grads[i], ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads[-1], backprop_grads(state.layers, X, Y, "tanh")[-1])
    targets = [D[1] @ state.layers[1][:-1].T, e @ state.layers[2][:-1].T]
    for i, t in enumerate(targets):
        M, eps = state.aux[i], 1e-6
        Z = np.concatenate([H[i + 1], Y, np.ones((n, 1))], 1)

        def loss(M, Z=Z, t=t):
            return 0.5 * np.sum((Z @ M - t) ** 2) / n

        num = np.zeros_like(M)
        for idx in np.ndindex(*M.shape):
            E = np.zeros_like(M)
            E[idx] = eps
            num[idx] = (loss(M + E) - loss(M - E)) / (2 * eps)
        np.testing.assert_allclose(aux_grads[i], num, rtol=1e-5, atol=1e-9)


def test_locality_no_chain_through_the_net():
    """Weights two or more layers up never reach a block's update or its module's gradient."""
    X, _, Y = _toy(n=20)
    rule = SyntheticGradients(hidden_layer_sizes=(6, 5, 4), learning_rate=0.05)
    state = _trained_state(rule, X, Y)
    rng = np.random.default_rng(1)
    layers = list(state.layers)
    layers[2] = layers[2] + rng.normal(size=layers[2].shape)
    layers[3] = layers[3] + rng.normal(size=layers[3].shape)
    other = replace(state, layers=tuple(layers))
    g, a, *_ = rule.local_grads(state, X, Y, rng)
    g2, a2, *_ = rule.local_grads(other, X, Y, rng)
    for i in (0, 1):  # layers 1 and 2 and modules M_1 (target via W_2) and M_2 (via W_3)
        np.testing.assert_array_equal(g[i], g2[i])
    np.testing.assert_array_equal(a[0], a2[0])
    assert not np.array_equal(a[1], a2[1])  # M_2's target goes through W_3, one step


def test_determinism_given_seed():
    X, y, _ = _toy()
    a = DNIClassifier((8, 6), max_iter=4, rng=5).fit(X, y)
    b = DNIClassifier((8, 6), max_iter=4, rng=5).fit(X, y)
    c = DNIClassifier((8, 6), max_iter=4, rng=6).fit(X, y)
    for Wa, Wb in zip((*a.layers_, *a.state_.aux), (*b.layers_, *b.state_.aux)):
        np.testing.assert_array_equal(Wa, Wb)
    assert not np.array_equal(a.layers_[0], c.layers_[0])


def test_fit_driver():
    X, _, Y = _toy()
    res = fit(SyntheticGradients((8,), learning_rate=0.01), X, Y, rng=0, maxiter=10)
    assert res.nit == 10 and res.history[-1] < res.history[0]


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="learning_rate"):
        SyntheticGradients(learning_rate=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        SyntheticGradients(batch_size=0)
    with pytest.raises(ValueError, match="activation"):
        SyntheticGradients(activation="softplus")
    with pytest.raises(TypeError, match="hidden_layer_sizes"):
        SyntheticGradients(hidden_layer_sizes=(2.5,))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        SyntheticGradients(hidden_layer_sizes=())
    X, y, Y = _toy()
    with pytest.raises(ValueError, match="learning_rate"):
        DNIClassifier((4,), learning_rate=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="`X` and `Y`"):
        SyntheticGradients((3,)).init(X, Y[:-1], rng=0)
    with pytest.raises(ValueError, match="momentum"):
        DNIClassifier().set_params(momentum=0.9)


# ---------------------------------------------------------------- digits


def test_digits_accuracy_beats_readout_and_aligns(digits, control):
    """Mean test accuracy >= 0.93 over 3 seeds and >= readout-only + 0.01; hidden updates
    stay within 90 degrees of the backprop gradient on training mini-batches."""
    Xtr, ytr, Xte, yte = digits
    accs = []
    for seed in range(3):
        clf = DNIClassifier(**DIGITS, rng=seed).fit(Xtr, ytr)
        accs.append(clf.score(Xte, yte))
    assert np.mean(accs) >= 0.93, accs
    assert np.mean(accs) >= np.mean(control) + 0.01, (accs, control)

    rule, state, Ytr = clf._solver(), clf.state_, np.eye(10)[ytr]
    angles = np.mean(
        [alignment_angles(rule, state, Xtr[i : i + 64], Ytr[i : i + 64]) for i in (0, 320, 640)],
        axis=0,
    )
    assert np.all(angles < 85.0), angles
    # The last module predicts dL/dh_{L-1} better than chance (cosine over the training set).
    A, _ = rule.forward_cache(state.layers, Xtr)
    true = (softmax(A[-1]) - Ytr) @ state.layers[-1][:-1].T
    g = rule.synthetic_gradients(state, Xtr, Ytr)[-1]
    assert np.sum(g * true) / (np.linalg.norm(g) * np.linalg.norm(true)) > 0.3
