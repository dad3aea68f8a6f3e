"""Per-generation overhead of `gradfree.minimize` over a bare ask/tell loop.

Both loops run OpenAI-ES (`gradfree.es.OpenES`) on the 10-d sphere with a vectorized
objective, with the same seed and number of generations, in the same process:

- *bare*: ``ask``, ``sphere(X)``, track the best value and point, ``tell``;
- *driver*: ``minimize(sphere, x0, method=..., workers="vectorized", maxiter=G)``,
  which adds validation, counting, the non-finite policy, stop rules and history.

A warm-up run of each checks that both end at the same final mean (identical work).
Timed repeats alternate the order of the two loops; the median wall time divided by
the number of generations gives µs/gen. The driver passes when its time per generation
is at most ``MAX_RATIO`` times the bare loop's.

Usage::

    python benchmarks/driver_overhead.py            # full run, writes results JSON
    python benchmarks/driver_overhead.py --quick    # smoke run

Notes
-----
BLAS/OpenMP threads are pinned to 1 before NumPy is imported; ``--popsizes`` selects
the population sizes (default 10, 50, 200).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402

import gradfree  # noqa: E402
from gradfree import minimize  # noqa: E402
from gradfree.es import OpenES  # noqa: E402
from gradfree.testing import sphere  # noqa: E402

DIM = 10
LEARNING_RATE = 0.05
SEED = 0
MAX_RATIO = 1.2
RESULTS = Path(__file__).resolve().parent / "results"


def bare_loop(strategy: OpenES, x0: np.ndarray, generations: int) -> np.ndarray:
    """Hand-written ask/evaluate/tell loop with best-point tracking; returns the final mean."""
    rng = np.random.default_rng(SEED)
    state = strategy.init(x0, rng=rng)
    best_fun, best_x = np.inf, None
    for _ in range(generations):
        X, state = strategy.ask(state, rng=rng)
        values = sphere(X)
        i = int(np.argmin(values))
        if values[i] < best_fun:
            best_fun, best_x = float(values[i]), X[i].copy()
        state = strategy.tell(state, X, values)
    return state.mean


def driver_loop(strategy: OpenES, x0: np.ndarray, generations: int) -> np.ndarray:
    """The same run through `gradfree.minimize`; returns the final mean."""
    res = minimize(sphere, x0, method=strategy, rng=SEED, workers="vectorized",
                   maxiter=generations)
    if res.nit != generations:
        raise RuntimeError(f"driver ran {res.nit} generations, expected {generations}.")
    return res.state.mean


LOOPS = {"bare": bare_loop, "driver": driver_loop}


def time_config(popsize: int, generations: int, repeats: int) -> dict:
    """Median µs/gen of both loops for one popsize, repeats interleaved."""
    strategy = OpenES(popsize=popsize, learning_rate=LEARNING_RATE)
    x0 = np.ones(DIM)
    means = {name: loop(strategy, x0, generations) for name, loop in LOOPS.items()}
    if not np.array_equal(means["bare"], means["driver"]):
        raise RuntimeError(f"popsize={popsize}: bare and driver runs end at different means.")
    times: dict[str, list[float]] = {name: [] for name in LOOPS}
    for r in range(repeats):
        names = list(LOOPS) if r % 2 == 0 else list(reversed(LOOPS))
        for name in names:
            start = time.perf_counter()
            LOOPS[name](strategy, x0, generations)
            times[name].append(time.perf_counter() - start)
    us = {name: statistics.median(t) / generations * 1e6 for name, t in times.items()}
    ratio = us["driver"] / us["bare"]
    return {"popsize": popsize, "dim": DIM, "bare_us_per_gen": us["bare"],
            "driver_us_per_gen": us["driver"], "ratio": ratio, "pass": ratio <= MAX_RATIO,
            "times_s": times}


def environment() -> dict:
    """Machine and library versions for the results file."""
    return {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                     "gradfree": gradfree.__version__},
    }


def markdown_table(results: list[dict]) -> str:
    """Results as a markdown table."""
    rows = ["| popsize | d | bare µs/gen | driver µs/gen | driver/bare | pass |",
            "|---:|---:|---:|---:|---:|:---:|"]
    rows += [f"| {r['popsize']} | {r['dim']} | {r['bare_us_per_gen']:.1f} | "
             f"{r['driver_us_per_gen']:.1f} | {r['ratio']:.3f} | "
             f"{'yes' if r['pass'] else 'NO'} |" for r in results]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=500, help="per repeat")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each loop")
    parser.add_argument("--popsizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default: results/driver_overhead[_quick].json)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 50 generations, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.generations, args.repeats = 50, 3
    out = args.out or RESULTS / f"driver_overhead{'_quick' if args.quick else ''}.json"

    results = [time_config(p, args.generations, args.repeats) for p in args.popsizes]
    report = {
        "benchmark": "driver_overhead",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment(),
        "settings": {"method": "OpenES", "problem": "sphere", "dim": DIM,
                     "learning_rate": LEARNING_RATE, "seed": SEED, "workers": "vectorized",
                     "generations": args.generations, "repeats": args.repeats,
                     "popsizes": args.popsizes, "max_ratio": MAX_RATIO,
                     "statistic": "median over interleaved repeats",
                     "blas_threads": os.environ["OPENBLAS_NUM_THREADS"]},
        "results": results,
        "all_pass": all(r["pass"] for r in results),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(results))
    print(f"\nall within {MAX_RATIO}x: {report['all_pass']}; wrote {out}")


if __name__ == "__main__":
    main()
