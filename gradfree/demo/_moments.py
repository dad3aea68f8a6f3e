"""Act 4: a Gaussian mixture learned by the method of moments, against EM.

`gradfree.tensor.SphericalGMM` reads the data in streamed passes to form moments,
whitens them and decomposes a ``k x k x k`` tensor by the robust power method (Hsu &
Kakade 2013; Anandkumar, Ge, Hsu, Kakade & Telgarsky 2014, Algorithm 1): no
likelihood, no iterations over the data, no initialization to get wrong.
scikit-learn's `GaussianMixture` runs EM from k-means; EM started from the moment
estimate shows the two combined.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..tensor import SphericalGMM
from ._table import Act, secs

__all__ = ["moments_act"]


def _mean_error(true: np.ndarray, est: np.ndarray) -> float:
    """Largest distance between a true mean and its matched estimate (Hungarian matching)."""
    cost = ((true[:, None, :] - est[None, :, :]) ** 2).sum(axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols]).max())


def moments_act(*, quick: bool, seed: int, maxfev: int | None) -> Act:
    """SphericalGMM, EM (k-means start) and EM from the moments on a planted mixture."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    del maxfev
    start = time.perf_counter()
    d, k, n = 10, 4, 20_000 if quick else 100_000
    g = np.random.default_rng(seed)
    means = 4.0 * g.standard_normal((k, d)) / np.sqrt(d)
    labels = g.integers(k, size=n)
    X = means[labels] + g.standard_normal((n, d))
    rows: list[list[Any]] = []

    def row(name: str, est: Any, t0: float, iterations: Any) -> None:
        seconds = time.perf_counter() - t0
        rows.append([name, _mean_error(means, est.means_), iterations, secs(seconds)])

    t0 = time.perf_counter()
    mom = SphericalGMM(k, rng=seed).fit(X)
    row("gradfree tensor.SphericalGMM (moments)", mom, t0, "none")
    fits = [
        ("scikit-learn GaussianMixture (EM, k-means start)", {}),
        ("EM started from the moment estimate", {"means_init": mom.means_}),
    ]
    for name, extra in fits:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            em = GaussianMixture(k, covariance_type="spherical", random_state=seed, **extra)
            em.fit(X)
        row(name, em, t0, int(em.n_iter_))
    separation = min(
        float(np.linalg.norm(means[i] - means[j])) for i in range(k) for j in range(i)
    )
    reading = (
        f"Moments: error {rows[0][1]:.3g} in {rows[0][3]} s, with no iterations and no "
        f"initialization; EM: {rows[1][1]:.3g} in {rows[1][3]} s; EM from the moment "
        f"estimate: {rows[2][1]:.3g} after {rows[2][2]} iterations. The closest two means "
        f"lie {separation:.2f} apart (noise sd 1)."
    )
    return Act(
        title="4. Latent-variable models by moments: a Gaussian mixture",
        setting=(
            f"{n} points from {k} spherical Gaussians in d = {d} (unit variance); error: "
            "largest distance of a true mean to its matched estimate."
        ),
        header=["method", "mean error", "EM iterations", "seconds"],
        rows=rows,
        reading=reading,
        seconds=time.perf_counter() - start,
        plot={"X": X[:2000], "means": means, "estimate": mom.means_},
    )
