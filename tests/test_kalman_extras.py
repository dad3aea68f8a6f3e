"""Ensemble Kalman extras: localization (EKI and ETKI), inflation, accelerators."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from gradfree import minimize
from gradfree._array import to_host
from gradfree._checkpoint import decode, encode
from gradfree.kalman import EKI, EKS, ETKI, TEKI, DefaultScheduler, InverseProblem, solve
from gradfree.kalman._accelerators import (
    ConstantNesterovAccelerator,
    FirstOrderNesterovAccelerator,
    NesterovAccelerator,
)
from gradfree.kalman._algebra import noise_function_rows
from gradfree.kalman._inflation import AdditiveInflation, MultiplicativeInflation
from gradfree.kalman._localization import (
    SEC,
    BernoulliDropout,
    SECFisher,
    SECNice,
    localize,
)
from gradfree.testing import assert_states_equal

LOCALIZERS = [SEC(), SEC(1.0, 0.1), SECFisher(), SECNice(), BernoulliDropout(0.8)]


def linear_problem(p=4, m=6, seed=1):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, p))
    y = A @ np.ones(p) + 0.3 * rng.standard_normal(m)
    return InverseProblem(lambda U: U @ A.T, y, 0.09, np.zeros(p), 1.0)


def diagonal_problem(p=100, seed=7):
    """G(u) = d * u (local truth), p = m = 100: spurious correlations at J = 10."""
    rng = np.random.default_rng(seed)
    d = np.linspace(0.5, 2.0, p)
    truth = rng.standard_normal(p)
    y = d * truth + 0.1 * rng.standard_normal(p)
    return InverseProblem(lambda U: U * d, y, 0.01, np.zeros(p), 1.0), truth


def run(problem, method, *, J=8, rng=3, maxiter=3, xp=None, **options):
    options.setdefault("scheduler", DefaultScheduler(0.5))
    return solve(
        problem, method, n_ensemble=J, rng=rng, workers="vectorized", maxiter=maxiter,
        options=options,
    )  # fmt: skip


def told(strategy, x0, fun, *, seed=0, steps=1):
    """State after `steps` ask/tell rounds, the last (ask state, X, values) too."""
    rng = np.random.default_rng(seed)
    state = strategy.init(x0, rng=rng)
    for _ in range(steps):
        X, asked = strategy.ask(state, rng=rng)
        values = fun(X)
        state = strategy.tell(asked, X, values)
    return state, asked, X, values


# -- algebra --------------------------------------------------------------------------
def test_noise_function_rows_clips_an_indefinite_covariance():
    C = np.asarray([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1 -> 3 and 0
    X = np.eye(2)
    V = np.asarray([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)
    expected = V @ np.diag([1 / (3 + 2), 1 / 2]) @ V.T  # dt = 0.5
    np.testing.assert_allclose(noise_function_rows(C, X, 0.5), expected, atol=1e-14)


# -- localization ---------------------------------------------------------------------
@pytest.mark.parametrize("method", ["eki", "etki"])
@pytest.mark.parametrize("m", [3, 12])  # m < J and m > J: both sides of the Gram algebra
@pytest.mark.parametrize("perturbed", [True, False])
@pytest.mark.parametrize("unit", [SEC(alpha=0.0), BernoulliDropout(1.0)])
def test_unit_localization_reproduces_the_plain_update(method, m, perturbed, unit):
    """L = 1 takes the explicit C_uG path yet gives the Gram-algebra result (ETKI: eq. (5))."""
    if method == "etki" and not perturbed:
        pytest.skip("ETKI has no perturbed option")
    problem = linear_problem(p=5, m=m)
    extra = {"perturbed": perturbed} if method == "eki" else {}
    plain = run(problem, method, **extra)
    local = run(problem, method, localization=unit, **extra)
    assert plain.nit == local.nit == 3
    np.testing.assert_allclose(local.ensemble, plain.ensemble, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("loc", [SECFisher(), SECNice()])
def test_tuning_free_corrections_vanish_for_a_huge_ensemble(loc):
    R = np.tanh(np.random.default_rng(0).standard_normal((30, 20)))
    np.testing.assert_allclose(loc.factor(R, 10**12, np.random.default_rng(0)), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        loc.factor(R * 0 + 1 - 1e-12, 10, None, symmetric=True), 1.0, atol=1e-6
    )  # perfect correlations (the C_GG diagonal) are kept


@pytest.mark.parametrize("method", ["eki", "etki"])
def test_sec_nice_with_a_large_ensemble_is_nearly_unlocalized(method):
    problem = linear_problem(p=3, m=4)
    plain = run(problem, method, J=3000, maxiter=2)
    local = run(problem, method, J=3000, maxiter=2, localization="sec-nice")
    np.testing.assert_allclose(local.mean, plain.mean, rtol=0, atol=2e-3)


def test_localizers_shrink_small_correlations_more():
    R = np.asarray([[0.05, 0.5, 0.95]])
    gen = np.random.default_rng(0)
    for loc in [SEC(), SECFisher(), SECNice()]:
        L = loc.factor(R, 10, gen)
        assert np.all((0 <= L) & (L <= 1)), loc
        assert L[0, 0] < L[0, 1] < L[0, 2], loc
    assert SEC(1.0, 0.1).factor(R, 10, gen)[0, 0] == 0.0


def test_bernoulli_dropout_masks_are_seeded_and_gg_symmetric():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((10, 30)), rng.standard_normal((10, 25))
    loc = BernoulliDropout(0.5)
    Cug, Cgg = localize(loc, A, B, np.random.default_rng(1))
    Cug2, Cgg2 = localize(loc, A, B, np.random.default_rng(1))
    np.testing.assert_array_equal(Cug, Cug2)
    np.testing.assert_array_equal(Cgg, Cgg2)
    np.testing.assert_array_equal(Cgg, Cgg.T)
    np.testing.assert_allclose(np.diag(Cgg), np.diag(B.T @ B / 9))
    full = A.T @ B / 9
    kept = Cug != 0
    np.testing.assert_array_equal(Cug[kept], full[kept])
    assert 0.4 < kept.mean() < 0.6


@pytest.mark.parametrize("method", ["eki", "etki"])
def test_localization_beats_spurious_correlations(method):
    """p = m = 100, J = 10, diagonal G: SEC-NICE recovers the local truth, plain EKI cannot."""
    problem, truth = diagonal_problem()
    errs = {}
    for loc in [None, "sec-nice", "sec"]:
        res = solve(
            problem, method, n_ensemble=10, rng=0, workers="vectorized",
            options={"localization": loc},
        )  # fmt: skip
        errs[str(loc)] = np.linalg.norm(res.mean - truth)
    assert errs["sec-nice"] < 0.3 * errs["None"], errs
    assert errs["sec"] < 0.85 * errs["None"], errs


def test_localized_etki_deviations_stay_centred_and_deterministic():
    problem = linear_problem(p=6, m=9)
    a = run(problem, "etki", localization=SEC(), J=5)
    b = run(problem, "etki", localization=SEC(), J=5, rng=3)
    np.testing.assert_array_equal(a.ensemble, b.ensemble)
    # deviations of the last update are a function of B: still centred about the mean
    U = a.ensemble
    np.testing.assert_allclose((U - U.mean(axis=0)).sum(axis=0), 0.0, atol=1e-12)


@pytest.mark.parametrize("loc", LOCALIZERS, ids=repr)
@pytest.mark.parametrize("method", ["eki", "etki"])
def test_every_localizer_changes_the_run_and_stays_finite(loc, method):
    problem = linear_problem(p=8, m=10)
    plain = run(problem, method, J=6)
    local = run(problem, method, J=6, localization=loc)
    assert np.all(np.isfinite(local.ensemble))
    assert not np.allclose(local.ensemble, plain.ensemble)
    # localized updates leave the span of the initial ensemble (rank grows)
    assert np.linalg.matrix_rank(local.ensemble - local.mean) >= np.linalg.matrix_rank(
        plain.ensemble - plain.mean
    )


def test_localization_names():
    assert EKI(localization="sec-nice").localization == SECNice()
    assert ETKI(localization=True).localization == SECNice()
    assert EKI(localization="SEC_Fisher").localization == SECFisher()
    assert EKI(localization="bernoulli").localization == BernoulliDropout()
    assert EKI(localization="none").localization is None
    assert EKI().with_options({"localization": "sec"}).localization == SEC()


# -- inflation ------------------------------------------------------------------------
def _fun(X):
    return X[:, :2] * 2.0 - 1.0


@pytest.mark.parametrize("cls", [EKI, ETKI, TEKI, EKS])
def test_inflation_one_is_no_inflation(cls):
    base = cls(n_ensemble=6, scheduler=0.5)
    for infl in [MultiplicativeInflation(1.0), AdditiveInflation(0.0), ()]:
        a, *_ = told(base, np.zeros(3), _fun, steps=2)
        b, *_ = told(base.with_options({"inflation": infl}), np.zeros(3), _fun, steps=2)
        assert_states_equal(a, b)


@pytest.mark.parametrize("cls", [EKI, ETKI])
def test_multiplicative_inflation_scales_the_spread_exactly(cls):
    base = cls(n_ensemble=6, scheduler=0.5)
    a, *_ = told(base, np.zeros(3), _fun)
    b, *_ = told(base.with_options({"inflation": MultiplicativeInflation(1.5)}), np.zeros(3), _fun)
    Ua, Ub = a.ensemble, b.ensemble
    np.testing.assert_allclose(Ub.mean(axis=0), Ua.mean(axis=0), atol=1e-14)
    np.testing.assert_allclose(Ub - Ub.mean(axis=0), 1.5 * (Ua - Ua.mean(axis=0)), atol=1e-14)
    c, *_ = told(
        base.with_options({"inflation": MultiplicativeInflation(rate=0.5)}), np.zeros(3), _fun
    )
    scale = 1 / np.sqrt(1 - 0.5 * 0.5)  # Huang et al. 2022 eq. 41 with dt = 0.5
    np.testing.assert_allclose(
        c.ensemble - c.ensemble.mean(axis=0), scale * (Ua - Ua.mean(axis=0)), atol=1e-14
    )


def test_additive_inflation_adds_seeded_noise_of_the_right_size():
    base = ETKI(n_ensemble=2000, scheduler=0.5)  # deterministic update: only the noise differs
    a, *_ = told(base, np.zeros(3), _fun)
    for cov, var in [("prior", 1.0), ("ensemble", None)]:
        infl = AdditiveInflation(0.2, cov=cov)
        b, *_ = told(base.with_options({"inflation": infl}), np.zeros(3), _fun)
        c, *_ = told(base.with_options({"inflation": infl}), np.zeros(3), _fun)
        assert_states_equal(b, c)
        extra = np.var(b.ensemble - a.ensemble, axis=0)
        expected = 0.2 * 0.5 * (var if var is not None else np.var(a.ensemble, axis=0, ddof=1))
        np.testing.assert_allclose(extra, expected, rtol=0.1)


def test_inflation_sequence_and_bad_rate():
    infl = [MultiplicativeInflation(1.2), AdditiveInflation(0.1)]
    s = EKI(inflation=infl)
    assert s.inflation == tuple(infl)
    with pytest.raises(ValueError, match="`rate`"):
        told(EKI(n_ensemble=4, scheduler=2.0, inflation=MultiplicativeInflation(rate=0.5)),
             np.zeros(2), _fun)  # fmt: skip


# -- accelerators ---------------------------------------------------------------------
def _least_squares(accelerator, maxiter):
    rng = np.random.default_rng(1)
    A, y = rng.standard_normal((30, 5)), rng.standard_normal(30)
    eki = EKI(
        n_ensemble=10, scheduler=0.5, perturbed=False, accelerator=accelerator, collapse_tol=None
    )
    res = minimize(
        lambda U: U @ A.T - y, np.zeros(5), method=eki, workers="vectorized", rng=0,
        maxiter=maxiter,
    )  # fmt: skip
    return np.linalg.norm(res.state.ensemble.mean(axis=0) - np.linalg.lstsq(A, y, rcond=None)[0])


@pytest.mark.parametrize("acc", ["nesterov", "first-order"])
def test_nesterov_converges_faster_than_plain_eki(acc):
    """Linear least squares, same step: 20 accelerated iterations beat 40 plain ones."""
    assert _least_squares(acc, 20) < 0.6 * _least_squares(None, 40)


def test_accelerators_keep_their_state_and_change_the_run():
    fun = _fun
    plain, *_ = told(EKI(n_ensemble=6, scheduler=0.5), np.zeros(3), fun, steps=3)
    for acc in [
        NesterovAccelerator(),
        FirstOrderNesterovAccelerator(),
        ConstantNesterovAccelerator(),
    ]:
        state, *_ = told(
            EKI(n_ensemble=6, scheduler=0.5, accelerator=acc), np.zeros(3), fun, steps=3
        )
        assert state.momentum.step == 3
        assert state.momentum.previous.shape == (6, 3)
        assert not np.allclose(state.ensemble, plain.ensemble)
    one, *_ = told(EKI(n_ensemble=6, scheduler=0.5, accelerator="nesterov"), np.zeros(3), fun)
    first, *_ = told(EKI(n_ensemble=6, scheduler=0.5, perturbed=False), np.zeros(3), fun)
    np.testing.assert_array_equal(one.ensemble, first.ensemble)  # beta_0 = 0


def test_accelerated_run_survives_failed_members():
    def fun(X):
        out = _fun(X)
        out[:2] = np.nan
        return out

    s = ETKI(n_ensemble=8, scheduler=0.5, accelerator="nesterov", localization="sec")
    state, *_ = told(s, np.zeros(3), fun, steps=3)
    assert np.all(np.isfinite(state.ensemble)) and state.n_failed == 2


# -- options --------------------------------------------------------------------------
BAD = [
    (EKI, {"localization": "gaspari"}, ValueError, "localization"),
    (ETKI, {"localization": 3}, TypeError, "localization"),
    (TEKI, {"localization": "sec"}, ValueError, "localization"),
    (EKI, {"inflation": 1.1}, TypeError, "inflation"),
    (EKS, {"inflation": [MultiplicativeInflation(), "x"]}, TypeError, "inflation"),
    (ETKI, {"accelerator": "adam"}, ValueError, "accelerator"),
    (EKI, {"accelerator": 0.9}, TypeError, "accelerator"),
]


@pytest.mark.parametrize(("cls", "kw", "exc", "name"), BAD, ids=lambda v: str(v)[:20])
def test_bad_options_name_the_option(cls, kw, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        cls(**kw)
    with pytest.raises(exc, match=f"`{name}`"):
        cls().with_options(kw)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: SEC(alpha=-1.0), "alpha"),
        (lambda: SEC(cutoff=1.0), "cutoff"),
        (lambda: SECNice(delta=0.0), "delta"),
        (lambda: BernoulliDropout(1.5), "prob"),
        (lambda: BernoulliDropout(0.0), "prob"),
        (lambda: MultiplicativeInflation(0.0), "factor"),
        (lambda: MultiplicativeInflation(rate=-1.0), "rate"),
        (lambda: AdditiveInflation(-1.0), "alpha"),
        (lambda: AdditiveInflation(cov="full"), "cov"),
        (lambda: FirstOrderNesterovAccelerator(r=0.0), "r"),
        (lambda: ConstantNesterovAccelerator(1.0), "momentum"),
    ],
)
def test_bad_component_parameters(make, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        make()
    with pytest.raises(TypeError):
        SEC(alpha="1")


# -- determinism, purity, namespaces --------------------------------------------------
ALL_ON = {
    "localization": "sec-nice",
    "inflation": (MultiplicativeInflation(1.05), AdditiveInflation(0.05)),
    "accelerator": "nesterov",
}


@pytest.mark.parametrize("cls", [EKI, ETKI])
@pytest.mark.parametrize("loc", ["sec-nice", BernoulliDropout(0.7)], ids=repr)
def test_tell_is_pure_and_runs_are_reproducible(cls, loc):
    s = cls(n_ensemble=6, scheduler=0.5, **{**ALL_ON, "localization": loc})
    state, asked, X, values = told(s, np.zeros(4), _fun, steps=2)
    again = s.tell(asked, X, values)
    assert_states_equal(state, again)
    other, *_ = told(s, np.zeros(4), _fun, steps=2)
    assert_states_equal(state, other)
    restored = pickle.loads(pickle.dumps((s, state)))
    assert_states_equal(restored[1], state)
    assert dataclasses.replace(s) == s
    tree, arrays = encode((s, state))  # checkpoints: strategy options and momentum state
    s2, state2 = decode(tree, arrays)
    assert s2 == s
    assert_states_equal(state2, state)


@pytest.mark.parametrize("method", ["eki", "etki"])
def test_options_on_every_namespace(method, xp):
    A = np.asarray([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [1.0, -1.0]])

    def forward(U):
        return U @ xp.asarray(A.T, dtype=U.dtype)

    problem = InverseProblem(forward, xp.asarray([1.0, 2.0, 2.0, 0.0]), 0.1, xp.zeros(2), 1.0)
    res = solve(
        problem, method, n_ensemble=6, rng=0, workers="vectorized", maxiter=3,
        options={**ALL_ON, "localization": BernoulliDropout(0.9), "scheduler": 0.5},
    )  # fmt: skip
    ref = solve(
        InverseProblem(lambda U: U @ A.T, np.asarray([1.0, 2.0, 2.0, 0.0]), 0.1, np.zeros(2), 1.0),
        method, n_ensemble=6, rng=0, workers="vectorized", maxiter=3,
        options={**ALL_ON, "localization": BernoulliDropout(0.9), "scheduler": 0.5},
    )  # fmt: skip
    assert type(res.ensemble) is type(problem.prior.mean)
    np.testing.assert_allclose(to_host(res.ensemble), ref.ensemble, rtol=1e-10, atol=1e-12)
    # with SEC-NICE too (host-side norms of device arrays)
    res2 = solve(
        problem, method, n_ensemble=6, rng=0, workers="vectorized", maxiter=2,
        options={"localization": "sec-nice", "scheduler": 0.5},
    )  # fmt: skip
    assert np.all(np.isfinite(to_host(res2.ensemble)))
