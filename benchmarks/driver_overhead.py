"""Per-generation overhead of `gradfree.minimize` over a bare ask/tell loop.

Both loops run OpenAI-ES (`gradfree.es.OpenES`) on the 10-d sphere with a vectorized
objective, with the same seed and number of generations, in the same process:

- *bare*: ``ask``, ``sphere(X)``, track the best value and point, ``tell``;
- *driver*: ``minimize(sphere, x0, method=..., workers="vectorized", maxiter=G)``,
  which adds validation, counting, the non-finite policy, stop rules and history.

A warm-up run of each checks that both end at the same final mean and best value
(identical work). Timed repeats alternate the order of the two loops; the fastest wall
time divided by the number of generations gives µs/gen (the minimum is the measurement
least disturbed by other load on a shared machine, as in `timeit`), and ``ratio`` is
driver over bare. The driver passes when ``ratio <= MAX_RATIO``. The JSON also keeps
every timing, the median-based ratio and ``ratio_paired`` (median of the per-repeat
ratios) as cross-checks.

BLAS/OpenMP threads are pinned to 1 before NumPy is imported. Usage::

    python benchmarks/driver_overhead.py          # full run -> results/driver_overhead.json
    python benchmarks/driver_overhead.py --quick  # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from _common import machine_info  # noqa: E402

import gradfree  # noqa: E402
from gradfree import minimize  # noqa: E402
from gradfree.es import OpenES  # noqa: E402
from gradfree.testing import sphere  # noqa: E402

DIM = 10
LEARNING_RATE = 0.05
SEED = 0
MAX_RATIO = 1.2
RESULTS = Path(__file__).resolve().parent / "results"


def bare_loop(strategy: OpenES, x0: np.ndarray, generations: int) -> tuple[np.ndarray, ...]:
    """Hand-written ask/evaluate/tell loop tracking the best point: (final mean, best x)."""
    rng = np.random.default_rng(SEED)
    state = strategy.init(x0, rng=rng)
    best_fun, best_x = np.inf, x0
    for _ in range(generations):
        X, state = strategy.ask(state, rng=rng)
        values = sphere(X)
        i = int(np.argmin(values))
        if values[i] < best_fun:
            best_fun, best_x = float(values[i]), X[i].copy()
        state = strategy.tell(state, X, values)
    return state.mean, best_x


def driver_loop(strategy: OpenES, x0: np.ndarray, generations: int) -> tuple[np.ndarray, ...]:
    """The same run through `gradfree.minimize`: (final mean, best x)."""
    res = minimize(
        sphere, x0, method=strategy, rng=SEED, workers="vectorized", maxiter=generations
    )
    if res.nit != generations:
        raise RuntimeError(f"driver ran {res.nit} generations, expected {generations}.")
    return res.state.mean, res.x


LOOPS = {"bare": bare_loop, "driver": driver_loop}


def time_config(popsize: int, generations: int, repeats: int) -> dict:
    """Median µs/gen of both loops for one popsize, repeats interleaved."""
    strategy = OpenES(popsize=popsize, learning_rate=LEARNING_RATE)
    x0 = np.ones(DIM)
    bare, driver = (loop(strategy, x0, generations) for loop in LOOPS.values())
    if not all(map(np.array_equal, bare, driver)):
        raise RuntimeError(f"popsize={popsize}: bare and driver runs did different work.")
    times: dict[str, list[float]] = {name: [] for name in LOOPS}
    for r in range(repeats):
        names = list(LOOPS) if r % 2 == 0 else list(reversed(LOOPS))
        for name in names:
            start = time.perf_counter()
            LOOPS[name](strategy, x0, generations)
            times[name].append(time.perf_counter() - start)
    us = {name: min(t) / generations * 1e6 for name, t in times.items()}
    ratio = us["driver"] / us["bare"]
    median_ratio = statistics.median(times["driver"]) / statistics.median(times["bare"])
    paired = statistics.median(d / b for d, b in zip(times["driver"], times["bare"]))
    return {
        "popsize": popsize,
        "bare_us_per_gen": us["bare"],
        "driver_us_per_gen": us["driver"],
        "ratio": ratio,
        "pass": ratio <= MAX_RATIO,
        "ratio_median": median_ratio,
        "ratio_paired": paired,
        "times_s": times,
    }


def markdown_table(results: list[dict]) -> str:
    """Results as a markdown table."""
    rows = [
        "| popsize | d | bare µs/gen | driver µs/gen | driver/bare | median ratio | pass |",
        "|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    rows += [
        f"| {r['popsize']} | {DIM} | {r['bare_us_per_gen']:.1f} | "
        f"{r['driver_us_per_gen']:.1f} | {r['ratio']:.3f} | {r['ratio_median']:.3f} | "
        f"{'yes' if r['pass'] else 'NO'} |"
        for r in results
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=500, help="per repeat")
    parser.add_argument("--repeats", type=int, default=11, help="timed runs of each loop")
    parser.add_argument("--popsizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--out", type=Path, help="default: results/driver_overhead[_quick].json")
    parser.add_argument("--quick", action="store_true", help="50 generations, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.generations, args.repeats = 50, 3
    out = args.out or RESULTS / f"driver_overhead{'_quick' if args.quick else ''}.json"

    results = [time_config(p, args.generations, args.repeats) for p in args.popsizes]
    report = {
        "benchmark": "driver_overhead",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            **machine_info(),
        },
        "versions": {m.__name__: m.__version__ for m in (np, scipy, gradfree)},
        "settings": {
            "method": "OpenES",
            "problem": "sphere",
            "dim": DIM,
            "learning_rate": LEARNING_RATE,
            "seed": SEED,
            "workers": "vectorized",
            "generations": args.generations,
            "repeats": args.repeats,
            "popsizes": args.popsizes,
            "max_ratio": MAX_RATIO,
            "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
        },
        "results": results,
        "all_pass": all(r["pass"] for r in results),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(results))
    print(f"\nall within {MAX_RATIO}x: {report['all_pass']}; wrote {out}")


if __name__ == "__main__":
    main()
