"""The driver: iterate, stop rules, history, progress, failure policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from gradfree import OpenES, Status, iterate, minimize
from gradfree._array import get_xp, to_host
from gradfree._base import StrategyBase
from gradfree._random import normal
from gradfree.testing import sphere

X0 = np.asarray([1.0, -2.0, 0.5])


def test_iterate_matches_minimize():
    strategy = OpenES(popsize=10, learning_rate=0.05)
    results = list(iterate(strategy, sphere, X0, rng=4, maxiter=6, workers="vectorized"))
    final = minimize(sphere, X0, method=strategy, rng=4, maxiter=6, workers="vectorized")
    assert [r.nit for r in results] == [1, 2, 3, 4, 5, 6]
    assert "status" not in results[0] and results[-1].status == Status.MAXITER
    np.testing.assert_array_equal(results[-1].x, final.x)
    assert results[-1].fun == final.fun


def test_iterate_can_be_stopped_by_breaking():
    gen = iterate(OpenES(popsize=4), sphere, X0, rng=0, maxiter=100)
    for res in gen:
        if res.nit == 2:
            break
    assert res.nit == 2 and res.nfev == 8
    listed = list(iterate(OpenES(popsize=4), sphere, [1.0, 2.0], rng=0, maxiter=2))
    assert listed[-1].x.shape == (2,)
    with pytest.raises(ValueError, match="`x0`"):
        next(iterate(OpenES(popsize=4), sphere, [np.nan], rng=0))


def test_default_maxiter_is_pycma_like():
    res = minimize(sphere, np.ones(2), method=OpenES(popsize=16), rng=0, workers="vectorized")
    assert res.nit == int(100 + 150 * 25 / 4)


def test_tol_stops_on_flat_values():
    res = minimize(
        lambda X: np.zeros(X.shape[0]),
        X0,
        method=OpenES(popsize=10),
        rng=0,
        workers="vectorized",
        tol=1e-12,
        maxiter=1000,
    )
    window = 10 + int(np.ceil(30 * 3 / 10))
    assert res.status == Status.CONVERGED and res.success and res.nit == window
    assert "`tol`" in res.message


def test_history_is_bounded_and_consistent():
    res = minimize(sphere, X0, method=OpenES(popsize=6), rng=0, maxiter=50, history=10)
    h = res.history
    assert list(h["nit"]) == list(range(41, 51))
    assert list(h["nfev"]) == [6 * k for k in range(41, 51)]
    assert np.all(np.diff(h["fun"]) <= 0) and h["fun"][-1] == res.fun
    assert np.all(h["gen_min"] <= h["gen_max"])
    none = minimize(sphere, X0, method=OpenES(popsize=6), rng=0, maxiter=5, history=0)
    assert len(none.history["fun"]) == 0


def test_progress_bar_shows_the_total_the_budget_allows(capsys):
    pytest.importorskip("tqdm")
    minimize(sphere, X0, method=OpenES(popsize=4), rng=0, maxiter=3, progress=True)
    err = capsys.readouterr().err
    assert "gradfree" in err and "3/3" in err
    minimize(sphere, X0, method=OpenES(popsize=4), rng=0, maxfev=20, progress=True)
    assert "5/5" in capsys.readouterr().err  # maxfev / popsize
    minimize(sphere, X0, method=OpenES(popsize=4), rng=0, maxiter=50, maxfev=20, progress=True)
    assert "5/5" in capsys.readouterr().err  # the tighter budget


def test_callback_receives_intermediate_results():
    got = []
    minimize(
        sphere,
        X0,
        method=OpenES(popsize=4),
        rng=0,
        maxiter=3,
        callback=lambda r: got.append((r.nit, r.nfev, r.fun, "status" in r)),
    )
    assert [g[:2] for g in got] == [(1, 4), (2, 8), (3, 12)]
    assert not any(g[3] for g in got)


def test_args_are_passed():
    def shifted(x, c, scale):
        return scale * float(np.sum((x - c) ** 2))

    res = minimize(
        shifted,
        X0,
        method=OpenES(popsize=20, learning_rate=0.05),
        args=(np.full(3, 2.0), 3.0),
        rng=0,
        maxiter=400,
    )
    np.testing.assert_allclose(res.x, 2.0, atol=0.1)


def test_scalar_strategy_rejects_vector_values():
    with pytest.raises(ValueError, match="scalar objective"):
        minimize(lambda X: X, X0, method=OpenES(popsize=4), workers="vectorized", rng=0)


def test_wrong_length_from_vectorized_fun():
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        minimize(lambda X: np.zeros(3), X0, method=OpenES(popsize=4), workers="vectorized")


def test_non_scalar_per_row():
    with pytest.raises(ValueError, match="scalar or a 1-d vector"):
        minimize(lambda x: np.zeros((2, 2)), X0, method=OpenES(popsize=4), rng=0)


def test_exception_carries_result_so_far():
    calls = []

    def dies_late(x):
        calls.append(1)
        if len(calls) > 12:
            raise KeyError("boom")
        return float(x @ x)

    with pytest.raises(KeyError) as info:
        minimize(dies_late, X0, method=OpenES(popsize=4), rng=0, maxiter=10)
    partial = info.value.gradfree_result
    assert partial.nit == 3 and partial.nfev == 12 and np.isfinite(partial.fun)


def test_infinite_values_rank_worst():
    def inf_far(X):
        v = sphere(X)
        return np.where(v > 5.0, np.inf, v)

    res = minimize(
        inf_far,
        X0,
        method=OpenES(popsize=10, learning_rate=0.05),
        workers="vectorized",
        rng=0,
        maxiter=100,
    )
    assert np.isfinite(res.fun) and res.fun < sphere(X0)


def test_float32_stays_float32():
    res = minimize(
        sphere,
        X0.astype(np.float32),
        method=OpenES(popsize=6),
        rng=0,
        maxiter=3,
        workers="vectorized",
    )
    assert res.x.dtype == np.float32 and res.population.dtype == np.float32
    assert res.state.mean.dtype == np.float32


# -- the vector-valued path (what the Kalman methods consume) ---------------------------
@dataclass(frozen=True)
class ResidualSearch(StrategyBase):
    """Test-only vector-valued strategy: keep the candidate with the smallest residual."""

    popsize: int = 6
    vector_values: ClassVar[bool] = True

    def init(self, x0, *, rng):
        return {"mean": x0, "told": None}

    def ask(self, state, *, rng):
        return state["mean"] + 0.3 * normal(
            rng, (self.popsize, state["mean"].shape[0]), like=state["mean"]
        ), state

    def loss(self, values):
        xp, _ = get_xp(values)
        return xp.sum(values**2, axis=1)

    def tell(self, state, X, values):
        loss = to_host(self.loss(values))
        loss = np.where(np.isfinite(loss), loss, np.inf)
        return {"mean": X[int(np.argmin(loss)), ...], "told": values}


def _residual(x):
    return np.asarray([x[0] - 1.0, 2.0 * (x[1] + 0.5)])


def test_vector_valued_strategy_gets_model_outputs(xp):
    x0 = xp.asarray([0.0, 0.0])
    res = minimize(
        lambda X: xp.stack([X[:, 0] - 1.0, 2.0 * (X[:, 1] + 0.5)], axis=1),
        x0,
        method=ResidualSearch(),
        rng=0,
        maxiter=60,
        workers="vectorized",
    )
    assert res.population_values.shape == (6, 2)
    assert res.state["told"].shape == (6, 2)
    np.testing.assert_allclose(to_host(res.x), [1.0, -0.5], atol=0.1)
    assert res.fun == pytest.approx(float(np.sum(_residual(to_host(res.x)) ** 2)))


def test_vector_valued_failures_become_nan_rows():
    calls = []

    def flaky(x):
        calls.append(1)
        if len(calls) % 4 == 0:
            raise ArithmeticError("diverged")
        return _residual(x)

    res = minimize(flaky, np.zeros(2), method=ResidualSearch(), rng=0, maxiter=3, on_error="nan")
    told = res.state["told"]
    assert told.shape == (6, 2) and np.isnan(told).any(axis=1).sum() >= 1
    assert np.isfinite(res.fun)


def test_vector_strategy_takes_a_one_entry_vector_and_rejects_scalars_and_matrices():
    res = minimize(
        lambda x: np.asarray([x @ x]), np.zeros(2), method=ResidualSearch(), rng=0, maxiter=2
    )
    assert res.state["told"].shape == (6, 1)
    for workers, fun in ((1, lambda x: float(x @ x)), ("vectorized", lambda X: (X * X).sum(1))):
        with pytest.raises(TypeError, match=r"`fun` returned one number per point.*shape \(1,\)"):
            minimize(fun, np.zeros(2), method=ResidualSearch(), rng=0, maxiter=2, workers=workers)
    with pytest.raises(ValueError, match=r"must return shape \(6,\) or \(6, m\)"):
        minimize(
            lambda X: np.ones((X.shape[0], 2, 2)),
            np.zeros(2),
            method=ResidualSearch(),
            rng=0,
            workers="vectorized",
        )


class PlainRandomSearch:
    """A protocol-only strategy (no StrategyBase): init/ask/tell and nothing else."""

    def init(self, x0, *, rng):
        return x0

    def ask(self, state, *, rng):
        return state + 0.1 * normal(rng, (4, state.shape[0]), like=state), state

    def tell(self, state, X, values):
        return X[int(np.argmin(to_host(values))), ...]


def test_protocol_only_strategy_runs():
    res = minimize(sphere, X0, method=PlainRandomSearch, rng=0, maxiter=200)
    assert res.fun < 0.1 and res.nfev == 800
    with pytest.raises(TypeError, match="takes no options"):
        minimize(sphere, X0, method=PlainRandomSearch(), options={"sigma": 1.0})
    with pytest.raises(TypeError, match="init/ask/tell"):
        minimize(sphere, X0, method=object())
