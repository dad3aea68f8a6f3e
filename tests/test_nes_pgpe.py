"""SNES, xNES and PGPE (+ ClipUp): contract checks, hand-computed updates, convergence."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from array_api_compat import array_namespace
from scipy.linalg import expm

from gradfree import minimize
from gradfree._array import to_host
from gradfree.es._cma_common import default_popsize
from gradfree.es._nes_common import nes_utilities, utility_table
from gradfree.es._pgpe import PGPE, ClipUp
from gradfree.es._snes import SNES
from gradfree.es._xnes import XNES, expm_symmetric
from gradfree.testing import Rotated, assert_states_equal, ellipsoid, rosenbrock, sphere
from gradfree.updates import Adam

SMALL = {
    "snes": (SNES, {"popsize": 8}),
    "snes-mirrored": (SNES, {"popsize": 8, "mirrored": True}),
    "xnes": (XNES, {"popsize": 8}),
    "pgpe": (PGPE, {"popsize": 8}),
}
NAMES = sorted(SMALL)


def make(name, **extra):
    cls, kw = SMALL[name]
    return cls(**{**kw, **extra})


def x0_for(xp, dtype=None):
    return xp.asarray([0.5, -1.0, 2.0], dtype=dtype or xp.float64)


# -- contract (as tests/test_contract.py calls a strategy) ---------------------------
@pytest.mark.parametrize("name", NAMES)
def test_ask_shapes_namespace_dtype(name, xp):
    strategy = make(name)
    for dtype in (xp.float32, xp.float64):
        x0 = x0_for(xp, dtype)
        state = strategy.init(x0, rng=np.random.default_rng(0))
        X, state = strategy.ask(state, rng=np.random.default_rng(1))
        assert X.shape == (8, 3)
        assert array_namespace(X) is array_namespace(x0)
        assert X.dtype == x0.dtype
        state = strategy.tell(state, X, sphere(X))
        assert state.mean.dtype == x0.dtype and state.sigma.dtype == x0.dtype


@pytest.mark.parametrize("name", NAMES)
def test_tell_is_deterministic_and_pure(name, xp):
    strategy = make(name)
    x0 = x0_for(xp)
    state = strategy.init(x0, rng=np.random.default_rng(0))
    X, state = strategy.ask(state, rng=np.random.default_rng(1))
    values = sphere(X)
    X_copy, v_copy, mean_copy = (to_host(a).copy() for a in (X, values, state.mean))
    assert_states_equal(strategy.tell(state, X, values), strategy.tell(state, X, values))
    np.testing.assert_array_equal(to_host(X), X_copy)
    np.testing.assert_array_equal(to_host(values), v_copy)
    np.testing.assert_array_equal(to_host(state.mean), mean_copy)
    with pytest.raises(ValueError, match="`tell`"):
        strategy.tell(replace(state, noise=None), X, values)


@pytest.mark.parametrize("name", NAMES)
def test_float32_run_stays_float32(name, xp):
    x0 = x0_for(xp, xp.float32)
    res = minimize(sphere, x0, method=make(name), workers="vectorized", rng=0, maxiter=5)
    assert array_namespace(res.x) is array_namespace(x0)
    assert res.x.dtype == xp.float32 and res.state.mean.dtype == xp.float32


@pytest.mark.parametrize("name", NAMES)
def test_inf_ranks_worst(name):
    strategy = make(name)
    state = strategy.init(x0_for(np), rng=np.random.default_rng(0))
    X, state = strategy.ask(state, rng=np.random.default_rng(1))
    values = sphere(X)
    worst = values.copy()
    worst[0] = values.max() + 1.0
    inf = values.copy()
    inf[0] = np.inf
    assert_states_equal(strategy.tell(state, X, worst), strategy.tell(state, X, inf))


def test_defaults_follow_table_1():
    d = 10
    x0 = np.zeros(d)
    snes = SNES().init(x0, rng=None)
    xnes = XNES().init(x0, rng=None)
    assert snes.popsize == xnes.popsize == 4 + math.floor(3 * math.log(d)) == 10
    assert snes.stdev_learning_rate == pytest.approx((3 + math.log(d)) / (5 * math.sqrt(d)))
    eta = 3 * (3 + math.log(d)) / (5 * d * math.sqrt(d))
    assert xnes.stdev_learning_rate == xnes.shape_learning_rate == pytest.approx(eta)
    assert SNES(mirrored=True).init(np.zeros(3), rng=None).popsize == 8  # 7 -> even
    assert PGPE().init(np.zeros(3), rng=None).popsize == 8
    assert default_popsize(2) == 6


@pytest.mark.parametrize(
    ("cls", "kw", "arg"),
    [
        (SNES, {"popsize": 1}, "popsize"),
        (SNES, {"popsize": 7, "mirrored": True}, "popsize"),
        (SNES, {"sigma0": 0.0}, "sigma0"),
        (SNES, {"stdev_learning_rate": -1.0}, "stdev_learning_rate"),
        (SNES, {"mirrored": 1}, "mirrored"),
        (XNES, {"popsize": 2.0}, "popsize"),
        (XNES, {"shape_learning_rate": float("nan")}, "shape_learning_rate"),
        (XNES, {"center_learning_rate": 0}, "center_learning_rate"),
        (PGPE, {"popsize": 7}, "popsize"),
        (PGPE, {"stdev_max_change": 1.0}, "stdev_max_change"),
        (PGPE, {"stdev_learning_rate": 0.0}, "stdev_learning_rate"),
        (PGPE, {"optimizer": "rmsprop"}, "optimizer"),
        (PGPE, {"optimizer": object()}, "optimizer"),
        (PGPE, {"optimizer": Adam(), "center_learning_rate": 0.1}, "center_learning_rate"),
        (ClipUp, {"momentum": 1.0}, "momentum"),
        (ClipUp, {"max_speed": -1.0}, "max_speed"),
    ],
)
def test_bad_options_name_the_argument(cls, kw, arg):
    with pytest.raises((TypeError, ValueError), match=f"`{arg}`"):
        cls(**kw)


def test_stop_when_sigma_collapses():
    x0 = np.zeros(3)
    for strategy in (SNES(), PGPE()):
        state = strategy.init(x0, rng=None)
        assert strategy.stop(state) is None
        assert "sigma collapsed" in strategy.stop(replace(state, sigma=np.full(3, 1e-13)))
    xnes = XNES()
    state = xnes.init(x0, rng=None)
    assert xnes.stop(state) is None
    assert "sigma collapsed" in xnes.stop(replace(state, sigma=np.asarray(1e-13)))


def test_mirrored_snes_samples_pairs():
    strategy = SNES(popsize=6, mirrored=True)
    state = strategy.init(np.ones(4), rng=None)
    X, _ = strategy.ask(state, rng=np.random.default_rng(0))
    np.testing.assert_allclose(X[:3] - 1.0, -(X[3:] - 1.0), atol=1e-15)


# -- hand checks against the papers' formulas ----------------------------------------
def paper_utilities(f):
    """Table 1 written out: rank k = 1 is the lowest value."""
    n = len(f)
    raw = [max(0.0, math.log(n / 2 + 1) - math.log(k)) for k in range(1, n + 1)]
    table = [r / sum(raw) - 1 / n for r in raw]
    u = np.empty(n)
    for k, i in enumerate(np.argsort(f, kind="stable")):
        u[i] = table[k]
    return u


def test_utilities_match_the_paper():
    f = np.asarray([0.3, -2.0, 5.0, 0.1, np.inf, 1.0, 7.0])
    u = nes_utilities(f)
    np.testing.assert_allclose(u, paper_utilities(f), atol=1e-15)
    assert abs(u.sum()) < 1e-15 and u[1] == u.max() and u[4] == u.min()
    assert np.all(np.diff(utility_table(12)) <= 0)
    # ties broken by position
    np.testing.assert_array_equal(nes_utilities(np.ones(4)), utility_table(4))


def test_snes_update_by_hand():
    rng = np.random.default_rng(5)
    d, n = 3, 5
    strategy = SNES(popsize=n, center_learning_rate=0.7, stdev_learning_rate=0.3)
    state = replace(
        strategy.init(np.asarray([1.0, -2.0, 0.5]), rng=None),
        sigma=np.asarray([0.5, 2.0, 1.5]),
    )
    X, state = strategy.ask(state, rng=np.random.default_rng(9))
    s = np.random.default_rng(9).standard_normal((n, d))
    mu, sig = np.asarray([1.0, -2.0, 0.5]), np.asarray([0.5, 2.0, 1.5])
    np.testing.assert_allclose(X, mu + sig * s, rtol=1e-15)
    f = rng.standard_normal(n)
    u = paper_utilities(f)
    mu_new = mu + 0.7 * sig * sum(u[k] * s[k] for k in range(n))
    sig_new = sig * np.exp(0.3 / 2 * sum(u[k] * (s[k] ** 2 - 1) for k in range(n)))
    new = strategy.tell(state, X, f)
    np.testing.assert_allclose(new.mean, mu_new, rtol=1e-13)
    np.testing.assert_allclose(new.sigma, sig_new, rtol=1e-13)
    assert new.generation == 1 and new.noise is None


def test_xnes_update_by_hand():
    d, n = 3, 6
    strategy = XNES(
        popsize=n, center_learning_rate=0.9, stdev_learning_rate=0.2, shape_learning_rate=0.4
    )
    A = np.asarray([[1.0, 0.3, 0.0], [-0.2, 1.1, 0.4], [0.1, 0.0, 0.8]])
    B = A / np.linalg.det(A) ** (1 / d)  # det(B) = 1, not symmetric
    mu, sigma = np.asarray([0.2, -0.4, 1.0]), 1.7
    state = replace(strategy.init(mu, rng=None), sigma=np.asarray(sigma), B=B)
    X, state = strategy.ask(state, rng=np.random.default_rng(3))
    s = np.random.default_rng(3).standard_normal((n, d))
    np.testing.assert_allclose(X, [mu + sigma * B @ sk for sk in s], rtol=1e-14)
    f = np.random.default_rng(4).standard_normal(n)
    u = paper_utilities(f)
    g_delta = sum(u[k] * s[k] for k in range(n))
    g_M = sum(u[k] * (np.outer(s[k], s[k]) - np.eye(d)) for k in range(n))
    g_sigma = np.trace(g_M) / d
    g_B = g_M - g_sigma * np.eye(d)
    new = strategy.tell(state, X, f)
    np.testing.assert_allclose(new.mean, mu + 0.9 * sigma * B @ g_delta, rtol=1e-13)
    np.testing.assert_allclose(new.sigma, sigma * np.exp(0.2 / 2 * g_sigma), rtol=1e-13)
    np.testing.assert_allclose(new.B, B @ expm(0.4 / 2 * g_B), rtol=1e-12, atol=1e-14)
    assert np.linalg.det(new.B) == pytest.approx(1.0, abs=1e-12)


def test_expm_symmetric_matches_scipy(xp):
    S = np.random.default_rng(0).standard_normal((4, 4))
    S = S + S.T
    got = expm_symmetric(xp.asarray(S))
    assert array_namespace(got) is array_namespace(xp.asarray(S))
    np.testing.assert_allclose(to_host(got), expm(S), rtol=1e-12)


def test_clipup_by_hand():
    rule = ClipUp(learning_rate=0.1, max_speed=0.15, momentum=0.8)
    g1, g2 = np.asarray([3.0, 4.0]), np.asarray([0.0, -2.0])
    step, state = rule.step(g1, rule.init(np.zeros(2)))
    np.testing.assert_allclose(step, -0.1 * g1 / 5.0)
    v = 0.8 * step - 0.1 * g2 / 2.0  # = (-0.048, 0.036): norm 0.06, not clipped
    step, state = rule.step(g2, state)
    np.testing.assert_allclose(step, v)
    for _ in range(30):
        step, state = rule.step(g1, state)
    assert np.linalg.norm(step) == pytest.approx(0.15)  # clipped at max_speed
    zero, _ = rule.step(np.zeros(2), rule.init(np.zeros(2)))
    np.testing.assert_array_equal(zero, np.zeros(2))  # no NaN from a zero gradient
    assert ClipUp(learning_rate=0.2).step(g1, ClipUp().init(np.zeros(2)))[0] @ g1 < 0


def test_pgpe_update_by_hand():
    d, h = 3, 4
    strategy = PGPE(
        popsize=2 * h, center_learning_rate=0.05, stdev_learning_rate=0.1, stdev_max_change=0.2
    )
    mu, sig = np.asarray([1.0, 0.0, -1.0]), np.asarray([0.3, 1.0, 2.0])
    state = replace(strategy.init(mu, rng=None), sigma=sig)
    X, state = strategy.ask(state, rng=np.random.default_rng(7))
    eps = sig * np.random.default_rng(7).standard_normal((h, d))
    np.testing.assert_allclose(X, np.concatenate([mu + eps, mu - eps]), rtol=1e-15)
    f = np.random.default_rng(8).standard_normal(2 * h)
    # fitness = -f ranked to [-0.5, 0.5] (best +0.5), the form of Sehnke et al.'s update
    fit = -(np.argsort(np.argsort(f)) / (2 * h - 1) - 0.5)
    fp, fm = fit[:h], fit[h:]
    ascent_mu = sum((fp[k] - fm[k]) / 2 * eps[k] for k in range(h)) / h
    ascent_sigma = sum((fp[k] + fm[k]) / 2 * (eps[k] ** 2 - sig**2) / sig for k in range(h))
    ascent_sigma = ascent_sigma / h
    velocity = 0.05 * ascent_mu / np.linalg.norm(ascent_mu)  # ClipUp from rest
    sig_new = np.clip(sig + 0.1 * ascent_sigma, 0.8 * sig, 1.2 * sig)
    new = strategy.tell(state, X, f)
    np.testing.assert_allclose(new.mean, mu + velocity, rtol=1e-13)
    np.testing.assert_allclose(new.sigma, sig_new, rtol=1e-13)


# -- convergence (fixed seeds; each case well under 2 s) ------------------------------
CASES = [
    # strategy, problem, x0, maxiter, target on f
    (SNES(), sphere, np.ones(10), 400, 1e-8),
    (XNES(), sphere, np.ones(10), 1000, 1e-8),
    (XNES(), Rotated(ellipsoid, 10, seed=0), np.ones(10), 1500, 1e-6),
    (XNES(), rosenbrock, np.zeros(2), 500, 1e-8),
    # ClipUp caps each step at 2 * center_learning_rate, so PGPE stalls at f ~ d (lr)^2
    (PGPE(popsize=20, center_learning_rate=0.02), sphere, np.ones(10), 1000, 1e-3),
    (PGPE(), sphere, np.ones(10), 1000, 0.2),
]


@pytest.mark.parametrize(
    ("strategy", "fun", "x0", "maxiter", "ftarget"),
    CASES,
    ids=[f"{type(c[0]).__name__}-{getattr(c[1], '__name__', 'rotated')}" for c in CASES],
)
def test_converges(strategy, fun, x0, maxiter, ftarget):
    res = minimize(fun, x0, method=strategy, workers="vectorized", rng=0, maxiter=maxiter)
    assert res.fun < ftarget, f"f={res.fun:.3g} after {res.nfev} evaluations"
