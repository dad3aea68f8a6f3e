"""Unscented Kalman inversion: the linear analysis of Huang, Schneider & Stuart (2022)."""

from __future__ import annotations

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree import Status, minimize, run
from gradfree._array import to_host
from gradfree.kalman import Gaussian, InverseProblem
from gradfree.kalman._uki import UKI, UKIState
from gradfree.testing import assert_states_equal


def linear_problem(p=3, m=6, seed=1):
    """G(u) = A u, Gaussian prior and dense noise; returns the problem, A, Gamma."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, p))
    L = np.tril(0.1 * rng.standard_normal((m, m))) + np.diag(np.linspace(0.3, 0.5, m))
    gamma = L @ L.T
    y = A @ np.ones(p) + L @ rng.standard_normal(m)
    problem = InverseProblem(
        lambda U: U @ A.T,
        y=y,
        noise_cov=gamma,
        prior_mean=np.linspace(-0.5, 1.0, p),
        prior_cov=np.linspace(0.5, 2.0, p),
    )
    return problem, A, gamma


def posterior(problem, A, gamma):
    gi = np.linalg.inv(gamma)
    c0i = np.diag(1.0 / np.linspace(0.5, 2.0, A.shape[1]))
    cov = np.linalg.inv(A.T @ gi @ A + c0i)
    mean = cov @ (A.T @ gi @ to_host(problem.y) + c0i @ to_host(problem.prior.mean))
    return mean, cov


def run_uki(problem, maxiter=60, **options):
    uki = UKI(prior=problem.prior, **options)
    return run(uki, problem.residual, problem.prior.mean, workers="vectorized", maxiter=maxiter)


def test_impose_prior_converges_to_the_exact_posterior():
    """Sec. 4: with alpha = 1 and Sigma_omega = C_n the fixed point is N(m_post, C_post)."""
    problem, A, gamma = linear_problem()
    res = run_uki(problem, impose_prior=True)
    mean, cov = posterior(problem, A, gamma)
    np.testing.assert_allclose(res.state.mean, mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.state.cov, cov, rtol=1e-8, atol=1e-12)
    assert res.nfev == 60 * 7 and res.state.generation == 60


def test_covariance_error_halves_every_iteration():
    """C_{n+1}^{-1} - C_inf^{-1} = (C_n^{-1} - C_inf^{-1}) / 2 for linear G."""
    problem, A, gamma = linear_problem()
    _, cov = posterior(problem, A, gamma)
    errors = []
    for n in (4, 5, 6):
        res = run_uki(problem, maxiter=n, impose_prior=True)
        errors.append(np.linalg.norm(np.linalg.inv(res.state.cov) - np.linalg.inv(cov)))
    np.testing.assert_allclose(np.diff(np.log2(errors)), -1.0, atol=1e-6)


def test_flat_prior_update_freq_one_gives_least_squares_and_its_covariance():
    problem, A, gamma = linear_problem()
    res = run_uki(problem, update_freq=1)
    gi = np.linalg.inv(gamma)
    cov = np.linalg.inv(A.T @ gi @ A)
    np.testing.assert_allclose(res.state.mean, cov @ A.T @ gi @ problem.y, rtol=1e-9)
    np.testing.assert_allclose(res.state.cov, cov, rtol=1e-8)


@pytest.mark.parametrize("alpha", [0.5, 0.9])
def test_alpha_regularized_fixed_point(alpha):
    """Sigma_omega = (2 - a^2) C_n: (2 - a) H m = (1 - a) H r + G^T Gamma^-1 y, C = H^-1."""
    problem, A, gamma = linear_problem()
    res = run_uki(problem, maxiter=120, alpha=alpha, update_freq=1)
    gi = np.linalg.inv(gamma)
    H = A.T @ gi @ A
    r = to_host(problem.prior.mean)
    rhs = (1 - alpha) * H @ r + A.T @ gi @ problem.y
    np.testing.assert_allclose(res.state.mean, np.linalg.solve((2 - alpha) * H, rhs), rtol=1e-8)
    np.testing.assert_allclose(res.state.cov, np.linalg.inv(H), rtol=1e-8)


def test_default_update_freq_zero_reaches_least_squares_with_bounded_covariance():
    """EnsembleKalmanProcesses.jl's default: Sigma_omega = C0 fixed; the mean is still exact."""
    problem, A, gamma = linear_problem()
    res = run_uki(problem, maxiter=80)
    gi = np.linalg.inv(gamma)
    x_ls = np.linalg.solve(A.T @ gi @ A, A.T @ gi @ problem.y)
    np.testing.assert_allclose(res.state.mean, x_ls, rtol=1e-7)
    assert np.all(np.linalg.eigvalsh(res.state.cov) > 0)


def test_nonlinear_exponential_decay_recovers_the_parameters():
    """G(u) = u1 exp(-u0 t): noise-free data, a start far from the truth."""
    t = np.linspace(0.0, 3.0, 10)
    truth = np.asarray([0.7, 2.0])

    def model(U):
        return U[:, 1:] * np.exp(-U[:, :1] * t)

    y = model(truth[None, :])[0]
    problem = InverseProblem(
        model, y=y, noise_cov=1e-4, prior_mean=np.asarray([0.2, 1.0]), prior_cov=0.25
    )
    res = run_uki(problem, maxiter=30, update_freq=1)
    np.testing.assert_allclose(res.state.mean, truth, atol=1e-6)
    assert res.fun < 1e-10


def test_runs_on_every_namespace(xp):
    A = np.asarray([[1.0, 2.0], [0.0, 1.0], [1.0, -1.0]])
    y = np.asarray([1.0, 2.0, 3.0])
    A_x, y_x = xp.asarray(A), xp.asarray(y)
    res = minimize(
        lambda U: U @ A_x.T - y_x,
        xp.asarray([0.0, 0.0]),
        method=UKI(update_freq=1),
        workers="vectorized",
        maxiter=40,
    )
    assert array_namespace(res.x) is array_namespace(A_x)
    assert array_namespace(res.state.cov) is array_namespace(A_x)
    np.testing.assert_allclose(to_host(res.state.mean), np.linalg.lstsq(A, y, rcond=None)[0])
    np.testing.assert_allclose(to_host(res.state.cov), np.linalg.inv(A.T @ A), rtol=1e-8)


def test_deterministic_and_seed_free():
    problem, _, _ = linear_problem()
    uki = UKI(prior=problem.prior, impose_prior=True)
    a = run(uki, problem.residual, problem.prior.mean, workers="vectorized", maxiter=5, rng=0)
    b = run(uki, problem.residual, problem.prior.mean, workers="vectorized", maxiter=5, rng=9)
    assert_states_equal(a.state, b.state)
    np.testing.assert_array_equal(a.population, b.population)


def test_tell_is_pure(xp):
    uki = UKI(update_freq=1)
    state = uki.init(xp.asarray([0.5, -1.0, 2.0]), rng=np.random.default_rng(0))
    X, state = uki.ask(state, rng=np.random.default_rng(1))
    values = X - 1.0
    X_copy, v_copy = to_host(X).copy(), to_host(values).copy()
    first, second = uki.tell(state, X, values), uki.tell(state, X, values)
    assert_states_equal(first, second)
    assert isinstance(first, UKIState) and first.pred_mean is None
    np.testing.assert_array_equal(to_host(X), X_copy)
    np.testing.assert_array_equal(to_host(values), v_copy)
    assert first.pred_cov is None and state.pred_cov is not None  # the old state is intact


def test_sigma_points_reproduce_the_predicted_gaussian():
    uki = UKI(alpha=0.8, prior=Gaussian(np.zeros(6), np.linspace(0.5, 3.0, 6)))
    X, state = uki.ask(uki.init(np.zeros(6), rng=None), rng=None)
    assert X.shape == (13, 6)
    c = 2.0  # min(2, sqrt(p)) for p = 6
    D = X[1:] - X[0]
    np.testing.assert_allclose(D.T @ D / (2 * c**2), state.pred_cov, rtol=1e-12)
    np.testing.assert_allclose(X[0], state.pred_mean)
    # prediction (1): C^ = a^2 C0 + (2 - a^2) C0 = 2 C0 at the first step
    np.testing.assert_allclose(state.pred_cov, 2 * np.diag(np.linspace(0.5, 3.0, 6)))


@pytest.mark.parametrize("failed", [[2], [0], [1, 5], [0, 3, 4]])
def test_failed_sigma_points_are_imputed_exactly_for_linear_models(failed):
    """Reflection through the centre is exact for linear G, so the posterior is unchanged."""
    problem, A, gamma = linear_problem()

    def flaky(U):
        R = np.asarray(problem.residual(U)).copy()
        R[failed] = np.nan
        return R

    uki = UKI(prior=problem.prior, impose_prior=True)
    res = run(uki, flaky, problem.prior.mean, workers="vectorized", maxiter=60)
    mean, cov = posterior(problem, A, gamma)
    np.testing.assert_allclose(res.state.mean, mean, rtol=1e-8)
    np.testing.assert_allclose(res.state.cov, cov, rtol=1e-7)
    assert res.state.n_failed == len(failed)
    # every failed sigma point is a counted failure of the run, never a silent one
    assert res.failures["count"] == len(failed) * res.nit
    assert res.failures["first_error"].startswith("NonFinite")
    assert res.failures["generations"] == list(range(1, res.nit + 1))


def test_half_the_sigma_points_failing_still_converges_and_is_counted():
    """NaN on every '+' sigma point (p of 2p + 1): reflection recovers the update."""
    rng = np.random.default_rng(0)
    A, truth = rng.standard_normal((8, 3)), np.asarray([1.0, -2.0, 0.5])

    def half_nan(U):
        R = U @ A.T - A @ truth
        R[1:4] = np.nan
        return R

    res = minimize(half_nan, np.zeros(3), method="uki", maxiter=30, workers="vectorized")
    np.testing.assert_allclose(res.state.mean, truth, atol=1e-8)
    assert res.failures["count"] == 3 * 30


def test_too_few_finite_sigma_points_stop_the_run_with_its_result():
    def mostly_nan(U):
        R = U - 1.0
        R[1:] = np.nan if U[0, 0] > 0.5 else R[1:]
        return R

    with pytest.raises(ValueError, match="sigma points returned finite") as info:
        minimize(mostly_nan, np.zeros(2), method="uki", maxiter=30, workers="vectorized")
    partial = info.value.gradfree_result
    assert partial is not None and partial.nit >= 1 and np.isfinite(partial.fun)


def test_a_pair_that_fails_leaves_its_direction_uninformed():
    uki = UKI(update_freq=1)
    state = uki.init(np.zeros(2), rng=None)
    X, state = uki.ask(state, rng=None)
    values = X - 1.0
    values[[1, 3]] = np.nan  # both points along the first direction
    new = uki.tell(state, X, values)
    np.testing.assert_allclose(new.mean, [0.0, 0.5], rtol=1e-12)  # gain 2 / (2 + 2)
    assert new.cov[0, 0] == pytest.approx(state.pred_cov[0, 0])


def test_fewer_than_two_successes_raise():
    uki = UKI()
    X, state = uki.ask(uki.init(np.zeros(2), rng=None), rng=None)
    values = np.full((5, 2), np.nan)
    values[0] = 0.0
    with pytest.raises(ValueError, match="only 1 of 5 sigma points"):
        uki.tell(state, X, values)


def test_tell_needs_the_preceding_ask():
    uki = UKI()
    state = uki.init(np.zeros(2), rng=None)
    with pytest.raises(ValueError, match="preceding `ask`"):
        uki.tell(state, np.zeros((5, 2)), np.zeros((5, 2)))
    X, state = uki.ask(state, rng=None)
    with pytest.raises(ValueError, match="one model output per sigma point"):
        uki.tell(state, X, np.zeros(5))


def test_discrepancy_and_xtol_stop():
    problem, _, _ = linear_problem()
    res = run_uki(problem, maxiter=100, update_freq=1, discrepancy=1.5)
    assert res.status == Status.CONVERGED and "Discrepancy" in res.message
    assert res.nit < 10
    res = run_uki(problem, maxiter=200, update_freq=1, xtol=1e-10)
    assert res.status == Status.CONVERGED and "xtol" in res.message and res.nit < 60


def test_float32_stays_float32():
    res = minimize(
        lambda U: U - 1.0,
        np.zeros(3, dtype=np.float32),
        method=UKI(update_freq=1),
        workers="vectorized",
        maxiter=30,
    )
    assert res.x.dtype == np.float32 and res.state.cov.dtype == np.float32
    np.testing.assert_allclose(res.state.mean, 1.0, atol=1e-4)


def test_prior_dimension_must_match_x0():
    with pytest.raises(ValueError, match="`prior` has dimension 2"):
        UKI(prior=Gaussian(np.zeros(2), 1.0)).init(np.zeros(3), rng=None)


@pytest.mark.parametrize(
    ("options", "exc", "name"),
    [
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": 1.5}, ValueError, "alpha"),
        ({"alpha": "1"}, TypeError, "alpha"),
        ({"update_freq": -1}, ValueError, "update_freq"),
        ({"update_freq": 1.5}, TypeError, "update_freq"),
        ({"impose_prior": 1}, TypeError, "impose_prior"),
        ({"sigma0": 0.0}, ValueError, "sigma0"),
        ({"prior": np.zeros(2)}, TypeError, "prior"),
        ({"discrepancy": -1.0}, ValueError, "discrepancy"),
        ({"xtol": -1.0}, ValueError, "xtol"),
    ],
)
def test_bad_options_name_the_option(options, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        UKI(**options)


def test_unknown_option_through_minimize():
    with pytest.raises(TypeError, match="update_freq"):
        minimize(lambda U: U, np.zeros(2), method=UKI(), options={"n_ensemble": 5})
