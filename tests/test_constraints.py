"""Nonlinear constraints (augmented Lagrangian) and integer variables (CMA-ES with margin)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
from array_api_compat import array_namespace
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import LinearConstraint, NonlinearConstraint
from scipy.special import ndtr

from gradfree import minimize, scipy_method
from gradfree._array import to_host
from gradfree.es import CMAES, LMMAES
from gradfree.es._cma_common import default_popsize
from gradfree.testing import assert_states_equal, sphere
from gradfree.wrappers._constrained import Constrained
from gradfree.wrappers._constraints import ConstrainedObjective, parse_constraints
from gradfree.wrappers._integrality import Integrality, _margin

# min |x|^2  s.t.  x0 + x1 >= 2,  x1 <= 0.5   ->   x* = (1.5, 0.5, 0, ...), f* = 2.5,
# both constraints active with multipliers (3, 2).
TWO_ACTIVE = [
    LinearConstraint(np.r_[1.0, 1.0, 0.0, 0.0, 0.0], 2.0, np.inf),
    NonlinearConstraint(lambda x: x[1], -np.inf, 0.5),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_active_constraints_reach_the_kkt_point(seed):
    res = minimize(sphere, np.full(5, 3.0), constraints=TWO_ACTIVE, rng=seed, maxfev=4000)
    assert res.success and res.maxcv == 0.0
    assert res.fun == pytest.approx(2.5, abs=1e-6)
    np.testing.assert_allclose(res.x, [1.5, 0.5, 0, 0, 0], atol=1e-3)
    assert res.nfev < 2500  # pycma's fmin_con2 needs about 1500-1600 here
    np.testing.assert_allclose(res.state.lam, [3.0, 2.0], rtol=1e-2)  # the multipliers


def test_equality_constraint_on_the_circle():
    con = {"type": "eq", "fun": lambda x: x[0] ** 2 + x[1] ** 2 - 1}
    res = minimize(
        lambda x: float(x[0] + x[1]),
        np.array([1.0, 0.5]),
        constraints=con,
        rng=0,
        maxfev=3000,
        options={"feasibility_tol": 1e-8},
    )
    assert res.success
    assert res.fun == pytest.approx(-math.sqrt(2), abs=1e-6)
    np.testing.assert_allclose(res.x, [-math.sqrt(0.5)] * 2, atol=1e-4)


def test_infeasible_problem_reports_failure_not_a_wrong_answer():
    cons = [
        NonlinearConstraint(lambda x: x[0], 1.0, np.inf),
        NonlinearConstraint(lambda x: x[0], -np.inf, -1.0),
    ]
    res = minimize(sphere, np.ones(3), constraints=cons, rng=0, maxfev=1000)
    assert not res.success
    assert res.maxcv == pytest.approx(1.0, abs=1e-2)  # the least infeasible: x0 = 0
    assert "does not satisfy the constraints" in res.message


def test_constraint_forms_agree():
    """NonlinearConstraint, LinearConstraint and an 'ineq' dict state the same x0 >= 1."""
    forms = [
        NonlinearConstraint(lambda x: x[0], 1.0, np.inf),
        LinearConstraint(np.eye(3)[:1], 1.0, np.inf),
        {"type": "ineq", "fun": lambda x, a: x[0] - a, "args": (1.0,)},
    ]
    for con in forms:
        res = minimize(sphere, np.full(3, 2.0), constraints=con, rng=1, maxfev=3000)
        assert res.success and res.fun == pytest.approx(1.0, abs=1e-6)


def test_vectorized_workers_bounds_and_restarts_combine():
    res = minimize(
        sphere,
        np.full(5, 3.0),
        constraints=TWO_ACTIVE,
        bounds=[(-5, 5)] * 5,
        workers="vectorized",
        rng=0,
        maxfev=6000,
        options={"restarts": "ipop", "max_restarts": 1},
    )
    assert res.success and res.fun == pytest.approx(2.5, abs=1e-5)
    assert res.nfev <= 6000


def test_nan_constraint_counts_as_worst_and_the_run_goes_on():
    def c(x):
        return np.nan if x[2] > 1.0 else x[0]

    res = minimize(
        sphere, np.zeros(3), constraints=NonlinearConstraint(c, 1.0, np.inf), rng=0, maxfev=3000
    )
    assert res.success and res.fun == pytest.approx(1.0, abs=1e-5)


def test_maxfev_counts_the_mean_evaluations():
    calls = []

    def f(x):
        calls.append(1)
        return sphere(x)

    res = minimize(f, np.full(5, 3.0), constraints=TWO_ACTIVE, rng=0, maxfev=250)
    assert res.nfev == len(calls) <= 250
    assert res.population.shape[0] == default_popsize(5) + 1


def test_scipy_minimize_passes_constraints_and_integrality():
    res = scipy.optimize.minimize(
        sphere, np.full(5, 3.0), method=scipy_method(rng=0, maxfev=4000), constraints=TWO_ACTIVE
    )
    assert res.success and res.fun == pytest.approx(2.5, abs=1e-6)
    res = scipy.optimize.minimize(
        lambda x: float(((x - 0.3) ** 2).sum()),
        np.full(2, 3.0),
        method=scipy_method(rng=0, maxfev=2000),
        options={"integrality": [True, False]},
    )
    np.testing.assert_allclose(res.x, [0.0, 0.3], atol=1e-4)


def test_namespace_is_kept(xp):
    x0 = xp.asarray([3.0, 3.0, 3.0])
    con = NonlinearConstraint(lambda x: float(x[0]), 1.0, np.inf)
    res = minimize(sphere, x0, constraints=con, rng=0, maxfev=1500, workers="vectorized")
    assert array_namespace(res.x) is array_namespace(x0)
    assert res.fun == pytest.approx(1.0, abs=1e-4)


def test_seeded_determinism_and_tell_purity():
    funs, lb, ub = parse_constraints(TWO_ACTIVE, np.zeros(5))
    strategy = Constrained(CMAES(popsize=6), lb, ub)
    obj = ConstrainedObjective(sphere, (), funs)
    rng = np.random.default_rng(3)
    state = strategy.init(np.full(5, 3.0), rng=rng)
    for _ in range(5):
        X, state = strategy.ask(state, rng=rng)
        values = np.stack([obj(x) for x in X])
        once = strategy.tell(state, X, values)
        twice = strategy.tell(state, X, values)
        assert_states_equal(once, twice)
        state = once
    runs = [minimize(sphere, np.full(5, 3.0), constraints=TWO_ACTIVE, rng=7, maxfev=300)]
    runs.append(minimize(sphere, np.full(5, 3.0), constraints=TWO_ACTIVE, rng=7, maxfev=300))
    np.testing.assert_array_equal(runs[0].x, runs[1].x)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"constraints": 3}, TypeError, "constraints"),
        ({"constraints": [{"type": "bad", "fun": len}]}, TypeError, r"constraints\[0\]"),
        ({"options": {"feasibility_tol": 1e-3}}, TypeError, "feasibility_tol"),
        (
            {"constraints": TWO_ACTIVE, "options": {"feasibility_tol": -1.0}},
            ValueError,
            "feasibility_tol",
        ),
        ({"integrality": [True, False]}, ValueError, "integrality"),
        ({"options": {"margin": 0.1}}, TypeError, "margin"),
        ({"integrality": [True] * 5, "options": {"margin": 0.7}}, ValueError, "margin"),
        ({"integrality": [True] * 5, "method": LMMAES()}, TypeError, "marginal_std|deviations"),
        ({"integrality": [True] * 5, "bounds": [(0.2, 0.9)] * 5}, ValueError, "two values"),
    ],
)
def test_bad_input_is_named(kwargs, error, match):
    kwargs = {"method": "cma-es", **kwargs}
    x0 = np.full(5, 0.5)
    with pytest.raises(error, match=match):
        minimize(sphere, x0, rng=0, maxfev=100, **kwargs)


def test_constrained_rejects_bad_bounds_and_vector_strategies():
    with pytest.raises(ValueError, match="lb <= ub"):
        Constrained(CMAES(), [1.0], [0.0])
    with pytest.raises(ValueError, match="nothing to enforce"):
        Constrained(CMAES(), [-np.inf], [np.inf])
    with pytest.raises(TypeError, match="scalar-objective"):
        Constrained(Constrained(CMAES(), [0.0], [1.0]), [0.0], [1.0])


# -- integer variables -------------------------------------------------------------------
TARGET = np.array([2.2, -2.7, 0.5, 3.6, -1.4, 0.3])
SCALES = np.array([1.0, 10.0, 100.0, 1.0, 10.0, 100.0])


def _mixed_quadratic(x):
    return float((SCALES * (x - TARGET) ** 2).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixed_integer_quadratic(seed):
    """Integer optimum rounds the continuous one; x2 = 0 and 1 tie at 0.5."""
    mask = np.array([True, True, True, False, False, False])
    res = minimize(_mixed_quadratic, np.zeros(6), integrality=mask, rng=seed, maxfev=4000)
    assert res.fun == pytest.approx(0.04 + 10 * 0.09 + 100 * 0.25, abs=1e-6)
    np.testing.assert_array_equal(res.x[:2], [2.0, -3.0])
    np.testing.assert_allclose(res.x[3:], TARGET[3:], atol=1e-4)


def test_far_start_integer_sphere_does_not_freeze():
    """Plain rounding stalls once sigma shrinks below 1/2; the margin keeps moving."""
    res = minimize(
        lambda x: float(x @ x),
        np.full(10, 20.0),
        integrality=np.ones(10, bool),
        rng=0,
        maxfev=5000,
    )
    assert res.fun == 0.0


def test_integer_bounds_binary_and_every_evaluated_point_is_integral():
    w = np.array([3.0, -2.0, 1.0, -1.0, 2.0, -3.0])
    seen = []

    def f(x):
        seen.append(np.array(x))
        return float(w @ x + 0.1 * x @ x)

    res = minimize(
        f, np.full(6, 0.5), bounds=[(0, 1)] * 6, integrality=np.ones(6, bool), rng=0, maxfev=800
    )
    np.testing.assert_array_equal(res.x, [0, 1, 0, 1, 0, 1])
    pts = np.array(seen)
    assert np.all(pts == np.round(pts)) and pts.min() >= 0 and pts.max() <= 1
    res = minimize(
        lambda x: float(((x - 7.3) ** 2).sum()),
        np.ones(4),
        bounds=[(0, 5)] * 4,
        integrality=[True, True, False, False],
        rng=0,
        maxfev=3000,
    )
    np.testing.assert_allclose(res.x, [5, 5, 5, 5], atol=1e-6)


def test_integrality_namespace_and_constraints_combine(xp):
    x0 = xp.asarray([0.0, 0.0, 0.0])
    con = NonlinearConstraint(lambda x: float(x[0] + x[1]), 3.5, np.inf)
    res = minimize(
        sphere,
        x0,
        integrality=[True, False, False],
        constraints=con,
        rng=0,
        maxfev=3000,
        workers="vectorized",
    )
    assert array_namespace(res.x) is array_namespace(x0)
    x = np.asarray(to_host(res.x))
    # x0 integer, x1 real: the best split of 3.5 is x0 = 2, x1 = 1.5 (f = 6.25) or
    # x0 = 1 / 2, x1 = 2.5 / 1.5 -> min over integers k of k^2 + (3.5 - k)^2 = 6.25.
    assert res.success and res.fun == pytest.approx(6.25, abs=1e-5)
    assert x[0] in (1.0, 2.0, 3.0) and x[0] == round(x[0])


@settings(max_examples=200, deadline=None)
@given(
    m=st.floats(-20, 20),
    std=st.floats(1e-4, 5),
    lo=st.sampled_from([-np.inf, -3.0, 0.0]),
    width=st.sampled_from([1.0, 2.0, 5.0, np.inf]),
    alpha=st.floats(1e-4, 0.2),
)
def test_margin_keeps_neighbour_probability(m, std, lo, width, alpha):
    """After the correction each neighbouring integer has probability >= alpha/2 (inner
    levels) or the single neighbour >= alpha (end levels), up to rounding."""
    hi = lo + width if np.isfinite(lo) else (np.inf if np.isinf(width) else 4.0)
    lo_a, hi_a = np.array([lo]), np.array([hi])
    m_new, A = _margin(np.array([m]), np.array([std]), np.ones(1), lo_a, hi_a, alpha)
    level = np.clip(np.ceil(m_new - 0.5), lo_a, hi_a)
    low = np.maximum(level, lo_a + 1) - 0.5
    up = np.minimum(level, hi_a - 1) + 0.5
    scale = A * std
    p_low, p_up = ndtr((low - m_new) / scale), 1 - ndtr((up - m_new) / scale)
    if low[0] == up[0]:  # one threshold
        assert min(p_low[0], p_up[0]) >= alpha * (1 - 1e-6)
    else:
        assert min(p_low[0], p_up[0]) >= min(alpha / 2 * (1 - 1e-6), 1e-10)
    assert np.isfinite(m_new).all() and (A > 0).all()


def test_margin_with_the_mean_on_a_binary_threshold():
    """A binary variable whose mean sits exactly on its one threshold keeps A > 0."""
    m, A = _margin(np.array([0.5]), np.array([1.0]), np.ones(1), np.zeros(1), np.ones(1), 0.125)
    assert m[0] == 0.5 and A[0] == 1.0


def test_integrality_wrapper_contract():
    strategy = Integrality(CMAES(popsize=6), [True, False, True], lower=[-2, 0], upper=[2, 9])
    rng = np.random.default_rng(0)
    state = strategy.init(np.zeros(3), rng=rng)
    for _ in range(5):
        X, state = strategy.ask(state, rng=rng)
        assert X.shape == (6, 3)
        assert np.all(X[:, [0, 2]] == np.round(X[:, [0, 2]]))
        assert X[:, 0].min() >= -2 and X[:, 0].max() <= 2
        values = np.array([sphere(x) for x in X])
        once = strategy.tell(state, X, values)
        assert_states_equal(once, strategy.tell(state, X, values))
        state = once
    with pytest.raises(ValueError, match="preceding `ask`"):
        strategy.tell(state, X, values)
