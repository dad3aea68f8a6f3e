"""Evaluators over process pools: joblib's loky, a `concurrent.futures.Executor`, MPI."""

from __future__ import annotations

import concurrent.futures
import os
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from .._array import to_host
from .._evaluation import (
    _describe,
    _errors,
    _eval_rows,
    _Failed,
    _row_values,
    _split,
)
from .._typing import Array, Objective
from .._validate import check_int
from ._local import _NEEDS_POOL, _check_timeout, _ChunkedEvaluator

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
