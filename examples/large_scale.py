"""Large problems: sep-CMA-ES, LM-MA-ES, SNES, xNES and PGPE side by side.

Run: python examples/large_scale.py
"""

import time

import numpy as np

from gradfree import minimize
from gradfree.testing import ellipsoid, sphere


def main():
    # 2000 variables: full CMA-ES would keep a 2000 x 2000 matrix; these keep O(n) / O(mn)
    x0 = np.ones(2000)
    for method in ("sep-cma-es", "lm-ma-es", "snes", "pgpe"):
        start = time.perf_counter()
        res = minimize(sphere, x0, method=method, rng=0, workers="vectorized", maxfev=10_000)
        print(
            f"{method:>10} on sphere, n=2000: f={res.fun:.3g} after {res.nfev} "
            f"evaluations ({time.perf_counter() - start:.1f} s)"
        )

    # a smaller ill-conditioned problem for the full-covariance natural ES
    res = minimize(ellipsoid, np.ones(8), method="xnes", rng=0, workers="vectorized")
    print(f"      xnes on ellipsoid, n=8: f={res.fun:.2e} ({res.message})")


if __name__ == "__main__":
    main()
