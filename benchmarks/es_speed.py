"""Milliseconds per generation of gradfree's CMA-ES family against pycma and cmaes.

All libraries run on the sphere from ``x0 = ones(n)`` with ``sigma0 = 0.5`` and the same
population size, the CMA default ``4 + floor(3 ln n)``, in the same process:

- ``cma-es`` at n = 10, 100, 1000: `gradfree.es.CMAES` against
  ``cma.CMAEvolutionStrategy`` (pycma) and ``cmaes.CMA``;
- ``sep-cma-es`` at n = 10^4: `gradfree.es.SepCMAES` against pycma with
  ``CMA_diagonal=True`` and ``cmaes.SepCMA``;
- ``lm-ma-es`` at n = 10^5: `gradfree.es.LMMAES` against the peers' large-scale option,
  the same separable variants (neither peer has a limited-memory CMA).

Loops timed (a generation = ask, evaluate, tell):

- *gradfree*: the bare strategy loop ``X, state = s.ask(state, rng=rng)``,
  ``sphere(X)``, ``state = s.tell(state, X, values)``;
- *gradfree_minimize*: the whole ``minimize(sphere, x0, method=s, rng=SEED,
  workers="vectorized", maxiter=T)`` call, driver setup included;
- *pycma*: ``X = es.ask()`` (a list), ``es.tell(X, sphere(np.asarray(X)))``;
- *cmaes*: ``ask`` one solution ``lam`` times, each valued by ``float(x @ x)``, then
  ``tell`` the list of ``(x, f)`` pairs.

`gradfree.testing.sphere` is the batch objective everywhere a batch exists.

A measurement is ``blocks`` fresh runs of ``T`` generations each (fresh, so that at
n = 10 no run reaches the optimum and its stop rules before the end; the construction
of the optimizer is not timed, except inside ``minimize``). At n = 1000 ``T`` spans
many lazy eigendecompositions (every ``1 / (10 n (c1 + cmu))`` generations in gradfree
and pycma; cmaes decomposes every generation), so their cost is amortized. Every loop
is warmed up by one untimed run; the timed repeats rotate the order of the
libraries, and the fastest repeat divided by the generations gives ms/gen (the minimum
is the measurement least disturbed by other load, as in `timeit`). cmaes at n = 1000
spends seconds per generation (eigh and O(lam n^2) Python-level work every
generation), so it runs fewer generations and one repeat; the JSON says so.

``ratio`` is gradfree's bare loop over the fastest peer, ``ratio_minimize`` the same for
the full `minimize` call; the project's target is ``ratio <= 1/3`` at every n.

BLAS/OpenMP threads are pinned to 1 before NumPy is imported. Usage::

    python benchmarks/es_speed.py          # full run -> results/es_speed.json
    python benchmarks/es_speed.py --quick  # smoke run -> results/es_speed_quick.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import scipy  # noqa: E402

with warnings.catch_warnings():  # pycma warns that matplotlib is missing
    warnings.simplefilter("ignore")
    import cma  # noqa: E402
import cmaes  # noqa: E402
from _common import machine_info  # noqa: E402

import gradfree  # noqa: E402
from gradfree import minimize  # noqa: E402
from gradfree.es import CMAES, LMMAES, SepCMAES  # noqa: E402
from gradfree.es._cma_common import default_popsize  # noqa: E402
from gradfree.testing import sphere  # noqa: E402

SEED = 1  # pycma reads seed 0 as "seed from the clock"
SIGMA0 = 0.5
TARGET_RATIO = 1 / 3
PEERS = ("pycma", "cmaes")
RESULTS = Path(__file__).resolve().parent / "results"

# (method, n): generations per run T, runs per measurement, timed repeats; the cmaes
# entries override them where cmaes is too slow. At n = 10 a run stops (tolfun) after
# about 210 generations, at n = 100 after about 1000, so T stays well below.
FULL = {
    ("cma-es", 10): {"T": 130, "blocks": 4, "repeats": 7},
    ("cma-es", 100): {"T": 300, "blocks": 1, "repeats": 7},
    ("cma-es", 1000): {
        "T": 120,
        "blocks": 1,
        "repeats": 4,
        "cmaes": {"T": 8, "repeats": 1, "warmup": 1},
    },
    ("sep-cma-es", 10_000): {"T": 40, "blocks": 1, "repeats": 5},
    ("lm-ma-es", 100_000): {"T": 10, "blocks": 1, "repeats": 3},
}
QUICK = {
    ("cma-es", 10): {"T": 50, "blocks": 1, "repeats": 2},
    ("cma-es", 100): {"T": 30, "blocks": 1, "repeats": 2},
    ("cma-es", 1000): {
        "T": 16,
        "blocks": 1,
        "repeats": 1,
        "cmaes": {"T": 1, "repeats": 1, "warmup": 1},
    },
    ("sep-cma-es", 10_000): {"T": 5, "blocks": 1, "repeats": 1},
    ("lm-ma-es", 100_000): {"T": 2, "blocks": 1, "repeats": 1},
}

Run = Callable[[int, int, str], float]  # (n, T, method) -> seconds of the timed part


def _strategy(method: str, lam: int) -> CMAES | SepCMAES | LMMAES:
    cls = {"cma-es": CMAES, "sep-cma-es": SepCMAES, "lm-ma-es": LMMAES}[method]
    return cls(sigma0=SIGMA0, popsize=lam)


def run_gradfree(n: int, generations: int, method: str) -> float:
    """Bare ask/evaluate/tell loop of the strategy (init not timed)."""
    strategy = _strategy(method, default_popsize(n))
    rng = np.random.default_rng(SEED)
    state = strategy.init(np.ones(n), rng=rng)
    start = time.perf_counter()
    for _ in range(generations):
        X, state = strategy.ask(state, rng=rng)
        values = sphere(X)
        state = strategy.tell(state, X, values)
    return time.perf_counter() - start


def run_gradfree_minimize(n: int, generations: int, method: str) -> float:
    """The whole `gradfree.minimize` call (driver setup and init included)."""
    strategy = _strategy(method, default_popsize(n))
    x0 = np.ones(n)
    start = time.perf_counter()
    res = minimize(
        sphere, x0, method=strategy, rng=SEED, workers="vectorized", maxiter=generations
    )
    elapsed = time.perf_counter() - start
    if res.nit != generations:
        raise RuntimeError(f"minimize ran {res.nit} generations, expected {generations}.")
    return elapsed


def run_pycma(n: int, generations: int, method: str) -> float:
    """pycma: ``es.ask()`` gives a list; batch sphere; ``es.tell`` (construction not timed)."""
    opts = {
        "verbose": -9,
        "verb_log": 0,
        "verb_disp": 0,
        "popsize": default_popsize(n),
        "seed": SEED,
    }
    if method != "cma-es":  # the peers' large-scale option is the separable variant
        opts["CMA_diagonal"] = True
    es = cma.CMAEvolutionStrategy(np.ones(n), SIGMA0, opts)
    start = time.perf_counter()
    for _ in range(generations):
        X = es.ask()
        es.tell(X, sphere(np.asarray(X)))
    return time.perf_counter() - start


def run_cmaes(n: int, generations: int, method: str) -> float:
    """cmaes: ``ask`` one solution at a time, ``tell`` a list of (x, f) pairs."""
    lam = default_popsize(n)
    cls = cmaes.CMA if method == "cma-es" else cmaes.SepCMA
    opt = cls(mean=np.ones(n), sigma=SIGMA0, population_size=lam, seed=SEED)
    start = time.perf_counter()
    for _ in range(generations):
        solutions = []
        for _ in range(lam):
            x = opt.ask()
            solutions.append((x, float(x @ x)))
        opt.tell(solutions)
    return time.perf_counter() - start


LOOPS: dict[str, Run] = {
    "gradfree": run_gradfree,
    "gradfree_minimize": run_gradfree_minimize,
    "pycma": run_pycma,
    "cmaes": run_cmaes,
}


def check_same_work(method: str, n: int, generations: int) -> list[int]:
    """The bare loop and `minimize` end at the same mean (identical work); returns the
    generations at which CMA-ES decomposed its covariance."""
    strategy = _strategy(method, default_popsize(n))
    rng = np.random.default_rng(SEED)
    state = strategy.init(np.ones(n), rng=rng)
    eigen = []
    for _ in range(generations):
        X, state = strategy.ask(state, rng=rng)
        state = strategy.tell(state, X, sphere(X))
        if getattr(state, "eigen_generation", 0) == state.generation:
            eigen.append(state.generation)
    res = minimize(
        sphere,
        np.ones(n),
        method=strategy,
        rng=SEED,
        workers="vectorized",
        maxiter=generations,
    )
    if not np.array_equal(state.mean, res.state.mean):
        raise RuntimeError(f"{method} n={n}: bare loop and minimize did different work.")
    return eigen


def decomposition_intervals(method: str, n: int, eigen: list[int]) -> dict | None:
    """Generations between eigendecompositions: gradfree as observed; pycma from its
    ``lazy_update_gap`` (it decomposes once ``gap`` generations have passed); cmaes
    decomposes in every generation."""
    if method != "cma-es":
        return None
    opts = {"verbose": -9, "verb_log": 0, "popsize": default_popsize(n), "seed": SEED}
    gap = cma.CMAEvolutionStrategy(np.ones(n), SIGMA0, opts).sm.lazy_update_gap
    steps = np.diff([0, *eigen])
    return {
        "gradfree": float(steps.mean()) if len(steps) else None,
        "pycma": max(1, math.ceil(gap)),
        "cmaes": 1,
    }


def time_case(method: str, n: int, cfg: dict) -> dict:
    """ms/gen of every library for one (method, n), repeats in rotating order."""
    plans = {}
    for name in LOOPS:
        plan = {k: cfg[k] for k in ("T", "blocks", "repeats")}
        plan.update(cfg.get(name, {}))
        plans[name] = plan

    def measure(name: str) -> float:
        plan = plans[name]
        return sum(LOOPS[name](n, plan["T"], method) for _ in range(plan["blocks"]))

    eigen = check_same_work(method, n, min(cfg["T"], 20))
    for name in LOOPS:  # warm-up: one untimed run
        LOOPS[name](n, plans[name].get("warmup", plans[name]["T"]), method)
    times: dict[str, list[float]] = {name: [] for name in LOOPS}
    names = list(LOOPS)
    for r in range(max(p["repeats"] for p in plans.values())):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if len(times[name]) < plans[name]["repeats"]:
                times[name].append(measure(name))
    gens = {name: p["T"] * p["blocks"] for name, p in plans.items()}
    ms = {name: min(t) / gens[name] * 1e3 for name, t in times.items()}
    ms_median = {name: statistics.median(t) / gens[name] * 1e3 for name, t in times.items()}
    fastest = min(PEERS, key=ms.__getitem__)
    ratio = ms["gradfree"] / ms[fastest]
    ratio_min = ms["gradfree_minimize"] / ms[fastest]
    notes = [
        f"{name}: {gens[name]} generations x {plans[name]['repeats']} repeat(s), fewer "
        "than the others because one generation takes seconds"
        for name in LOOPS
        if gens[name] < cfg["T"] * cfg["blocks"]
    ]
    return {
        "method": method,
        "n": n,
        "popsize": default_popsize(n),
        "ms_per_gen": ms,
        "ms_per_gen_median": ms_median,
        "fastest_peer": fastest,
        "ratio": ratio,
        "meets_target": ratio <= TARGET_RATIO,
        "ratio_minimize": ratio_min,
        "meets_target_minimize": ratio_min <= TARGET_RATIO,
        "ratio_median": ms_median["gradfree"] / ms_median[fastest],
        "decomposition_interval_generations": decomposition_intervals(method, n, eigen),
        "generations_per_measurement": gens,
        "plans": plans,
        "notes": notes,
        "times_s": times,
    }


def markdown_table(results: list[dict]) -> str:
    """Results as a markdown table."""
    rows = [
        "| method | n | lam | gradfree ms/gen | minimize ms/gen | pycma ms/gen | "
        "cmaes ms/gen | gradfree/fastest | minimize/fastest | <= 1/3 |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        ms = r["ms_per_gen"]
        rows.append(
            f"| {r['method']} | {r['n']} | {r['popsize']} | {ms['gradfree']:.3f} | "
            f"{ms['gradfree_minimize']:.3f} | {ms['pycma']:.3f} | {ms['cmaes']:.3f} | "
            f"{r['ratio']:.2f} ({r['fastest_peer']}) | {r['ratio_minimize']:.2f} | "
            f"{'yes' if r['meets_target'] else 'NO'} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="default: results/es_speed[_quick].json")
    parser.add_argument("--quick", action="store_true", help="few generations, 1-2 repeats")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    out = args.out or RESULTS / f"es_speed{'_quick' if args.quick else ''}.json"

    start = time.perf_counter()
    load_before = os.getloadavg()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. pycma's notes on large dimensions
        results = []
        for (method, n), cfg in plan.items():
            results.append(time_case(method, n, cfg))
            print(f"{method} n={n}: done after {time.perf_counter() - start:.0f} s", flush=True)
    report = {
        "benchmark": "es_speed",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            **machine_info(),
            "load_average_1_5_15min_before": load_before,
            "load_average_1_5_15min_after": os.getloadavg(),
        },
        "versions": {
            **{m.__name__: m.__version__ for m in (np, scipy, gradfree)},
            "pycma": cma.__version__,
            "cmaes": cmaes.__version__,
        },
        "settings": {
            "problem": "sphere",
            "x0": "ones(n)",
            "sigma0": SIGMA0,
            "popsize": "4 + floor(3 ln n) for every library",
            "seed": SEED,
            "workers": "vectorized",
            "target_ratio": TARGET_RATIO,
            "quick": args.quick,
            "plans": {f"{m} n={n}": cfg for (m, n), cfg in plan.items()},
            "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
            "statistic": "min over repeats of (sum of block times) / generations",
        },
        "results": results,
        "all_meet_target": all(r["meets_target"] for r in results),
        "wall_s": time.perf_counter() - start,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(results))
    print(
        f"\nall within {TARGET_RATIO:.3g}x of the fastest peer: {report['all_meet_target']}; "
        f"wrote {out} ({report['wall_s']:.0f} s)"
    )


if __name__ == "__main__":
    main()
