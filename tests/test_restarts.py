"""IPOP / BIPOP restarts around any strategy with a population size."""

from __future__ import annotations

import numpy as np
import pytest

from gradfree import METHODS, Status, minimize
from gradfree.es import CMAES, SNES, Restarts
from gradfree.testing import TEST_CONFIGS, assert_states_equal, sphere


def rastrigin(X):
    return 10 * X.shape[-1] + np.sum(X**2 - 10 * np.cos(2 * np.pi * X), axis=-1)


def test_ipop_doubles_the_population_and_records_why():
    res = minimize(
        rastrigin,
        np.full(3, 3.0),
        method=CMAES(sigma0=1.0),
        rng=0,
        workers="vectorized",
        options={"restarts": "ipop", "max_restarts": 3},
    )
    sizes = [r.popsize for r in res.state.restarts]
    assert sizes == [14, 28, 56]  # default 4 + floor(3 ln 3) = 7, times 2, 4, 8
    assert all(r.reason and r.regime == "ipop" for r in res.state.restarts)
    assert [r.evaluations for r in res.state.restarts] == sorted(
        r.evaluations for r in res.state.restarts
    )
    assert res.success and res.message.endswith("(after 3 restarts)")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bipop_solves_rastrigin(seed):
    def at_target(intermediate_result):
        if intermediate_result.fun < 1e-8:
            raise StopIteration

    res = minimize(
        rastrigin,
        np.full(5, 3.0),
        method=CMAES(sigma0=2.0),
        rng=seed,
        workers="vectorized",
        maxfev=100_000,
        callback=at_target,
        options={"restarts": "bipop", "max_restarts": 30},
    )
    assert res.fun < 1e-8
    regimes = {r.regime for r in res.state.restarts}
    assert regimes <= {"large", "small"} and "large" in regimes


def test_bipop_counts_large_restarts_only_and_solves_rastrigin_5d():
    """Hansen (2009) / pycma's accounting: 5-d Rastrigin from x0 = 3, sigma0 = 2 within
    2e5 evaluations on 10 of 10 seeds (a limit that counted the small runs too ended
    most of these runs at f = 1-3 after about 17,000 evaluations)."""

    def at_target(intermediate_result):
        if intermediate_result.fun < 1e-8:
            raise StopIteration

    for seed in range(10):
        res = minimize(
            rastrigin,
            np.full(5, 3.0),
            method=CMAES(sigma0=2.0),
            rng=seed,
            workers="vectorized",
            maxfev=200_000,
            callback=at_target,
            options={"restarts": "bipop"},
        )
        assert res.fun < 1e-8, (seed, res.fun, res.message)


def test_bipop_schedule_follows_the_budget_rule():
    """Each restart is small exactly when the small regime (the first run included) has
    used fewer evaluations than the large one; `max_restarts` large runs, then stop."""
    res = minimize(
        rastrigin,
        np.full(3, 3.0),
        method=CMAES(sigma0=2.0),
        rng=3,
        workers="vectorized",
        options={"restarts": "bipop", "max_restarts": 4},
    )
    records = res.state.restarts
    assert sum(r.regime == "large" for r in records) == 4 and records[-1].regime == "large"
    assert res.message.endswith(f"(after {len(records)} restarts)")
    used = {"small": 0, "large": 0}
    regime, start, base = "small", 0, 7  # the first run: default popsize 4 + floor(3 ln 3)
    large = base
    for r in records:
        used[regime] += r.evaluations - start
        expect = "small" if used["small"] < max(1, used["large"]) else "large"
        assert r.regime == expect
        if r.regime == "large":
            large *= 2
            assert r.popsize == large and r.sigma0 == 2.0
        else:
            assert base <= r.popsize <= large and r.sigma0 <= 2.0
        regime, start = r.regime, r.evaluations
    assert any(r.regime == "small" for r in records)


def test_bipop_small_regime_shrinks_sigma_and_popsize():
    res = minimize(
        rastrigin,
        np.full(4, 3.0),
        method=CMAES(sigma0=2.0),
        rng=4,
        workers="vectorized",
        options={"restarts": "bipop", "max_restarts": 8},
    )
    small = [r for r in res.state.restarts if r.regime == "small"]
    large = [r for r in res.state.restarts if r.regime == "large"]
    assert small and large
    assert all(r.sigma0 <= 2.0 for r in small) and all(r.sigma0 == 2.0 for r in large)
    assert all(r.popsize <= max(x.popsize for x in large) for r in small)


def test_maxfev_is_never_exceeded_when_the_population_grows():
    res = minimize(
        rastrigin,
        np.full(3, 3.0),
        method=CMAES(sigma0=1.0, tolfun=1e-2),
        rng=0,
        workers="vectorized",
        maxfev=3000,
        options={"restarts": "ipop", "max_restarts": 20},
    )
    assert res.nfev <= 3000 and res.status == Status.MAXFEV


def test_wraps_other_strategies_and_restarts_from_a_sampler():
    starts = []

    def sampler(rng):
        starts.append(rng.uniform(-4, 4, 3))
        return starts[-1]

    res = minimize(
        sphere,
        np.ones(3),
        method=SNES(popsize=6),
        rng=0,
        workers="vectorized",
        maxiter=3000,
        options={"restarts": "ipop", "max_restarts": 2, "restart_x0": sampler},
    )
    assert len(res.state.restarts) == 2 and len(starts) == 2
    assert res.state.current.popsize == 24


def test_tell_is_deterministic_and_same_seed_same_run():
    strategy = Restarts(CMAES(popsize=6, tolfun=1e-1), kind="bipop", max_restarts=3)
    runs = [
        minimize(
            rastrigin, np.full(2, 2.0), method=strategy, rng=9, maxiter=200, workers="vectorized"
        )
        for _ in range(2)
    ]
    assert_states_equal(runs[0].state, runs[1].state)
    assert runs[0].nfev == runs[1].nfev


@pytest.mark.parametrize("name", sorted(m for m in METHODS if "popsize" in TEST_CONFIGS[m]))
def test_every_method_with_a_popsize_can_be_restarted(name):
    res = minimize(
        sphere,
        np.ones(2),
        method=name,
        rng=0,
        maxiter=30,
        workers="vectorized",
        options={**TEST_CONFIGS[name], "restarts": "ipop", "max_restarts": 1},
    )
    assert np.isfinite(res.fun) and res.nit <= 30


def test_bad_restart_options():
    with pytest.raises(ValueError, match="kind"):
        minimize(sphere, np.ones(2), options={"restarts": "lpop"})
    with pytest.raises(TypeError, match="restarts"):
        minimize(sphere, np.ones(2), options={"max_restarts": 3})
    with pytest.raises(ValueError, match="max_restarts"):
        Restarts(CMAES(), max_restarts=-1)
    with pytest.raises(ValueError, match="popsize_factor"):
        Restarts(CMAES(), popsize_factor=1.0)
    with pytest.raises(TypeError, match="popsize"):
        Restarts(object())
