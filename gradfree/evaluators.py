"""Evaluators: how a population is evaluated (serially, in one batch, or in parallel).

An evaluator maps ``(fun, X)`` with ``X`` of shape ``(n, d)`` to values of shape
``(n,)`` (scalar objectives) or ``(n, m)`` (vector-valued models), in the namespace,
device and dtype of ``X``, with row order kept. Evaluators own parallelism and nothing
else: the driver counts evaluations and handles non-finite values.

Cross-process evaluators send host (NumPy) rows to the workers and convert the values
back, and submit one chunk of rows per worker rather than one task per point.

Faults. A failed evaluation comes back as NaN, and the evaluator lists why in
``last_errors`` (``"Type: message"`` per failed row of its last call), which the
driver turns into ``result.failures``. Failures are: an objective that raised under
``on_error='nan'``; a value that is not a real number under ``on_error='nan'``; an
evaluation that ran past the evaluator's ``timeout``; and points that kill their worker
(a dead loky worker's rows are evaluated again on a fresh pool, one task per row and
then one row at a time, so only a point that kills a worker by itself fails and a seed
gives one run; Dask tasks are submitted with ``retries=1`` and lost workers' tasks are
rescheduled). Values that are not real numbers (None, str, bool, complex) are never
converted: they are a `TypeError` naming ``fun``, or failures under ``on_error='nan'``.

Timeouts need a process pool (`JoblibEvaluator`, `DaskEvaluator`, `ExecutorEvaluator`
over a process pool): an evaluation running in this process cannot be interrupted
safely, so `SerialEvaluator`, `VectorizedEvaluator` and `MapEvaluator` have none. In a
worker process each evaluation runs under a ``SIGALRM`` timer (POSIX), so a hang in
Python code (``time.sleep``, a loop) fails alone and the worker goes on; a chunk that
misses its deadline (``timeout`` per row plus a grace period) anyway, e.g. stuck in C
code with signals blocked, or on a Dask worker thread, is abandoned with all its rows,
and the loky pool is killed and recreated (Dask: its worker is restarted) so that the
next generation starts on healthy workers.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from ._array import asarray_like, to_host
from ._evaluation import (
    STARTUP_GRACE,
    TIMEOUT_GRACE,
    _describe,
    _errors,
    _eval_rows,
    _Failed,
    _row_values,
    _split,
    _timeout_message,
    not_real,
    wrap_objective,
)
from ._typing import Array, Objective
from ._validate import check_int

__all__ = [
    "BaseEvaluator",
    "DaskEvaluator",
    "ExecutorEvaluator",
    "JoblibEvaluator",
    "MPIEvaluator",
    "MapEvaluator",
    "SerialEvaluator",
    "VectorizedEvaluator",
    "as_evaluator",
    "wrap_objective",
]


class BaseEvaluator(ABC):
    """Base class of gradfree evaluators; subclass it to write your own."""

    #: ``fun`` receives the whole population ``(n, d)`` in one call.
    vectorized: bool = False
    #: ``"Type: message"`` of each failed row of the last call (read by the driver).
    last_errors: Sequence[str] = ()

    @abstractmethod
    def __call__(self, fun: Objective, X: Array) -> Array:
        """Values of `fun` for each row of `X`, shape ``(n,)`` or ``(n, m)``."""

    def __enter__(self) -> BaseEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release any pool the evaluator owns (nothing by default)."""


class SerialEvaluator(BaseEvaluator):
    """Evaluate rows one by one in this process, in the namespace of `X`.

    Examples
    --------
    >>> SerialEvaluator()(lambda x: float(x @ x), np.asarray([[1.0, 2.0], [0.0, 1.0]]))
    array([5., 1.])
    """

    def __call__(self, fun: Objective, X: Array) -> Array:
        outputs = [fun(X[i, ...]) for i in range(X.shape[0])]
        self.last_errors = _errors(outputs)
        return _row_values(outputs, X.shape[0], X)


class VectorizedEvaluator(BaseEvaluator):
    """One call ``fun(X)`` for the whole population, which returns ``(n,)`` or ``(n, m)``.

    Examples
    --------
    >>> VectorizedEvaluator()(lambda X: (X**2).sum(axis=1), np.asarray([[1.0, 2.0]]))
    array([5.])
    """

    vectorized = True

    def __call__(self, fun: Objective, X: Array) -> Array:
        n = X.shape[0]
        out = fun(X)
        self.last_errors = [out.error or "unknown error"] * n if isinstance(out, _Failed) else []
        if isinstance(out, _Failed):
            return asarray_like(np.full(n, np.nan), X)
        why = not_real(out)
        if why is not None:
            raise TypeError(
                f"a vectorized `fun` must return an array of real numbers, shape ({n},) or "
                f"({n}, m); {why}. Pass on_error='nan' to count it as a failed generation."
            )
        if type(out) is not type(X) or out.dtype != X.dtype:
            out = asarray_like(out if hasattr(out, "shape") else np.asarray(out), X)
        if out.ndim not in (1, 2) or out.shape[0] != n:
            raise ValueError(
                f"a vectorized `fun` must return shape ({n},) or ({n}, m) for {n} "
                f"candidates; got {tuple(out.shape)}."
            )
        return out


class MapEvaluator(BaseEvaluator):
    """Evaluate through a map-like callable ``mapper(func, iterable)`` (scipy's `workers`).

    Examples
    --------
    >>> MapEvaluator(map)(lambda x: float(x.sum()), np.ones((2, 3)))
    array([3., 3.])
    """

    def __init__(self, mapper: Callable[..., Iterable[Any]]) -> None:
        if not callable(mapper):
            raise TypeError(f"`mapper` must be callable; got {type(mapper).__name__}.")
        self.mapper = mapper

    def __call__(self, fun: Objective, X: Array) -> Array:
        outputs = list(self.mapper(fun, to_host(X)))
        self.last_errors = _errors(outputs)
        return _row_values(outputs, X.shape[0], X)


def _check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer, np.floating)):
        raise TypeError(f"`timeout` must be a number of seconds; got {type(timeout).__name__}.")
    if not (np.isfinite(timeout) and timeout > 0):
        raise ValueError(f"`timeout` must be a number of seconds > 0; got {timeout!r}.")
    return float(timeout)


class _ChunkedEvaluator(BaseEvaluator):
    """Shared parts of the pool evaluators: the timeout and the chunk deadline."""

    timeout: float | None = None

    def _deadline(self, chunks: Sequence[np.ndarray], waves: int = 1, fresh: bool = False) -> Any:
        """Seconds to wait for `chunks` (None without a timeout)."""
        if self.timeout is None:
            return None
        rows = max(len(c) for c in chunks) * waves
        return self.timeout * rows + TIMEOUT_GRACE + (STARTUP_GRACE if fresh else 0.0)

    def _abandoned(self, chunk: np.ndarray) -> list[Any]:
        message = f"{_timeout_message(self.timeout or 0.0)} (its chunk was abandoned)"
        return [_Failed(message)] * len(chunk)

    def _finish(self, parts: Sequence[Sequence[Any]], X: Array) -> Array:
        outputs = [v for part in parts for v in part]
        self.last_errors = _errors(outputs)
        return _row_values(outputs, X.shape[0], X)


#: Environment of loky workers: one BLAS/OpenMP thread each.
_ONE_THREAD = {
    k: "1"
    for k in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    )
}


class JoblibEvaluator(_ChunkedEvaluator):
    """Evaluate in worker processes with joblib's loky backend.

    Rows travel as NumPy arrays in one chunk per worker, and BLAS in the workers is
    pinned to one thread so that `n_jobs` processes do not oversubscribe the cores.
    The pool is loky's reusable one, shared with joblib. A worker that dies (SIGKILL,
    segfault, out of memory) breaks the whole batch: its chunks are evaluated again
    again, one task per row, and rows still lost then are evaluated one at a time, so
    that only a point that kills its worker by itself counts as failed (NaN) and a seed
    gives one run whatever the timing.

    Parameters
    ----------
    n_jobs : int, default=-1
        Number of workers; -1 means one per core.
    timeout : float, optional
        Seconds per evaluation. An evaluation that runs longer counts as failed (NaN)
        and the run goes on; a chunk stuck past its deadline is abandoned and the pool
        is killed and recreated (see the module notes).

    Examples
    --------
    >>> JoblibEvaluator(n_jobs=2)(np.linalg.norm, np.asarray([[-1.0], [2.0], [-3.0]]))
    array([1., 2., 3.])
    """

    def __init__(self, n_jobs: int = -1, *, timeout: float | None = None) -> None:
        self.n_jobs = check_int(n_jobs, "n_jobs", low=-1)
        if self.n_jobs == 0:
            raise ValueError("`n_jobs` must be -1 or >= 1; got 0.")
        self.timeout = _check_timeout(timeout)
        self._pool: Any = None
        self._used = 0.0
        self._death = "worker died"

    def _executor(self, n: int) -> tuple[Any, bool]:
        """loky's reusable pool (a fresh one after a break or a kill), and whether it is new."""
        from joblib.externals.loky import get_reusable_executor

        pool = get_reusable_executor(max_workers=n, timeout=300, env=_ONE_THREAD)
        fresh = pool is not self._pool or time.monotonic() - self._used > 250
        self._pool = pool
        return pool, fresh

    def __call__(self, fun: Objective, X: Array) -> Array:
        n_workers = _n_workers(self.n_jobs)
        rows = to_host(X)
        chunks = _split(rows, n_workers)
        bounds = np.cumsum([0] + [len(c) for c in chunks])
        outputs: list[Any] = [None] * len(rows)
        # 1. one chunk per worker; 2. the rows of chunks whose worker died, one task each;
        # 3. rows still lost, one at a time, so that only a row that kills its worker
        #    by itself fails: its chunk-mates get their values whatever the timing.
        todo = [list(range(bounds[i], bounds[i + 1])) for i in range(len(chunks))]
        for attempt in range(3):
            lost = self._submit(fun, rows, todo, outputs, one_at_a_time=attempt == 2)
            if attempt == 0:
                todo = [[j] for task in lost for j in task]
            else:
                todo = lost
            if not todo:
                break
        for task in todo:
            for j in task:
                outputs[j] = _Failed(f"{self._death} (the worker died evaluating this point)")
        self.last_errors = _errors(outputs)
        return _row_values(outputs, len(rows), X)

    def _submit(
        self,
        fun: Objective,
        rows: np.ndarray,
        tasks: list[list[int]],
        outputs: list[Any],
        one_at_a_time: bool = False,
    ) -> list[list[int]]:
        """Evaluate each task (row indices) into `outputs`; return the tasks whose worker died."""
        if one_at_a_time:
            return [t for task in tasks for t in self._submit(fun, rows, [task], outputs)]
        pool, fresh = self._executor(_n_workers(self.n_jobs))
        futures = [
            pool.submit(_eval_rows, fun, rows[task], self.timeout, os.getpid()) for task in tasks
        ]
        _, hung = concurrent.futures.wait(
            futures, timeout=self._deadline([rows[t] for t in tasks], fresh=fresh)
        )
        lost, error = [], None
        for task, future in zip(tasks, futures):
            if future in hung:
                values = self._abandoned(rows[task])
            elif isinstance(exc := future.exception(), BrokenProcessPool):
                self._death = _describe(exc)
                lost.append(task)
                continue
            elif exc is not None:
                error = error or exc
                continue
            else:
                values = future.result()
            for j, v in zip(task, values):
                outputs[j] = v
        self._used = time.monotonic()
        if hung:  # kill the stuck workers; the next call gets a fresh pool
            pool.shutdown(wait=False, kill_workers=True)
            self._pool = None
        if error is not None:
            raise error
        return lost


def _n_workers(n_jobs: int) -> int:
    """joblib's worker count for `n_jobs` (-1: one per core)."""
    from joblib import effective_n_jobs

    return int(effective_n_jobs(n_jobs))


class ExecutorEvaluator(_ChunkedEvaluator):
    """Evaluate through any `concurrent.futures.Executor`, one chunk per worker.

    The executor is not owned, so a broken process pool is not recreated: rows whose
    worker died count as failed (NaN), and a chunk abandoned after `timeout` keeps its
    worker busy until it returns (prefer `JoblibEvaluator` for fault tolerance).

    Parameters
    ----------
    executor : concurrent.futures.Executor
        Not owned: the caller shuts it down.
    n_chunks : int, optional
        Chunks per generation (default: the executor's worker count, else the cores).
    timeout : float, optional
        Seconds per evaluation; needs a process pool (not a `ThreadPoolExecutor`).

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as pool:
    ...     ExecutorEvaluator(pool)(np.linalg.norm, np.asarray([[-1.0], [2.0], [-3.0]]))
    array([1., 2., 3.])
    """

    def __init__(
        self,
        executor: concurrent.futures.Executor,
        n_chunks: int | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        if not isinstance(executor, concurrent.futures.Executor):
            raise TypeError(
                f"`executor` must be a concurrent.futures.Executor; got {type(executor).__name__}."
            )
        self.executor = executor
        self.workers = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        self.n_chunks = check_int(
            n_chunks if n_chunks is not None else self.workers, "n_chunks", low=1
        )
        self.timeout = _check_timeout(timeout)
        if self.timeout is not None and isinstance(
            executor, concurrent.futures.ThreadPoolExecutor
        ):
            raise ValueError(_NEEDS_POOL)

    def __call__(self, fun: Objective, X: Array) -> Array:
        chunks = _split(to_host(X), self.n_chunks)
        futures = [
            self.executor.submit(_eval_rows, fun, c, self.timeout, os.getpid()) for c in chunks
        ]
        waves = -(-len(chunks) // self.workers)
        _, hung = concurrent.futures.wait(
            futures, timeout=self._deadline(chunks, waves=waves, fresh=True)
        )
        parts = []
        for future, chunk in zip(futures, chunks):
            if future in hung:
                future.cancel()
                parts.append(self._abandoned(chunk))
            elif isinstance(error := future.exception(), BrokenProcessPool):
                parts.append([_Failed(_describe(error))] * len(chunk))
            else:
                parts.append(future.result())  # raises the objective's own errors
        return self._finish(parts, X)


class MPIEvaluator(ExecutorEvaluator):
    """Evaluate on the workers of an `mpi4py.futures.MPIPoolExecutor`, one chunk per worker.

    Start the program under MPI so that the pool uses the other ranks::

        mpirun -n 9 python -m mpi4py.futures my_script.py   # 1 driver + 8 workers

    The pool is created on first use and shut down by `close` (the driver closes the
    evaluators it creates). Needs mpi4py and an MPI library (Open MPI or MPICH).

    Parameters
    ----------
    timeout : float, optional
        Seconds per evaluation (the worker processes enforce it with SIGALRM).

    Examples
    --------
    >>> ev = MPIEvaluator()  # the pool starts at the first generation
    >>> ev.executor is None
    True
    """

    def __init__(self, *, timeout: float | None = None) -> None:
        self.executor = None  # type: ignore[assignment]
        self.workers = self.n_chunks = 1
        self.timeout = _check_timeout(timeout)

    def __call__(self, fun: Objective, X: Array) -> Array:
        if self.executor is None:
            try:
                from mpi4py.futures import MPIPoolExecutor
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError(
                    "workers='mpi' needs mpi4py and an MPI library: apt-get install "
                    "openmpi-bin libopenmpi-dev; pip install mpi4py"
                ) from exc
            self.executor = MPIPoolExecutor()
            self.workers = self.n_chunks = max(1, int(self.executor.num_workers))
        return super().__call__(fun, X)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown()
            self.executor = None  # type: ignore[assignment]


class DaskEvaluator(_ChunkedEvaluator):
    """Evaluate on a `dask.distributed.Client`, one chunk per worker thread.

    Tasks are submitted with ``retries=1``, and the scheduler reschedules the tasks of
    a lost worker; rows whose task still fails with `distributed.KilledWorker` count
    as failed (NaN). Dask cannot interrupt a running task: a chunk past its `timeout`
    deadline is cancelled and the worker running it is restarted (through its nanny).

    Parameters
    ----------
    client : dask.distributed.Client or str
        A client (not owned: the caller closes it), or a scheduler address
        ``"dask://host:port"`` (or ``"tcp://host:port"``): the evaluator then connects
        on first use and closes its client in `close`.
    timeout : float, optional
        Seconds per evaluation.

    Examples
    --------
    >>> ev = DaskEvaluator("dask://scheduler:8786")  # connects on first use
    >>> ev.address
    'tcp://scheduler:8786'
    >>> ev.close()
    """

    def __init__(self, client: Any, *, timeout: float | None = None) -> None:
        self.timeout = _check_timeout(timeout)
        self.address: str | None = None
        self._client: Any = None
        self._owned = isinstance(client, str)
        if self._owned:
            self.address = _dask_address(client)
        elif _is_dask_client(client):
            self._client = client
        else:
            raise TypeError(
                "`client` must be a dask.distributed.Client or a 'dask://host:port' address; "
                f"got {type(client).__name__}."
            )

    @property
    def client(self) -> Any:
        """The client (connected on first use for an address)."""
        if self._client is None:
            from distributed import Client

            self._client = Client(self.address)
        return self._client

    def close(self) -> None:
        """Close the client if this evaluator opened it."""
        if self._owned and self._client is not None:
            self._client.close()
            self._client = None

    def __call__(self, fun: Objective, X: Array) -> Array:
        from distributed import wait

        client = self.client
        n_chunks = max(1, sum(client.nthreads().values()))
        chunks = _split(to_host(X), n_chunks)
        host = os.getpid()
        futures = [
            client.submit(_eval_rows, fun, c, self.timeout, host, pure=False, retries=1)
            for c in chunks
        ]
        try:
            wait(futures, timeout=self._deadline(chunks))
        except TimeoutError:
            pass
        parts, hung = [], []
        for future, chunk in zip(futures, chunks):
            if future.status == "finished":
                parts.append(future.result())
            elif future.status == "error":
                exc = future.exception()
                if type(exc).__name__ != "KilledWorker":
                    raise exc
                parts.append([_Failed(_describe(exc))] * len(chunk))
            else:
                hung.append(future)
                parts.append(self._abandoned(chunk))
        if hung:
            _restart_busy(client, hung)
        return self._finish(parts, X)


def _restart_busy(client: Any, futures: list[Any]) -> None:
    """Cancel `futures` and restart the workers still running them (best effort)."""
    keys = {f.key for f in futures}
    try:
        busy = [w for w, ks in client.processing().items() if keys.intersection(ks)]
        client.cancel(futures)
        if busy:
            client.restart_workers(busy, raise_for_error=False)
    except Exception:  # pragma: no cover - e.g. workers without a nanny
        pass


def _dask_address(address: str) -> str:
    for prefix in ("dask://", "tcp://"):
        if address.startswith(prefix) and len(address) > len(prefix):
            return "tcp://" + address[len(prefix) :]
    raise ValueError(
        f"a Dask scheduler address must look like 'dask://host:port'; got {address!r}."
    )


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__name__ == "Client" and type(obj).__module__.startswith("distributed")


_NEEDS_POOL = (
    "`timeout` needs a process pool (workers=-1 or an int > 1, a process-pool Executor, a "
    "dask Client or 'dask://host:port'): an evaluation in this process or in a thread "
    "cannot be interrupted safely."
)


def as_evaluator(workers: Any = 1, *, timeout: float | None = None) -> BaseEvaluator:
    """Turn scipy's `workers` convention into an evaluator.

    Parameters
    ----------
    workers : int, str, Executor, dask Client, map-like callable or BaseEvaluator
        ``1``: serial. ``'vectorized'``: one call ``fun(X)`` per generation. ``-1`` or
        an int > 1: joblib processes. A `concurrent.futures.Executor` or a
        `dask.distributed.Client`: chunks submitted to it. ``'dask://host:port'``: a
        Dask scheduler, connected on first use (the evaluator owns that client; close
        it with ``close()`` or a ``with`` block). ``'mpi'``: the workers of an
        `mpi4py.futures.MPIPoolExecutor` (see `MPIEvaluator`). Any other callable is used as
        ``map(func, iterable)``, as in scipy. A `BaseEvaluator` is returned as is.
    timeout : float, optional
        Seconds per evaluation, after which it counts as failed (NaN); only for process
        pools (joblib, a process-pool Executor, Dask).

    Raises
    ------
    ValueError, TypeError
        For anything else, naming `workers`, or a `timeout` without a process pool.

    Examples
    --------
    >>> type(as_evaluator(1)).__name__, type(as_evaluator("vectorized")).__name__
    ('SerialEvaluator', 'VectorizedEvaluator')
    >>> as_evaluator(2, timeout=30).timeout
    30.0
    >>> as_evaluator(1, timeout=30)
    Traceback (most recent call last):
    ...
    ValueError: `timeout` needs a process pool (workers=-1 or an int > 1, a process-pool \
Executor, a dask Client or 'dask://host:port'): an evaluation in this process or in a \
thread cannot be interrupted safely.
    """
    timeout = _check_timeout(timeout)
    if isinstance(workers, BaseEvaluator):
        if timeout is not None:
            raise ValueError("pass `timeout` to the evaluator itself, not with an evaluator.")
        return workers
    if isinstance(workers, str):
        if workers.startswith("dask://"):
            return DaskEvaluator(workers, timeout=timeout)
        if workers == "mpi":
            return MPIEvaluator(timeout=timeout)
        if workers != "vectorized":
            raise ValueError(
                f"`workers` must be an int, 'vectorized', 'dask://host:port', 'mpi', an "
                f"Executor, a dask Client or a map-like callable; got {workers!r}."
            )
        if timeout is not None:
            raise ValueError(_NEEDS_POOL)
        return VectorizedEvaluator()
    if isinstance(workers, bool):
        raise TypeError("`workers` must be an int, not a bool.")
    if isinstance(workers, (int, np.integer)):
        if workers == 1:
            if timeout is not None:
                raise ValueError(_NEEDS_POOL)
            return SerialEvaluator()
        if workers == -1 or workers > 1:
            return JoblibEvaluator(int(workers), timeout=timeout)
        raise ValueError(f"`workers` must be -1 or >= 1; got {workers}.")
    if isinstance(workers, concurrent.futures.Executor):
        return ExecutorEvaluator(workers, timeout=timeout)
    if _is_dask_client(workers):
        return DaskEvaluator(workers, timeout=timeout)
    if callable(workers):
        if timeout is not None:
            raise ValueError(_NEEDS_POOL)
        return MapEvaluator(workers)
    raise TypeError(
        "`workers` must be an int, 'vectorized', 'dask://host:port', an Executor, a dask "
        f"Client or a map-like callable; got {type(workers).__name__}."
    )
