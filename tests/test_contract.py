"""The contract every registered method passes, on every array namespace.

A method filed later adds itself to `gradfree.METHODS` and `gradfree.testing.TEST_CONFIGS`
and must pass this file unchanged.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree import METHODS, Status, minimize
from gradfree._array import gpu_available, to_host
from gradfree.testing import TEST_CONFIGS, assert_states_equal, problem_for

NAMES = sorted(METHODS)
RESULT_KEYS = {
    "x",
    "fun",
    "nit",
    "nfev",
    "success",
    "status",
    "message",
    "population",
    "population_values",
    "state",
    "history",
}


def make(name, **extra):
    return METHODS[name](**{**TEST_CONFIGS[name], **extra})


def x0_for(xp, dtype=None):
    return xp.asarray([0.5, -1.0, 2.0], dtype=dtype or xp.float64)


def run_min(name, x0, **kw):
    strategy = make(name)
    kw.setdefault("maxiter", 5)
    kw.setdefault("workers", "vectorized")
    return minimize(problem_for(strategy), x0, method=strategy, **kw)


def test_every_method_has_test_config():
    assert set(TEST_CONFIGS) == set(METHODS)


@pytest.mark.parametrize("name", NAMES)
def test_ask_shapes_namespace_dtype(name, xp):
    strategy = make(name)
    for dtype in (xp.float32, xp.float64):
        x0 = x0_for(xp, dtype)
        state = strategy.init(x0, rng=np.random.default_rng(0))
        X, state = strategy.ask(state, rng=np.random.default_rng(1))
        assert X.ndim == 2 and X.shape[1] == 3 and X.shape[0] >= 2
        assert array_namespace(X) is array_namespace(x0)
        assert X.dtype == x0.dtype


@pytest.mark.parametrize("name", NAMES)
def test_tell_is_deterministic(name, xp):
    strategy = make(name)
    x0 = x0_for(xp)
    state = strategy.init(x0, rng=np.random.default_rng(0))
    X, state = strategy.ask(state, rng=np.random.default_rng(1))
    values = problem_for(strategy)(X)
    assert_states_equal(strategy.tell(state, X, values), strategy.tell(state, X, values))


@pytest.mark.parametrize("name", NAMES)
def test_inputs_not_modified(name, xp):
    strategy = make(name)
    x0 = x0_for(xp)
    x0_copy = to_host(x0).copy()
    state = strategy.init(x0, rng=np.random.default_rng(0))
    X, state = strategy.ask(state, rng=np.random.default_rng(1))
    values = problem_for(strategy)(X)
    X_copy, values_copy = to_host(X).copy(), to_host(values).copy()
    strategy.tell(state, X, values)
    minimize(problem_for(strategy), x0, method=strategy, maxiter=3, rng=0)
    np.testing.assert_array_equal(to_host(x0), x0_copy)
    np.testing.assert_array_equal(to_host(X), X_copy)
    np.testing.assert_array_equal(to_host(values), values_copy)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_run(name, xp):
    a = run_min(name, x0_for(xp), rng=7)
    b = run_min(name, x0_for(xp), rng=np.random.default_rng(7))
    c = run_min(name, x0_for(xp), rng=8)
    np.testing.assert_array_equal(to_host(a.x), to_host(b.x))
    np.testing.assert_array_equal(a.history["fun"], b.history["fun"])
    assert_states_equal(a.state, b.state)
    assert a.nfev == b.nfev
    if not getattr(METHODS[name], "deterministic", False):  # UKI draws nothing
        assert not np.array_equal(to_host(a.population), to_host(c.population))


@pytest.mark.parametrize("name", NAMES)
def test_result_fields(name, xp):
    x0 = x0_for(xp)
    res = run_min(name, x0, rng=0)
    assert RESULT_KEYS <= set(res)
    assert array_namespace(res.x) is array_namespace(x0)
    assert res.x.shape == (3,) and res.x.dtype == x0.dtype
    assert type(res.fun) is float and np.isfinite(res.fun)
    assert isinstance(res.success, bool) and isinstance(res.message, str)
    assert res.status == Status.MAXITER and res.nit == 5
    if make(name).partial_batches:  # batches of true evaluations, up to a generation each
        assert 5 <= res.nfev <= 5 * TEST_CONFIGS[name]["popsize"]
    else:
        assert res.nfev == 5 * res.population.shape[0]
    assert array_namespace(res.population) is array_namespace(x0)
    assert len(res.history["fun"]) == 5
    # the reported best is the best value seen, and it is the value at x
    f = problem_for(make(name))
    loss = make(name).loss(f(xp.reshape(res.x, (1, -1))))
    assert float(to_host(loss)[0]) == pytest.approx(res.fun, rel=1e-12)
    assert res.fun <= res.history["gen_min"].min()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("maxfev", [8, 9, 23, 40])
def test_maxfev_respected(name, maxfev):
    strategy = make(name)
    n = strategy.ask(
        strategy.init(x0_for(np), rng=np.random.default_rng(0)), rng=np.random.default_rng(0)
    )[0].shape[0]
    if maxfev < n:
        with pytest.raises(ValueError, match="maxfev"):
            run_min(name, x0_for(np), maxfev=maxfev, maxiter=None, rng=0)
        return
    res = run_min(name, x0_for(np), maxfev=maxfev, maxiter=None, rng=0)
    assert res.nfev <= maxfev < res.nfev + n
    assert res.status == Status.MAXFEV and not res.success


@pytest.mark.parametrize("name", NAMES)
def test_callback_stop_iteration(name, xp):
    seen = []

    def callback(intermediate_result):
        seen.append(intermediate_result.nit)
        if intermediate_result.nit == 3:
            raise StopIteration

    res = run_min(name, x0_for(xp), rng=0, maxiter=50, callback=callback)
    assert seen == [1, 2, 3]
    assert res.status == Status.CALLBACK and res.nit == 3 and not res.success
    assert "StopIteration" in res.message


@pytest.mark.parametrize("name", NAMES)
def test_state_pickles_and_resumes(name):
    strategy = make(name)
    rng = np.random.default_rng(3)
    state = strategy.init(x0_for(np), rng=rng)
    X, state = strategy.ask(state, rng=rng)
    state = strategy.tell(state, X, problem_for(strategy)(X))
    clone_state, clone_rng = pickle.loads(pickle.dumps((state, rng)))
    Xa, _ = strategy.ask(state, rng=rng)
    Xb, _ = strategy.ask(clone_state, rng=clone_rng)
    np.testing.assert_array_equal(Xa, Xb)


@pytest.mark.parametrize("name", NAMES)
def test_namespaces_agree(name):
    """One seed gives the same run on NumPy and array-api-strict (host draws, same math)."""
    strict = pytest.importorskip("array_api_strict")
    a = run_min(name, x0_for(np), rng=1, maxiter=4)
    b = run_min(name, x0_for(strict), rng=1, maxiter=4)
    np.testing.assert_allclose(to_host(b.population), a.population, rtol=1e-12, atol=1e-14)
    assert a.fun == pytest.approx(b.fun, rel=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("name", NAMES)
def test_cupy_matches_numpy(name):
    if not gpu_available():
        pytest.skip("no CUDA GPU: CuPy could not allocate")
    import cupy

    a = run_min(name, x0_for(np), rng=1, maxiter=4)
    b = run_min(name, x0_for(cupy), rng=1, maxiter=4)
    assert type(b.x).__module__.startswith("cupy")
    np.testing.assert_allclose(to_host(b.population), a.population, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bounds_method", ["transform", "clip", "reflect"])
def test_bounds_are_never_violated(name, xp, bounds_method):
    """Every evaluated point lies in the box (natively or through `Bounded`)."""
    strategy = make(name)
    box = [(-1.0, 1.0), (-2.0, 0.0), (0.0, 3.0)]
    if type(strategy).vector_values and not type(strategy).supports_bounds:
        with pytest.raises(ValueError, match=r"`bounds`.*transform=gradfree\.kalman\.Transform"):
            run_min(name, x0_for(xp), bounds=box)
        return
    seen = []

    def recording(X):
        seen.append(to_host(X).copy())
        return problem_for(strategy)(X)

    res = minimize(
        recording,
        x0_for(xp),
        method=strategy,
        bounds=box,
        workers="vectorized",
        rng=0,
        maxiter=5,
        options={"bounds_method": bounds_method},
    )
    lo, hi = np.asarray(box).T
    evaluated = np.concatenate(seen)
    assert (evaluated >= lo).all() and (evaluated <= hi).all()
    assert array_namespace(res.x) is array_namespace(x0_for(xp))
    assert (to_host(res.x) >= lo).all() and (to_host(res.x) <= hi).all()


# -- failures -----------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_generation_stops(name, xp):
    strategy = make(name)
    shape_of = problem_for(strategy)

    def all_nan(X):
        return shape_of(X) * float("nan")

    res = minimize(all_nan, x0_for(xp), method=strategy, workers="vectorized", rng=0, maxiter=10)
    assert res.status == Status.NONFINITE and not res.success and "NaN or inf" in res.message
    if strategy.partial_batches:  # a surrogate's generation comes in batches: all of them
        assert res.nfev == TEST_CONFIGS[name]["popsize"] > res.population.shape[0]
    else:
        assert res.nit == 0 and res.nfev == res.population.shape[0]
    assert not np.isfinite(to_host(res.population_values)).any()


@pytest.mark.parametrize("name", NAMES)
def test_nan_ranks_worst(name):
    """A NaN candidate is never reported as best, and the run goes on."""
    strategy = make(name)
    base = problem_for(strategy)

    def some_nan(X):
        v = np.asarray(base(X), dtype=float).copy()
        v[0] = np.nan
        return v

    res = minimize(some_nan, x0_for(np), method=strategy, workers="vectorized", rng=0, maxiter=5)
    assert res.status == Status.MAXITER and np.isfinite(res.fun)


@pytest.mark.parametrize("name", NAMES)
def test_objective_that_raises(name):
    strategy = make(name)
    base = problem_for(strategy)
    calls = []

    def flaky(x):
        calls.append(1)
        if len(calls) % 3 == 0:
            raise RuntimeError("simulator crashed")
        return base(x)

    res = minimize(flaky, x0_for(np), method=strategy, rng=0, maxiter=4, on_error="nan")
    assert res.status == Status.MAXITER and np.isfinite(res.fun)
    calls.clear()
    with pytest.raises(RuntimeError, match="simulator crashed") as info:
        minimize(flaky, x0_for(np), method=strategy, rng=0, maxiter=4)
    assert hasattr(info.value, "gradfree_result")


# -- bad arguments ------------------------------------------------------------------
BAD_X0 = [
    ([0.0, float("nan")], ValueError, "x0"),
    ([float("inf"), 1.0], ValueError, "x0"),
    ([[1.0, 2.0]], ValueError, "x0"),
    ([], ValueError, "x0"),
    (["a", "b"], TypeError, "x0"),
    ([1 + 2j], TypeError, "x0"),
    ([True, False], TypeError, "x0"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("x0", "exc", "arg"), BAD_X0)
def test_bad_x0(name, x0, exc, arg):
    with pytest.raises(exc, match=f"`{arg}`"):
        run_min(name, x0, rng=0)


BAD_KW = [
    ({"rng": np.random.RandomState(0)}, TypeError, "rng"),
    ({"rng": "seed"}, TypeError, "rng"),
    ({"rng": -1}, ValueError, "rng"),
    ({"maxiter": 0}, ValueError, "maxiter"),
    ({"maxiter": 2.5}, TypeError, "maxiter"),
    ({"maxfev": -3}, ValueError, "maxfev"),
    ({"tol": float("nan")}, ValueError, "tol"),
    ({"tol": -1.0}, ValueError, "tol"),
    ({"workers": 0}, ValueError, "workers"),
    ({"workers": "threads"}, ValueError, "workers"),
    ({"workers": 2.0}, TypeError, "workers"),
    ({"on_error": "ignore"}, ValueError, "on_error"),
    ({"callback": 3}, TypeError, "callback"),
    ({"progress": "yes"}, TypeError, "progress"),
    ({"options": {"no_such_option": 1}}, TypeError, "no_such_option"),
    ({"options": [("popsize", 4)]}, TypeError, "options"),
    ({"bounds": [(0, 1)]}, ValueError, "bounds"),
    ({"bounds": [(1, 0)] * 3}, ValueError, "bounds"),
    ({"bounds": [(0, float("nan"))] * 3}, ValueError, "bounds"),
    ({"bounds": "box"}, TypeError, "bounds"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("kw", "exc", "arg"), BAD_KW, ids=lambda v: str(v)[:30])
def test_bad_arguments(name, kw, exc, arg):
    with pytest.raises(exc, match=arg):
        run_min(name, x0_for(np), **kw)


def test_unknown_method_lists_the_registry():
    with pytest.raises(ValueError, match="openai-es"):
        minimize(np.sum, [1.0], method="nope")


def test_unknown_option_lists_valid_ones():
    with pytest.raises(TypeError, match="popsize"):
        minimize(np.sum, [1.0], method="openai-es", options={"pop_size": 4})
