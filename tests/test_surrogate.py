"""lq-CMA-ES: the model, the evaluations it saves, composition, resume and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from gradfree import Status, minimize
from gradfree._driver import Run
from gradfree._minimize import build_strategy
from gradfree._run import resume, run
from gradfree.es import CMAES, LQCMAES, LQSurrogate, Restarts, SepCMAES
from gradfree.testing import assert_states_equal, rosenbrock
from gradfree.wrappers._surrogate import KINDS, fit_model, n_coefficients


def ellipsoid(X):
    return (10 ** (6 * np.linspace(0, 1, X.shape[1])) * X**2).sum(axis=1)


def rotated_ellipsoid(X):
    Q = np.linalg.qr(np.random.default_rng(7).standard_normal((X.shape[1],) * 2))[0]
    return ellipsoid(X @ Q.T)


def to_target(target=1e-8):
    def callback(intermediate_result):
        if intermediate_result.fun < target:
            raise StopIteration

    return callback


# -- the model ------------------------------------------------------------------------
def test_model_kind_follows_the_archive_size():
    """Linear, then diagonal-quadratic once 0.75 N >= 1.1 (2n + 1), then full once
    0.75 N >= 1.1 (n (n + 3) / 2 + 1) (Hansen 2019; pycma's LQModelSettings)."""
    n, rng = 4, np.random.default_rng(0)
    thresholds = {k: int(np.ceil(1.1 * n_coefficients(k, n) / 0.75)) for k in KINDS[1:]}
    assert thresholds == {"quadratic": 14, "full": 22}
    X = rng.standard_normal((30, n))
    F = (X**2).sum(axis=1)
    kinds = [fit_model(X[:N], F[:N], KINDS).kind for N in (5, 13, 14, 21, 23)]
    assert kinds == ["linear", "linear", "quadratic", "quadratic", "full"]
    assert fit_model(X, F, KINDS[:2]).kind == "quadratic"  # capped


def test_full_model_recovers_a_rotated_quadratic_and_its_optimum():
    n, rng = 5, np.random.default_rng(1)
    A = rng.standard_normal((n, n))
    H, xstar = A @ A.T + np.eye(n), rng.standard_normal(n)
    X = xstar + 100 + 1e-3 * rng.standard_normal((60, n))  # far from 0, small spread

    def f(X):
        D = X - (xstar + 100)
        return 1e6 + np.einsum("ij,jk,ik->i", D, H, D)

    model = fit_model(X, f(X), KINDS)
    assert model.kind == "full"
    Xt = xstar + 100 + 1e-3 * rng.standard_normal((10, n))
    np.testing.assert_allclose(model(Xt), f(Xt), rtol=1e-12)
    np.testing.assert_allclose(model.xopt(), xstar + 100, rtol=0, atol=1e-6)


def test_model_is_equivariant_to_increasing_affine_maps_of_the_values():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 3))
    F = rosenbrock(X)
    a, b = 3.7, -12.5
    m1, m2 = fit_model(X, F, KINDS), fit_model(X, a * F + b, KINDS)
    np.testing.assert_allclose(m2(X), a * m1(X) + b, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(m2.xopt(), m1.xopt(), rtol=1e-9)


# -- evaluations saved ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("fun", "n", "factor"),
    [(ellipsoid, 10, 10), (rotated_ellipsoid, 5, 5), (rosenbrock, 5, 2)],
)
def test_far_fewer_evaluations_to_the_target(fun, n, factor):
    """Hansen (2019), Fig. 2-4: lq-CMA-ES needs several times fewer evaluations on
    ellipsoids (about 10x at n = 10) and a few times fewer on Rosenbrock."""
    x0 = np.zeros(n) if fun is rosenbrock else np.ones(n)
    kw = {"rng": 0, "workers": "vectorized", "callback": to_target(), "maxfev": 30_000}
    plain = minimize(fun, x0, method=CMAES(sigma0=1.0), **kw)
    lq = minimize(fun, x0, method=LQCMAES(sigma0=1.0), **kw)
    assert plain.fun < 1e-8 and lq.fun < 1e-8
    assert lq.nfev * factor < plain.nfev, (lq.nfev, plain.nfev)
    state = lq.state
    assert state.evaluations == lq.nfev and state.candidates > 2 * state.evaluations


def test_lq_cma_es_is_cma_es_with_the_surrogate_option():
    kw = {"rng": 4, "workers": "vectorized", "maxiter": 40}
    a = minimize(ellipsoid, np.ones(4), method="lq-cma-es", options={"sigma0": 0.7}, **kw)
    b = minimize(
        ellipsoid,
        np.ones(4),
        method="cma-es",
        options={"sigma0": 0.7, "surrogate": "lq"},
        **kw,
    )
    assert a.nfev == b.nfev and a.fun == b.fun
    assert_states_equal(a.state.inner, b.state.inner)
    assert isinstance(b.state.inner.mean, np.ndarray)


def shifted_ellipsoid(X):
    return ellipsoid(X - 0.5)


def test_sep_cma_es_with_restarts_and_bounds():
    """The wrapper composes: sep-CMA-ES inside, IPOP around it (each restart a new
    model), box bounds outside; never outside the box, and still far cheaper."""
    calls = []

    def f(X):
        calls.append(X.copy())
        return shifted_ellipsoid(X)

    bounds = [(-1.0, 2.0)] * 6
    kw = {"rng": 1, "workers": "vectorized", "bounds": bounds, "callback": to_target()}
    opts = {"sigma0": 0.5, "restarts": "ipop", "max_restarts": 2}
    res = minimize(f, np.zeros(6), method="sep-cma-es", options={**opts, "surrogate": "lq"}, **kw)
    X = np.concatenate(calls)
    assert X.min() >= -1.0 and X.max() <= 2.0
    restarts = res.state.inner  # bounds outside, restarts inside them
    assert isinstance(restarts.current, LQSurrogate)
    assert isinstance(restarts.current.strategy, SepCMAES)
    plain = minimize(shifted_ellipsoid, np.zeros(6), method="sep-cma-es", options=opts, **kw)
    assert res.fun < 1e-8 and plain.fun < 1e-8
    assert res.nfev * 3 < plain.nfev, (res.nfev, plain.nfev)


def test_each_restart_starts_a_new_model():
    strategy = Restarts(LQCMAES(sigma0=1.0, tolfun=1e-3), max_restarts=2)
    res = minimize(rosenbrock, np.zeros(3), method=strategy, rng=0, workers="vectorized")
    assert len(res.state.restarts) == 2
    inner = res.state.inner  # the last run's surrogate state
    assert inner.lam == res.state.current.popsize == 4 * (4 + int(3 * np.log(3)))
    assert inner.evaluations == res.nfev - res.state.restarts[-1].evaluations


def test_large_n_degrades_to_the_plain_method():
    """Above `max_coefficients` (here a diagonal quadratic's 7 > 5 at n = 3) every
    candidate is evaluated: the run is plain CMA-ES, draw for draw."""
    kw = {"rng": 5, "workers": "vectorized", "maxiter": 12}
    plain = minimize(ellipsoid, np.ones(3), method=CMAES(), **kw)
    capped = minimize(ellipsoid, np.ones(3), method=LQCMAES(max_coefficients=5), **kw)
    assert capped.nfev == plain.nfev == 12 * 7
    assert_states_equal(capped.state.inner, plain.state)
    assert LQCMAES().kinds(44) == ("linear", "quadratic")  # full: 1035 > 1000
    assert LQCMAES().kinds(43) == KINDS and LQCMAES().kinds(500) == ()


def test_a_failed_evaluation_does_not_end_the_run():
    """A batch of one failed point is part of a generation: the others still rank it."""
    count = []

    def flaky(X):
        count.append(1)
        v = ellipsoid(X)
        if len(count) % 7 == 0:
            v[:] = np.nan
        return v

    res = minimize(flaky, np.ones(4), method="lq-cma-es", rng=2, workers="vectorized",
                   maxiter=120)  # fmt: skip
    assert res.status == Status.MAXITER and res.fun < 1e-6
    assert np.isfinite(res.fun)


def test_exact_resume_mid_generation_with_restarts(tmp_path):
    """Killed between two batches of one generation (the archive, the model and the
    pending population in the checkpoint), then resumed: the same run."""
    strategy = build_strategy(
        "lq-cma-es",
        {"popsize": 8, "tolfun": 1e-3, "restarts": "ipop", "max_restarts": 2},
        None,
        np.zeros(3),
    )
    kw = {"rng": 3, "maxiter": 250, "workers": "vectorized"}
    pending = []  # iterations after which a generation is half evaluated

    def note(res):
        if res.state.inner.population is not None:
            pending.append(res.nit)

    full = run(strategy, rosenbrock, np.zeros(3), callback=note, **kw)
    k = next(i for i in pending if i > 20)
    path = tmp_path / "run.ckpt"

    class Killed(Exception):
        pass

    def die(res):
        if res.nit == k + 1:
            raise Killed

    with pytest.raises(Killed):
        run(strategy, rosenbrock, np.zeros(3), checkpoint=path, checkpoint_every=1,
            callback=die, **kw)  # fmt: skip
    saved = Run.restore(path)
    assert saved.nit == k and saved.state.inner.population is not None
    res = resume(path, rosenbrock, workers="vectorized")
    assert res.nfev == full.nfev and res.fun == full.fun and res.nit == full.nit
    assert_states_equal(res.state, full.state)
    assert len(full.state.restarts) >= 1


# -- injection ------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [CMAES, SepCMAES])
def test_injection_keeps_near_points_and_rescales_far_ones(cls):
    es, rng = cls(popsize=6, sigma0=0.5), np.random.default_rng(0)
    state = es.init(np.zeros(4), rng=rng)
    near = np.full(4, 0.1)
    X, _ = es.ask(es.inject(state, near), rng=np.random.default_rng(1))
    np.testing.assert_array_equal(X[0], near)
    far = np.full(4, 100.0)
    X, asked = es.ask(es.inject(state, far), rng=np.random.default_rng(1))
    Xref, ref = es.ask(state, rng=np.random.default_rng(1))
    direction = X[0] / np.linalg.norm(X[0])
    np.testing.assert_allclose(direction, far / np.linalg.norm(far))
    # the length of the sample it replaces, in the distribution's metric
    assert np.linalg.norm(asked.z[0]) == pytest.approx(np.linalg.norm(ref.z[0]))
    np.testing.assert_array_equal(X[1:], Xref[1:])
    with pytest.raises(ValueError, match="shape"):
        es.inject(state, np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        es.inject(state, np.full(4, np.nan))


# -- bad input ------------------------------------------------------------------------
def test_bad_options():
    with pytest.raises(ValueError, match="tau_threshold"):
        LQCMAES(tau_threshold=1.5)
    with pytest.raises(ValueError, match="tau_threshold"):
        LQSurrogate(CMAES(), tau_threshold=0.0)
    with pytest.raises(ValueError, match="max_coefficients"):
        LQCMAES(max_coefficients=0)
    with pytest.raises(TypeError, match="inject_optimum"):
        LQCMAES(inject_optimum="yes")
    with pytest.raises(ValueError, match="sigma0"):
        LQCMAES(sigma0=-1.0)
    with pytest.raises(TypeError, match="strategy"):
        LQSurrogate(object())
    with pytest.raises(TypeError, match="vector values"):
        LQSurrogate(METHODS_EKI())
    with pytest.raises(ValueError, match="surrogate"):
        minimize(ellipsoid, np.ones(2), options={"surrogate": "rbf"})
    with pytest.raises(ValueError, match="surrogate"):
        minimize(ellipsoid, np.ones(2), options={"surrogate": "lq", "noise_handling": True})
    with pytest.raises(TypeError, match="unknown option"):
        minimize(ellipsoid, np.ones(2), method="lq-cma-es", options={"tau": 0.9})


def METHODS_EKI():
    from gradfree.kalman import EKI

    return EKI()


def test_tell_needs_the_batch_asked():
    es, rng = LQCMAES(popsize=6), np.random.default_rng(0)
    state = es.init(np.zeros(3), rng=rng)
    with pytest.raises(ValueError, match="preceding `ask`"):
        es.tell(state, np.zeros((1, 3)), np.zeros(1))
    X, state = es.ask(state, rng=rng)
    with pytest.raises(ValueError, match="preceding `ask`"):
        es.tell(state, np.zeros((X.shape[0] + 1, 3)), np.zeros(X.shape[0] + 1))
