"""Tests of gradfree.tensor: moments, robust tensor power method, CP, recovery error, GMM."""

from __future__ import annotations

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree._array import to_host
from gradfree.tensor import (
    SampleMoment3,
    SphericalGMM,
    cp_als,
    multilinear,
    recovery_error,
    robust_power_method,
    second_moment,
    spherical_gmm_moments,
    whiten,
    whitened_symmetric_cp,
    whitened_third_moment,
)


def _sym3(w, A):
    """Dense ``sum_j w_j a_j^(x)3``."""
    return np.einsum("r,ir,jr,lr->ijl", w, A, A, A)


def _planted(d, k, *, orthogonal, seed):
    g = np.random.default_rng(seed)
    if orthogonal:
        A = np.linalg.qr(g.standard_normal((d, k)))[0]
    else:
        A = g.standard_normal((d, k))
        A /= np.linalg.norm(A, axis=0)
    w = g.uniform(1.0, 2.0, size=k)
    return A, w


def _symmetric_noise(d, seed):
    E = np.random.default_rng(seed).standard_normal((d, d, d))
    perms = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    return sum(np.transpose(E, p) for p in perms) / 6


# --- exact population moments ---------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 6])
def test_power_method_exact_orthogonal(k):
    A, w = _planted(8, k, orthogonal=True, seed=k)
    lam, V = robust_power_method(_sym3(w, A), k, rng=0)
    assert recovery_error(A, V).max < 1e-8
    assert np.allclose(np.sort(lam), np.sort(w), atol=1e-10)
    assert np.allclose(np.linalg.norm(V, axis=0), 1.0)


@pytest.mark.parametrize(("d", "k"), [(10, 4), (20, 5), (12, 12)])
def test_whitened_cp_exact_non_orthogonal(d, k):
    A, w = _planted(d, k, orthogonal=False, seed=d + k)
    weights, factors = whitened_symmetric_cp(_sym3(w, A), (A * w) @ A.T, k, rng=1)
    err = recovery_error(A, factors)
    assert err.max < 1e-8
    # the scale fixed by M2 is the planted one: factors equal A up to permutation only
    assert np.allclose(factors[:, err.permutation], A, atol=1e-8)
    assert np.allclose(weights[err.permutation], w, atol=1e-8)


def test_unwhitened_power_method_is_biased_on_non_orthogonal():
    """The motivation of issue 5: whitening is needed for non-orthogonal components."""
    A, w = _planted(20, 5, orthogonal=False, seed=3)
    T = _sym3(w, A)
    _, V = robust_power_method(T, 5, rng=0)
    biased = recovery_error(A, V).max
    _, factors = whitened_symmetric_cp(T, (A * w) @ A.T, 5, rng=0)
    assert biased > 1e-2
    assert recovery_error(A, factors).max < 1e-8


@pytest.mark.parametrize("noise", [1e-4, 1e-3, 1e-2])
def test_power_method_noisy_orthogonal(noise):
    d, k = 10, 4
    A, w = _planted(d, k, orthogonal=True, seed=7)
    E = _symmetric_noise(d, 8)
    E *= noise / np.linalg.norm(E)
    lam, V = robust_power_method(_sym3(w, A) + E, k, rng=0)
    err = recovery_error(A, V)
    # AGHKT Thm. 5.1: ||v_j - v_hat|| <= 8 eps / lambda_j with eps >= ||E||_op
    assert err.max <= 8 * noise / w.min()
    assert np.abs(np.sort(lam) - np.sort(w)).max() <= 5 * noise


def test_whitened_cp_noisy_non_orthogonal():
    d, k, noise = 15, 4, 1e-3
    A, w = _planted(d, k, orthogonal=False, seed=11)
    E = _symmetric_noise(d, 12)
    E *= noise * np.linalg.norm(_sym3(w, A)) / np.linalg.norm(E)
    _, factors = whitened_symmetric_cp(_sym3(w, A) + E, (A * w) @ A.T, k, rng=0)
    assert recovery_error(A, factors).max < 20 * noise


# --- streamed moments and implicit products -------------------------------------------


def _data(xp, n=53, d=5, seed=0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d)) + 0.3
    return X, xp.asarray(X)


def test_streamed_moments_equal_dense(xp):
    X, Xx = _data(xp)
    y = np.random.default_rng(1).standard_normal(X.shape[0])
    W = np.random.default_rng(2).standard_normal((5, 3))
    m = np.asarray([0.5, -1.0, 0.0, 2.0, 0.1])
    M2 = second_moment(Xx, chunk_size=7)
    assert array_namespace(M2) is array_namespace(Xx)
    assert np.allclose(to_host(M2), X.T @ X / len(X))
    cov = second_moment(Xx, center=True, chunk_size=10)
    assert np.allclose(to_host(cov), np.cov(X.T, bias=True))
    M2y = second_moment(Xx, weights=xp.asarray(y), chunk_size=8)
    assert np.allclose(to_host(M2y), (X * y[:, None]).T @ X / len(X))

    dense = np.einsum("n,ni,nj,nl->ijl", y, X, X, X) / len(X)
    sym = sum(
        np.einsum("i,jl->ijl", m, np.eye(5)).transpose(p)
        for p in [(0, 1, 2), (1, 0, 2), (1, 2, 0)]
    )
    T = whitened_third_moment(
        Xx, xp.asarray(W), weights=xp.asarray(y), correction=xp.asarray(m), chunk_size=6
    )
    assert array_namespace(T) is array_namespace(Xx)
    assert np.allclose(to_host(T), np.einsum("ijl,ia,jb,lc->abc", dense - sym, W, W, W))
    assert np.allclose(
        to_host(multilinear(xp.asarray(dense), xp.asarray(W))),
        np.einsum("ijl,ia,jb,lc->abc", dense, W, W, W),
    )


@pytest.mark.parametrize("whitened", [False, True])
def test_implicit_product_equals_dense(xp, whitened):
    X, Xx = _data(xp, n=41, d=6)
    g = np.random.default_rng(3)
    W = xp.asarray(g.standard_normal((6, 3))) if whitened else None
    y, m = xp.asarray(g.standard_normal(41)), xp.asarray(g.standard_normal(6))
    T = SampleMoment3(Xx, W, weights=y, correction=m, chunk_size=9)
    dense = to_host(T.dense())
    V = g.standard_normal((4, T.dim))
    out = T.apply(xp.asarray(V))
    assert array_namespace(out) is array_namespace(Xx)
    assert np.allclose(to_host(out), np.einsum("ijl,rj,rl->ri", dense, V, V))
    assert np.allclose(
        to_host(T.apply(xp.asarray(V[0]))), np.einsum("ijl,j,l->i", dense, V[0], V[0])
    )


def test_whitened_cp_on_sample_tensor_is_exact(xp):
    """Rows ``a_j`` repeated ``r_j`` times: the sample moments are exactly planted ones."""
    A, _ = _planted(9, 4, orthogonal=False, seed=5)
    counts = np.asarray([3, 5, 7, 9])
    X = np.repeat(A.T, counts, axis=0)
    Xx = xp.asarray(X)
    weights, factors = whitened_symmetric_cp(
        SampleMoment3(Xx, chunk_size=5), second_moment(Xx), 4, rng=0
    )
    assert array_namespace(factors) is array_namespace(Xx)
    err = recovery_error(A, factors)
    assert err.max < 1e-8
    assert np.allclose(to_host(weights)[err.permutation], counts / counts.sum())


def test_power_method_namespaces(xp):
    A, w = _planted(6, 3, orthogonal=True, seed=2)
    lam, V = robust_power_method(xp.asarray(_sym3(w, A)), 3, rng=0)
    assert array_namespace(lam, V) is array_namespace(xp.asarray(A))
    assert V.shape == (6, 3) and lam.shape == (3,)
    assert recovery_error(A, V).max < 1e-8


def test_whiten():
    g = np.random.default_rng(0)
    A = g.standard_normal((7, 3))
    M2 = A @ A.T
    W, B = whiten(M2, 3)
    assert np.allclose(W.T @ M2 @ W, np.eye(3))
    assert np.allclose(B.T @ W, np.eye(3))
    assert np.allclose(B, M2 @ W)


# --- seeds ----------------------------------------------------------------------------


def test_seeded_determinism():
    A, w = _planted(12, 4, orthogonal=False, seed=9)
    T = _sym3(w, A) + 1e-3 * _symmetric_noise(12, 1)
    runs = [robust_power_method(T, 4, rng=s) for s in (5, 5, np.random.default_rng(5))]
    for lam, V in runs[1:]:
        assert np.array_equal(lam, runs[0][0]) and np.array_equal(V, runs[0][1])
    other = robust_power_method(T, 4, rng=6)
    assert not np.array_equal(other[1], runs[0][1])
    with pytest.raises(TypeError, match="rng"):
        robust_power_method(T, 4, rng=np.random.RandomState(0))


# --- CP-ALS through tensorly ----------------------------------------------------------


def test_cp_als_non_symmetric(xp):
    g = np.random.default_rng(4)
    A, B, C = (g.standard_normal((s, 3)) for s in (6, 5, 4))
    T = np.einsum("ir,jr,lr->ijl", A, B, C)
    weights, factors, err = cp_als(xp.asarray(T), 3, n_starts=3, rng=0)
    assert err < 1e-6
    assert array_namespace(weights, *factors) is array_namespace(xp.asarray(T))
    for true, est in zip((A, B, C), factors, strict=True):
        assert recovery_error(true, est).max < 1e-5


def test_cp_als_restores_tensorly_backend(monkeypatch):
    import tensorly as tl
    from tensorly.backend.core import Backend
    from tensorly.backend.numpy_backend import NumpyBackend

    monkeypatch.setattr(Backend, "_available_backends", dict(Backend._available_backends))

    class UserBackend(NumpyBackend, backend_name="gradfree_user"):
        pass

    before = tl.get_backend()
    tl.set_backend(UserBackend())
    try:
        T = _sym3(np.ones(2), np.eye(3)[:, :2])
        cp_als(T, 2, n_starts=2, rng=0)
        assert tl.get_backend() == "gradfree_user"
        with pytest.raises(ValueError):
            cp_als(T[0], 2)
        assert tl.get_backend() == "gradfree_user"
    finally:
        tl.set_backend(before)
    assert tl.get_backend() == before


# --- recovery error -------------------------------------------------------------------


def test_recovery_error_permutation_sign_scale():
    g = np.random.default_rng(0)
    A = g.standard_normal((5, 3))
    B = A[:, [2, 0, 1]] * np.asarray([-3.0, 0.5, 2.0])
    err = recovery_error(A, B)
    assert err.max < 1e-12 and err.mean < 1e-12
    assert err.permutation.tolist() == [1, 2, 0]
    miss = recovery_error(np.eye(3), np.eye(3)[:, :2])
    assert np.isclose(miss.max, np.sqrt(2)) and miss.permutation.tolist()[2] == -1
    half = recovery_error(np.eye(2)[:, :1], np.asarray([[1.0], [1.0]]))
    assert np.isclose(half.max, np.sqrt(2 - np.sqrt(2)))


# --- spherical GMM --------------------------------------------------------------------


def _mixture(n, seed=1):
    g = np.random.default_rng(seed)
    means = 2.0 * g.standard_normal((3, 10))
    w = np.asarray([0.2, 0.3, 0.5])
    labels = g.choice(3, size=n, p=w)
    X = means[labels] + np.sqrt(0.5) * g.standard_normal((n, 10))
    return X, labels, means, w


def test_gmm_recovers_planted_mixture():
    X, labels, means, w = _mixture(200_000)
    gmm = SphericalGMM(3, rng=0).fit(X)
    err = recovery_error(means.T, gmm.means_.T)
    p = err.permutation
    assert np.abs(gmm.means_[p] - means).max() < 0.1
    assert np.abs(gmm.weights_[p] - w).max() < 0.02
    assert abs(gmm.sigma2_ - 0.5) < 0.03
    inverse = np.argsort(p)
    assert (inverse[gmm.predict(X[:2000])] == labels[:2000]).mean() > 0.95
    # the fitted mixture scores like the true one, and far better than one Gaussian
    truth = SphericalGMM(3)
    truth.means_, truth.weights_, truth.sigma2_, truth.n_features_in_ = means, w, 0.5, 10
    assert abs(gmm.score(X[:5000]) - truth.score(X[:5000])) < 0.05


def test_gmm_namespace_and_determinism(xp):
    X, _, means, _ = _mixture(20_000, seed=2)
    Xx = xp.asarray(X)
    a = SphericalGMM(3, rng=3).fit(Xx)
    b = SphericalGMM(3, rng=3).fit(Xx)
    assert array_namespace(a.means_, a.weights_, a.predict(Xx)) is array_namespace(Xx)
    assert np.array_equal(to_host(a.means_), to_host(b.means_))
    assert recovery_error(means.T, to_host(a.means_).T).max < 0.1
    assert isinstance(a.score(Xx), float) and isinstance(a.sigma2_, float)


# --- bad input ------------------------------------------------------------------------


def test_bad_input_names_the_argument():
    A, w = _planted(5, 2, orthogonal=True, seed=0)
    T = _sym3(w, A)
    X = np.random.default_rng(0).standard_normal((30, 5))
    with pytest.raises(ValueError, match="`k`"):
        robust_power_method(T, 6)
    with pytest.raises(ValueError, match="`k`"):
        whiten(np.eye(5), 6)
    with pytest.raises(ValueError, match="`k`"):
        whitened_symmetric_cp(T, np.eye(5), 6)
    with pytest.raises(ValueError, match="`n_components`"):
        SphericalGMM(5).fit(X)
    with pytest.raises(ValueError, match="`k`"):
        spherical_gmm_moments(X, 5)
    Xnan = X.copy()
    Xnan[3, 1] = np.nan
    for call in (second_moment, whitened_third_moment, SampleMoment3):
        with pytest.raises(ValueError, match="`X`.*rows \\[3\\]"):
            call(Xnan)
    with pytest.raises(ValueError, match="Input X contains NaN"):  # scikit-learn's check
        SphericalGMM(2).fit(Xnan)
    with pytest.raises(ValueError, match="`X`"):
        second_moment(X[0])
    with pytest.raises(ValueError, match="`T`"):
        robust_power_method(T[:, :, :3], 2)
    with pytest.raises(ValueError, match="`T`"):
        robust_power_method(np.full((2, 2, 2), np.nan), 1)
    with pytest.raises(ValueError, match="`M2`"):
        whitened_symmetric_cp(T, np.eye(4), 2)
    with pytest.raises(ValueError, match="`M2`"):
        whiten(np.diag([1.0, 0.0, 0.0]), 2)
    with pytest.raises(ValueError, match="`M2`"):
        whiten(np.triu(np.ones((3, 3))), 2)
    with pytest.raises(ValueError, match="`weights`"):
        second_moment(X, weights=np.ones(29))
    with pytest.raises(ValueError, match="`W`"):
        whitened_third_moment(X, np.ones((4, 2)))
    with pytest.raises(ValueError, match="`correction`"):
        SampleMoment3(X, correction=np.ones(4))
    with pytest.raises(ValueError, match="`A_est`"):
        recovery_error(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="`n_restarts`"):
        robust_power_method(T, 2, n_restarts=0)
    with pytest.raises(ValueError, match="`rank`"):
        cp_als(T, 0)
    with pytest.raises(ValueError, match="not fitted"):
        SphericalGMM(2).predict(X)
    gmm = SphericalGMM(2, rng=0).fit(X)
    with pytest.raises(ValueError, match="X has 4 features, but SphericalGMM is expecting 5"):
        gmm.predict(X[:, :4])
