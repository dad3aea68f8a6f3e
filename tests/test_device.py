"""Arrays follow the device of ``x0`` (or ``X``) in every family.

array-api-strict's ``Device("device1")`` stands in for a second GPU: its arrays refuse
to mix with arrays on the default device, as CuPy arrays on two GPUs do, and cannot be
converted to NumPy implicitly. A run that creates anything on the default device
therefore fails, or leaves an array there that `stray_arrays` reports.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _families import REFUSED, classifiers, has_epochs
from array_api_compat import device
from scipy.optimize import NonlinearConstraint

from gradfree import METHODS, Optimizer, minimize, models
from gradfree._array import to_host
from gradfree.kalman import (
    STRATEGIES,
    UKI,
    InverseProblem,
    ObservationSeries,
    RandomFixedSizeMinibatcher,
    solve,
    solve_minibatched,
)
from gradfree.tensor import (
    NNLIFTRegressor,
    SampleMoment3,
    SphericalGMM,
    cp_als,
    robust_power_method,
    second_moment,
    whiten,
    whitened_symmetric_cp,
    whitened_third_moment,
)
from gradfree.testing import TEST_CONFIGS, problem_for, sphere

strict = pytest.importorskip("array_api_strict")
DEVICE = strict.Device("device1")
D = 6  # no population, history or weight vector of the test configurations has length 6
X0 = [0.5, -0.5, 0.3, 0.1, -0.2, 0.4]
NAMES = sorted(METHODS)
SCALAR = [n for n in NAMES if not METHODS[n].vector_values]


def on_device(values, dtype=None):
    return strict.asarray(values, dtype=dtype or strict.float64, device=DEVICE)


def stray_arrays(obj, dim=D, path="", depth=0):
    """Paths of arrays in `obj` that left `DEVICE`.

    array-api-strict arrays must live on `DEVICE`. NumPy arrays are allowed as host
    bookkeeping (recombination weights, stop-rule histories) but never with an axis of
    length `dim`, the problem dimension: such an array is the run's data on the host.
    """
    if depth > 8:
        return []
    if isinstance(obj, np.ndarray):
        return [f"{path} (NumPy {obj.shape})"] if dim in obj.shape else []
    if hasattr(obj, "__array_namespace__"):
        return [] if device(obj) == DEVICE else [f"{path} (on {device(obj)})"]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        items = ((f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj))
    elif isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (tuple, list)):
        items = enumerate(obj)
    else:
        return []
    return [s for k, v in items for s in stray_arrays(v, dim, f"{path}.{k}", depth + 1)]


def assert_on_device(res):
    assert not stray_arrays(res), stray_arrays(res)
    for key in ("x", "population", "population_values"):
        assert device(res[key]) == DEVICE, key


def make(name):
    return METHODS[name](**TEST_CONFIGS[name])


# -- population methods: minimize, the wrappers and Optimizer ------------------------
@pytest.mark.parametrize("workers", [1, "vectorized"])
@pytest.mark.parametrize("name", NAMES)
def test_minimize_stays_on_device(name, workers):
    strategy = make(name)
    res = minimize(
        problem_for(strategy), on_device(X0), method=strategy, workers=workers, rng=0, maxiter=4
    )
    assert_on_device(res)
    assert res.x.dtype == strict.float64


@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_on_device(name):
    strategy = make(name)
    x0 = on_device(X0, strict.float32)
    res = minimize(problem_for(strategy), x0, method=strategy, workers="vectorized", maxiter=3)
    assert_on_device(res)
    assert res.x.dtype == strict.float32 and res.population.dtype == strict.float32


WRAPPERS = {
    "restarts": {"options": {"restarts": "ipop"}},
    "bipop": {"options": {"restarts": "bipop", "max_restarts": 2}, "maxiter": 12},
    **{
        f"bounds-{m}": {"bounds": [(-1.0, 1.0)] * D, "options": {"bounds_method": m}}
        for m in ("transform", "clip", "reflect")
    },
    "constraints": {"constraints": NonlinearConstraint(lambda x: x[0] + x[1], -np.inf, 0.0)},
    "integrality": {"integrality": [True, False] * 3, "bounds": [(-3.0, 3.0)] * D},
    "noise": {"options": {"noise_handling": True}},
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
@pytest.mark.parametrize("name", SCALAR)
def test_wrappers_stay_on_device(name, wrapper):
    kw = {"maxiter": 5, **WRAPPERS[wrapper]}
    strategy = make(name)
    if (name, wrapper) in REFUSED:
        exc, match = REFUSED[name, wrapper]
        with pytest.raises(exc, match=match):
            minimize(problem_for(strategy), on_device(X0), method=strategy, **kw)
        return
    for workers in (1, "vectorized"):
        res = minimize(problem_for(strategy), on_device(X0), method=strategy, rng=1,
                       workers=workers, **kw)  # fmt: skip
        assert_on_device(res)


@pytest.mark.parametrize("kind", ["ipop", "bipop"])
def test_restarted_runs_stay_on_device(kind):
    """A flat objective stops the CMA family, so the restarted runs start on the device."""
    restarted = []
    for name in SCALAR:
        res = minimize(lambda X: 0.0 * sphere(X), on_device(X0), method=make(name),
                       workers="vectorized", maxiter=40, rng=0,
                       options={"restarts": kind, "max_restarts": 2})  # fmt: skip
        assert_on_device(res)
        restarted += [name] * bool(res.state.restarts)
    assert len(restarted) >= 3, restarted


@pytest.mark.parametrize("name", NAMES)
def test_optimizer_stays_on_device(name):
    strategy = make(name)
    f = problem_for(strategy)
    opt = Optimizer(strategy, on_device(X0), rng=0, maxiter=3)
    while not opt.stop():
        X = opt.ask()
        assert device(X) == DEVICE
        opt.tell(X, f(X))
    assert_on_device(opt.result())
    assert not stray_arrays(opt.state)


# -- Kalman front doors --------------------------------------------------------------
def _linear(n=12, p=D, seed=0):
    g = np.random.default_rng(seed)
    A = g.standard_normal((n, p))
    return A, A @ g.standard_normal(p)


ENSEMBLE_METHODS = sorted(cls.name for cls in STRATEGIES if cls is not UKI)


@pytest.mark.parametrize("method", ENSEMBLE_METHODS)
def test_kalman_solve_stays_on_device(method):
    A, y = _linear()
    A_dev = on_device(A)
    problem = InverseProblem(lambda U: U @ A_dev.T, on_device(y), 0.1, on_device(np.zeros(D)), 1.0)
    options = {"scheduler": 0.5, "localization": "sec-nice", "accelerator": "nesterov"}
    if method in ("eks", "teki"):
        options = {"scheduler": 0.5}
    res = solve(problem, method, n_ensemble=8, rng=0, workers="vectorized", maxiter=3,
                options=options)  # fmt: skip
    for key in ("ensemble", "mean", "cov", "std"):
        assert device(res[key]) == DEVICE, key
    assert_on_device(res)


def test_kalman_solve_uki_stays_on_device():
    A, y = _linear()
    A_dev = on_device(A)
    problem = InverseProblem(lambda U: U @ A_dev.T, on_device(y), 0.1, on_device(np.zeros(D)), 1.0)
    res = solve(problem, UKI(update_freq=1), rng=0, workers="vectorized", maxiter=3)
    assert device(res.mean) == DEVICE and device(res.cov) == DEVICE
    assert_on_device(res)


@pytest.mark.parametrize("workers", [1, "vectorized"])
def test_kalman_minibatched_stays_on_device(workers):
    A, y = _linear(n=20)
    A_dev = on_device(A)

    def forward(U, idx):
        rows = strict.take(A_dev, strict.asarray(idx, device=DEVICE), axis=0)
        return U @ rows.T

    series = ObservationSeries(y, 0.05**2, RandomFixedSizeMinibatcher(5, rng=0))
    res = solve_minibatched(forward, series, x0=on_device(np.zeros(D)), n_ensemble=8,
                            epochs=2, rng=1, workers=workers)  # fmt: skip
    assert device(res.x) == DEVICE and device(res.ensemble) == DEVICE
    assert not stray_arrays(res.state)


# -- tensor methods --------------------------------------------------------------------
def test_tensor_functions_stay_on_device():
    g = np.random.default_rng(0)
    A = g.standard_normal((D, 3))
    counts = np.asarray([3, 5, 7])
    X = on_device(np.repeat(A.T, counts, axis=0) + 0.0)
    M2 = second_moment(X, chunk_size=4)
    W, B = whiten(M2, 3)
    T = whitened_third_moment(X, W, chunk_size=4)
    implicit = SampleMoment3(X, W, chunk_size=4)
    lam, V = robust_power_method(T, 3, rng=0)
    weights, factors = whitened_symmetric_cp(SampleMoment3(X, chunk_size=4), M2, 3, rng=0)
    cp_weights, cp_factors, _ = cp_als(T, 2, n_starts=2, rng=0)
    outputs = [M2, W, B, T, implicit.apply(on_device(g.standard_normal((2, 3)))), lam, V]
    outputs += [weights, factors, cp_weights, *cp_factors]
    assert [device(a) for a in outputs] == [DEVICE] * len(outputs)


def test_tensor_estimators_stay_on_device():
    g = np.random.default_rng(1)
    centers = 4.0 * g.standard_normal((3, D))
    X = on_device(centers[g.integers(3, size=300)] + g.standard_normal((300, D)))
    gmm = SphericalGMM(3, rng=0).fit(X)
    for out in (gmm.means_, gmm.weights_, gmm.predict(X), gmm.score_samples(X)):
        assert device(out) == DEVICE
    Z = g.standard_normal((20_000, D))
    a1 = g.standard_normal(D)
    y = np.tanh(Z @ (a1 / np.linalg.norm(a1)) + 0.3)  # a planted one-neuron network
    reg = NNLIFTRegressor(1, rng=0).fit(on_device(Z), on_device(y))
    assert device(reg.predict(X)) == DEVICE
    assert reg.score(on_device(Z), on_device(y)) > 0.9


# -- estimators ------------------------------------------------------------------------
CLASSIFIERS = classifiers()


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda c: c.__name__)
def test_classifiers_stay_on_device(cls):
    g = np.random.default_rng(0)
    X = g.normal(size=(40, 3))
    labels = np.asarray([3, 7, 9])[np.argmax(X, axis=1)]
    kw = {"max_iter": 2} if has_epochs(cls) else {}
    clf = cls((6,), rng=0, **kw).fit(on_device(X), labels)
    assert [device(W) for W in clf.layers_] == [DEVICE] * len(clf.layers_)
    assert device(clf.decision_function(on_device(X))) == DEVICE
    pred = clf.predict(on_device(X))
    assert device(pred) == DEVICE and pred.shape == (40,)
    ref = cls((6,), rng=0, **kw).fit(X, labels).predict(X)
    np.testing.assert_array_equal(to_host(pred), ref)
    assert 0.0 <= clf.score(on_device(X), labels) <= 1.0


# -- models ----------------------------------------------------------------------------
def test_mlp_stays_on_device():
    net = models.MLP((D, 5, 2), activations=("tanh", "identity"))
    g = np.random.default_rng(0)
    X = on_device(g.normal(size=(7, D)))
    P = on_device(g.normal(size=(4, net.n_params)))
    params = net.init_params(rng=0, like=X)
    flat, unflatten = models.flatten(params)
    outputs = [net.forward(P, X), net.forward(P[0, ...], X), *params, flat, *unflatten(flat)]
    assert [device(a) for a in outputs] == [DEVICE] * len(outputs)
    y = np.argmax(g.normal(size=(7, 2)), axis=1)
    f = models.objective(net, X, y)
    assert device(f(P)) == DEVICE
    res = minimize(f, P[0, ...], method="openai-es", workers="vectorized", rng=0, maxiter=2,
                   options={"popsize": 8})  # fmt: skip
    assert_on_device(res)
