"""Faults: failure summaries, per-evaluation timeouts and worker death (loky, Dask)."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from gradfree import OpenES, minimize
from gradfree._driver import Run
from gradfree._run import resume, run
from gradfree.evaluators import (
    DaskEvaluator,
    ExecutorEvaluator,
    JoblibEvaluator,
    SerialEvaluator,
    as_evaluator,
    wrap_objective,
)

X = np.arange(8.0).reshape(4, 2)  # rows [0, 1], [2, 3], [4, 5], [6, 7]


def _square_sum(x):
    return float(np.sum(np.asarray(x) ** 2))


def _fails_above(x, limit=3.0):
    """Module-level (picklable): raises for rows whose first coordinate exceeds `limit`."""
    if x[0] > limit:
        raise ValueError(f"bad point {x[0]:g}")
    return _square_sum(x)


def _sleeps_on(x, which=4.0, seconds=60.0):
    """Hangs in Python (interruptible) on the row whose first coordinate is `which`."""
    if x[0] == which:
        time.sleep(seconds)
    return _square_sum(x)


def _hangs_hard_on(x, which=4.0, seconds=60.0):
    """Hangs with SIGALRM blocked, as C code that never returns to Python would."""
    if x[0] == which:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(seconds)
    return _square_sum(x)


def _dies_once(x, marker):
    """SIGKILLs its own worker the first time it sees `marker`; evaluates normally after."""
    if x[0] == 4.0 and os.path.exists(marker):
        os.remove(marker)
        os.kill(os.getpid(), signal.SIGKILL)
    return _square_sum(x)


def _always_dies(x):
    if x[0] == 4.0:
        os.kill(os.getpid(), signal.SIGKILL)
    return _square_sum(x)


EXPECTED = np.asarray([1.0, 13.0, 41.0, 85.0])


# -- the failure summary ------------------------------------------------------------
def test_failed_marker_carries_the_error():
    ev = SerialEvaluator()
    values = ev(wrap_objective(_fails_above, on_error="nan"), X)
    np.testing.assert_array_equal(values[:2], EXPECTED[:2])
    assert np.isnan(values[2:]).all()
    assert list(ev.last_errors) == ["ValueError: bad point 4", "ValueError: bad point 6"]
    assert list(ev(_square_sum, X)) == list(EXPECTED) and not ev.last_errors


def _flaky(x):
    """Fails on about a third of the points, deterministically."""
    if np.sin(1e3 * x[0]) > 0.5:
        raise ZeroDivisionError("flaky")
    return _square_sum(x)


def test_result_summarizes_failures():
    res = run(OpenES(popsize=8), _flaky, np.ones(3), rng=1, maxiter=6, on_error="nan")
    f = res.failures
    assert f["first_error"] == "ZeroDivisionError: flaky"
    assert f["count"] > 0 and f["generations"] == sorted(set(f["generations"]))
    assert set(f["generations"]) <= set(range(1, 7))
    clean = run(OpenES(popsize=8), _square_sum, np.ones(3), rng=1, maxiter=3, on_error="nan")
    assert "failures" not in clean


def test_failures_survive_a_checkpoint(tmp_path):
    path = tmp_path / "run.ckpt"
    full = run(OpenES(popsize=8), _flaky, np.ones(3), rng=1, maxiter=6, on_error="nan")
    part = run(
        OpenES(popsize=8),
        _flaky,
        np.ones(3),
        rng=1,
        maxiter=6,
        on_error="nan",
        checkpoint=path,
        walltime=0,
    )
    assert part.nit == 1
    assert Run.restore(path).failures == part.get("failures")
    rest = resume(path, _flaky, on_error="nan")
    assert rest.failures == full.failures
    assert (rest.fun, rest.nfev) == (full.fun, full.nfev)


# -- timeout validation ---------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, "vectorized", map])
def test_timeout_needs_a_process_pool(workers):
    with pytest.raises(ValueError, match="`timeout` needs a process pool"):
        as_evaluator(workers, timeout=1.0)


def test_timeout_is_validated():
    with pytest.raises(ValueError, match="`timeout` must be a number of seconds > 0"):
        JoblibEvaluator(2, timeout=0)
    with pytest.raises(TypeError, match="`timeout` must be a number"):
        as_evaluator(2, timeout=True)
    with (
        pytest.raises(ValueError, match="`timeout` needs a process pool"),
        ThreadPoolExecutor(1) as pool,
    ):
        ExecutorEvaluator(pool, timeout=1.0)
    with pytest.raises(ValueError, match="to the evaluator itself"):
        as_evaluator(SerialEvaluator(), timeout=1.0)
    assert as_evaluator(-1, timeout=2).timeout == 2.0


# -- loky -------------------------------------------------------------------------------
def test_loky_timeout_fails_only_the_hung_evaluation():
    ev = JoblibEvaluator(2, timeout=0.5)
    ev(_square_sum, X)  # warm pool
    start = time.monotonic()
    values = ev(_sleeps_on, X)
    assert time.monotonic() - start < 5
    np.testing.assert_array_equal(values[[0, 1, 3]], EXPECTED[[0, 1, 3]])
    assert np.isnan(values[2])
    assert list(ev.last_errors) == ["TimeoutError: evaluation exceeded timeout=0.5 s"]


def test_loky_hard_hang_is_abandoned_and_the_pool_recreated():
    ev = JoblibEvaluator(2, timeout=0.3)
    ev(_square_sum, X)  # warm pool, so no start-up grace
    start = time.monotonic()
    values = ev(_hangs_hard_on, X)
    assert time.monotonic() - start < 10
    # chunks [0, 1] and [2, 3]: the second one is abandoned whole
    np.testing.assert_array_equal(values[:2], EXPECTED[:2])
    assert np.isnan(values[2:]).all() and len(ev.last_errors) == 2
    assert "abandoned" in ev.last_errors[0]
    np.testing.assert_array_equal(ev(_square_sum, X), EXPECTED)  # a healthy pool again


def test_loky_worker_death_is_retried_once(tmp_path):
    marker = tmp_path / "kill-me"
    marker.touch()
    ev = JoblibEvaluator(2)
    values = ev(wrap_objective(_dies_once, (str(marker),)), X)
    assert not marker.exists()  # a worker did die
    np.testing.assert_array_equal(values, EXPECTED)
    assert not ev.last_errors


def test_loky_worker_death_fails_only_the_point_that_kills_it():
    """The chunk-mate of a point that kills its worker gets its value: one run per seed."""
    ev = JoblibEvaluator(2)
    for _ in range(2):
        values = ev(_always_dies, X)
        assert np.isnan(values[2]) and values[3] == EXPECTED[3]
        np.testing.assert_array_equal(values[:2], EXPECTED[:2])
        assert len(ev.last_errors) == 1 and "TerminatedWorkerError" in ev.last_errors[0]
        assert "died evaluating this point" in ev.last_errors[0]
    np.testing.assert_array_equal(ev(_square_sum, X), EXPECTED)


def _dies_right_of(x):
    if x[0] > 0.15:
        os.kill(os.getpid(), signal.SIGKILL)
    return _square_sum(x)


def test_worker_death_gives_one_run_per_seed():
    """Two points kill their workers over 3 generations (seed 3); both runs agree."""
    kw = dict(method="openai-es", rng=3, maxiter=3, workers=2, on_error="nan")
    kw["options"] = {"popsize": 4}
    a = minimize(_dies_right_of, np.asarray([0.0, 1.0]), **kw)
    b = minimize(_dies_right_of, np.asarray([0.0, 1.0]), **kw)
    assert a.failures["count"] == 2 and a.failures == b.failures
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.history["fun"], b.history["fun"])


def _sleeps_when_negative(x):
    if x[0] < 0:
        time.sleep(60)
    return _square_sum(x)


def test_run_with_timeout_goes_on():
    res = run(
        OpenES(popsize=6, sigma=1.0),
        _sleeps_when_negative,
        np.zeros(2),
        rng=0,
        maxiter=3,
        workers=2,
        timeout=0.3,
        on_error="raise",  # timeouts count as failures whatever the policy
    )
    assert res.nit == 3 and res.status == 1  # MAXITER: the run went on
    assert res.failures["first_error"] == "TimeoutError: evaluation exceeded timeout=0.3 s"
    assert 0 < res.failures["count"] < 18 and res.failures["generations"][0] == 1


def test_executor_timeout_and_broken_pool():
    with ProcessPoolExecutor(2) as pool:
        ev = ExecutorEvaluator(pool, timeout=0.5)
        values = ev(_sleeps_on, X)
        assert np.isnan(values[2]) and ev.last_errors[0].startswith("TimeoutError")
    with ProcessPoolExecutor(2) as pool:
        values = ExecutorEvaluator(pool)(_always_dies, X)
        assert np.isnan(values).any()


# -- Dask -------------------------------------------------------------------------------
def test_dask_address_parsing():
    ev = as_evaluator("dask://localhost:8786", timeout=5)
    assert isinstance(ev, DaskEvaluator)
    assert (ev.address, ev.timeout, ev._client) == ("tcp://localhost:8786", 5.0, None)
    ev.close()  # never connected: nothing to close
    with pytest.raises(ValueError, match="dask://host:port"):
        DaskEvaluator("dask://")
    with pytest.raises(TypeError, match="dask.distributed.Client"):
        DaskEvaluator(3)


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        yield cluster


def test_dask_address_owns_its_client(dask_cluster):
    address = dask_cluster.scheduler_address.replace("tcp://", "dask://")
    with as_evaluator(address) as ev:
        np.testing.assert_array_equal(ev(_square_sum, X), EXPECTED)
        client = ev.client
    assert client.status == "closed"


def test_dask_lost_worker_is_retried(dask_cluster, tmp_path):
    distributed = pytest.importorskip("distributed")
    marker = tmp_path / "kill-me"
    marker.touch()
    with distributed.Client(dask_cluster) as client:
        ev = DaskEvaluator(client)
        values = ev(wrap_objective(_dies_once, (str(marker),)), X)
        assert not marker.exists()
        np.testing.assert_array_equal(values, EXPECTED)
        assert not ev.last_errors
        client.wait_for_workers(2, timeout=30)


@pytest.mark.slow  # ~9 s: a 3 s deadline, then a nanny restart
def test_dask_timeout_restarts_the_busy_worker(dask_cluster):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(dask_cluster) as client:
        ev = DaskEvaluator(client, timeout=0.5)
        start = time.monotonic()
        values = ev(_sleeps_on, X)
        assert time.monotonic() - start < 10
        np.testing.assert_array_equal(values[:2], EXPECTED[:2])
        assert np.isnan(values[2:]).all() and "abandoned" in ev.last_errors[0]
        client.wait_for_workers(2, timeout=30)
        start = time.monotonic()
        np.testing.assert_array_equal(ev(_square_sum, X), EXPECTED)
        assert time.monotonic() - start < 5  # not queued behind the hung task


def _set_allowed_failures(n, dask_scheduler=None):
    old, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, n
    return old


def test_dask_worker_death_fails_only_the_point_that_kills_it(dask_cluster):
    """The chunk-mate of a point that kills its worker gets its value, as with loky."""
    distributed = pytest.importorskip("distributed")
    with distributed.Client(dask_cluster) as client:
        # one death is enough for KilledWorker: the test needs three deaths, not twelve
        old = client.run_on_scheduler(_set_allowed_failures, 0)
        try:
            ev = DaskEvaluator(client)
            values = ev(_always_dies, X)
            assert np.isnan(values[2]) and values[3] == EXPECTED[3]
            np.testing.assert_array_equal(values[:2], EXPECTED[:2])
            assert len(ev.last_errors) == 1 and "KilledWorker" in ev.last_errors[0]
            assert "died evaluating this point" in ev.last_errors[0]
        finally:
            client.run_on_scheduler(_set_allowed_failures, old)
            client.wait_for_workers(2, timeout=30)
