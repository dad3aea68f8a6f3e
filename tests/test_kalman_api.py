"""gradfree.kalman API: options, Gaussian, InverseProblem, solve, transforms and priors."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree import minimize
from gradfree._array import to_host
from gradfree.es import OpenES
from gradfree.kalman import (
    EKI,
    EKS,
    ETKI,
    TEKI,
    DataMisfitController,
    DefaultScheduler,
    Gaussian,
    InverseProblem,
    Transform,
    constrained_gaussian,
    solve,
)

METHODS = [EKI, ETKI, TEKI, EKS]


# -- options ----------------------------------------------------------------------------
BAD_OPTIONS = [
    ({"n_ensemble": 1}, ValueError, "n_ensemble"),
    ({"n_ensemble": 2.5}, TypeError, "n_ensemble"),
    ({"sigma0": 0.0}, ValueError, "sigma0"),
    ({"sigma0": "1"}, TypeError, "sigma0"),
    ({"scheduler": -1.0}, ValueError, "scheduler"),
    ({"scheduler": "fast"}, TypeError, "scheduler"),
    ({"scheduler": True}, TypeError, "scheduler"),
    ({"discrepancy": 0.0}, ValueError, "discrepancy"),
    ({"xtol": -1.0}, ValueError, "xtol"),
    ({"collapse_tol": float("nan")}, ValueError, "collapse_tol"),
    ({"prior": np.zeros(3)}, TypeError, "prior"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("kw", "exc", "name"), BAD_OPTIONS, ids=lambda v: str(v)[:25])
def test_bad_options_name_the_option(method, kw, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        method(**kw)
    with pytest.raises(exc, match=f"`{name}`"):
        method().with_options(kw)


@pytest.mark.parametrize(
    ("cls", "kw", "exc", "name"),
    [
        (EKI, {"perturbed": 1}, TypeError, "perturbed"),
        (TEKI, {"regularization": 0.0}, ValueError, "regularization"),
        (DefaultScheduler, {"dt": 0.0}, ValueError, "dt"),
        (DataMisfitController, {"terminate_at": 0.0}, ValueError, "terminate_at"),
        (DataMisfitController, {"terminate_at": "1"}, TypeError, "terminate_at"),
        (DataMisfitController, {"on_terminate": "halt"}, ValueError, "on_terminate"),
    ],
)
def test_other_bad_options(cls, kw, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        cls(**kw)


def test_unknown_option_lists_valid_ones():
    with pytest.raises(TypeError, match="n_ensemble"):
        EKI().with_options({"ensemble_size": 10})


def test_scheduler_number_is_a_constant_step():
    assert EKI(scheduler=0.3).scheduler == DefaultScheduler(0.3)
    assert EKI().scheduler is None and isinstance(EKI().schedule, DataMisfitController)


def test_default_ensemble_size_and_prior_dimension():
    state = EKI().init(np.zeros(3), rng=np.random.default_rng(0))
    assert state.ensemble.shape == (30, 3)
    with pytest.raises(ValueError, match="`prior` has dimension 2"):
        EKI(prior=Gaussian(np.zeros(2), 1.0)).init(np.zeros(3), rng=np.random.default_rng(0))


@pytest.mark.parametrize("method", METHODS)
def test_minimize_rejects_bounds(method):
    with pytest.raises(ValueError, match=r"`bounds`.*transform=gradfree\.kalman\.Transform"):
        minimize(lambda x: x, np.zeros(2), method=method(n_ensemble=4), bounds=[(0, 1)] * 2)


# -- Gaussian ---------------------------------------------------------------------------
def test_gaussian_forms_agree():
    mean = np.asarray([1.0, -1.0])
    forms = [Gaussian(mean, 4.0), Gaussian(mean, np.full(2, 4.0)), Gaussian(mean, 4 * np.eye(2))]
    x = np.asarray([[3.0, 1.0], [1.0, -1.0]])
    for g in forms:
        np.testing.assert_allclose(g.whiten(x), [[1.0, 1.0], [0.0, 0.0]])
        np.testing.assert_allclose(g.color(g.whiten(x)), x)
        np.testing.assert_allclose(g.dense_cov(), 4 * np.eye(2))
    dense = Gaussian(mean, np.asarray([[2.0, 1.0], [1.0, 3.0]]))
    np.testing.assert_allclose(dense.factor @ dense.factor.T, dense.cov)
    np.testing.assert_allclose(dense.inv_factor @ dense.factor, np.eye(2), atol=1e-14)


@pytest.mark.parametrize(
    ("cov", "exc", "match"),
    [
        (-1.0, ValueError, "> 0"),
        (np.asarray([1.0, 0.0]), ValueError, "> 0"),
        (np.ones(3), ValueError, "does not match"),
        (np.asarray([[1.0, 2.0], [0.0, 1.0]]), ValueError, "symmetric"),
        (np.asarray([[1.0, 2.0], [2.0, 1.0]]), ValueError, "positive definite"),
        (np.ones((2, 2, 2)), ValueError, "scalar, a vector or a matrix"),
        (float("nan"), ValueError, "finite"),
        ("big", TypeError, "number"),
        (1j, TypeError, "real"),
    ],
)
def test_gaussian_rejects_bad_covariances(cov, exc, match):
    with pytest.raises(exc, match=match):
        Gaussian(np.zeros(2), cov)


def test_gaussian_follows_the_mean_namespace(xp):
    g = Gaussian(xp.asarray([1.0, 2.0], dtype=xp.float32), np.asarray([[2.0, 0.5], [0.5, 1.0]]))
    assert array_namespace(g.factor) is array_namespace(g.mean)
    assert g.factor.dtype == xp.float32
    w = g.whiten(xp.asarray([[1.0, 2.0]], dtype=xp.float32))
    assert array_namespace(w) is array_namespace(g.mean)
    np.testing.assert_allclose(to_host(w), 0.0)
    assert Gaussian(np.zeros(2), 1.0).like(g.mean).mean.dtype == xp.float32


# -- InverseProblem and solve ------------------------------------------------------------
def _problem(xp=np, **kw):
    A = np.asarray([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])

    def forward(U):
        return U @ xp.asarray(A.T, dtype=U.dtype)

    args = {
        "forward": forward,
        "y": xp.asarray([1.0, 2.0, 2.0]),
        "noise_cov": 0.1,
        "prior_mean": xp.zeros(2),
        "prior_cov": 1.0,
    }
    return InverseProblem(**{**args, **kw})


@pytest.mark.parametrize(
    ("kw", "exc", "name"),
    [
        ({"forward": 3}, TypeError, "forward"),
        ({"y": [1.0, float("nan"), 2.0]}, ValueError, "y"),
        ({"y": [[1.0, 2.0]]}, ValueError, "y"),
        ({"noise_cov": -0.1}, ValueError, "noise_cov"),
        ({"noise_cov": np.ones(2)}, ValueError, "noise_cov"),
        ({"prior_mean": ["a", "b"]}, TypeError, "prior_mean"),
        ({"prior_cov": np.eye(3)}, ValueError, "prior_cov"),
        ({"transform": Transform(0.0, np.inf)}, ValueError, "transform"),
        ({"transform": (0, 1)}, TypeError, "transform"),
    ],
)
def test_inverse_problem_validates(kw, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        _problem(**kw)


def test_solve_validates():
    with pytest.raises(TypeError, match="`problem`"):
        solve("problem")
    with pytest.raises(ValueError, match="`method`"):
        solve(_problem(), "bogus")
    with pytest.raises(TypeError, match="`method`"):
        solve(_problem(), OpenES())
    with pytest.raises(ValueError, match="own `prior`"):
        solve(_problem(), EKI(prior=Gaussian(np.zeros(2), 1.0)))
    with pytest.raises(TypeError, match="`options`"):
        solve(_problem(), options=[("n_ensemble", 3)])
    with pytest.raises(ValueError, match="outputs per member"):
        solve(_problem(forward=lambda U: U), workers="vectorized", n_ensemble=5)


def test_solve_with_uki_reports_its_gaussian(xp):
    problem = _problem(xp)
    res = solve(problem, "uki", rng=0, workers="vectorized", maxiter=20)
    assert res.ensemble is None and res.cov.shape == (2, 2)
    assert array_namespace(res.mean) is array_namespace(problem.prior.mean)
    eki = solve(problem, "eki", n_ensemble=200, rng=0, workers="vectorized")
    np.testing.assert_allclose(to_host(res.mean), to_host(eki.mean), atol=0.1)


@pytest.mark.parametrize("method", ["eki", "etki", "teki", "eks"])
def test_solve_on_every_namespace(method, xp):
    problem = _problem(xp)
    res = solve(problem, method, n_ensemble=10, rng=0, workers="vectorized", maxiter=3)
    for name in ("x", "ensemble", "mean", "cov", "std"):
        assert array_namespace(res[name]) is array_namespace(problem.prior.mean), name
    assert res.ensemble.shape == (10, 2) and res.cov.shape == (2, 2)
    np.testing.assert_allclose(to_host(res.std) ** 2, np.diag(to_host(res.cov)), rtol=1e-12)
    again = solve(problem, method, n_ensemble=10, rng=0, workers="vectorized", maxiter=3)
    np.testing.assert_array_equal(to_host(again.ensemble), to_host(res.ensemble))


def test_solve_numpy_and_strict_agree():
    strict = pytest.importorskip("array_api_strict")
    a = solve(_problem(np), "eki", n_ensemble=8, rng=1, workers="vectorized")
    b = solve(_problem(strict), "eki", n_ensemble=8, rng=1, workers="vectorized")
    np.testing.assert_allclose(to_host(b.ensemble), a.ensemble, rtol=1e-12, atol=1e-14)


def test_solve_serial_and_vectorized_agree():
    A = np.asarray([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    problem = _problem(forward=lambda u: A @ u if u.ndim == 1 else u @ A.T)
    runs = [
        solve(problem, "eki", n_ensemble=8, rng=2, workers=w, maxiter=3) for w in (1, "vectorized")
    ]
    np.testing.assert_allclose(runs[0].ensemble, runs[1].ensemble, rtol=1e-12)


def test_solve_result_pickles():
    res = solve(_problem(), "etki", n_ensemble=8, rng=0, workers="vectorized")
    clone = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(clone.ensemble, res.ensemble)


# -- transforms and constrained priors -----------------------------------------------------
def test_transform_round_trip_and_range(xp):
    t = Transform([0.0, -np.inf, -1.0, -np.inf], [np.inf, 2.0, 1.0, np.inf])
    u = xp.asarray([[-3.0, 0.5, 2.0, 7.0], [1000.0, -1000.0, -1000.0, -1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow even far out
        phi = t.to_constrained(u)
    host = to_host(phi)
    assert array_namespace(phi) is array_namespace(u)
    assert np.all(host >= t.lower) and np.all(host <= t.upper)
    np.testing.assert_allclose(
        to_host(t.to_unconstrained(phi[:1, ...])), to_host(u[:1, ...]), rtol=1e-12
    )
    with pytest.raises(ValueError, match="strictly inside"):
        t.to_unconstrained(xp.asarray([-1.0, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="lower"):
        Transform(1.0, 0.0)
    with pytest.raises(ValueError, match="coordinates"):
        t.to_constrained(xp.zeros(3))


def test_constrained_gaussian_moments():
    cg = constrained_gaussian(
        [2.0, -1.0, 0.2, 5.0],
        [1.0, 0.5, 0.1, 2.0],
        [0, -np.inf, 0, -np.inf],
        [np.inf, 0.0, 1.0, np.inf],
    )
    z = np.random.default_rng(0).standard_normal((400_000, 4))
    phi = cg.transform.to_constrained(cg.mean + cg.std * z)
    np.testing.assert_allclose(phi.mean(axis=0), [2.0, -1.0, 0.2, 5.0], rtol=0.01)
    np.testing.assert_allclose(phi.std(axis=0), [1.0, 0.5, 0.1, 2.0], rtol=0.02)
    # one bound: the log-normal formula in closed form
    var = np.log1p(0.25)
    np.testing.assert_allclose(cg.std[0] ** 2, var)
    np.testing.assert_allclose(cg.mean[0], np.log(2.0) - var / 2)
    np.testing.assert_allclose(cg.mean[3], 5.0)
    assert cg.prior.kind == "diagonal"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.5, 0.5, 0.0, 1.0), "too large"),
        ((1.5, 0.1, 0.0, 1.0), "strictly inside"),
        ((0.5, -0.1, 0.0, 1.0), "`std`"),
        ((0.5, 0.1, 1.0, 0.0), "lower"),
    ],
)
def test_constrained_gaussian_rejects(args, match):
    with pytest.raises(ValueError, match=match):
        constrained_gaussian(*args)


def test_solve_with_bounds_evaluates_only_inside():
    """A positive rate and a fraction in (0, 1), observed through a nonlinear model."""
    truth = np.asarray([3.0, 0.7])
    t = np.linspace(0.0, 1.0, 8)

    def model(phi):
        return phi[..., :1] * np.exp(-t * phi[..., 1:2])

    seen = []

    def forward(phi):
        seen.append(phi.copy())
        return model(phi)

    cg = constrained_gaussian([2.0, 0.5], [1.0, 0.2], [0.0, 0.0], [np.inf, 1.0])
    problem = InverseProblem(forward, model(truth), 1e-4, cg.mean, cg.cov, transform=cg.transform)
    res = solve(problem, "eki", n_ensemble=40, rng=0, workers="vectorized", maxiter=30)
    evaluated = np.concatenate(seen)
    assert (evaluated[:, 0] > 0).all() and ((0 < evaluated[:, 1]) & (evaluated[:, 1] < 1)).all()
    np.testing.assert_allclose(res.constrained_mean, truth, rtol=0.05)
    np.testing.assert_allclose(res.constrained_x, cg.transform.to_constrained(res.x))
    assert res.constrained_ensemble.shape == (40, 2)
