"""UH-CMA-ES: uncertainty handling around CMA-ES, sep-CMA-ES and LM-MA-ES."""

from __future__ import annotations

import math

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree import minimize
from gradfree._array import to_host
from gradfree.es import CMAES, LMMAES, CMAESState, OpenES, SepCMAES
from gradfree.testing import assert_states_equal, sphere
from gradfree.wrappers._uncertainty import UncertaintyHandling, rank_change_measure

INNER = [CMAES(popsize=8, sigma0=0.3), SepCMAES(popsize=8, sigma0=0.3), LMMAES(popsize=8)]


@pytest.mark.parametrize("inner", INNER, ids=lambda s: type(s).__name__)
def test_ask_appends_reevaluations_and_tell_is_deterministic(inner, xp):
    strategy = UncertaintyHandling(inner)
    x0 = xp.asarray([0.5, -1.0, 2.0])
    state = strategy.init(x0, rng=np.random.default_rng(0))
    assert state.alpha == 1 + 2 / 13  # 1 + 2 / (n + 10)
    X, state = strategy.ask(state, rng=np.random.default_rng(1))
    assert X.shape == (8 + 2, 3)  # lam + max(0.1 lam, 2) for lam < 20
    assert array_namespace(X) is array_namespace(x0)
    host = to_host(X)
    step = np.abs(host[:8] - to_host(state.inner.mean)).max()
    np.testing.assert_allclose(host[8:], host[list(state.idx)], rtol=0, atol=1e-6 * step)
    assert len(set(state.idx)) == 2 and not np.array_equal(host[8:], host[list(state.idx)])
    values = sphere(X)
    X_copy, values_copy = to_host(X).copy(), to_host(values).copy()
    a, b = strategy.tell(state, X, values), strategy.tell(state, X, values)
    assert_states_equal(a, b)
    np.testing.assert_array_equal(to_host(X), X_copy)
    np.testing.assert_array_equal(to_host(values), values_copy)
    assert a.idx is None and a.n_reevals == 2 and len(a.s_history) == 1
    assert array_namespace(a.inner.mean) is array_namespace(x0)
    with pytest.raises(ValueError, match="preceding `ask`"):
        strategy.tell(state, X[:8, ...], values[:8])


def test_runs_through_minimize_on_every_namespace(xp):
    res = minimize(
        sphere,
        xp.asarray([1.0, -0.5, 2.0]),
        method=UncertaintyHandling(CMAES(popsize=8)),
        rng=3,
        workers="vectorized",
        maxiter=20,
    )
    assert array_namespace(res.x) is array_namespace(xp.asarray([1.0]))
    assert res.nfev == 20 * 10 and res.state.n_reevals == 20 * 2


def test_number_of_reevaluations_follows_the_paper():
    """lam_reev = max(0.1, 2 / lam) lam, a fraction rounded up with its probability."""

    def counts(strategy, popsize, n=20):
        state = strategy.init(np.zeros(3), rng=np.random.default_rng(0))
        return [
            strategy.ask(state, rng=np.random.default_rng(seed))[0].shape[0] - popsize
            for seed in range(n)
        ]

    assert set(counts(UncertaintyHandling(CMAES(popsize=8)), 8)) == {2}
    assert set(counts(UncertaintyHandling(CMAES(popsize=30)), 30)) == {3}
    mixed = counts(UncertaintyHandling(CMAES(popsize=25)), 25, n=200)
    assert set(mixed) == {2, 3} and 0.4 < np.mean(np.asarray(mixed) == 3) < 0.6
    assert set(counts(UncertaintyHandling(CMAES(popsize=8), reevals=1), 8)) == {1}


def _measure_by_the_paper(old, new, idx, theta):
    """Loop-by-loop reference of steps 4 and 5, with NumPy's Hazen percentile."""
    lam = len(old)
    joint_old, joint_new = list(old), list(old)
    for i, v in zip(idx, new):
        joint_new[i] = v
    joint = np.asarray(joint_old + joint_new)
    rank = np.argsort(np.argsort(joint, kind="stable"), kind="stable") + 1
    total = 0.0
    for i in idx:
        r_old, r_new = rank[i], rank[lam + i]
        delta = abs(r_new - r_old) - 1
        for r, partner in ((r_new, r_old), (r_old, r_new)):
            R = r - (r > partner)
            changes = [abs(k - R) for k in range(1, 2 * lam)]
            total -= np.percentile(changes, 50 * theta, method="hazen")
        total += 2 * delta
    return total / len(idx)


@pytest.mark.parametrize("seed", range(5))
def test_rank_change_measure_matches_a_direct_implementation(seed):
    gen = np.random.default_rng(seed)
    lam, k = int(gen.integers(4, 20)), int(gen.integers(1, 4))
    old = gen.standard_normal(lam)
    idx = gen.choice(lam, size=k, replace=False)
    new = old[idx] + gen.uniform(0, 2) * gen.standard_normal(k)
    for theta in (0.2, 0.5):
        s, values = rank_change_measure(old, new, idx, theta)
        assert s == pytest.approx(_measure_by_the_paper(old, new, idx, theta))
    # step 6: the told values are the candidates' (averaged) values, re-ordered
    mean = old.copy()
    mean[idx] = (old[idx] + new) / 2
    np.testing.assert_allclose(np.sort(values), np.sort(mean))


def test_rank_change_measure_sign_and_ranking():
    old = np.arange(10.0)
    s, values = rank_change_measure(old, old[[2, 7]] + 1e-9, np.asarray([2, 7]))
    assert s < 0 and list(np.argsort(values)) == list(range(10))
    s, _ = rank_change_measure(old, old[[2, 7]], np.asarray([2, 7]))  # exact ties
    assert s < 0
    s, values = rank_change_measure(old, np.asarray([9.5, -0.5]), np.asarray([0, 9]))
    assert s > 0
    # ranked by rank sums: 9 (ranks 19 and 1) and 0 (ranks 2 and 20) move to the middle,
    # after 4 (ranks 9 and 10) and before 5 (ranks 11 and 12)
    assert list(np.argsort(values)[4:6]) == [9, 0]
    s, values = rank_change_measure(old, np.asarray([np.nan]), np.asarray([3]))
    assert s > 0 and np.isinf(values).sum() == 1  # NaN counts as the worst value


def test_step_size_grows_by_alpha_only_when_s_is_positive():
    strategy = UncertaintyHandling(CMAES(popsize=8))
    state = strategy.init(np.ones(3), rng=np.random.default_rng(0))
    X, state = strategy.ask(state, rng=np.random.default_rng(1))
    f = sphere(X)
    i, j = state.idx
    noisy = f.copy()  # re-evaluations at the other extreme of the ranking
    noisy[8:] = np.where(f[[i, j]] < np.median(f[:8]), f.max() + 1, f.min() - 1)
    for values, grows in ((f, False), (noisy, True)):
        s, ranked = rank_change_measure(values[:8], values[8:], np.asarray(state.idx))
        plain: CMAESState = strategy.strategy.tell(state.inner, X[:8], ranked)
        told = strategy.tell(state, X, values)
        assert (s > 0) == grows == (told.factor_history == (state.alpha,))
        factor = state.alpha if grows else 1.0
        assert told.inner.sigma == pytest.approx(plain.sigma * factor, rel=1e-15)
        np.testing.assert_array_equal(told.inner.C, plain.C)
    assert i != j


def _additive_noise(seed, level=1.0):
    gen = np.random.default_rng(1000 + seed)

    def noisy_sphere(X):
        return np.sum(X**2, axis=1) + level * gen.standard_normal(X.shape[0])

    return noisy_sphere


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_above_the_first_steps_stalls_cma_es_but_not_uh_cma_es(seed):
    """Sphere in 5-D from f(x0) = 20 with additive N(0, 1) noise and sigma0 = 1e-3: the
    first steps change f by ~1e-2, far below the noise. Plain CMA-ES lets sigma random-walk
    down and never leaves x0; UH-CMA-ES measures s > 0, grows sigma until the ranking
    carries signal again, and ends near the noise floor. Same budget of 2000 evaluations."""
    x0, cma = np.full(5, 2.0), CMAES(sigma0=1e-3)
    plain = minimize(
        _additive_noise(seed), x0, method=cma, rng=seed, workers="vectorized", maxfev=2000
    )
    uh = minimize(
        _additive_noise(seed),
        x0,
        method=UncertaintyHandling(cma),
        rng=seed,
        workers="vectorized",
        maxfev=2000,
    )
    assert plain.nfev <= 2000 and uh.nfev <= 2000
    f_plain, f_uh = sphere(plain.state.mean), sphere(uh.state.inner.mean)  # noise-free f
    assert f_plain > 5  # plain CMA-ES stays far from the optimum
    assert f_uh < 2 and f_uh < f_plain / 10
    assert np.mean(np.asarray(uh.state.factor_history) > 1) > 0.2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_without_noise_the_wrapper_costs_only_the_extra_evaluations(seed):
    x0 = np.full(5, 2.0)
    plain = minimize(sphere, x0, method=CMAES(), rng=seed, workers="vectorized")
    uh = minimize(sphere, x0, method=UncertaintyHandling(CMAES()), rng=seed, workers="vectorized")
    assert plain.fun < 1e-12 and uh.fun < 1e-12 and uh.success
    assert max(uh.state.s_history) < 0 and set(uh.state.factor_history) == {1.0}
    assert uh.nfev == uh.nit * (8 + 2)  # lam = 4 + floor(3 ln 5) = 8, plus 2
    assert abs(math.log(uh.nit / plain.nit)) < math.log(1.25)  # as many generations


def test_history_is_bounded(monkeypatch):
    from gradfree.wrappers import _uncertainty as _noise

    for length in (5, 1):
        monkeypatch.setattr(_noise, "HISTORY_LENGTH", length)
        res = minimize(sphere, np.ones(2), method=UncertaintyHandling(CMAES()), rng=0, maxiter=12)
        assert len(res.state.s_history) == len(res.state.factor_history) == length
        assert res.state.n_reevals == 12 * 2


def test_bad_arguments():
    with pytest.raises(TypeError, match="strategy"):
        UncertaintyHandling(object())
    with pytest.raises(TypeError, match="sigma"):
        UncertaintyHandling(OpenES(popsize=8)).init(np.ones(2), rng=np.random.default_rng(0))
    for kwargs, match in [
        ({"reevals": 0}, "reevals"),
        ({"epsilon": -1e-7}, "epsilon"),
        ({"alpha": 0.5}, "alpha"),
        ({"theta": 0.0}, "theta"),
        ({"theta": 1.5}, "theta"),
        ({"cum": 2.0}, "cum"),
    ]:
        with pytest.raises(ValueError, match=match):
            UncertaintyHandling(CMAES(), **kwargs)
    with pytest.raises(TypeError, match="alpha"):
        UncertaintyHandling(CMAES(), alpha="big")
    with pytest.raises(TypeError, match="unknown option"):
        UncertaintyHandling(CMAES()).with_options({"sigma0": 1.0})


def test_minimize_option_wraps_the_method():
    noise = np.random.default_rng(7)
    res = minimize(
        lambda X: np.sum(X**2, axis=1) + noise.standard_normal(X.shape[0]),
        np.full(5, 2.0),
        method=CMAES(sigma0=1e-3),
        rng=0,
        workers="vectorized",
        maxfev=2000,
        options={"noise_handling": True},
    )
    assert type(res.state).__name__ == "UncertaintyHandlingState"
    assert float(np.sum(res.state.inner.mean**2)) < 2.0
    with pytest.raises(ValueError, match="cannot be combined"):
        minimize(np.sum, np.ones(2), options={"noise_handling": True, "restarts": "ipop"})
    with pytest.raises(TypeError, match="noise_handling"):
        minimize(np.sum, np.ones(2), options={"noise_handling": "yes"})
