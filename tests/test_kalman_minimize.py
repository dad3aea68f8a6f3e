"""Ensemble Kalman methods through `gradfree.minimize`: they keep an optimizer's promises.

A scalar objective is refused naming `fun`; an unset scheduler runs to a convergence
rule (not to the Bayesian stop at algorithm time 1, which stays the default of
`kalman.solve`); ``res.fun`` is ``0.5 ||r(x)||^2``; an accelerator switches the
observation perturbations off; `bounds` point to the transform.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gradfree import Optimizer, minimize
from gradfree.kalman import EKI, ETKI, TEKI, DataMisfitController, InverseProblem, solve

INVERSIONS = ["eki", "etki", "teki"]


def _least_squares(m=30, p=10, seed=0):
    rng = np.random.default_rng(seed)
    A, y = rng.normal(size=(m, p)), rng.normal(size=m)
    return A, y, np.linalg.lstsq(A, y, rcond=None)[0]


@pytest.mark.parametrize("method", [*INVERSIONS, "uki", "eks"])
@pytest.mark.parametrize("workers", [1, "vectorized"])
def test_a_scalar_objective_is_a_type_error_naming_fun(method, workers):
    fun = (lambda x: float(x @ x) - 1.0) if workers == 1 else (lambda X: (X * X).sum(1) - 1.0)
    with pytest.raises(TypeError, match=r"`fun` returned one number per point.*cma-es"):
        minimize(fun, np.ones(3), method=method, rng=0, maxiter=5, workers=workers)


def test_a_one_output_residual_is_still_a_residual():
    res = minimize(
        lambda x: np.asarray([x.sum() - 2.0]), np.zeros(2), method="eki", rng=0, maxiter=30
    )
    assert res.population_values.shape[1] == 1
    assert res.fun < 1e-8


@pytest.mark.parametrize("method", INVERSIONS)
def test_minimize_runs_a_linear_fit_to_convergence(method):
    A, y, x_ls = _least_squares()
    res = minimize(
        lambda U: U @ A.T - y,
        np.zeros(10),
        method=method,
        workers="vectorized",
        rng=0,
        maxiter=200,
    )
    assert res.nit > 10 and res.success, res.message
    assert "DataMisfitController" not in res.message  # a convergence rule, not t = 1
    tol = 0.05 if method == "teki" else 1e-5  # TEKI: the Tikhonov minimizer, near x_ls
    assert np.linalg.norm(res.x - x_ls) < tol
    # res.fun is the objective the user sees: 0.5 ||r(x)||^2 at the returned x
    assert res.fun == pytest.approx(0.5 * np.sum((A @ res.x - y) ** 2), rel=1e-12)


def test_uki_runs_a_linear_fit_to_its_solution():
    A, y, x_ls = _least_squares()
    res = minimize(
        lambda U: U @ A.T - y, np.zeros(10), method="uki", workers="vectorized", maxiter=200
    )
    assert np.linalg.norm(res.x - x_ls) < 1e-8
    assert res.fun == pytest.approx(0.5 * np.sum((A @ res.x - y) ** 2), rel=1e-12)


def test_maxiter_is_a_budget_not_a_stop_at_time_one():
    res = minimize(
        lambda U: U - 1.0, np.zeros(50), method="eki", workers="vectorized", rng=0, maxiter=50
    )
    assert res.nit == 50 and res.message.startswith("Maximum number of iterations")
    assert res.fun < 1e-4  # 25 at x0
    res = minimize(
        lambda U: U - 1.0, np.zeros(10), method="eki", workers="vectorized", rng=0, maxfev=1500
    )
    assert res.nfev == 1500 and res.fun < 1e-3  # 5 at x0


def test_optimizer_and_configured_strategies_also_run_past_time_one():
    A, y, x_ls = _least_squares()
    opt = Optimizer(EKI(n_ensemble=40), np.zeros(10), rng=0, maxiter=60)
    while not opt.stop():
        X = opt.ask()
        opt.tell(X, X @ A.T - y)
    assert opt.result().nit > 3
    assert np.linalg.norm(opt.result().x - x_ls) < 1e-4


def test_an_explicit_scheduler_is_kept():
    A, y, _ = _least_squares()
    etki = ETKI(scheduler=DataMisfitController())
    res = minimize(
        lambda U: U @ A.T - y, np.zeros(10), method=etki, workers="vectorized", rng=0, maxiter=200
    )
    assert res.message.startswith("DataMisfitController: algorithm time t = 1")


@pytest.mark.parametrize("method", INVERSIONS)
def test_solve_keeps_the_bayesian_stop_at_time_one(method):
    A, y, _ = _least_squares()
    problem = InverseProblem(
        lambda U: U @ A.T, y=y, noise_cov=1.0, prior_mean=np.zeros(10), prior_cov=1.0
    )
    res = solve(problem, method, n_ensemble=40, rng=0, workers="vectorized", maxiter=200)
    assert res.time == pytest.approx(1.0) and res.nit < 20
    assert res.message.startswith("DataMisfitController: algorithm time t = 1")


def _exp_sin(U):
    """EKP's exp-sin example: amplitude and offset of exp(u0) sin(x) + u1 from two statistics."""
    x = np.linspace(0, 2 * np.pi, 50)
    f = np.exp(U[:, :1]) * np.sin(x) + U[:, 1:2]
    return np.stack([f.max(1) - f.min(1), f.mean(1)], 1)


def test_an_accelerator_switches_the_perturbations_off():
    assert EKI().perturbs and not EKI(accelerator="nesterov").perturbs
    assert TEKI(accelerator="first-order", perturbed=False).perturbs is False
    with pytest.warns(UserWarning, match="`perturbed=True` with an `accelerator`"):
        EKI(accelerator="nesterov", perturbed=True).init(np.zeros(2), rng=np.random.default_rng())
    y = _exp_sin(np.asarray([[np.log(2.0), 1.5]]))[0]

    def log_cost(**opts):
        strategy = EKI(n_ensemble=10, accelerator="nesterov", **opts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return np.mean(
                [
                    np.log10(
                        minimize(
                            lambda U: (_exp_sin(U) - y) / 0.1,
                            np.zeros(2),
                            method=strategy,
                            workers="vectorized",
                            rng=seed,
                            maxiter=20,
                        ).fun
                    )
                    for seed in range(5)
                ]
            )

    assert log_cost() < log_cost(perturbed=True) - 1.5  # measured: -4.6 against -1.6


@pytest.mark.parametrize("method", [*INVERSIONS, "uki", "eks"])
def test_bounds_name_the_transform(method):
    with pytest.raises(ValueError, match=r"`bounds`.*InverseProblem.*kalman\.Transform"):
        minimize(lambda x: x - 0.5, np.full(2, 0.5), method=method, bounds=[(0, 1)] * 2)
