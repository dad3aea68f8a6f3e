"""Every method plugs into `scipy.optimize.minimize`."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from gradfree import METHODS, Status, scipy_method
from gradfree.testing import TEST_CONFIGS, sphere


@pytest.mark.parametrize("name", sorted(m for m in METHODS if not METHODS[m].vector_values))
def test_scipy_minimize_runs_every_method(name):
    res = scipy.optimize.minimize(
        sphere,
        np.ones(3),
        method=scipy_method(name, rng=0),
        options={"maxiter": 5, **TEST_CONFIGS[name]},
    )
    assert isinstance(res, scipy.optimize.OptimizeResult)
    assert res.nit == 5 and res.status == Status.MAXITER and np.isfinite(res.fun)


def test_scipy_converges_with_args_tol_and_callback():
    seen_x, seen_res = [], []
    res = scipy.optimize.minimize(
        lambda x, c: float(np.sum((x - c) ** 2)),
        np.zeros(3),
        args=(1.5,),
        method=scipy_method("openai-es", rng=0, popsize=20, learning_rate=0.05),
        callback=lambda xk: seen_x.append(xk),
        options={"maxiter": 300},
    )
    np.testing.assert_allclose(res.x, 1.5, atol=0.05)
    assert len(seen_x) == 300 and isinstance(seen_x[0], np.ndarray)

    def new_style(intermediate_result):
        seen_res.append(intermediate_result.fun)
        if len(seen_res) == 4:
            raise StopIteration

    res = scipy.optimize.minimize(
        sphere, np.ones(2), method=scipy_method(rng=0), callback=new_style, tol=1e-30
    )
    assert res.status == Status.CALLBACK and len(seen_res) == 4


def test_scipy_options_are_checked():
    with pytest.raises(TypeError, match="unknown option"):
        scipy_method("openai-es", popsiz=3)
    method = scipy_method("openai-es")
    with pytest.raises(TypeError, match="unknown option"):
        scipy.optimize.minimize(sphere, np.ones(2), method=method, options={"bogus": 1})
    with pytest.raises(ValueError, match="jac"):
        scipy.optimize.minimize(sphere, np.ones(2), method=method, jac=lambda x: 2 * x)
    with pytest.raises(TypeError, match=r"constraints\[0\]"):
        scipy.optimize.minimize(
            sphere, np.ones(2), method=method, constraints=[{"type": "bad", "fun": len}]
        )
