"""Act 3: a Bayesian inverse problem: the estimate, its uncertainty, the truth.

An exponential decay ``y(t) = A exp(-k t)`` observed at 15 times with noise; both
parameters are positive, so the prior is Gaussian in ``log A, log k`` (the
`gradfree.kalman.Transform` of a lower bound). EKI stopped at algorithm time 1
(Iglesias, Law & Stuart 2013; the data-misfit controller of Iglesias & Yang 2021)
and UKI with the prior imposed (Huang, Schneider & Stuart 2022) approximate the
posterior; the reference is the exact posterior by quadrature on a 300 x 300 grid,
and scipy's `curve_fit` gives the usual point estimate with a Laplace covariance
(flat prior).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.optimize

from ..kalman import UKI, InverseProblem, Transform, solve
from ._table import Act, secs

__all__ = ["inverse_act"]

_TIMES = np.linspace(0.0, 4.0, 15)
_TRUTH = np.asarray([2.0, 0.7])  # amplitude A, rate k
_NOISE = 0.1
_POSITIVE = Transform([0.0, 0.0], [np.inf, np.inf])  # A, k > 0: phi = exp(u)


def _decay(phi: Any) -> np.ndarray:
    """``A exp(-k t)`` at the observation times, for ``(2,)`` or a batch ``(n, 2)``."""
    phi = np.atleast_2d(phi)
    return phi[:, :1] * np.exp(-phi[:, 1:2] * _TIMES)


def _grid_posterior(
    problem: InverseProblem, y: np.ndarray, n: int = 300
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Posterior mean and std of ``phi = T(u)`` by quadrature on a grid in ``u``."""
    m0 = problem.prior.mean
    c0 = np.diag(problem.prior.dense_cov())
    axes = [np.linspace(m - 4 * np.sqrt(c), m + 4 * np.sqrt(c), n) for m, c in zip(m0, c0)]
    U = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
    phi = _POSITIVE.to_constrained(U)
    misfit = ((_decay(phi) - y) ** 2).sum(axis=1) / _NOISE**2
    log_post = -0.5 * misfit - 0.5 * (((U - m0) ** 2) / c0).sum(axis=1)
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    mean = w @ phi
    return mean, np.sqrt(w @ (phi - mean) ** 2), {"phi": phi, "weights": w}


def inverse_act(*, quick: bool, seed: int, maxfev: int | None) -> Act:
    """EKI, UKI, the exact posterior and curve_fit on the decay problem."""
    del maxfev
    start = time.perf_counter()
    g = np.random.default_rng(seed)
    y = _decay(_TRUTH)[0] + _NOISE * g.standard_normal(_TIMES.size)
    problem = InverseProblem(
        _decay, y=y, noise_cov=_NOISE**2, prior_mean=np.log([1.0, 1.0]),
        prior_cov=np.asarray([0.5, 0.5]) ** 2, transform=_POSITIVE,
    )  # fmt: skip
    rows: list[list[Any]] = []

    def row(name: str, mean: Any, std: Any, runs: int, t0: float) -> None:
        rows.append([name, *[f"{m:.3f} ± {s:.3f}" for m, s in zip(mean, std)], runs,
                     secs(time.perf_counter() - t0)])  # fmt: skip

    t0 = time.perf_counter()
    eki = solve(problem, "eki", n_ensemble=100 if quick else 400, rng=seed, workers="vectorized")
    phi = eki.constrained_ensemble
    row("gradfree EKI (stops at t = 1)", phi.mean(axis=0), phi.std(axis=0, ddof=1), eki.nfev, t0)
    t0 = time.perf_counter()
    uki = solve(problem, UKI(impose_prior=True, update_freq=1), workers="vectorized", maxiter=20)
    draws = _POSITIVE.to_constrained(
        np.random.default_rng(seed).multivariate_normal(uki.mean, uki.cov, 20_000)
    )
    row("gradfree UKI", draws.mean(axis=0), draws.std(axis=0), uki.nfev, t0)
    t0 = time.perf_counter()
    p, cov, info, *_ = scipy.optimize.curve_fit(
        lambda t, a, k: a * np.exp(-k * t), _TIMES, y, p0=[1.0, 1.0],
        sigma=np.full(_TIMES.size, _NOISE), absolute_sigma=True, full_output=True,
    )  # fmt: skip
    row("scipy curve_fit (Laplace, flat prior)", p, np.sqrt(np.diag(cov)), info["nfev"], t0)
    t0 = time.perf_counter()
    n_grid = 150 if quick else 300
    mean, std, grid = _grid_posterior(problem, y, n_grid)
    row(f"exact posterior ({n_grid} x {n_grid} grid)", mean, std, n_grid**2, t0)
    rows.append(["truth", *[f"{v:.3f}" for v in _TRUTH], "", ""])
    ref = np.asarray([mean, std])

    def gap(m: Any, s: Any) -> float:
        return float(np.abs(np.asarray([m, s]) - ref).max())

    reading = (
        "Largest gap to the exact posterior mean or std: "
        f"EKI {gap(phi.mean(axis=0), phi.std(axis=0, ddof=1)):.3f}, "
        f"UKI {gap(draws.mean(axis=0), draws.std(axis=0)):.3f}, "
        f"curve_fit {gap(p, np.sqrt(np.diag(cov))):.3f}. The grid needs n^p model runs, "
        "so it is a reference for p = 2 only; EKI and UKI run their model in batches of "
        "an ensemble (EKI) or 2p + 1 sigma points (UKI) per iteration."
    )
    return Act(
        title="3. A Bayesian inverse problem: estimate, uncertainty, truth",
        setting=(
            "y(t) = A exp(-k t) at 15 times in [0, 4], noise sd 0.1; prior log A, log k ~ "
            "N(0, 0.5^2) (A, k > 0 through a Transform); posterior mean ± std."
        ),
        header=["method", "A", "k", "model runs", "seconds"],
        rows=rows,
        reading=reading,
        seconds=time.perf_counter() - start,
        plot={
            "ensemble": phi,
            "truth": _TRUTH,
            "uki": draws[:2000],
            "curve_fit": p,
            **grid,
            "n_grid": n_grid,
        },  # fmt: skip
    )
