"""Box bounds as a wrapper strategy: the three mappings and `Bounded` end to end."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree import minimize
from gradfree._array import to_host
from gradfree.es import CMAES, OpenES
from gradfree.testing import assert_states_equal, sphere
from gradfree.wrappers._bound_maps import (
    BOUND_METHODS,
    clip,
    reflect,
    transform,
    transform_inverse,
)
from gradfree.wrappers._bounded import Bounded, BoundedState

MAPS = {"transform": transform, "clip": clip, "reflect": reflect}
INF = np.inf
# finite, narrow and far from 0, lower-only, upper-only, unbounded, asymmetric, wide
LB = np.array([1.0, 1000.0, 1.0, -INF, -INF, -2.0, -1e-3])
UB = np.array([2.0, 1000.001, INF, -1.0, INF, 0.5, 5e4])


def _margins(lb, ub):
    """pycma 4.x margins: min((u - l) / 2, max(1, |bound|) / 20) (host, finite sides only)."""
    with np.errstate(invalid="ignore"):
        half = np.where(np.isfinite(lb) & np.isfinite(ub), (ub - lb) / 2, INF)
    al = np.minimum(half, np.maximum(1.0, np.abs(np.where(np.isfinite(lb), lb, 0))) / 20)
    au = np.minimum(half, np.maximum(1.0, np.abs(np.where(np.isfinite(ub), ub, 0))) / 20)
    return al, au


def _points(rng, n, scale):
    """Points around the boxes: centers where finite, spread `scale` per row."""
    lo, hi = np.where(np.isfinite(LB), LB, 0.0), np.where(np.isfinite(UB), UB, 0.0)
    center = np.where(np.isfinite(LB) & np.isfinite(UB), (lo + hi) / 2, lo + hi)
    return center + rng.standard_normal((n, LB.size)) * scale


def _pycma():
    with warnings.catch_warnings():  # cma warns at import when matplotlib is missing
        warnings.simplefilter("ignore")
        return pytest.importorskip("cma.boundary_handler")


# -- mappings ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", BOUND_METHODS)
def test_map_is_identity_inside(name, xp, rng):
    lo, hi = LB.copy(), UB.copy()
    if name == "transform":  # identity only on the linear part [l + al, u - au]
        al, au = _margins(LB, UB)
        lo, hi = lo + al, hi - au
    lo, hi = np.where(np.isfinite(lo), lo, -50.0), np.where(np.isfinite(hi), hi, 50.0)
    Y = lo + (hi - lo) * rng.uniform(size=(200, LB.size))
    Y = np.concatenate([Y, lo[None], hi[None]])
    X = MAPS[name](xp.asarray(Y), xp.asarray(LB), xp.asarray(UB))
    assert array_namespace(X) is array_namespace(xp.asarray(Y))
    np.testing.assert_array_equal(to_host(X), Y)


@pytest.mark.parametrize("name", BOUND_METHODS)
@pytest.mark.parametrize("scale", [1.0, 1e3, 1e8])
def test_map_lands_in_box(name, scale, xp, rng):
    Y = _points(rng, 500, scale)
    for dtype in (xp.float64, xp.float32):
        X = MAPS[name](xp.asarray(Y, dtype=dtype), xp.asarray(LB), xp.asarray(UB))
        assert X.dtype == dtype and X.shape == Y.shape
        host = to_host(X).astype(np.float64)
        lb, ub = LB.astype(to_host(X).dtype), UB.astype(to_host(X).dtype)
        assert np.isfinite(host).all()
        assert (host >= lb).all() and (host <= ub).all(), name


@pytest.mark.parametrize("name", ["transform", "reflect"])
def test_map_is_periodic(name, xp, rng):
    lb, ub = np.array([1.0, -3.0, 0.0]), np.array([2.0, 7.0, 1e-3])
    al, au = _margins(lb, ub)
    period = 2 * (ub - lb + al + au) if name == "transform" else 2 * (ub - lb)
    Y = _points(rng, 100, 5.0)[:, :3]
    f = MAPS[name]
    base = to_host(f(xp.asarray(Y), xp.asarray(lb), xp.asarray(ub)))
    for k in (-3, 1, 2, 17):
        moved = to_host(f(xp.asarray(Y + k * period), xp.asarray(lb), xp.asarray(ub)))
        np.testing.assert_allclose(moved, base, atol=1e-9 * (1 + abs(k)))


def test_one_sided_maps_mirror():
    lb, ub = np.array([1.0, -INF]), np.array([INF, -1.0])
    Y = np.array([[-9.0, 9.0], [1e6, -1e6]])
    np.testing.assert_array_equal(reflect(Y, lb, ub), [[11.0, -11.0], [1e6, -1e6]])
    np.testing.assert_array_equal(clip(Y, lb, ub), [[1.0, -1.0], [1e6, -1e6]])
    al, au = _margins(lb, ub)
    mirrored = [[2 * (1 - al[0]) + 9.0, 2 * (-1 + au[1]) - 9.0], [1e6, -1e6]]
    np.testing.assert_allclose(transform(Y, lb, ub), mirrored)


def test_transform_is_continuous_at_the_joins(xp):
    """Value and slope agree on both sides of every join (margins, mirrors, period ends)."""
    lb, ub = np.array([1.0, 0.0, -INF]), np.array([2.0, INF, 3.0])
    al, au = _margins(lb, ub)
    w = np.where(np.isfinite(ub - lb), ub - lb, 0.0)
    start = lb - 2 * al - w / 2
    joins = [lb + al, lb - al, ub - au, ub + au, start, start + 2 * (w + al + au)]
    h = 1e-7
    for j in joins:
        j = np.where(np.isfinite(j), j, 0.0)
        f = [
            to_host(transform(xp.asarray(j + s), xp.asarray(lb), xp.asarray(ub)))
            for s in (-2 * h, -h, h, 2 * h)
        ]
        np.testing.assert_allclose(f[1], f[2], atol=1e-6)  # continuous
        left, right = (f[1] - f[0]) / h, (f[3] - f[2]) / h
        np.testing.assert_allclose(left, right, atol=1e-5)  # C^1


def test_reflect_is_continuous_at_the_bounds(xp):
    lb, ub = np.array([1.0, 0.0]), np.array([2.0, INF])
    for j in (lb, np.where(np.isfinite(ub), ub, 5.0)):
        a, b = (
            to_host(reflect(xp.asarray(j + s), xp.asarray(lb), xp.asarray(ub)))
            for s in (-1e-9, 1e-9)
        )
        np.testing.assert_allclose(a, b, atol=1e-8)


@pytest.mark.parametrize("scale", [0.1, 1.0, 30.0, 1e4, 1e8])
def test_transform_agrees_with_pycma(scale, xp, rng):
    bh = _pycma()
    pycma = bh.BoundTransform([LB, UB])
    Y = _points(rng, 300, scale)
    ours = to_host(transform(xp.asarray(Y), xp.asarray(LB), xp.asarray(UB)))
    theirs = np.array([pycma.transform(y) for y in Y])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * max(1.0, scale))
    back = to_host(transform_inverse(xp.asarray(theirs), xp.asarray(LB), xp.asarray(UB)))
    np.testing.assert_allclose(back, [pycma.inverse(x) for x in theirs], rtol=1e-13, atol=1e-13)


def test_transform_agrees_with_pycma_on_random_boxes(rng):
    bh = _pycma()
    for _ in range(20):
        lb = rng.standard_normal(6) * rng.choice([1.0, 1e3])
        ub = lb + rng.exponential(size=6) * rng.choice([1e-6, 1.0, 100.0])
        pycma = bh.BoundTransform([lb, ub])
        Y = lb + (ub - lb) * rng.standard_normal((50, 6)) * 5
        theirs = np.array([pycma.transform(y) for y in Y])
        np.testing.assert_allclose(transform(Y, lb, ub), theirs, rtol=0, atol=1e-9)


def test_transform_inverse_round_trip(xp, rng):
    X = to_host(transform(xp.asarray(_points(rng, 400, 3.0)), xp.asarray(LB), xp.asarray(UB)))
    Y = transform_inverse(xp.asarray(X), xp.asarray(LB), xp.asarray(UB))
    al, au = _margins(LB, UB)
    lo, hi = np.where(np.isfinite(LB), LB - al, -INF), np.where(np.isfinite(UB), UB + au, INF)
    assert (to_host(Y) >= lo).all() and (to_host(Y) <= hi).all()  # the invertible domain
    again = to_host(transform(Y, xp.asarray(LB), xp.asarray(UB)))
    np.testing.assert_allclose(again, X, rtol=1e-12, atol=1e-9)


def test_fixed_coordinate():
    lb, ub = np.array([0.0, 3.0]), np.array([1.0, 3.0])
    Y = np.array([[0.5, -7.0], [0.5, 1e9]])
    for f in MAPS.values():
        np.testing.assert_array_equal(f(Y, lb, ub)[:, 1], [3.0, 3.0])
    np.testing.assert_array_equal(transform_inverse(np.array([0.5, 3.0]), lb, ub), [0.5, 3.0])


# -- Bounded end to end ---------------------------------------------------------------
def _recording(fun, seen):
    def wrapped(X):
        seen.append(to_host(X).copy())
        return fun(X)

    return wrapped


def _shifted_sphere(center):
    def fun(X):
        xp = array_namespace(X)
        return xp.sum((X - xp.asarray(center, dtype=X.dtype)) ** 2, axis=-1)

    return fun


@pytest.mark.parametrize("name", BOUND_METHODS)
def test_optimum_outside_goes_to_the_corner(name, xp):
    lb, ub = np.ones(5), np.full(5, 2.0)
    seen: list[np.ndarray] = []
    res = minimize(
        _recording(sphere, seen),
        xp.asarray(np.full(5, 1.5)),
        method=Bounded(CMAES(), xp.asarray(lb), xp.asarray(ub), method=name),
        workers="vectorized",
        rng=0,
        maxiter=400,
    )
    evaluated = np.concatenate(seen)
    assert (evaluated >= lb).all() and (evaluated <= ub).all()
    assert array_namespace(res.x) is array_namespace(xp.asarray(lb))
    np.testing.assert_allclose(to_host(res.x), lb, atol=1e-6)
    assert res.fun == pytest.approx(5.0, abs=1e-5)


@pytest.mark.parametrize(
    ("name", "center"),
    [(name, [1.3, 1.7, 1.5, 1.4, 1.6]) for name in BOUND_METHODS]
    # near the bounds: `clip` is left out, it can stall in the flat region beyond a bound
    + [(name, [1.3, 1.7, 1.5, 1.05, 1.95]) for name in ("transform", "reflect")],
)
def test_optimum_inside_is_found(name, center):
    seen: list[np.ndarray] = []
    res = minimize(
        _recording(_shifted_sphere(np.asarray(center)), seen),
        np.full(5, 1.5),
        method=Bounded(CMAES(sigma0=0.1), np.ones(5), np.full(5, 2.0), method=name),
        workers="vectorized",
        rng=1,
        maxiter=400,
    )
    evaluated = np.concatenate(seen)
    assert (evaluated >= 1.0).all() and (evaluated <= 2.0).all()
    np.testing.assert_allclose(res.x, center, atol=1e-5)
    assert res.fun < 1e-10


@pytest.mark.parametrize("name", BOUND_METHODS)
def test_mixed_one_sided_bounds(name):
    lb = np.array([-INF, 1.0, -INF, -2.0, 0.5])
    ub = np.array([INF, INF, -1.0, 2.0, 0.5])
    x0 = np.array([3.0, 4.0, -3.0, 1.0, 0.5])
    seen: list[np.ndarray] = []
    res = minimize(
        _recording(sphere, seen),
        x0,
        method=Bounded(CMAES(), lb, ub, method=name),
        workers="vectorized",
        rng=2,
        maxiter=600,
    )
    evaluated = np.concatenate(seen)
    assert (evaluated >= lb).all() and (evaluated <= ub).all()
    np.testing.assert_allclose(res.x, [0.0, 1.0, -1.0, 0.0, 0.5], atol=1e-5)


def test_other_strategies_and_float32(xp):
    lb, ub = xp.asarray([0.0, 0.0, 0.0], dtype=xp.float32), xp.asarray([1.0, 1.0, 1.0])
    x0 = xp.asarray([0.5, 0.5, 0.5], dtype=xp.float32)
    strategy = Bounded(OpenES(popsize=8, sigma=0.5), lb, ub, method="reflect")
    state = strategy.init(x0, rng=np.random.default_rng(0))
    X, state = strategy.ask(state, rng=np.random.default_rng(1))
    assert X.dtype == xp.float32 and state.lb.dtype == xp.float32
    host = to_host(X)
    assert (host >= 0).all() and (host <= 1).all()


def test_tell_tells_the_internal_points(rng):
    inner = CMAES(popsize=6, sigma0=2.0)
    strategy = Bounded(inner, np.zeros(3), np.ones(3))
    state = strategy.init(np.full(3, 0.5), rng=rng)
    X, asked = strategy.ask(state, rng=np.random.default_rng(3))
    assert isinstance(asked, BoundedState) and asked.Y is not None
    assert not np.array_equal(X, asked.Y)  # sigma0=2 leaves the box: the maps differ
    np.testing.assert_array_equal(X, transform(asked.Y, np.zeros(3), np.ones(3)))
    values = sphere(X)
    told = strategy.tell(asked, X, values)
    assert told.Y is None
    assert_states_equal(told.inner, inner.tell(asked.inner, asked.Y, values))
    assert_states_equal(told, strategy.tell(asked, X, values))  # deterministic replay
    with pytest.raises(ValueError, match="preceding `ask`"):
        strategy.tell(told, X, values)


def test_init_starts_the_inner_strategy_at_the_preimage():
    lb, ub = np.zeros(2), np.ones(2)
    state = Bounded(CMAES(), lb, ub).init(np.array([0.0, 0.5]), rng=np.random.default_rng(0))
    np.testing.assert_allclose(state.inner.mean, [-0.05, 0.5])
    state = Bounded(CMAES(), lb, ub, "clip").init(np.array([0.0, 0.5]), rng=None)
    np.testing.assert_array_equal(state.inner.mean, [0.0, 0.5])


def test_stop_is_delegated():
    res = minimize(
        sphere,
        np.full(3, 1.5),
        method=Bounded(CMAES(), np.ones(3), np.full(3, 2.0)),
        workers="vectorized",
        rng=0,
    )
    assert res.success and res.message.startswith(("tol", "noeffect"))


def test_bad_arguments():
    lb, ub = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="`method`"):
        Bounded(CMAES(), lb, ub, method="bounce")
    with pytest.raises(TypeError, match="`strategy`"):
        Bounded(object(), lb, ub)
    with pytest.raises(ValueError, match="`lb` > `ub` at entry 1"):
        Bounded(CMAES(), lb, np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="`ub` must not contain NaN"):
        Bounded(CMAES(), lb, np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="`lb` must not be \\+inf"):
        Bounded(CMAES(), np.array([INF, 0, 0]), np.full(3, INF))
    with pytest.raises(ValueError, match="same length"):
        Bounded(CMAES(), lb, np.ones(2))
    with pytest.raises(TypeError, match="`lb`"):
        Bounded(CMAES(), "low", ub)
    with pytest.raises(ValueError, match=r"one \(low, high\) pair per entry of `x0`"):
        Bounded(CMAES(), lb, ub).init(np.zeros(4), rng=None)
    with pytest.raises(ValueError, match="`x0` lies outside"):
        Bounded(CMAES(), lb, ub).init(np.array([0.5, 2.0, 0.5]), rng=None)
