"""OpenAI-ES on a 20-d Rosenbrock: serial, vectorized and in worker processes.

Run: python examples/openai_es.py
"""

import numpy as np

from gradfree import OpenES, Optimizer, minimize
from gradfree.testing import rosenbrock


def rosen_row(x):
    """One point at a time, as a simulator would be called."""
    return float(rosenbrock(x))


def main():
    x0 = np.zeros(20)
    es = OpenES(popsize=100, sigma=0.02, learning_rate=0.02)

    # 1. a vectorized objective: one call per generation
    res = minimize(rosenbrock, x0, method=es, rng=0, workers="vectorized", maxiter=1500)
    print(f"vectorized: f={res.fun:.4g} after {res.nfev} evaluations ({res.message})")

    # 2. the same run with evaluations spread over 2 processes gives the same answer
    par = minimize(rosen_row, x0, method=es, rng=0, workers=2, maxiter=20)
    ser = minimize(rosen_row, x0, method=es, rng=0, workers=1, maxiter=20)
    assert np.array_equal(par.x, ser.x)
    print(f"20 generations, 2 workers == serial: f={par.fun:.4g}")

    # 3. ask/tell when you own the loop
    opt = Optimizer(es, x0, rng=0, maxiter=50)
    while not opt.stop():
        X = opt.ask()
        opt.tell(X, [rosen_row(x) for x in X])
    print(f"ask/tell: f={opt.result().fun:.4g} after {opt.result().nit} generations")


if __name__ == "__main__":
    main()
