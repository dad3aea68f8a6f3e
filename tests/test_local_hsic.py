"""HSIC bottleneck (gradfree.local._hsic): contract, the hand-written gradient, digits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree._result import Status
from gradfree.altmin import fit
from gradfree.altmin._common import with_ones
from gradfree.datasets import load_digits
from gradfree.local import alignment_angles
from gradfree.local._common import act, forward_cache
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

# The recommended digits setting; the readout-only control runs with the same one.
DIGITS = {
    "hidden_layer_sizes": (100, 100),
    "learning_rate": 3e-3,
    "batch_size": 128,
    "max_iter": 20,
}


def _toy(n=40, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.argmax(X[:, :k], axis=1)
    return X, y, np.eye(k)[y]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small matrices: BLAS threading only adds contention on shared CI cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        yield
        return
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    mu, sd = data.X_train.mean(0), data.X_train.std(0) + 1e-8
    return (data.X_train - mu) / sd, data.y_train, (data.X_test - mu) / sd, data.y_test


# ---------------------------------------------------------------- contract


def test_shapes_and_namespace(xp):
    X, _, Y = _toy()
    rule = HSICBottleneck(hidden_layer_sizes=(5, 4), batch_size=16)
    state = rule.step(rule.init(xp.asarray(X), xp.asarray(Y), rng=0))
    assert [W.shape for W in state.layers] == [(4, 5), (6, 4), (5, 3)]
    assert state.aux == () and state.fixed == ()
    assert all(array_namespace(W) is array_namespace(state.X) for W in state.layers)
    assert state.sweep == 1 and state.t == 3
    out = rule.decision_function(state, xp.asarray(X))
    assert out.shape == (40, 3) and array_namespace(out) is array_namespace(state.X)
    terms = rule.hsic_terms(state, xp.asarray(X), xp.asarray(Y))
    assert len(terms) == 2 and all(isinstance(v, float) for t in terms for v in t)


def test_matches_numpy_across_namespaces(xp):
    X, _, Y = _toy()
    rule = HSICBottleneck(hidden_layer_sizes=(6,), batch_size=16)
    ref = rule.step(rule.init(X, Y, rng=3))
    got = rule.step(rule.init(xp.asarray(X), xp.asarray(Y), rng=3))
    for a, b in zip(ref.layers, got.layers):
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-8, atol=1e-10)


def test_seeded_determinism_and_inputs_untouched():
    X, _, Y = _toy()
    X0, Y0 = X.copy(), Y.copy()
    rule = HSICBottleneck(hidden_layer_sizes=(6,), batch_size=8)
    a = fit(rule, X, Y, rng=1, maxiter=3)
    b = fit(rule, X, Y, rng=1, maxiter=3)
    c = fit(rule, X, Y, rng=2, maxiter=3)
    for Wa, Wb in zip(a.x, b.x):
        np.testing.assert_array_equal(Wa, Wb)
    assert not np.array_equal(a.x[-1], c.x[-1])
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    assert a.status == Status.MAXITER and a.nit == 3 and len(a.history) == 4


def test_classifier_contract(xp):
    X, y, _ = _toy()
    clf = HSICClassifier((8,), batch_size=16, max_iter=3, rng=0).fit(xp.asarray(X), y)
    assert clf.predict(xp.asarray(X)).shape == (40,)
    out = clf.decision_function(xp.asarray(X))
    assert out.shape == (40, 3) and array_namespace(out) is array_namespace(xp.asarray(X))
    assert 0.0 <= clf.score(xp.asarray(X), y) <= 1.0
    t = clf.state_.t
    assert clf.partial_fit(xp.asarray(X[:10]), y[:10]).state_.t == t + 1


def test_classifier_params_follow_scikit_learn():
    clf = HSICClassifier((7,), beta=10.0, sigma=2.0, max_iter=4)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (7,) and params["beta"] == 10.0
    assert params["sigma"] == 2.0 and params["epsilon"] == 1e-5
    assert params["batch_size"] == 128 and params["y_kernel"] == "gaussian"
    assert type(clf)(**params).get_params() == params
    with pytest.raises(ValueError, match="unknown parameter"):
        clf.set_params(bogus=1)


def test_bad_input():
    X, y, _ = _toy()
    clf = HSICClassifier((4,), batch_size=16, max_iter=1, rng=0)
    with pytest.raises(ValueError, match="`X` and `y`"):
        clf.fit(X, y[:-1])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="`X` contains NaN"):
        clf.fit(Xn, y)
    with pytest.raises(ValueError, match="not fitted"):
        clf.predict(X)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="labels outside"):
        clf.score(X, y + 10)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :2])
    rule = HSICBottleneck(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="`X` and `Y`"):
        rule.hsic_terms(rule.init(X, np.eye(3)[y], rng=0), X, np.eye(3)[y][:-1])


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
    grads, aux = rule.local_grads(state, X, Y, np.random.default_rng(0))
    assert aux == []
    R_X, R_Y = rule._targets(X, Y)
    _, H = forward_cache(layers, X, activation)
    eps = 1e-6
    for i in range(2):
        W = layers[i]
        fd = np.zeros_like(W)
        for idx in np.ndindex(*W.shape):
            plus, minus = W.copy(), W.copy()
            plus[idx] += eps
            minus[idx] -= eps
            fd[idx] = (
                rule.layer_objective(act(activation, with_ones(H[i]) @ plus), R_X, R_Y)
                - rule.layer_objective(act(activation, with_ones(H[i]) @ minus), R_X, R_Y)
            ) / (2 * eps)
        np.testing.assert_allclose(grads[i], fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())


def test_no_signal_crosses_layers():
    """A hidden layer's update ignores the weights above it; the readout's is cross-entropy."""
    X, _, Y = _toy()
    rule = HSICBottleneck(hidden_layer_sizes=(6, 5))
    state = rule.init(X, Y, rng=0)
    rng = np.random.default_rng(0)
    moved = replace(state, layers=(state.layers[0], *(W + 1.0 for W in state.layers[1:])))
    a, _ = rule.local_grads(state, X, Y, rng)
    b, _ = rule.local_grads(moved, X, Y, rng)
    np.testing.assert_array_equal(a[0], b[0])
    readout_only = replace(state, layers=(*state.layers[:-1], state.layers[-1] * 3.0))
    c, _ = rule.local_grads(readout_only, X, Y, rng)
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
    s = rule.step(rule.step(rule.step(s0)))
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
