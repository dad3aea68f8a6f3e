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

from .._evaluation import wrap_objective
from ._dask import DaskEvaluator
from ._local import BaseEvaluator, MapEvaluator, SerialEvaluator, VectorizedEvaluator
from ._processes import ExecutorEvaluator, JoblibEvaluator, MPIEvaluator
from ._select import as_evaluator

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

for _name in __all__[:-1]:  # documented (and pickled) under this public module
    globals()[_name].__module__ = __name__
del _name
