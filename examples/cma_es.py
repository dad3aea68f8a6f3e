"""CMA-ES: the default method, with bounds, BIPOP restarts and scipy.

Run: python examples/cma_es.py
"""

import numpy as np
import scipy.optimize

from gradfree import CMAES, minimize, scipy_method
from gradfree.testing import Rotated, ellipsoid


def rastrigin(X):
    """Vectorized Rastrigin: many local minima, global minimum 0 at the origin."""
    return 10 * X.shape[-1] + np.sum(X**2 - 10 * np.cos(2 * np.pi * X), axis=-1)


def main():
    # an ill-conditioned rotated problem: CMA-ES learns the covariance, stops by itself
    res = minimize(Rotated(ellipsoid, 10, seed=0), np.ones(10), rng=0, workers="vectorized")
    print(f"rotated ellipsoid: f={res.fun:.2e}, {res.nfev} evaluations, stop: {res.message}")

    # a multimodal problem: BIPOP restarts, each recorded with its reason
    res = minimize(
        rastrigin,
        np.full(5, 3.0),
        method=CMAES(sigma0=2.0),
        rng=1,
        workers="vectorized",
        maxfev=100_000,
        options={"restarts": "bipop", "max_restarts": 9},
    )
    print(f"rastrigin: f={res.fun:.2e} after {len(res.state.restarts)} restarts")
    for r in res.state.restarts[:3]:
        print(
            f"  restart at {r.evaluations} evaluations ({r.regime}, popsize {r.popsize}): "
            f"{r.reason}"
        )

    # box bounds: the optimum of the unconstrained problem lies outside the box
    res = minimize(
        lambda X: np.sum((X + 1.0) ** 2, axis=1),
        np.full(4, 0.5),
        rng=0,
        bounds=[(0.0, 1.0)] * 4,
        workers="vectorized",
    )
    print(f"bounded: x={np.round(res.x, 6)} (the corner at 0)")

    # the same method inside scipy.optimize.minimize
    res = scipy.optimize.minimize(
        lambda x: float(np.sum((x - 2) ** 2)), np.zeros(3), method=scipy_method("cma-es", rng=0)
    )
    print(f"scipy: x={np.round(res.x, 6)}, nfev={res.nfev}")


if __name__ == "__main__":
    main()
