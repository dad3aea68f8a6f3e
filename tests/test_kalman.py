"""Ensemble Kalman inversion: closed forms on linear-Gaussian problems, failures, stops."""

from __future__ import annotations

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree import Status, minimize, run
from gradfree._array import to_host
from gradfree.kalman import (
    EKI,
    EKS,
    ETKI,
    TEKI,
    UKI,
    DataMisfitController,
    DefaultScheduler,
    EKSStable,
    Gaussian,
    InverseProblem,
    solve,
)
from gradfree.kalman._algebra import gain_weights, shrink_rows, transform_weights
from gradfree.testing import assert_states_equal

CONTINUE = DataMisfitController(on_terminate="continue")


def linear_problem(p=3, m=5, *, dense_noise=False, seed=1):
    """G(u) = A u with Gaussian prior and noise; returns the problem and the posterior."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, p))
    m0 = np.linspace(-0.5, 1.0, p)
    c0 = np.linspace(0.5, 2.0, p)
    if dense_noise:
        L = np.tril(0.1 * rng.standard_normal((m, m))) + np.diag(np.full(m, 0.4))
        gamma = L @ L.T
    else:
        gamma = np.diag(np.linspace(0.1, 0.3, m))
    y = A @ np.ones(p) + np.linalg.cholesky(gamma) @ rng.standard_normal(m)
    noise = gamma if dense_noise else np.diag(gamma)
    problem = InverseProblem(lambda U: U @ A.T, y, noise, m0, c0)
    return problem, A, y, gamma, m0, np.diag(c0)


def kalman(mean, C, A, y, gamma):
    """One exact Kalman analysis: posterior mean and covariance."""
    K = C @ A.T @ np.linalg.inv(A @ C @ A.T + gamma)
    return mean + K @ (y - A @ mean), C - K @ A @ C


def initial_ensemble(strategy, problem, seed):
    """The ensemble `solve` starts from with this seed (init draws first)."""
    from dataclasses import replace

    s = replace(strategy, prior=problem.prior)
    return s.init(problem.prior.mean, rng=np.random.default_rng(seed)).ensemble


# -- closed forms ---------------------------------------------------------------------
@pytest.mark.parametrize("m", [5, 2])  # J > m and J < m: both sides of the Gram algebra
@pytest.mark.parametrize("scheduler", [None, DefaultScheduler(0.25)])
def test_etki_is_the_exact_tempered_posterior_of_its_initial_ensemble(m, scheduler):
    """Linear G: ETKI at time t = Kalman analysis with noise Gamma / t, from (mean, cov) of U0."""
    problem, A, y, gamma, *_ = linear_problem(m=m)
    J = 4 if m == 5 else 12
    opts = {} if scheduler is None else {"scheduler": scheduler}
    maxiter = None if scheduler is None else 4  # 4 constant steps of 0.25
    res = solve(
        problem, "etki", n_ensemble=J, rng=3, workers="vectorized", options=opts, maxiter=maxiter
    )
    assert res.success == (scheduler is None)
    assert res.time == pytest.approx(1.0)
    U0 = initial_ensemble(ETKI(n_ensemble=J), problem, 3)
    mean, cov = kalman(U0.mean(axis=0), np.cov(U0.T), A, y, gamma / res.time)
    np.testing.assert_allclose(res.mean, mean, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(res.cov, cov, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("p", [3, 40])
def test_deterministic_eki_step_is_the_kalman_update_of_each_member(p):
    """One step of deterministic EKI moves every member by K (y - A u_j), K from the ensemble."""
    problem, A, y, gamma, *_ = linear_problem(p=p)
    res = solve(
        problem,
        EKI(n_ensemble=10, perturbed=False, scheduler=0.5),
        rng=0,
        maxiter=1,
        workers="vectorized",
    )
    U0 = initial_ensemble(EKI(n_ensemble=10), problem, 0)
    C = np.cov(U0.T)
    K = C @ A.T @ np.linalg.inv(A @ C @ A.T + gamma / 0.5)
    expected = U0 + (y - U0 @ A.T) @ K.T
    np.testing.assert_allclose(res.ensemble, expected, rtol=1e-9, atol=1e-10)


def test_eki_mean_matches_the_posterior_within_sampling_error():
    problem, A, y, gamma, m0, C0 = linear_problem()
    post_mean, post_cov = kalman(m0, C0, A, y, gamma)
    res = solve(problem, "eki", n_ensemble=2000, rng=0, workers="vectorized")
    assert res.message.startswith("DataMisfitController") and res.time == pytest.approx(1.0)
    err = np.abs(res.mean - post_mean) / np.sqrt(np.diag(post_cov))
    assert err.max() < 0.15  # about 3 standard errors at J = 2000
    np.testing.assert_allclose(res.cov, post_cov, atol=0.1 * np.abs(post_cov).max())


def test_eki_error_shrinks_with_ensemble_size():
    problem, A, y, gamma, m0, C0 = linear_problem()
    post_mean, post_cov = kalman(m0, C0, A, y, gamma)

    def error(J):
        errs = [
            solve(problem, "eki", n_ensemble=J, rng=s, workers="vectorized").mean - post_mean
            for s in range(4)
        ]
        return np.sqrt(np.mean(np.square(errs)))

    assert error(800) < 0.5 * error(50)


@pytest.mark.parametrize("dense", [False, True])
def test_teki_converges_to_the_tikhonov_solution(dense):
    """TEKI (lambda = 4, dense or diagonal noise) -> argmin |y - Au|^2_Gamma + 4 |u - m0|^2_C0."""
    problem, A, y, gamma, m0, C0 = linear_problem(p=4, m=2, dense_noise=dense)
    lam = 4.0
    Gi = np.linalg.inv(gamma)
    H = A.T @ Gi @ A + lam * np.linalg.inv(C0)
    u_tik = np.linalg.solve(H, A.T @ Gi @ y + lam * np.linalg.solve(C0, m0))
    teki = TEKI(n_ensemble=20, regularization=lam, scheduler=CONTINUE, perturbed=False)
    res = solve(problem, teki, rng=0, maxiter=40, workers="vectorized")
    np.testing.assert_allclose(res.mean, u_tik, atol=1e-6)
    # The least-squares problem is underdetermined (m < p): plain EKI goes elsewhere.
    eki = solve(problem, EKI(n_ensemble=20, scheduler=CONTINUE), rng=0, maxiter=40)
    assert np.abs(eki.mean - u_tik).max() > 1e-2


@pytest.mark.parametrize("method", [EKI, ETKI])
def test_minimize_on_a_residual_reaches_least_squares(method):
    A = np.asarray([[1.0, 2.0], [0.0, 1.0], [1.0, -1.0], [2.0, 0.5]])
    y = np.asarray([1.0, 2.0, 3.0, -1.0])
    x_ls = np.linalg.lstsq(A, y, rcond=None)[0]
    strategy = method(n_ensemble=12, scheduler=CONTINUE)
    res = minimize(
        lambda U: U @ A.T - y, np.zeros(2), method=strategy, workers="vectorized", rng=0
    )
    np.testing.assert_allclose(res.x, x_ls, atol=1e-5)
    assert res.fun == pytest.approx(0.5 * np.sum((A @ x_ls - y) ** 2), rel=1e-6)
    assert res.success and "collapse" in res.message
    serial = minimize(lambda u: A @ u - y, np.zeros(2), method=strategy, rng=0)  # one by one
    np.testing.assert_allclose(serial.x, res.x, rtol=1e-12)


def test_members_stay_in_the_span_of_the_initial_ensemble():
    """Iglesias et al. (2013): every EKI update is a combination of the members."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 10))
    y = rng.standard_normal(6)
    strategy = EKI(n_ensemble=4, scheduler=0.5)
    U0 = strategy.init(np.zeros(10), rng=np.random.default_rng(5)).ensemble
    res = minimize(
        lambda U: U @ A.T - y,
        np.zeros(10),
        method=strategy,
        rng=5,
        maxiter=15,
        workers="vectorized",
    )
    Q, _ = np.linalg.qr(U0.T)  # orthonormal basis of span{u_j}
    U = res.state.ensemble
    np.testing.assert_allclose(U - (U @ Q) @ Q.T, 0.0, atol=1e-10)


# -- the Gram algebra on both sides ---------------------------------------------------
@pytest.mark.parametrize(("n", "M"), [(6, 9), (9, 4)])
def test_gram_algebra_matches_dense_formulas(n, M):
    rng = np.random.default_rng(0)
    B = rng.standard_normal((n, M))
    B -= B.mean(axis=0)
    D = rng.standard_normal((n, M))
    rbar = rng.standard_normal(M)
    K = B @ B.T / (n - 1)
    W = np.linalg.solve(K + np.eye(n) / 0.3, B @ D.T) / (n - 1)
    np.testing.assert_allclose(gain_weights(B, D, 0.3), W, rtol=1e-10, atol=1e-12)
    Omega = np.linalg.inv(np.eye(n) + 0.3 * K)
    w, T = transform_weights(B, rbar, 0.3)
    np.testing.assert_allclose(w, -0.3 * Omega @ B @ rbar / (n - 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(T @ T, Omega, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(T, T.T, atol=1e-12)
    np.testing.assert_allclose(T @ np.ones(n), np.ones(n), atol=1e-12)  # keeps centring
    X = rng.standard_normal((3, M))
    expected = X @ np.linalg.inv(np.eye(M) + 0.3 * B.T @ B)
    np.testing.assert_allclose(shrink_rows(B, X, 0.3), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", [EKI, ETKI, TEKI, EKS])
def test_large_parameter_dimension_runs_in_ensemble_space(method):
    """p = 1e5, J = 50, m = 100: a (p + m)^2 joint covariance would need 80 GB."""
    p, m, J = 100_000, 100, 50
    rng = np.random.default_rng(0)
    W = rng.standard_normal((m, 32)) / 6
    strategy = method(n_ensemble=J, scheduler=0.5)
    state = strategy.init(np.zeros(p), rng=rng)
    X, state = strategy.ask(state, rng=rng)
    new = strategy.tell(state, X, np.tanh(X[:, :32]) @ W.T + 1.0)
    assert new.ensemble.shape == (J, p) and np.isfinite(new.ensemble).all()
    assert new.misfit < state.ensemble.shape[1]  # diagnostics filled in


# -- failures -------------------------------------------------------------------------
def _told(strategy, values_fn, *, seed=0, p=3):
    state = strategy.init(np.zeros(p), rng=np.random.default_rng(seed))
    X, state = strategy.ask(state, rng=np.random.default_rng(seed + 1))
    return state, X, values_fn(X)


@pytest.mark.parametrize("method", [EKI, ETKI, TEKI, EKS])
def test_failed_members_are_redrawn_from_the_successful_ones(method):
    """SampleSuccGauss: the successful members get the update computed from them alone."""
    strategy = method(n_ensemble=10, scheduler=0.5)
    state, X, values = _told(strategy, lambda X: X - 1.0)
    bad = np.asarray([1, 4, 7])
    values = values.copy()
    values[bad[0], 0] = np.nan
    values[bad[1]] = np.inf
    values[bad[2], 2] = -np.inf
    new = strategy.tell(state, X, values)
    good = np.setdiff1d(np.arange(10), bad)
    sub = strategy.__class__(**{**strategy.__dict__, "n_ensemble": 7})
    sub_state = type(state)(ensemble=X[good], prior=state.prior, seed=state.seed)
    # the deterministic rules give exactly the subset update; EKI's perturbations are
    # drawn for the successful rows first, so its subset update is the same too
    expected = sub.tell(sub_state, X[good], values[good]).ensemble
    np.testing.assert_allclose(new.ensemble[good], expected, rtol=1e-12)
    assert np.isfinite(new.ensemble).all() and new.n_failed == 3
    assert not np.allclose(new.ensemble[bad], X[bad])  # redrawn


@pytest.mark.parametrize("method", [EKI, ETKI, TEKI, EKS])
def test_failures_on_every_namespace(method, xp):
    strategy = method(n_ensemble=6, scheduler=0.5)
    state = strategy.init(xp.asarray([0.5, -1.0, 2.0]), rng=np.random.default_rng(0))
    X, state = strategy.ask(state, rng=np.random.default_rng(1))
    nan_row = xp.asarray([True, False, False, True, False, False])[:, None]
    values = xp.where(nan_row, xp.asarray(float("nan"), dtype=X.dtype), X - 1.0)
    new = strategy.tell(state, X, values)
    assert array_namespace(new.ensemble) is array_namespace(X)
    assert np.isfinite(to_host(new.ensemble)).all() and new.n_failed == 2


def test_thirty_percent_failures_still_recover_the_posterior():
    problem, A, y, gamma, m0, C0 = linear_problem()
    post_mean, post_cov = kalman(m0, C0, A, y, gamma)
    calls = {"n": 0}

    def flaky(U):
        out = U @ A.T
        rng = np.random.default_rng(calls["n"])
        calls["n"] += 1
        out[rng.random(U.shape[0]) < 0.3] = np.nan
        return out

    flaky_problem = InverseProblem(flaky, y, np.diag(gamma), m0, np.diag(C0))
    res = solve(flaky_problem, "etki", n_ensemble=400, rng=0, workers="vectorized")
    assert res.success and np.isfinite(res.ensemble).all()
    assert 0.2 < res.state.n_failed / 400 < 0.4
    err = np.abs(res.mean - post_mean) / np.sqrt(np.diag(post_cov))
    assert err.max() < 0.3


@pytest.mark.parametrize("method", [EKI, ETKI, TEKI, EKS])
def test_fewer_than_two_successes_raise(method):
    strategy = method(n_ensemble=6, scheduler=0.5)
    state, X, values = _told(strategy, lambda X: X - 1.0)
    values = values.copy()
    values[1:] = np.nan
    with pytest.raises(ValueError, match="only 1 of 6 ensemble members"):
        strategy.tell(state, X, values)
    values[0] = np.nan
    with pytest.raises(ValueError, match="only 0 of 6"):
        strategy.tell(state, X, values)


def test_fewer_than_two_successes_through_a_run_raise_not_hang():
    def one_alive(U):
        out = U - 1.0
        out[1:] = np.nan
        return out

    with pytest.raises(ValueError, match="at least 2"):
        minimize(one_alive, np.zeros(3), method=EKI(n_ensemble=5), workers="vectorized", rng=0)
    res = minimize(
        lambda U: U * np.nan, np.zeros(3), method=EKI(n_ensemble=5), workers="vectorized", rng=0
    )
    assert res.status == Status.NONFINITE


# -- protocol details -----------------------------------------------------------------
@pytest.mark.parametrize("method", [EKI, ETKI, TEKI, EKS])
def test_tell_is_pure_and_seeded(method, xp):
    strategy = method(n_ensemble=7, scheduler=0.5)
    x0 = xp.asarray([0.5, -1.0, 2.0, 0.0])
    state = strategy.init(x0, rng=np.random.default_rng(0))
    X, state = strategy.ask(state, rng=np.random.default_rng(1))
    values = X[:, :3] * 2.0 - 1.0
    before = to_host(state.ensemble).copy()
    a, b = strategy.tell(state, X, values), strategy.tell(state, X, values)
    assert_states_equal(a, b)
    np.testing.assert_array_equal(to_host(state.ensemble), before)
    assert array_namespace(a.ensemble) is array_namespace(x0)
    assert a.ensemble.shape == (7, 4) and a.ensemble.dtype == x0.dtype
    X2, _ = strategy.ask(state, rng=np.random.default_rng(2))  # another ask, same ensemble
    np.testing.assert_array_equal(to_host(X2), to_host(X))


def test_tell_needs_the_preceding_ask():
    strategy = EKI(n_ensemble=4)
    state = strategy.init(np.zeros(2), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="preceding `ask`"):
        strategy.tell(state, state.ensemble, np.zeros((4, 2)))
    X, state = strategy.ask(state, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"`values` must have shape \(4, m\)"):
        strategy.tell(state, X, np.zeros(4))


def test_float32_stays_float32():
    problem, *_ = linear_problem()
    p32 = InverseProblem(
        problem.forward,
        np.asarray(to_host(problem.observation.mean), dtype=np.float32),
        0.1,
        np.zeros(3, dtype=np.float32),
        1.0,
    )
    res = solve(p32, "eki", n_ensemble=20, rng=0, workers="vectorized")
    assert res.ensemble.dtype == np.float32 and res.mean.dtype == np.float32
    assert res.x.dtype == np.float32


# -- schedulers and stop rules ---------------------------------------------------------
def test_data_misfit_controller_reaches_time_one_and_stops():
    problem, *_ = linear_problem()
    seen = []
    res = solve(
        problem,
        "eki",
        n_ensemble=30,
        rng=0,
        workers="vectorized",
        callback=lambda r: seen.append(r.state.dt),
    )
    assert res.status == Status.CONVERGED and res.success
    assert res.message.startswith("DataMisfitController: algorithm time t = 1 reached")
    assert sum(seen) == pytest.approx(1.0, abs=1e-12) and res.time == pytest.approx(1.0)
    assert 1 < res.nit < 50 and res.nfev == 30 * res.nit


def test_data_misfit_controller_variants():
    misfits, r = np.asarray([1.0, 2.0, 3.0]), np.zeros((3, 4))  # m = 4
    cont = DataMisfitController(on_terminate="continue")
    fixed = DataMisfitController(on_terminate="continue_fixed")
    q = max(4 / (2 * 2.0), np.sqrt(4 / (2 * 1.0)))
    assert cont.step_size(1.0, 0.3, misfits, r) == pytest.approx(q)
    assert fixed.step_size(1.0, 0.3, misfits, r) == 0.3
    assert cont.stop_message(5.0) is None and fixed.stop_message(5.0) is None
    assert DataMisfitController(terminate_at=2.0).step_size(1.5, None, misfits, r) == 0.5
    assert DataMisfitController().step_size(0.0, None, np.zeros(3), r) == 1.0  # exact fit
    assert DataMisfitController(terminate_at=np.inf).stop_message(1e9) is None


def test_discrepancy_principle_stops_at_the_noise_level():
    problem, A, y, gamma, *_ = linear_problem(p=3, m=40)
    strategy = EKI(n_ensemble=30, scheduler=CONTINUE, discrepancy=1.5)
    res = solve(problem, strategy, rng=0, workers="vectorized", maxiter=100)
    assert res.success and res.message.startswith("Discrepancy principle")
    # the stopped ensemble is the one evaluated last, and it meets the bound
    np.testing.assert_array_equal(res.ensemble, res.population)
    r = np.linalg.solve(np.linalg.cholesky(gamma), (res.population @ A.T).mean(axis=0) - y)
    assert np.linalg.norm(r) <= 1.5 * np.sqrt(40)
    assert res.state.misfit == pytest.approx(0.5 * r @ r)


def test_xtol_and_collapse_stop():
    problem, *_ = linear_problem()
    res = solve(problem, EKI(n_ensemble=10, scheduler=CONTINUE, xtol=1e-3), rng=0, maxiter=200)
    assert res.success and res.message.startswith("`xtol`")
    res = solve(problem, ETKI(n_ensemble=10, scheduler=1.0, collapse_tol=0.5), rng=0)
    assert res.success and res.message.startswith("Ensemble collapse")
    assert res.state.spread <= 0.5 * res.state.spread0


def test_default_scheduler_runs_to_maxiter():
    problem, *_ = linear_problem()
    res = solve(problem, ETKI(n_ensemble=10, scheduler=DefaultScheduler(0.1)), rng=0, maxiter=7)
    assert res.status == Status.MAXITER and res.time == pytest.approx(0.7)


def test_run_accepts_a_prior_directly():
    """`prior` as an option: the initial ensemble is drawn from it, not around x0."""
    prior = Gaussian(np.full(2, 10.0), np.asarray([[1.0, 0.5], [0.5, 1.0]]))
    strategy = ETKI(n_ensemble=2000, prior=prior, scheduler=0.5)
    state = strategy.init(np.zeros(2), rng=np.random.default_rng(0))
    np.testing.assert_allclose(state.ensemble.mean(axis=0), 10.0, atol=0.1)
    np.testing.assert_allclose(np.cov(state.ensemble.T), to_host(prior.cov), atol=0.1)
    res = run(strategy, lambda U: U - 10.0, np.zeros(2), rng=0, maxiter=2, workers="vectorized")
    assert res.nit == 2


# -- the sampler ------------------------------------------------------------------------
@pytest.mark.parametrize(("p", "n"), [(4, 6), (8, 5)])  # p x p solve, and Woodbury J x J
def test_eks_step_matches_the_dense_semi_implicit_formula(p, n):
    """One ALDI step: explicit data drift and correction, implicit prior, noise 2 dt C."""
    problem, A, y, gamma, m0, C0 = linear_problem(p=p, m=3)
    eks = EKS(n_ensemble=n, scheduler=0.3, prior=problem.prior)
    state = eks.init(np.zeros(p), rng=np.random.default_rng(0))
    U, state = eks.ask(state, rng=np.random.default_rng(1))
    R = problem.residual(U)
    new = eks.tell(state, U, R).ensemble
    dt = 0.3
    Ad, Bd = U - U.mean(axis=0), R - R.mean(axis=0)
    C = Ad.T @ Ad / n
    rhs = U - dt * (R @ Bd.T @ Ad) / n + dt * (p + 1) / n * Ad
    implicit = np.eye(p) + dt * C @ np.linalg.inv(C0)
    ustar = m0 + np.linalg.solve(implicit, (rhs - m0).T).T
    xi = np.random.default_rng(state.seed).standard_normal((n, n))
    np.testing.assert_allclose(new, ustar + np.sqrt(2 * dt / n) * xi @ Ad, rtol=1e-10)


@pytest.mark.parametrize(("sampler", "J"), [("aldi", 20), ("eks", 100)])
def test_eks_samples_the_linear_gaussian_posterior(sampler, J):
    problem, A, y, gamma, m0, C0 = linear_problem()
    post_mean, post_cov = kalman(m0, C0, A, y, gamma)
    pooled = []
    res = solve(
        problem,
        EKS(n_ensemble=J, sampler=sampler),
        rng=0,
        maxiter=500,
        workers="vectorized",
        callback=lambda r: pooled.append(r.state.ensemble) if r.nit > 200 else None,
    )
    assert res.status == Status.MAXITER
    pool = np.concatenate(pooled)
    err = np.abs(pool.mean(axis=0) - post_mean) / np.sqrt(np.diag(post_cov))
    assert err.max() < 0.15
    ratio = np.diag(np.cov(pool.T)) / np.diag(post_cov)
    assert ((0.8 < ratio) & (ratio < 1.3)).all()


def test_eks_stable_step_and_options():
    r = np.asarray([[1.0, 0.0], [-1.0, 2.0], [0.0, -2.0]])
    D = r @ (r - r.mean(axis=0)).T / 3
    dt = EKSStable(alpha=0.5).step_size(0.0, None, np.ones(3), r)
    assert dt == pytest.approx(0.5 / (np.linalg.norm(D) + 1e-8))
    assert EKSStable().stop_message(1e9) is None
    assert EKS().scheduler == EKSStable(alpha=0.1) and EKS().collapse_tol is None
    with pytest.raises(ValueError, match="`sampler`"):
        EKS(sampler="langevin")
    with pytest.raises(ValueError, match="`alpha`"):
        EKSStable(alpha=0.0)


@pytest.mark.parametrize("cls", [EKI, UKI])
def test_step_size_is_the_spread_sqrt_trace_c(cls):
    """`step_size` (the ``sigma`` column of a job's history) is ``sqrt(trace C)``: of the
    ensemble told (EKI), of the updated covariance (UKI)."""
    rng = np.random.default_rng(0)
    strategy = cls(n_ensemble=10) if cls is EKI else cls()
    state = strategy.init(np.zeros(3), rng=rng)
    X, state = strategy.ask(state, rng=rng)
    new = strategy.tell(state, X, np.tanh(X) + 1.0)
    C = np.cov(X.T) if cls is EKI else new.cov
    assert strategy.step_size(new) == pytest.approx(np.sqrt(np.trace(C)), rel=1e-9)
