"""Alternating-minimization trainers (gradfree.altmin): contract, descent, digits accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from array_api_compat import array_namespace
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from gradfree._array import to_host
from gradfree._result import Status
from gradfree.altmin import (
    ADMM,
    BCD,
    ADMMClassifier,
    BCDClassifier,
    OnlineAM,
    OnlineAMClassifier,
    ReadoutOnlyClassifier,
    fit,
    relu_prox,
)
from gradfree.altmin._admm import _output_prox
from gradfree.datasets import load_digits

SOLVERS = [BCD, ADMM, OnlineAM]
CLASSIFIERS = [BCDClassifier, ADMMClassifier, OnlineAMClassifier, ReadoutOnlyClassifier]


def _toy(n=40, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.argmax(X[:, :k], axis=1)
    return X, y, np.eye(k)[y]


pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    mu, sd = data.X_train.mean(0), data.X_train.std(0) + 1e-8
    return (data.X_train - mu) / sd, data.y_train, (data.X_test - mu) / sd, data.y_test


# ---------------------------------------------------------------- contract


@pytest.mark.parametrize("cls", SOLVERS)
def test_solver_shapes_and_namespace(cls, xp):
    X, _, Y = _toy()
    Xa, Ya = xp.asarray(X), xp.asarray(Y)
    solver = cls(hidden_layer_sizes=(5, 4), **({"batch_size": 16} if cls is OnlineAM else {}))
    state = solver.step(solver.init(Xa, Ya, rng=0), Xa, Ya)
    assert state.sweep == 1
    assert [tuple(W.shape) for W in state.layers] == [(4, 5), (6, 4), (5, 3)]
    for W in state.layers:
        assert array_namespace(W) is array_namespace(Xa)
    assert np.isfinite(solver.objective(state, Xa, Ya))


@pytest.mark.parametrize("cls", SOLVERS)
def test_solver_matches_numpy_across_namespaces(cls, xp):
    X, _, Y = _toy()
    solver = cls(hidden_layer_sizes=(6,), **({"batch_size": 16} if cls is OnlineAM else {}))
    ref = fit(solver, X, Y, rng=3, maxiter=3)
    res = fit(solver, xp.asarray(X), xp.asarray(Y), rng=3, maxiter=3)
    for W_ref, W in zip(ref.x, res.x):
        np.testing.assert_allclose(to_host(W), W_ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_classifier_contract(cls, xp):
    X, y, _ = _toy()
    labels = np.asarray([3, 7, 9])[y]
    clf = cls((8,), rng=0, **({} if cls is ReadoutOnlyClassifier else {"max_iter": 3}))
    assert clf.fit(xp.asarray(X), labels) is clf
    pred = clf.predict(xp.asarray(X))
    assert pred.shape == (40,) and set(np.unique(to_host(pred))) <= {3, 7, 9}
    assert 0.0 <= clf.score(xp.asarray(X), labels) <= 1.0
    assert tuple(clf.decision_function(xp.asarray(X)).shape) == (40, 3)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_determinism_given_seed(cls):
    X, y, _ = _toy()
    kw = {} if cls is ReadoutOnlyClassifier else {"max_iter": 4}
    a = cls((8,), rng=5, **kw).fit(X, y)
    b = cls((8,), rng=5, **kw).fit(X, y)
    c = cls((8,), rng=6, **kw).fit(X, y)
    for Wa, Wb in zip(a.layers_, b.layers_):
        np.testing.assert_array_equal(Wa, Wb)
    assert not np.array_equal(a.layers_[0], c.layers_[0])


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_scikit_learn_clone_and_model_selection(cls):
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    X, y, _ = _toy(n=60)
    clf = cls((6,), rng=0)
    assert clone(clf).get_params() == clf.get_params()
    assert cross_val_score(clf, X, y, cv=2).shape == (2,)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_bad_input(cls):
    X, y, _ = _toy()
    clf = cls((4,), rng=0)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(Xn, y)
    with pytest.raises(ValueError, match="Expected 2D array"):
        clf.fit(X[:, 0], y)
    with pytest.raises(NotFittedError, match="not fitted"):
        clf.predict(X)
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, X[:, 0])
    with pytest.raises(ValueError, match="max_iter"):
        clone(clf).set_params(max_iter=0).fit(X, y)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but"):
        clf.predict(X[:, :2])


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="gamma"):
        BCD(gamma=0.0)
    with pytest.raises(ValueError, match="alpha"):
        BCD(alpha=-1.0)
    with pytest.raises(TypeError, match="hidden_layer_sizes"):
        BCD(hidden_layer_sizes=(2.5,))
    with pytest.raises(ValueError, match="loss"):
        ADMM(loss="logistic")
    X, _, Y = _toy()
    with pytest.raises(ValueError, match="`X` and `Y`"):
        BCD((3,)).init(X, Y[:-1], rng=0)
    with pytest.raises(ValueError, match="maxiter"):
        fit(BCD((3,)), X, Y, maxiter=-1)
    with pytest.raises(ValueError, match="forget"):
        OnlineAM(forget=0.0)


def test_fitted_network_is_the_mlp_model():
    from gradfree.models import MLP

    X, y, _ = _toy()
    clf = BCDClassifier((7, 5), max_iter=2, rng=0).fit(X, y)
    assert clf.model_ == MLP((3, 7, 5, 3), activations="relu")
    expected = clf.model_.forward(clf.params_, X)
    np.testing.assert_allclose(clf.decision_function(X), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- closed-form pieces


def test_relu_prox_is_global_minimizer():
    rng = np.random.default_rng(0)
    v, t = rng.normal(size=200) * 2, rng.normal(size=200) * 2
    gamma, c = 1.3, 0.7
    u = relu_prox(v, t, gamma, c)
    grid = np.linspace(-8, 8, 16001)[:, None]
    f_grid = gamma * (v - np.maximum(grid, 0)) ** 2 + c * (grid - t) ** 2
    f_u = gamma * (v - np.maximum(u, 0)) ** 2 + c * (u - t) ** 2
    assert np.all(f_u <= f_grid.min(axis=0) + 1e-9)


@pytest.mark.parametrize("k", [2, 5, 9])
def test_coupled_solve_matches_dense_solve(k, xp):
    """Woodbury (k < h) and direct (k >= h) branches both solve V (c I + rho W W^T) = R."""
    from gradfree.altmin._solves import coupled_solve

    rng = np.random.default_rng(k)
    Wt, R = rng.normal(size=(5, k)), rng.normal(size=(7, 5))
    V = coupled_solve(xp.asarray(Wt), xp.asarray(R), 2.0, 0.3)
    assert array_namespace(V) is array_namespace(xp.asarray(R))
    expected = np.linalg.solve(0.3 * np.eye(5) + 2.0 * Wt @ Wt.T, R.T).T
    np.testing.assert_allclose(to_host(V), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [BCDClassifier, ADMMClassifier])
def test_readout_refit(cls):
    """The default refit keeps the hidden layers and solves the ridge readout exactly;
    ``readout_ridge=None`` keeps the trained layers (the paper's algorithm)."""
    from gradfree.models import with_ones

    def hidden(c, X):
        return c.model_.forward_cache(list(c.layers_), X)[0][-1]

    X, y, Y = _toy(n=60)
    paper = cls((8,), max_iter=5, readout_ridge=None, rng=0).fit(X, y)
    for W, W_run in zip(paper.layers_, paper.result_.x):
        np.testing.assert_array_equal(W, W_run)
    clf = cls((8,), max_iter=5, readout_ridge=0.5, rng=0).fit(X, y)
    np.testing.assert_array_equal(clf.layers_[0], paper.layers_[0])
    A, W = with_ones(hidden(clf, X)), clf.layers_[-1]
    np.testing.assert_allclose(A.T @ (A @ W - Y) + 0.5 * W, 0.0, atol=1e-9)  # normal eqs
    loss = [np.sum((with_ones(hidden(c, X)) @ c.layers_[-1] - Y) ** 2) for c in (clf, paper)]
    assert loss[0] < loss[1]
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="readout_ridge"):
            cls((8,), readout_ridge=bad).fit(X, y)


@pytest.mark.parametrize("loss", ["square", "hinge"])
def test_output_prox_is_global_minimizer(loss):
    rng = np.random.default_rng(1)
    y = rng.choice([-1.0, 1.0], size=300) if loss == "hinge" else rng.normal(size=300)
    lam, m, beta = rng.normal(size=300), rng.normal(size=300) * 2, 0.8
    z = _output_prox(y, lam, m, beta, loss)

    def f(z):
        data = (z - y) ** 2 if loss == "square" else np.maximum(0.0, 1.0 - y * z)
        return data + lam * z + beta * (z - m) ** 2

    grid = np.linspace(-10, 10, 20001)[:, None]
    assert np.all(f(z) <= f(grid).min(axis=0) + 1e-7)


# ---------------------------------------------------------------- descent and driver


def test_bcd_objective_non_increasing(digits):
    X, y, _, _ = digits
    Y = np.eye(10)[y]
    for alpha in (0.1, 5.0):
        res = fit(BCD((16, 16), alpha=alpha), X[:400], Y[:400], rng=0, maxiter=25)
        h = np.asarray(res.history)
        # Exact block minimization of F + prox: F never increases (Zeng et al., Lemma 1).
        assert np.all(np.diff(h) <= 1e-10 * h[:-1]), np.diff(h).max()
        assert h[-1] < 0.2 * h[0]


def test_admm_objective_decreases(digits):
    X, y, _, _ = digits
    Y = np.eye(10)[y]
    res = fit(ADMM((32,)), X[:400], Y[:400], rng=0, maxiter=20)
    h = np.asarray(res.history)
    assert h[-1] < 0.5 * h[1] and h[-1] < h[0]


def test_fit_statuses():
    X, _, Y = _toy()
    res = fit(BCD((4,)), X, Y, rng=0, maxiter=3)
    assert res.status == Status.MAXITER and res.nit == 3 and len(res.history) == 4
    assert res.fun == res.history[-1]
    res = fit(BCD((4,)), X, Y, rng=0, maxiter=500, tol=1e-3)
    assert res.status == Status.CONVERGED and res.success and res.nit < 500


def test_callback_stops():
    X, _, Y = _toy()

    def cb(state):
        if state.sweep == 2:
            raise StopIteration

    res = fit(ADMM((4,)), X, Y, rng=0, maxiter=10, callback=cb)
    assert res.status == Status.CALLBACK and res.nit == 2


# ---------------------------------------------------------------- digits


def test_bcd_digits_beats_readout(digits):
    X, y, Xt, yt = digits
    acc = BCDClassifier((48,), alpha=0.1, max_iter=120, rng=0).fit(X, y).score(Xt, yt)
    ctrl = ReadoutOnlyClassifier((48,), rng=0).fit(X, y).score(Xt, yt)
    assert acc >= 0.93
    assert acc >= ctrl + 0.03, (acc, ctrl)


@pytest.mark.parametrize(
    "make",
    [
        lambda r: BCDClassifier((256,), alpha=0.1, max_iter=100, readout_ridge=r, rng=0),
        lambda r: ADMMClassifier(
            (256,), beta=0.1, gamma=0.1, max_iter=100, readout_ridge=r, rng=0
        ),
    ],
    ids=["bcd", "admm"],
)
def test_wide_digits_with_readout_refit(make, digits):
    """256 hidden units and the readout refit: within a point of backprop's 0.973 (the
    benchmark's scikit-learn MLPClassifier, same width and epochs) and above the paper's
    algorithm (BCD 0.969 -> 0.978, ADMM 0.960 -> 0.973 at seed 0). At this width random
    frozen features reach 0.970 too (3 seeds), so this checks the refit, not features."""
    X, y, Xt, yt = digits
    refit = make(1.0).fit(X, y).score(Xt, yt)
    assert refit >= 0.965
    assert refit > make(None).fit(X, y).score(Xt, yt)


def test_admm_digits_accuracy(digits):
    X, y, Xt, yt = digits
    acc = ADMMClassifier((256,), max_iter=40, rng=0).fit(X, y).score(Xt, yt)
    assert acc >= 0.93


def test_admm_digits_beats_readout(digits):
    """With penalties picked on a validation split (beta = gamma = 0.1 of {0.01..10}), ADMM
    learns features: 0.929 against 0.906 for random ones (the paper's beta = 1, gamma = 10
    only match them on digits: 0.902)."""
    X, y, Xt, yt = digits
    accs, ctrls = [], []
    for seed in range(3):
        clf = ADMMClassifier((64,), beta=0.1, gamma=0.1, max_iter=100, rng=seed)
        accs.append(clf.fit(X, y).score(Xt, yt))
        ctrls.append(ReadoutOnlyClassifier((64,), rng=seed).fit(X, y).score(Xt, yt))
    assert np.mean(accs) >= np.mean(ctrls) + 0.01, (accs, ctrls)


def test_online_am_digits_beats_readout(digits):
    X, y, Xt, yt = digits
    acc = OnlineAMClassifier((48,), max_iter=20, rng=0).fit(X, y).score(Xt, yt)
    ctrl = ReadoutOnlyClassifier((48,), rng=0).fit(X, y).score(Xt, yt)
    assert acc >= 0.93
    assert acc >= ctrl + 0.03, (acc, ctrl)


def test_online_am_partial_fit(digits):
    X, y, Xt, yt = digits
    clf = OnlineAMClassifier((48,), rng=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X[:100], y[:100])
    for epoch in range(10):
        for start in range(0, X.shape[0], 200):
            sl = slice(start, start + 200)
            clf.partial_fit(X[sl], y[sl], classes=np.arange(10) if epoch == 0 else None)
    assert clf.score(Xt, yt) >= 0.9
    with pytest.raises(ValueError, match="outside"):
        clf.partial_fit(X[:5], y[:5] + 20)
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:5, :3], y[:5])
