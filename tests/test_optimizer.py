"""The stateful ask/tell wrapper agrees with the functional core."""

from __future__ import annotations

import numpy as np
import pytest

from gradfree import OpenES, Optimizer, minimize
from gradfree.testing import sphere


def test_optimizer_equals_minimize(xp):
    x0 = xp.asarray([1.0, -1.0, 0.5])
    opt = Optimizer(OpenES(popsize=6), x0, rng=5, maxiter=7)
    while not opt.stop():
        X = opt.ask()
        opt.tell(X, sphere(X))
    res = minimize(sphere, x0, method=OpenES(popsize=6), rng=5, maxiter=7, workers="vectorized")
    got = opt.result()
    assert got.fun == res.fun and got.nfev == res.nfev == 42
    assert opt.stop() == {"maxiter": got.message}


def test_optimizer_misuse():
    opt = Optimizer("openai-es", np.ones(2), rng=0, popsize=4)
    with pytest.raises(RuntimeError, match="ask"):
        opt.tell(np.ones((4, 2)), np.ones(4))
    X = opt.ask()
    with pytest.raises(RuntimeError, match="tell"):
        opt.ask()
    with pytest.raises(ValueError, match="`X`"):
        opt.tell(X[:2], [1.0, 2.0])
    opt.tell(X, [float(np.nan), 1.0, 2.0, 3.0])
    assert np.isfinite(opt.result().fun)
    with pytest.raises(TypeError, match="x0"):
        Optimizer("openai-es")
    with pytest.raises(TypeError, match="unknown option"):
        Optimizer("openai-es", np.ones(2), sigmaa=1.0)
