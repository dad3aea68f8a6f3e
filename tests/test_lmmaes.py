"""LM-MA-ES: contract on every namespace, Algorithm 1 replayed, convergence, O(m n) memory."""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import numpy as np
import pytest
from array_api_compat import array_namespace, is_array_api_obj

from gradfree import Status, minimize
from gradfree._array import to_host
from gradfree.es._lmmaes import LMMAES, _Factors, lmmaes_params
from gradfree.testing import assert_states_equal, ellipsoid, rosenbrock, sphere

CONFIG = {"popsize": 8, "sigma0": 0.3}


def run_generations(strategy, x0, generations, rng=0):
    rng = np.random.default_rng(rng)
    state = strategy.init(x0, rng=rng)
    for _ in range(generations):
        X, state = strategy.ask(state, rng=rng)
        state = strategy.tell(state, X, sphere(X))
    return state, rng


# -- contract ------------------------------------------------------------------------
@pytest.mark.parametrize("generations", [0, 3])
def test_ask_shapes_namespace_dtype(xp, generations):
    strategy = LMMAES(**CONFIG)
    for dtype in (xp.float32, xp.float64):
        x0 = xp.asarray([0.5, -1.0, 2.0], dtype=dtype)
        state, rng = run_generations(strategy, x0, generations)
        X, state = strategy.ask(state, rng=rng)
        assert X.shape == (8, 3) and X.dtype == dtype
        assert array_namespace(X) is array_namespace(x0)
        for name in ("mean", "ps", "M", "z"):
            value = getattr(state, name)
            assert value.dtype == dtype and array_namespace(value) is array_namespace(x0)
        assert state.M.shape == (state.params.m, 3)


def test_tell_is_deterministic(xp):
    strategy = LMMAES(**CONFIG)
    state, rng = run_generations(strategy, xp.asarray([0.5, -1.0, 2.0]), 4)
    X, state = strategy.ask(state, rng=rng)
    values = sphere(X)
    assert_states_equal(strategy.tell(state, X, values), strategy.tell(state, X, values))


def test_namespaces_agree():
    strict = pytest.importorskip("array_api_strict")
    a, _ = run_generations(LMMAES(**CONFIG), np.asarray([0.5, -1.0, 2.0]), 6, rng=1)
    b, _ = run_generations(LMMAES(**CONFIG), strict.asarray([0.5, -1.0, 2.0]), 6, rng=1)
    for name in ("mean", "ps", "M"):
        np.testing.assert_allclose(to_host(getattr(b, name)), getattr(a, name), rtol=1e-12)
    assert b.sigma == pytest.approx(a.sigma, rel=1e-12)


def test_inputs_not_modified():
    strategy = LMMAES(**CONFIG)
    state, rng = run_generations(strategy, np.asarray([0.5, -1.0, 2.0]), 3)
    X, state = strategy.ask(state, rng=rng)
    values = sphere(X)
    copies = [a.copy() for a in (X, values, state.mean, state.M, state.ps, state.z)]
    strategy.tell(state, X, values)
    for before, after in zip(copies, (X, values, state.mean, state.M, state.ps, state.z)):
        np.testing.assert_array_equal(before, after)


def test_tell_needs_the_asked_population():
    strategy = LMMAES(**CONFIG)
    state = strategy.init(np.zeros(3), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="ask"):
        strategy.tell(state, np.zeros((8, 3)), np.zeros(8))


@pytest.mark.parametrize(
    ("kw", "exc"),
    [
        ({"active": True}, ValueError),
        ({"n_vectors": 0}, ValueError),
        ({"n_vectors": 2.5}, TypeError),
        ({"sigma0": -1.0}, ValueError),
        ({"popsize": 1}, ValueError),
    ],
)
def test_bad_options(kw, exc):
    with pytest.raises(exc, match=next(iter(kw))):
        LMMAES(**kw)


# -- the algorithm -------------------------------------------------------------------
def test_default_parameters_follow_the_paper():
    """Algorithm 1, line 1, at n = 1000, lam = 24 (no safeguard active)."""
    p = lmmaes_params(1000, 24)
    assert p.m == 4 + math.floor(3 * math.log(1000)) == 24 and p.mu == 12
    raw = np.log(13) - np.log(np.arange(1, 13))
    np.testing.assert_allclose(p.weights[:12], raw / raw.sum())
    assert (p.weights[12:] == 0).all()
    assert p.mueff == pytest.approx(1 / (p.weights**2).sum())
    assert p.cs == pytest.approx(2 * 24 / 1000)
    np.testing.assert_allclose(p.c_d, 1 / (1.5 ** np.arange(24) * 1000))
    np.testing.assert_allclose(p.c_c, 24 / (4.0 ** np.arange(24) * 1000))


def test_small_dimension_safeguards():
    p = lmmaes_params(3, 8)
    assert p.cs == 0.5 and p.c_c.max() == 1.0 and p.c_d.max() == 0.25
    assert np.all(p.c_d < 1) and np.all(p.c_c <= 1)


@pytest.mark.parametrize("k", [0, 1, 5, 9])
def test_closed_form_matches_the_product_of_factors(k):
    """``_Factors`` equals ``P_k ... P_1`` with ``P_j = (1 - c_j) I + c_j m_j m_j^T``."""
    rng = np.random.default_rng(k)
    n, m = 12, 9
    M = 2 * rng.standard_normal((m, n))
    c_d = lmmaes_params(n, 6, m).c_d
    explicit = np.eye(n)
    for j in range(k):
        explicit = ((1 - c_d[j]) * np.eye(n) + c_d[j] * np.outer(M[j], M[j])) @ explicit
    factors = _Factors.of(M, c_d, k)
    Z = rng.standard_normal((7, n))
    np.testing.assert_allclose(factors.apply(Z, 0.5), 0.5 * Z @ explicit.T, rtol=1e-12)
    np.testing.assert_allclose(factors.variances(Z[0]), np.diag(explicit @ explicit.T), rtol=1e-12)


def algorithm_1(x0, sigma, generations, rng):
    """Loshchilov, Glasmachers & Beyer, Algorithm 1, line by line (one candidate at a time)."""
    n = x0.shape[0]
    lam = m = 4 + math.floor(3 * math.log(n))
    mu = lam // 2
    w = math.log(mu + 1) - np.log(np.arange(1, mu + 1))
    w /= w.sum()
    mu_w = 1 / (w**2).sum()
    c_sigma = 2 * lam / n
    c_d = 1 / (1.5 ** np.arange(m) * n)
    c_c = lam / (4.0 ** np.arange(m) * n)
    y, p_sigma, M = x0.copy(), np.zeros(n), np.zeros((m, n))
    for t in range(generations):
        z, d, f = np.empty((lam, n)), np.empty((lam, n)), np.empty(lam)
        Z = rng.standard_normal((lam, n))
        for i in range(lam):
            z[i] = Z[i]
            d[i] = z[i]
            for j in range(min(t, m)):
                d[i] = (1 - c_d[j]) * d[i] + c_d[j] * M[j] * (M[j] @ d[i])
            f[i] = sphere(y + sigma * d[i])
        order = np.argsort(f, kind="stable")[:mu]
        y = y + sigma * (w @ d[order])
        p_sigma = (1 - c_sigma) * p_sigma + math.sqrt(mu_w * c_sigma * (2 - c_sigma)) * (
            w @ z[order]
        )
        for j in range(m):
            M[j] = (1 - c_c[j]) * M[j] + math.sqrt(mu_w * c_c[j] * (2 - c_c[j])) * (w @ z[order])
        sigma = sigma * math.exp(c_sigma / 2 * (p_sigma @ p_sigma / n - 1))
    return y, sigma, p_sigma, M


def test_replays_algorithm_1():
    """At n = 80 (lam = m = 17, no safeguard active) 25 generations match the paper's
    pseudocode, past the point where all m vectors are in use."""
    x0 = np.linspace(-1.0, 1.0, 80)
    y, sigma, p_sigma, M = algorithm_1(x0, 0.3, 25, np.random.default_rng(4))
    state, _ = run_generations(LMMAES(sigma0=0.3), x0, 25, rng=4)
    np.testing.assert_allclose(state.mean, y, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(state.ps, p_sigma, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(state.M, M, rtol=1e-9, atol=1e-12)
    assert state.sigma == pytest.approx(sigma, rel=1e-9)


# -- convergence (budgets measured for rng=0, with margin) ---------------------------
def evaluations_to(fun, x0, target, budget):
    """Run until the best value is below `target` (or `budget` evaluations)."""

    def reached(intermediate_result):
        if intermediate_result.fun < target:
            raise StopIteration

    res = minimize(
        fun, x0, method=LMMAES(), rng=0, workers="vectorized", maxfev=budget, callback=reached
    )
    assert res.fun < target, (res.fun, res.nfev, res.message)
    return res.nfev


def test_sphere_100():
    assert evaluations_to(sphere, np.ones(100), 1e-8, 12_000) < 12_000


def test_ellipsoid_50():
    """Condition 1e2: LM-MA-ES learns m << n directions, so an axis-parallel ellipsoid
    with 50 distinct scales is slow (condition 1e6 needs about 8e5 evaluations)."""
    fun = partial(ellipsoid, condition=1e2)
    assert evaluations_to(fun, np.ones(50), 1e-6, 16_000) < 16_000


def test_rosenbrock_10():
    assert evaluations_to(rosenbrock, np.zeros(10), 1e-6, 12_000) < 12_000


def test_stops_by_itself():
    res = minimize(sphere, np.ones(30), method=LMMAES(), rng=0, workers="vectorized")
    assert res.success and res.status == Status.CONVERGED and res.fun < 1e-10


@pytest.mark.parametrize(
    ("options", "fun", "word"),
    [
        ({"tolfun": 1e-3}, sphere, "tolfun"),
        ({"tolfun": None, "tolfunhist": None, "tolx": 1e-4}, sphere, "tolx"),
        (
            {"tolupsigma": 1e3, "tolfun": None, "tolfunhist": None},
            lambda X: -np.abs(X[:, 0]),
            "tolupsigma",
        ),
    ],
)
def test_each_stop_rule_is_reported(options, fun, word):
    res = minimize(
        fun, np.ones(20), method=LMMAES(**options), rng=0, workers="vectorized", maxiter=5000
    )
    assert res.message.startswith(word), res.message
    assert res.status == Status.CONVERGED


def test_noeffectcoord_fires_at_floating_point_resolution():
    res = minimize(
        lambda X: np.abs(X[:, 0] - 1e8),
        np.full(20, 1e8),
        method=LMMAES(sigma0=1e-9, tolx=None, tolfun=None, tolfunhist=None, tolstagnation=None),
        rng=0,
        workers="vectorized",
        maxiter=3000,
    )
    assert res.message.startswith("noeffectcoord"), res.message


# -- memory --------------------------------------------------------------------------
def test_state_holds_no_n_by_n_array():
    n = 20_000
    strategy = LMMAES()
    state, rng = run_generations(strategy, np.zeros(n), 3)
    _, pending = strategy.ask(state, rng=rng)
    assert state.M.shape == (strategy_m := state.params.m, n) and strategy_m < 50
    for s in (state, pending):
        for f in dataclasses.fields(s):
            value = getattr(s, f.name)
            if is_array_api_obj(value):
                assert value.size < 50 * n, f.name
        for f in dataclasses.fields(s.params):
            value = getattr(s.params, f.name)
            if is_array_api_obj(value):
                assert value.size < 50 * n, f.name


def test_n_vectors_option():
    state, _ = run_generations(LMMAES(n_vectors=3), np.ones(40), 5)
    assert state.M.shape == (3, 40) and state.params.m == 3
