"""Evaluators: row order, namespaces, and exact equivalence of serial and parallel runs."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree import OpenES, minimize
from gradfree.evaluators import (
    BaseEvaluator,
    ExecutorEvaluator,
    JoblibEvaluator,
    MapEvaluator,
    SerialEvaluator,
    VectorizedEvaluator,
    as_evaluator,
)
from gradfree.testing import rosenbrock, sphere

X0 = np.asarray([0.3, -0.7, 1.1, 2.0])


def _rosen_row(x):
    """Module-level, so process pools can pickle it."""
    return float(rosenbrock(np.asarray(x)))


def _residual_row(x):
    return np.asarray(x) - 1.0


def _run(workers, **kw):
    return minimize(
        _rosen_row,
        X0,
        method=OpenES(popsize=12, learning_rate=0.02),
        rng=11,
        maxiter=6,
        workers=workers,
        **kw,
    )


@pytest.fixture(scope="module")
def serial_result():
    return _run(1)


def _assert_same(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.state.mean, b.state.mean)
    np.testing.assert_array_equal(a.population_values, b.population_values)
    assert (a.fun, a.nfev, a.nit) == (b.fun, b.nfev, b.nit)


def test_joblib_equals_serial(serial_result):
    _assert_same(serial_result, _run(2))


def test_thread_executor_equals_serial(serial_result):
    with ThreadPoolExecutor(3) as pool:
        _assert_same(serial_result, _run(pool))


def test_process_executor_equals_serial(serial_result):
    with ProcessPoolExecutor(2) as pool:
        _assert_same(serial_result, _run(pool))


def test_map_like_equals_serial(serial_result):
    _assert_same(serial_result, _run(map))


def test_vectorized_equals_serial(serial_result):
    res = minimize(
        rosenbrock,
        X0,
        method=OpenES(popsize=12, learning_rate=0.02),
        rng=11,
        maxiter=6,
        workers="vectorized",
    )
    _assert_same(serial_result, res)


def test_dask_equals_serial(serial_result):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as client:
        _assert_same(serial_result, _run(client))


@pytest.mark.parametrize(
    "evaluator",
    [SerialEvaluator(), MapEvaluator(map), JoblibEvaluator(2), "threads"],
    ids=["serial", "map", "joblib", "executor"],
)
def test_row_order_and_vector_outputs(evaluator):
    X = np.arange(15.0).reshape(5, 3)
    if evaluator == "threads":
        with ThreadPoolExecutor(2) as pool:
            ev = ExecutorEvaluator(pool)
            out, vec = ev(_rosen_row, X), ev(_residual_row, X)
    else:
        out, vec = evaluator(_rosen_row, X), evaluator(_residual_row, X)
    np.testing.assert_array_equal(out, [_rosen_row(x) for x in X])
    np.testing.assert_array_equal(vec, X - 1.0)


def test_executor_submits_one_chunk_per_worker():
    class Counting(ThreadPoolExecutor):
        submitted = 0

        def submit(self, *a, **k):
            Counting.submitted += 1
            return super().submit(*a, **k)

    with Counting(3) as pool:
        ExecutorEvaluator(pool)(_rosen_row, np.ones((10, 2)))
    assert Counting.submitted == 3


def test_evaluators_keep_namespace(xp):
    X = xp.asarray([[1.0, 2.0], [3.0, 4.0]])
    for ev in (SerialEvaluator(), VectorizedEvaluator(), MapEvaluator(map)):
        out = ev(sphere, X)
        assert array_namespace(out) is array_namespace(X) and out.dtype == X.dtype
    assert array_namespace(JoblibEvaluator(2)(_rosen_row, X)) is array_namespace(X)


def test_as_evaluator_dispatch():
    assert isinstance(as_evaluator(1), SerialEvaluator)
    assert isinstance(as_evaluator(-1), JoblibEvaluator)
    assert isinstance(as_evaluator(4), JoblibEvaluator)
    assert isinstance(as_evaluator("vectorized"), VectorizedEvaluator)
    assert isinstance(as_evaluator(map), MapEvaluator)
    ev = SerialEvaluator()
    assert as_evaluator(ev) is ev
    with ThreadPoolExecutor(1) as pool:
        assert isinstance(as_evaluator(pool), ExecutorEvaluator)
    assert type(as_evaluator("mpi")).__name__ == "MPIEvaluator"  # the pool starts lazily
    for bad, exc in [
        (0, ValueError),
        (-2, ValueError),
        (True, TypeError),
        (1.5, TypeError),
        ("mpi4", ValueError),
    ]:
        with pytest.raises(exc, match="workers"):
            as_evaluator(bad)


def test_custom_evaluator_subclass():
    class Doubling(BaseEvaluator):
        def __call__(self, fun, X):
            return 2.0 * SerialEvaluator()(fun, X)

    res = minimize(sphere, X0, method=OpenES(popsize=4), rng=0, maxiter=2, workers=Doubling())
    assert res.fun == pytest.approx(2.0 * float(sphere(res.x)))
    with Doubling() as ev:
        assert isinstance(ev, BaseEvaluator)


def test_mismatched_output_shapes():
    outputs = iter([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="different shapes"):
        SerialEvaluator()(lambda x: next(outputs), np.ones((2, 2)))


def _crashes_on_negative_first(x):
    if x[0] < 0.3:
        raise FloatingPointError("solver diverged")
    return _rosen_row(x)


def test_failures_in_worker_processes_match_serial():
    kw = dict(method=OpenES(popsize=12, learning_rate=0.02), rng=2, maxiter=4, on_error="nan")
    serial = minimize(_crashes_on_negative_first, X0, workers=1, **kw)
    parallel = minimize(_crashes_on_negative_first, X0, workers=2, **kw)
    _assert_same(serial, parallel)
    assert np.isnan(serial.population_values).any()
    with pytest.raises(FloatingPointError, match="diverged"):
        minimize(_crashes_on_negative_first, X0, workers=2, method=OpenES(popsize=12), rng=2)
