"""Ensemble Kalman inversion: gradfree's EKI / ETKI / UKI against ``kalman-inversion-lib``.

**Benchmark 1, Lorenz-96 forcing from time-averaged statistics** (the setting of
EnsembleKalmanProcesses.jl's ``examples/Lorenz``): N = 36 variables,
``dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F(t)`` with
``F(t) = F_s + A sin(2 pi t / 5)``; learn ``theta = (F_s, A)``, truth ``(8, 2.5)``, from
the time mean and variance of every variable over ``t in [2, 12]`` (72 statistics;
RK4, dt = 0.05, one fixed initial state, so G is deterministic). Gamma is the diagonal
of the sample variance of the statistics over 16 independent truth windows; the data
are the statistics of one further truth window. Prior ``N((6, 1), diag(4, 4))``,
J = 20 for the EKIs. gradfree runs ``EKI`` (perturbed observations) and ``ETKI`` with
``DataMisfitController(on_terminate='continue')`` for 10 generations (200 forward
evaluations) and ``UKI(update_freq=1)`` for 20 generations (100 evaluations), all with
``workers='vectorized'`` (one batched RK4 integration per generation). The peer runs
``EnsembleKalmanInversion`` (J = 20) and ``UnscentedKalmanInversion`` with its
``DataMisfitTimeStepScheduler`` and ``num_iterations=3`` (each iteration integrates to
algorithm time 1 with steps capped at 0.75 and evaluates the model twice per step);
its forward model is called once per member (its API has no batched evaluation).
Reported per method, mean over seeds: the parameter error ``||theta - theta*||`` and
the data misfit ``0.5 ||Gamma^{-1/2} (G(theta) - y)||^2`` at the final mean, forward
evaluations and wall time.

**Benchmark 2, time per EKI update** (forward model excluded) at J = 50, m = 100 and
p = 1e3, 1e4, 1e5: gradfree's ``EKI.tell`` (perturbed observations, constant step)
against one peer ``predict_step`` + ``analysis_step`` (whose forward model is
the cheap ``u -> u[:m]``). The peer draws its prediction noise from a p x p covariance with
``multivariate_normal`` (an SVD, O(p^3) time and p^2 memory) and forms p x m and
m x m covariances; it is run only where that fits (p <= 2e3).

Run: ``python benchmarks/kalman.py`` (writes ``benchmarks/results/kalman.json``) or
``--quick`` (``kalman_quick.json``: fewer seeds, smaller sizes). Needs
``pip install kalman-inversion-lib``. The peer imports ``tqdm.notebook``, which fails
outside Jupyter; its progress bar is replaced by a no-op here.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import gradfree  # noqa: E402
from gradfree import run  # noqa: E402
from gradfree.kalman import EKI, ETKI, DataMisfitController, Gaussian  # noqa: E402
from gradfree.kalman._uki import UKI  # noqa: E402

N_L96, DT, SPIN, WINDOW, PERIOD = 36, 0.05, 2.0, 10.0, 5.0
TRUTH = np.asarray([8.0, 2.5])
PRIOR_MEAN, PRIOR_VAR = np.asarray([6.0, 1.0]), np.asarray([4.0, 4.0])


def l96_stats(theta: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Time mean and variance of each variable, for a batch ``theta`` (n, 2) -> (n, 72)."""
    theta = np.atleast_2d(theta)
    n = theta.shape[0]
    x = np.repeat(x0[None, :], n, axis=0)
    Fs, A = theta[:, :1], theta[:, 1:]

    def rhs(x, t):
        return (
            (np.roll(x, -1, 1) - np.roll(x, 2, 1)) * np.roll(x, 1, 1)
            - x
            + Fs
            + A * np.sin(2 * np.pi * t / PERIOD)
        )

    n_spin, n_win = int(SPIN / DT), int(WINDOW / DT)
    s1, s2 = np.zeros_like(x), np.zeros_like(x)
    for k in range(n_spin + n_win):
        t = k * DT
        k1 = rhs(x, t)
        k2 = rhs(x + DT / 2 * k1, t + DT / 2)
        k3 = rhs(x + DT / 2 * k2, t + DT / 2)
        k4 = rhs(x + DT * k3, t + DT)
        x = x + DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if k >= n_spin:
            s1 += x
            s2 += x * x
    mean = s1 / n_win
    return np.concatenate([mean, s2 / n_win - mean**2], axis=1)


def make_data():
    rng = np.random.default_rng(2024)
    starts = rng.standard_normal((18, N_L96)) + 8.0
    stats = np.concatenate([l96_stats(TRUTH, s) for s in starts[:17]])
    gamma = stats[:16].var(axis=0, ddof=1) + 1e-6
    return stats[16], gamma, starts[17]  # data, Gamma (diagonal), the models' start


class Counter:
    """Count forward evaluations (rows) of a model."""

    def __init__(self, fun):
        self.fun, self.n = fun, 0

    def __call__(self, theta):
        theta = np.atleast_2d(theta)
        self.n += theta.shape[0]
        return self.fun(theta)


def gradfree_run(name, seed, y, gamma, x0):
    counter = Counter(lambda th: l96_stats(th, x0))
    whiten = 1.0 / np.sqrt(gamma)
    prior = Gaussian(PRIOR_MEAN, PRIOR_VAR)
    dmc = DataMisfitController(on_terminate="continue")
    strategy, maxiter = {
        "EKI": (EKI(n_ensemble=20, prior=prior, scheduler=dmc), 10),
        "ETKI": (ETKI(n_ensemble=20, prior=prior, scheduler=dmc), 10),
        "UKI": (UKI(prior=prior, update_freq=1), 20),
    }[name]
    t0 = time.perf_counter()
    res = run(
        strategy,
        lambda th: (counter(th) - y) * whiten,
        PRIOR_MEAN,
        rng=seed,
        workers="vectorized",
        maxiter=maxiter,
    )
    wall = time.perf_counter() - t0
    mean = res.state.mean if name == "UKI" else res.state.ensemble.mean(axis=0)
    return mean, counter.n, wall


def peer_run(name, seed, y, gamma, x0):
    import kalman_inversion_lib.kalman_base_classes as kb
    from kalman_inversion_lib.kalman_inversion_optimizers import (
        EnsembleKalmanInversion,
        UnscentedKalmanInversion,
    )
    from kalman_inversion_lib.timestep_schedulers import DataMisfitTimeStepScheduler

    kb.tqdm = lambda it: it  # tqdm.notebook fails outside Jupyter
    counter = Counter(lambda th: l96_stats(th, x0)[0])
    data = kb.KalmanInversionDataContainer(y, np.diag(gamma), PRIOR_MEAN, np.diag(PRIOR_VAR))
    rng = np.random.default_rng(seed)
    if name == "EKI":
        ens = PRIOR_MEAN + np.sqrt(PRIOR_VAR) * rng.standard_normal((20, 2))
        ki = EnsembleKalmanInversion(data, ens, DataMisfitTimeStepScheduler, seed=seed)
    else:
        ki = UnscentedKalmanInversion(data, DataMisfitTimeStepScheduler, seed=seed)
    t0 = time.perf_counter()
    ki.run_inversion(counter, time_step=0.5, num_iterations=3)
    wall = time.perf_counter() - t0
    return np.asarray(ki.get_posterior_mean()), counter.n, wall


def benchmark_l96(seeds, peer):
    y, gamma, x0 = make_data()
    rows = []
    runs = [("gradfree", m, gradfree_run) for m in ("EKI", "ETKI", "UKI")]
    if peer:
        runs += [("kalman-inversion-lib", m, peer_run) for m in ("EKI", "UKI")]
    for lib, method, fn in runs:
        per_seed = []
        for seed in seeds:
            mean, nfev, wall = fn(method, seed, y, gamma, x0)
            g = l96_stats(mean, x0)[0]
            per_seed.append(
                {
                    "seed": seed,
                    "theta": mean.tolist(),
                    "param_error": float(np.linalg.norm(mean - TRUTH)),
                    "misfit": float(0.5 * np.sum((g - y) ** 2 / gamma)),
                    "nfev": nfev,
                    "wall_s": wall,
                }
            )
        agg = {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0] if k != "theta"}
        agg.pop("seed")
        rows.append({"library": lib, "method": method, **agg, "runs": per_seed})
        print(f"  {lib} {method}: {agg}", file=sys.stderr)
    m0 = l96_stats(PRIOR_MEAN, x0)[0]
    start = float(0.5 * np.sum((m0 - y) ** 2 / gamma))
    gt = l96_stats(TRUTH, x0)[0]
    floor = float(0.5 * np.sum((gt - y) ** 2 / gamma))  # the noise level: misfit at theta*
    return {"rows": rows, "prior_mean_misfit": start, "truth_misfit": floor, "m": int(y.shape[0])}


def time_it(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def benchmark_scaling(sizes, peer_max_p, repeat):
    J, m = 50, 100
    out = []
    for p in sizes:
        rng = np.random.default_rng(p)
        U = rng.standard_normal((J, p))
        y = rng.standard_normal(m)
        eki = EKI(n_ensemble=J, scheduler=0.5)
        state = eki.init(np.zeros(p), rng=rng)
        state = replace(state, ensemble=U)
        X, state = eki.ask(state, rng=rng)
        R = X[:, :m] - y
        row = {"p": p, "J": J, "m": m}
        row["gradfree_s"] = time_it(lambda e=eki, s=state, x=X, r=R: e.tell(s, x, r), repeat)
        if peer_max_p is not None and p <= peer_max_p:
            row["peer_s"] = time_it(
                lambda u=U, yy=y, pp=p: peer_update(u, yy, pp, m), max(1, repeat // 2)
            )
        else:
            row["peer_s"] = None
            row["peer_note"] = (
                f"not run: p x p covariance ({8 * p * p / 1e9:.1f} GB) and an O(p^3) SVD "
                "in multivariate_normal per update"
            )
        print(f"  scaling p={p}: {row}", file=sys.stderr)
        out.append(row)
    return out


def peer_update(U, y, p, m):
    import kalman_inversion_lib.kalman_base_classes as kb
    from kalman_inversion_lib.kalman_inversion_optimizers import EnsembleKalmanInversion
    from kalman_inversion_lib.timestep_schedulers import FixedTimeStepScheduler

    data = kb.KalmanInversionDataContainer(y, np.eye(m), np.zeros(p), np.eye(p))
    ki = EnsembleKalmanInversion(data, U.copy(), FixedTimeStepScheduler, seed=0)
    ki.time_step, ki.init_step, ki.alpha_regularizer = 0.5, 0.5, 1.0
    ki.create_observation_space()
    ki.M = m
    ki.y_forward = np.zeros((ki.J, m))
    ki.forward_model, ki.kwargs_object = (lambda u: u[:m]), {}
    ki.posterior_covariance = np.cov(U.T)
    ki.update_sigmas()
    ki.predict_step()
    ki.analysis_step()


def markdown(l96, scaling):
    lines = [
        f"Lorenz-96 forcing (F_s, A) from {l96['m']} time-averaged statistics; "
        f"misfit at the prior mean {l96['prior_mean_misfit']:.4g}, "
        f"at θ* {l96['truth_misfit']:.4g}",
        "",
        "| library | method | ‖θ − θ*‖ | data misfit | forward evals | wall (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in l96["rows"]:
        lines.append(
            f"| {r['library']} | {r['method']} | {r['param_error']:.3g} | {r['misfit']:.4g} "
            f"| {r['nfev']:.0f} | {r['wall_s']:.2f} |"
        )
    lines += [
        "",
        "| p (J=50, m=100) | gradfree EKI update (ms) | peer EKI update (ms) | ratio |",
        "|---|---|---|---|",
    ]
    for r in scaling:
        peer = "—" if r["peer_s"] is None else f"{1e3 * r['peer_s']:.1f}"
        ratio = "—" if r["peer_s"] is None else f"{r['peer_s'] / r['gradfree_s']:.0f}×"
        lines.append(f"| {r['p']:.0e} | {1e3 * r['gradfree_s']:.2f} | {peer} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer seeds, smaller sizes")
    ap.add_argument("--no-peer", action="store_true", help="skip kalman-inversion-lib")
    args = ap.parse_args()
    peer = not args.no_peer
    if peer:
        try:
            peer_version = version("kalman-inversion-lib")
        except Exception:
            print("kalman-inversion-lib not installed: running gradfree only", file=sys.stderr)
            peer, peer_version = False, None
    else:
        peer_version = None
    seeds = [0] if args.quick else [0, 1, 2]
    sizes = [1000, 10000] if args.quick else [1000, 10000, 100000]
    t0 = time.perf_counter()
    l96 = benchmark_l96(seeds, peer)
    scaling = benchmark_scaling(sizes, 2000 if peer else None, 3 if args.quick else 5)
    result = {
        "benchmark": "kalman",
        "quick": args.quick,
        "seeds": seeds,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
        "versions": {
            "gradfree": gradfree.__version__,
            "numpy": np.__version__,
            "kalman-inversion-lib": peer_version,
        },
        "lorenz96": l96,
        "scaling": scaling,
        "total_s": time.perf_counter() - t0,
    }
    out = (
        Path(__file__).parent / "results" / ("kalman_quick.json" if args.quick else "kalman.json")
    )
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(l96, scaling))
    print(f"\nwrote {out} in {result['total_s']:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
