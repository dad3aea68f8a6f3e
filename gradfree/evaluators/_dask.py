"""The Dask evaluator: chunks submitted to a `dask.distributed` client."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._array import to_host
from .._evaluation import (
    _describe,
    _eval_rows,
    _Failed,
    _split,
)
from .._typing import Array, Objective
from ._local import _check_timeout, _ChunkedEvaluator


class DaskEvaluator(_ChunkedEvaluator):
    """Evaluate on a `dask.distributed.Client`, one chunk per worker thread.

    Tasks are submitted with ``retries=1``, and the scheduler reschedules the tasks of
    a lost worker; when a chunk's task still fails with `distributed.KilledWorker`,
    its rows are evaluated again one task each, so only a row that kills its worker
    by itself counts as failed (NaN) and a seed gives one run. Dask cannot interrupt a
    running task: a chunk past its `timeout` deadline is cancelled and the worker
    running it is restarted (through its nanny).

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
        self._death = "KilledWorker"
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
        client = self.client
        n_chunks = max(1, sum(client.nthreads().values()))
        chunks = _split(to_host(X), n_chunks)
        parts, killed = self._submit(client, fun, chunks)
        # The rows of a chunk whose task killed its workers, one task each, then those
        # still lost one at a time: only a row that kills its worker by itself fails,
        # its chunk-mates get their values whatever the timing (one run per seed).
        for i in killed:
            rows = [chunks[i][j : j + 1] for j in range(len(chunks[i]))]
            alone, lost = self._submit(client, fun, rows)
            for j in lost:
                again, dead = self._submit(client, fun, [rows[j]])
                died = _Failed(f"{self._death} (the worker died evaluating this point)")
                alone[j] = [died] if dead else again[0]
            parts[i] = [v for part in alone for v in part]
        return self._finish(parts, X)

    def _submit(
        self, client: Any, fun: Objective, chunks: list[np.ndarray]
    ) -> tuple[list[list[Any]], list[int]]:
        """One task per chunk: the chunks' values, and the indices of those whose task
        failed with `distributed.KilledWorker` (their part is empty)."""
        from distributed import wait

        host = os.getpid()
        futures = [
            client.submit(_eval_rows, fun, c, self.timeout, host, pure=False, retries=1)
            for c in chunks
        ]
        try:
            wait(futures, timeout=self._deadline(chunks))
        except TimeoutError:
            pass
        parts: list[list[Any]] = []
        hung, killed = [], []
        for i, (future, chunk) in enumerate(zip(futures, chunks)):
            if future.status == "finished":
                parts.append(future.result())
            elif future.status == "error":
                exc = future.exception()
                if type(exc).__name__ != "KilledWorker":
                    raise exc
                self._death = _describe(exc)
                parts.append([])
                killed.append(i)
            else:
                hung.append(future)
                parts.append(self._abandoned(chunk))
        if hung:
            _restart_busy(client, hung)
        return parts, killed


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
