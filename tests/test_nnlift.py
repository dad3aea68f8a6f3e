"""NN-LIFT (Janzamin, Sedghi & Anandkumar 2015): planted networks, errors, streaming."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from gradfree._validate import GradfreeWarning
from gradfree.tensor import NNLIFTRegressor, gaussian_score3, recovery_error
from gradfree.tensor._moments import multilinear
from gradfree.tensor._nnlift_parts import _core, _gaussian_sketches


def planted(seed, *, d=8, k=3, n=200_000, noise=0.1, a2=None, mean=None, cov_root=None):
    """A tanh network with unit columns, nonzero biases; Gaussian inputs; noisy targets."""
    g = np.random.default_rng(seed)
    A1 = g.standard_normal((d, k))
    A1 /= np.linalg.norm(A1, axis=0)
    b1 = g.uniform(-0.5, 0.5, k) + 0.2
    if a2 is None:
        a2 = g.choice([-1.0, 1.0], k) * g.uniform(0.5, 1.5, k)
    mean = np.zeros(d) if mean is None else mean
    root = np.eye(d) if cov_root is None else cov_root

    def sample(m):
        X = mean + g.standard_normal((m, d)) @ root.T
        return X, np.tanh(X @ A1 + b1) @ a2 + 0.3

    X, y = sample(n)
    Xt, yt = sample(20_000)
    return A1, X, y + noise * g.standard_normal(n), Xt, yt


@pytest.fixture(scope="module")
def fitted():
    A1, X, y, Xt, yt = planted(0)
    return A1, NNLIFTRegressor(3, rng=0).fit(X, y), Xt, yt


def test_recovers_planted_first_layer(fitted):
    A1, net, _, _ = fitted
    err = recovery_error(A1, net.A1_)
    assert err.max < 0.12
    assert err.max == pytest.approx(recovery_error(A1, net.directions_).max)
    assert np.allclose(np.linalg.norm(net.directions_, axis=0), 1.0)
    assert net.A1_.shape == (8, 3) and net.b1_.shape == (3,) and net.a2_.shape == (3,)
    assert isinstance(net.b2_, float)


def test_heldout_r2(fitted):
    _, net, Xt, yt = fitted
    assert net.score(Xt, yt) > 0.98
    assert net.predict(Xt).shape == (20_000,)


def test_correlated_gaussian_inputs_and_user_score_agree():
    g = np.random.default_rng(5)
    root = np.eye(6) + 0.15 * g.standard_normal((6, 6))
    mean = 0.2 * g.standard_normal(6)  # a large shift saturates tanh: lambda_j -> 0
    A1, X, y, Xt, yt = planted(1, d=6, k=2, n=100_000, mean=mean, cov_root=root)
    net = NNLIFTRegressor(2, rng=0).fit(X, y)
    assert recovery_error(A1, net.A1_).max < 0.15
    assert net.score(Xt, yt) > 0.97
    cov = root @ root.T
    custom = NNLIFTRegressor(
        2, density="custom", score_function=lambda Xc: gaussian_score3(Xc, mean, cov), rng=0
    ).fit(X, y)
    assert recovery_error(A1, custom.A1_).max < 0.15


def test_streaming_equals_dense():
    g = np.random.default_rng(3)
    Z, w = g.standard_normal((50, 4)), g.standard_normal(50)
    T = np.einsum("n,nabc->abc", w, gaussian_score3(Z, np.zeros(4), np.eye(4))) / 50
    Theta = g.standard_normal((4, 3))
    K, m = _gaussian_sketches(Z, w, Theta, chunk_size=7)
    assert np.allclose(K.reshape(4, 3, 4), np.einsum("abc,cr->arb", T, Theta))
    assert np.allclose(m, w @ Z / 50)
    U = np.linalg.qr(g.standard_normal((4, 2)))[0]
    assert np.allclose(_core(Z, w, U, m, chunk_size=9), multilinear(T, U))


def test_gaussian_score_is_hermite_and_stein():
    x = np.asarray([[0.5, -1.0]])
    S = gaussian_score3(x, np.zeros(2), np.eye(2))[0]
    assert S[0, 0, 0] == pytest.approx(0.5**3 - 3 * 0.5)
    assert S[0, 0, 1] == pytest.approx(0.25 * -1.0 + 1.0)  # x0^2 x1 - x1
    # Stein: E[f(x) S3(x)] = E[f'''(x)] for f = x^3 / 6 on N(0, 4): both equal 1.
    g = np.random.default_rng(0)
    X = 2.0 * g.standard_normal((200_000, 1))
    S = gaussian_score3(X, np.zeros(1), np.asarray([[4.0]]))[:, 0, 0, 0]
    assert np.mean(X[:, 0] ** 3 / 6 * S) == pytest.approx(1.0, abs=0.05)


def test_seeded_determinism():
    _, X, y, _, _ = planted(2, d=5, k=2, n=20_000)
    a = NNLIFTRegressor(2, rng=4).fit(X, y)
    b = NNLIFTRegressor(2, rng=4).fit(X, y)
    assert np.array_equal(a.A1_, b.A1_) and np.array_equal(a.a2_, b.a2_)


def test_k_greater_than_d_raises():
    X, y = np.random.default_rng(0).standard_normal((100, 3)), np.zeros(100)
    with pytest.raises(ValueError, match="`n_hidden` must be <= n_features = 3"):
        NNLIFTRegressor(4).fit(X, y)


def test_custom_density_needs_score():
    X, y = np.random.default_rng(0).standard_normal((100, 3)), np.zeros(100)
    with pytest.raises(ValueError, match='density="custom"'):
        NNLIFTRegressor(2, density="custom").fit(X, y)


def test_bad_shapes_and_unfitted():
    X = np.random.default_rng(0).standard_normal((100, 3))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        NNLIFTRegressor(2).fit(X, np.zeros(99))
    with pytest.raises(NotFittedError, match="not fitted"):
        NNLIFTRegressor(2).predict(X)
    with pytest.raises(ValueError, match="`activation`"):
        NNLIFTRegressor(2, activation="softsign").fit(X, np.zeros(100))


def test_invisible_neuron_warns():
    _, X, y, _, _ = planted(3, d=6, k=3, n=50_000, a2=np.asarray([1.0, -1.2, 0.0]))
    with pytest.warns(GradfreeWarning, match="only 2 of `n_hidden`=3 neurons"):
        NNLIFTRegressor(3, rng=0).fit(X, y)


def test_non_gaussian_inputs_warn():
    g = np.random.default_rng(0)
    X = g.uniform(-1.0, 1.0, (20_000, 4))
    y = np.tanh(X @ np.ones(4) + 0.3)
    with pytest.warns(GradfreeWarning) as record:  # the moment may also look degenerate
        NNLIFTRegressor(1, rng=0).fit(X, y)
    assert any("does not look Gaussian" in str(w.message) for w in record)


def test_relu_with_zero_bias_is_invisible():
    # relu''' is a derivative of a delta at -b: E[relu'''(z)] = 0 for b = 0, so lambda_j = 0.
    g = np.random.default_rng(0)
    A1 = np.linalg.qr(g.standard_normal((6, 3)))[0]
    X = g.standard_normal((50_000, 6))
    y = np.maximum(X @ A1, 0.0) @ np.asarray([1.0, -1.0, 1.0]) + 0.1 * g.standard_normal(50_000)
    with pytest.warns(GradfreeWarning, match="only 0 of `n_hidden`=3 neurons"):
        NNLIFTRegressor(3, activation="relu", rng=0).fit(X, y)


def test_noise_floor_separates_visible_neurons(fitted):
    _, net, _, _ = fitted
    sv, floor = net.singular_values_, net.noise_floor_
    assert sv[2] > 2.5 * floor and sv[3] < 2.0 * floor
