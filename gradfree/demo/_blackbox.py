"""Act 1: a model with step activations, fitted by CMA-ES and by scipy's optimizers.

The network ``2 -> 16 -> 1`` has Heaviside hidden units, so its training loss is
piecewise constant in the weights: its gradient is zero wherever it exists. BFGS
(finite differences) sees a flat function; Nelder-Mead and Powell search without
derivatives but one coordinate or one simplex at a time; CMA-ES adapts a full
covariance from whole populations (Hansen 2016, arXiv:1604.00772).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.optimize

from .._minimize import minimize
from ..models import MLP
from ._table import Act, secs

__all__ = ["blackbox_act"]


class _Recorded:
    """The mean squared error of the network on a data set, recording every evaluation."""

    def __init__(self, net: MLP, X: np.ndarray, y: np.ndarray) -> None:
        self.net, self.X, self.y = net, X, y
        self.values: list[float] = []

    def __call__(self, w: np.ndarray) -> Any:
        out = self.net.forward(w, self.X)[..., 0]
        loss = np.mean((out - self.y) ** 2, axis=-1)
        self.values.extend(np.atleast_1d(loss).tolist())
        return loss if loss.ndim else float(loss)


def _ring(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points in [-1, 1]^2, labelled 1 inside the ring 0.3 < |x| < 0.75."""
    X = rng.uniform(-1.0, 1.0, (n, 2))
    r = np.sqrt((X**2).sum(axis=1))
    return X, ((r > 0.3) & (r < 0.75)).astype(np.float64)


_SOLVERS = ("gradfree CMA-ES", "scipy Nelder-Mead", "scipy Powell", "scipy BFGS")


def _solve(name: str, f: _Recorded, w0: np.ndarray, seed: int, budget: int) -> Any:
    """One solver of `_SOLVERS` from `w0` with `budget` evaluations (BFGS: its own rule)."""
    if name == "gradfree CMA-ES":
        return minimize(
            f, w0, rng=seed, workers="vectorized", maxfev=budget, options={"sigma0": 0.5}
        )
    if name == "scipy BFGS":
        return scipy.optimize.minimize(f, w0, method="BFGS")
    method = name.removeprefix("scipy ")
    return scipy.optimize.minimize(f, w0, method=method, options={"maxfev": budget})


def blackbox_act(*, quick: bool, seed: int, maxfev: int | None) -> Act:
    """Fit the step network by CMA-ES, Nelder-Mead, Powell and BFGS; same start, same budget."""
    start = time.perf_counter()
    budget = maxfev if maxfev is not None else (2000 if quick else 10_000)
    seeds = [seed] if quick else [seed, seed + 1, seed + 2]
    net = MLP((2, 16, 1), activations=("step", "identity"))
    runs: dict[str, list[tuple[float, float, int, float]]] = {}
    curves: dict[str, np.ndarray] = {}
    moved: dict[str, float] = {}  # largest change of a hidden-layer weight, first seed
    for s in seeds:
        g = np.random.default_rng(s)
        (X, y), (Xt, yt) = _ring(500, g), _ring(4000, g)
        w0 = net.init_flat(rng=s)
        for name in _SOLVERS:
            f = _Recorded(net, X, y)
            t0 = time.perf_counter()
            res = _solve(name, f, w0, s, budget)
            seconds = time.perf_counter() - t0
            accuracy = float(((net.forward(res.x, Xt)[:, 0] > 0.5) == yt).mean())
            runs.setdefault(name, []).append((float(res.fun), accuracy, int(res.nfev), seconds))
            if s == seed:
                curves[name] = np.minimum.accumulate(np.asarray(f.values))
                moved[name] = float(np.abs(net.unflatten(res.x)[0] - net.unflatten(w0)[0]).max())
    rows = []
    for name, got in runs.items():
        a = np.asarray(got)
        loss, accuracy, nfev, seconds = np.median(a, axis=0).tolist()
        rows.append([name, loss, accuracy, int(nfev), secs(seconds)])
    best = min(rows, key=lambda r: r[1])
    reading = (
        f"Lowest median loss: {best[0]} ({best[1]:.3g}, test accuracy {best[2]:.3g}). "
        f"BFGS changed the hidden weights by at most {moved['scipy BFGS']:.2g} (CMA-ES: "
        f"{moved['gradfree CMA-ES']:.2g}): their finite-difference gradient is 0, so it "
        "fits the linear output layer only."
    )
    return Act(
        title="1. A non-differentiable model: a network with step activations",
        setting=(
            f"2-16-1 network, Heaviside hidden units ({net.n_params} weights), squared loss "
            f"on 500 points of a ring; {budget} evaluations each, from the same start; "
            f"median over {len(seeds)} seeds; accuracy on 4000 fresh points."
        ),
        header=["method", "train loss", "test accuracy", "evaluations", "seconds"],
        rows=rows,
        reading=reading,
        seconds=time.perf_counter() - start,
        plot={"curves": curves},
    )
