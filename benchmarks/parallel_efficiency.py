"""Parallel efficiency of gradfree's process-pool evaluators against ideal.

A population of 32 points is evaluated with a ``time.sleep``-based objective of 50 ms
and 5 ms per point, on 2 workers, by

- *loky*: `gradfree.evaluators.JoblibEvaluator` (joblib's loky pool), and
- *dask*: `gradfree.evaluators.DaskEvaluator` on a
  ``LocalCluster(n_workers=2, processes=True, threads_per_worker=1)``,

each in two ways: *chunked* (one chunk of rows per worker, what gradfree does) and
*per point* (one task per point; for loky an `ExecutorEvaluator` with 32 chunks on
the same reusable loky pool, for Dask one ``client.submit`` per point). The serial time
is measured with `SerialEvaluator`; ideal = serial / workers, efficiency = ideal /
measured time per generation (median over generations, after a warm-up generation).
Targets at 50 ms: loky >= 90 %, Dask >= 80 %. The *mpi* backend
(`gradfree.evaluators.MPIEvaluator`, chunked; per point: 32 chunks on the same
``MPIPoolExecutor``) runs on its own, under MPI with 2 worker ranks, because idle MPI
ranks poll and would slow the other backends on a 2-core machine. Usage::

    python benchmarks/parallel_efficiency.py          # -> results/parallel_efficiency.json
    python benchmarks/parallel_efficiency.py --quick  # smoke run
    mpirun -n 3 python -m mpi4py.futures benchmarks/parallel_efficiency.py --mpi
                                                      # -> results/parallel_efficiency_mpi.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy
from _common import machine_info  # noqa: E402

import gradfree
from gradfree.evaluators import (
    DaskEvaluator,
    ExecutorEvaluator,
    JoblibEvaluator,
    MPIEvaluator,
    SerialEvaluator,
)

POPSIZE = 32
WORKERS = 2
DIM = 10
TARGETS = {"loky": 0.90, "dask": 0.80, "mpi": None}
RESULTS = Path(__file__).resolve().parent / "results"


def sleepy(x: np.ndarray, seconds: float) -> float:
    """The objective: sleep, then the sphere."""
    time.sleep(seconds)
    return float(np.sum(x * x))


class _Sleepy:
    """Picklable ``sleepy`` with its duration bound."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, x: np.ndarray) -> float:
        return sleepy(x, self.seconds)


class _DaskPerPoint:
    """One Dask task per point (what gradfree avoids), for comparison."""

    def __init__(self, client: object) -> None:
        self.client = client

    def __call__(self, fun: object, X: np.ndarray) -> np.ndarray:
        futures = [self.client.submit(fun, row, pure=False) for row in X]
        return np.asarray(self.client.gather(futures))


def per_generation(evaluator: object, fun: object, generations: int) -> list[float]:
    """Seconds per generation over `generations` after one warm-up generation."""
    X = np.random.default_rng(0).standard_normal((POPSIZE, DIM))
    expected = np.sum(X * X, axis=1)
    np.testing.assert_allclose(evaluator(fun, X), expected)  # warm-up and a check
    times = []
    for _ in range(generations):
        start = time.perf_counter()
        evaluator(fun, X)
        times.append(time.perf_counter() - start)
    return times


def run_all(eval_ms: list[float], generations: int) -> list[dict]:
    """Time every backend and chunking for every evaluation time."""
    from distributed import Client, LocalCluster
    from joblib.externals.loky import get_reusable_executor

    with (
        LocalCluster(
            n_workers=WORKERS, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(WORKERS)
        backends = {
            ("loky", "chunked"): JoblibEvaluator(WORKERS),
            ("loky", "per point"): ExecutorEvaluator(
                get_reusable_executor(max_workers=WORKERS), n_chunks=POPSIZE
            ),
            ("dask", "chunked"): DaskEvaluator(client),
            ("dask", "per point"): _DaskPerPoint(client),
        }
        return _time_backends(backends, eval_ms, generations)


def run_mpi(eval_ms: list[float], generations: int) -> list[dict]:
    """The mpi backend (the program must run under mpirun with WORKERS worker ranks)."""
    chunked = MPIEvaluator()
    chunked(_Sleepy(0.0), np.zeros((2, DIM)))  # start the pool
    if chunked.workers != WORKERS:
        raise SystemExit(f"run under `mpirun -n {WORKERS + 1}`; got {chunked.workers} workers.")
    backends = {
        ("mpi", "chunked"): chunked,
        ("mpi", "per point"): ExecutorEvaluator(chunked.executor, n_chunks=POPSIZE),
    }
    try:
        return _time_backends(backends, eval_ms, generations)
    finally:
        chunked.close()


def _time_backends(backends: dict, eval_ms: list[float], generations: int) -> list[dict]:
    results = []
    for ms in eval_ms:
        fun = _Sleepy(ms / 1e3)
        serial = statistics.median(per_generation(SerialEvaluator(), fun, 3))
        ideal = serial / WORKERS
        for (backend, chunking), evaluator in backends.items():
            if backend == "loky":  # loky's pool is shared: re-seat JoblibEvaluator's one
                JoblibEvaluator(WORKERS)(fun, np.zeros((2, DIM)))
            times = per_generation(evaluator, fun, generations)
            measured = statistics.median(times)
            eff = ideal / measured
            target = TARGETS[backend] if ms == 50 and chunking == "chunked" else None
            results.append(
                {
                    "backend": backend,
                    "chunking": chunking,
                    "eval_ms": ms,
                    "serial_s": serial,
                    "ideal_s": ideal,
                    "measured_s": measured,
                    "efficiency": eff,
                    "target": target,
                    "pass": None if target is None else eff >= target,
                    "times_s": times,
                }
            )
            print(f"  {backend:5s} {chunking:9s} {ms:4g} ms: {eff:6.1%}", flush=True)
    return results


def markdown_table(results: list[dict]) -> str:
    """Results as a markdown table."""
    rows = [
        "| backend | chunking | eval | serial s/gen | ideal s/gen | measured s/gen | "
        "efficiency | target |",
        "|---|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        target = "" if r["target"] is None else f"≥ {r['target']:.0%} {'✓' if r['pass'] else '✗'}"
        rows.append(
            f"| {r['backend']} | {r['chunking']} | {r['eval_ms']:g} ms | {r['serial_s']:.3f} | "
            f"{r['ideal_s']:.3f} | {r['measured_s']:.3f} | {r['efficiency']:.1%} | {target} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=15, help="timed generations")
    parser.add_argument("--eval-ms", type=float, nargs="+", default=[50.0, 5.0])
    parser.add_argument(
        "--out", type=Path, help="default: results/parallel_efficiency[_quick].json"
    )
    parser.add_argument("--quick", action="store_true", help="3 generations")
    parser.add_argument("--mpi", action="store_true", help="only the mpi backend (mpirun)")
    args = parser.parse_args(argv)
    if args.quick:
        args.generations = 3
    name = "parallel_efficiency" + ("_mpi" if args.mpi else "") + ("_quick" if args.quick else "")
    out = args.out or RESULTS / f"{name}.json"
    import dask
    import distributed
    import joblib

    results = (run_mpi if args.mpi else run_all)(args.eval_ms, args.generations)
    report = {
        "benchmark": "parallel_efficiency",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            **machine_info(),
        },
        "versions": {
            m.__name__: m.__version__ for m in (np, scipy, gradfree, joblib, dask, distributed)
        },
        "settings": {
            "popsize": POPSIZE,
            "workers": WORKERS,
            "dim": DIM,
            "generations": args.generations,
            "eval_ms": args.eval_ms,
            "objective": "time.sleep(eval_ms) then the sphere",
            "dask_cluster": "LocalCluster(n_workers=2, processes=True, threads_per_worker=1)",
            "targets_at_50ms": TARGETS,
        },
        "results": results,
        "all_pass": all(r["pass"] for r in results if r["pass"] is not None),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(results))
    print(f"\ntargets met: {report['all_pass']}; wrote {out}")


if __name__ == "__main__":
    main()
