"""Online AM-Adam (`OnlineAM(weight_update='adam')`): options, determinism, descent, digits."""

from __future__ import annotations

import numpy as np
import pytest

from gradfree.altmin import OnlineAM, OnlineAMClassifier, ReadoutOnlyClassifier, fit
from gradfree.datasets import load_digits
from gradfree.updates import AdamState

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    mu, sd = data.X_train.mean(0), data.X_train.std(0) + 1e-8
    return (data.X_train - mu) / sd, data.y_train, (data.X_test - mu) / sd, data.y_test


def _toy(n=60, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.argmax(X[:, :k], axis=1)
    return X, y, np.eye(k)[y]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weight_update": "sgd"}, "weight_update"),
        ({"weight_update": "ADAM"}, "weight_update"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"n_weight_steps": 0}, "n_weight_steps"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OnlineAM(**kwargs)
    X, y, _ = _toy()
    with pytest.raises(ValueError, match=match):
        OnlineAMClassifier((4,), max_iter=1, **kwargs).fit(X, y)


def test_state_holds_adam_moments_not_memory():
    X, _, Y = _toy()
    am = OnlineAM(hidden_layer_sizes=(5, 4), batch_size=20, weight_update="adam")
    state = am.init(X, Y, rng=0)
    assert state.A == () and state.B == ()
    assert all(isinstance(s, AdamState) and s.count == 0 for s in state.opt)
    state = am.step(state, X, Y)
    assert [s.count for s in state.opt] == [3, 3, 3]  # 60 / 20 mini-batches, one step each
    assert [s.m.shape for s in state.opt] == [W.shape for W in state.layers]
    two = OnlineAM((5, 4), batch_size=20, weight_update="adam", n_weight_steps=2)
    assert [s.count for s in two.step(two.init(X, Y, rng=0), X, Y).opt] == [6, 6, 6]
    assert OnlineAM((5,)).init(X, Y, rng=0).opt is None  # 'mem' keeps its memory instead


def test_deterministic_and_differs_from_mem():
    X, _, Y = _toy()
    am = OnlineAM(hidden_layer_sizes=(6,), batch_size=16, weight_update="adam")
    a = fit(am, X, Y, rng=3, maxiter=3)
    b = fit(am, X, Y, rng=3, maxiter=3)
    for Wa, Wb in zip(a.x, b.x):
        np.testing.assert_array_equal(Wa, Wb)
    c = fit(am, X, Y, rng=4, maxiter=3)
    assert not np.array_equal(a.x[0], c.x[0])
    mem = fit(OnlineAM(hidden_layer_sizes=(6,), batch_size=16), X, Y, rng=3, maxiter=3)
    assert not np.allclose(a.x[-1], mem.x[-1])


def test_loss_decreases():
    X, _, Y = _toy(n=200)
    am = OnlineAM(hidden_layer_sizes=(16,), batch_size=20, weight_update="adam")
    res = fit(am, X, Y, rng=0, maxiter=15)
    assert np.all(np.isfinite(res.history))
    assert res.history[-1] < 0.5 * res.history[0], res.history
    assert res.history[-1] <= min(res.history[:5])


def test_adam_step_matches_local_gradient():
    """One mini-batch with zero code steps equals a hand-rolled Adam step on each layer."""
    X, _, Y = _toy(n=20)
    am = OnlineAM((4,), n_code_steps=0, weight_update="adam", learning_rate=0.05, mu=0.3)
    state = am.init(X, Y, rng=0)
    new = am.partial_step(state, X, Y)
    W1, W2 = state.layers
    a1 = np.hstack([X, np.ones((20, 1))])
    c = a1 @ W1
    a2 = np.hstack([np.maximum(c, 0), np.ones((20, 1))])
    grads = [2 * 0.3 / 20 * a1.T @ (a1 @ W1 - c), a2.T @ (a2 @ W2 - Y) / 20]
    for W, g, W_new in zip((W1, W2), grads, new.layers):
        m, v = 0.1 * g, 0.001 * g**2
        step = 0.05 * np.sqrt(1 - 0.999) / (1 - 0.9) * m / (np.sqrt(v) + 1e-8)
        np.testing.assert_allclose(W_new, W - step, rtol=1e-10, atol=1e-12)


def test_digits_accuracy(digits):
    X, y, Xt, yt = digits
    acc = OnlineAMClassifier((48,), max_iter=20, weight_update="adam", rng=0).fit(X, y)
    acc = acc.score(Xt, yt)
    ctrl = ReadoutOnlyClassifier((48,), rng=0).fit(X, y).score(Xt, yt)
    assert acc >= 0.93
    assert acc >= ctrl + 0.02, (acc, ctrl)


def test_partial_fit_adam(digits):
    X, y, Xt, yt = digits
    clf = OnlineAMClassifier((48,), weight_update="adam", rng=0)
    for epoch in range(10):
        for start in range(0, X.shape[0], 200):
            sl = slice(start, start + 200)
            clf.partial_fit(X[sl], y[sl], classes=np.arange(10) if epoch == 0 else None)
    assert clf.state_.opt[0].count == 10 * 7
    assert clf.score(Xt, yt) >= 0.85  # 10 unshuffled epochs of one Adam step per batch: ~0.88
    ref = OnlineAMClassifier((48,), weight_update="adam", rng=0)
    ref.partial_fit(X[:200], y[:200], classes=np.arange(10))
    again = OnlineAMClassifier((48,), weight_update="adam", rng=0)
    again.partial_fit(X[:200], y[:200], classes=np.arange(10))
    np.testing.assert_array_equal(ref.layers_[0], again.layers_[0])


@pytest.mark.parametrize("weight_update", ["mem", "adam"])
def test_threaded_layer_updates_equal_serial(weight_update):
    """The weight steps are independent per layer: threads give the serial result."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    Y = np.eye(3)[np.argmax(X[:, :3], axis=1)]
    runs = []
    for n_jobs in (1, 2):
        am = OnlineAM((7, 6), batch_size=20, weight_update=weight_update, n_jobs=n_jobs)
        runs.append(am.step(am.step(am.init(X, Y, rng=0), X, Y), X, Y))
    for a, b in zip(runs[0].layers, runs[1].layers):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="n_jobs"):
        OnlineAM(n_jobs=0)


def test_am_mem_refit_stays_bounded_when_layers_are_wider_than_the_batch():
    """Memory matrices of rank < width: the default ridge keeps the refits well posed
    (a ridge of 1e-4 gave weights ~8 here and ~1e6 on MNIST with 3 x 1000 layers)."""
    rng = np.random.default_rng(0)
    X = (rng.random((600, 300)) < 0.15).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 600)]
    am = OnlineAM((300, 300), batch_size=32)
    state = am.step(am.step(am.init(X, Y, rng=0), X, Y), X, Y)
    assert max(float(np.abs(W).max()) for W in state.layers) < 2.0
    assert all(W.dtype == np.float32 for W in state.layers)
