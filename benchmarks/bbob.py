"""COCO ``bbob``: gradfree's CMA-ES variants against pycma and cmaes, each library's own call.

Every problem of ``cocoex.Suite("bbob", "", "dimensions: 2,5,10 instance_indices: 1-5")``
(24 functions x 3 dimensions x 5 instances, one run per instance) is solved by every row
of ``--solvers`` in the same run (default: all of them), each within ``1000 d``
evaluations, starting at ``x0 = problem.initial_solution`` with ``sigma0 = 2``, every
restart from a point drawn uniformly in ``[-4, 4]^d``, until the budget is used or the
final target ``f - f_opt <= 1e-8`` is hit. Three rows share one IPOP harness (as in
``refs/es.md`` section 4.2): the library's default population ``4 + floor(3 ln d)``
first; whenever the library's own stop rules end a run, restart with the population
doubled (at most 50 restarts):

- ``gradfree``: ``minimize(batch, x0, method=CMAES(sigma0=2.0), rng=seed,
  workers="vectorized", maxfev=budget, options={"restarts": "ipop", "max_restarts": 50,
  "restart_x0": lambda rng: rng.uniform(-4, 4, d)})``; the batch objective loops over
  the rows, and a callback raises ``StopIteration`` at the final target;
- ``pycma`` (the reference): ``cma.CMAEvolutionStrategy(x0, 2, {"verbose": -9,
  "verb_log": 0, "maxfevals": remaining, "ftarget": f_opt + 1e-8, "seed": ...})`` looped
  to ``es.stop()``, restarts by hand;
- ``cmaes``: ``cmaes.CMA(mean=x0, sigma=2, population_size=lam, seed=...)`` looped to
  ``should_stop()`` (or the final target), restarts by hand.

The other rows are one call of the library's own restart driver:

- ``pycma-bipop``: ``cma.fmin2(f, x0, 2, opts, restarts=9, bipop=True)`` and
- ``pycma-lq``: ``cma.fmin_lq_surr2(f, x0, 2, opts, restarts=9, incpopsize=2)`` (IPOP,
  a new linear-quadratic surrogate per run), with ``opts = {"verbose": -9, "verb_log": 0,
  "maxfevals": budget, "ftarget": f_opt + 1e-8, "seed": 100 seed + 1}``; ``x0`` is a
  callable (both build every run's ``CMAEvolutionStrategy`` from it, and that calls it):
  ``problem.initial_solution`` on the first call, uniform in ``[-4, 4]^d`` afterwards.
  pycma checks ``maxfevals`` only between generations, so the objective raises at the
  evaluation past the budget (and at the final target) and the call ends there; the
  surrogate evaluates only some points, and only the true evaluations are counted;
- ``gradfree-bipop``: as ``gradfree`` with ``options={"restarts": "bipop",
  "max_restarts": 9, "restart_x0": ...}``;
- ``gradfree-lq``: ``method="lq-cma-es"``, ``options={"sigma0": 2.0, "restarts": "ipop",
  "max_restarts": 50, "restart_x0": ...}``;
- ``gradfree-lq-bipop``: ``method="lq-cma-es"``, ``options={"sigma0": 2.0, "restarts":
  "bipop", "max_restarts": 9, "restart_x0": ...}``;
- ``gradfree-default``: ``minimize(batch, x0, workers="vectorized", maxfev=budget,
  rng=seed, callback=...)``: the defaults, no restarts.

gradfree's driver never starts a generation that would overrun the budget; the pycma and
cmaes harness loops follow the same rule, the pycma ``fmin*`` rows stop at the budget's
last evaluation, so no row spends more than ``1000 d`` evaluations. Every (true)
evaluation's value is recorded. ``f_opt`` is ``problem.final_target_fvalue1 - 1e-8``
where cocoex has that attribute, else ``cocoex.BareProblem(...).best_value()``
(coco-experiment 2.8.2 lacks the attribute); a target ``t`` counts as reached at the
first evaluation with ``f <= f_opt + t``.

Both budgets, ``100 d`` and ``1000 d``, come from the ONE run at ``1000 d``: the ``100
d`` figures are the prefix of each run (a target counts as reached when its runtime is
``<= 100 d``; an unsuccessful run counts ``min(evals, 100 d)`` evaluations). Metrics
(cocopp's definitions), over the 51 targets ``10^2, 10^1.8, ..., 10^-8``:

- *fraction solved* at ``10 d``, ``100 d``, ``1000 d`` evaluations: the share of
  (function, instance, target) triples whose target was reached within that many
  evaluations (the runtime ECDF), per dimension and over all dimensions;
- *ERT* (f, d, target) at a budget = (evaluations to the target in the successful runs
  + all evaluations, capped at the budget, of the unsuccessful ones) / number of
  successful runs (inf without one);
- head-to-head at each budget: the geometric mean of ``ERT_row / ERT_ref`` over the
  (function, dimension, target) triples both solve, per dimension and over all, against
  ``pycma`` and against ``gradfree``; the (f, d) where the row's ERT at 1e-8 is worse
  than pycma's. The project's target: gradfree's fraction solved >= pycma's and the ERT
  ratio <= 1;
- the lq check (issue 17: "no per-function ERT of the lq mode more than 2x worse than
  plain gradfree CMA-ES"): the (f, d) where a ``gradfree-lq*`` row's ERT at 1e-8, or the
  geometric mean of its ERT ratios over the targets both solve, is > 2x ``gradfree``'s;
- wall time per evaluation: the sum of the runs' wall time / the sum of their evaluations.

The JSON also keeps every run's runtimes (evaluations to each target, easiest first; the
reached targets are always the first ones, so the list stops at the first target not
reached) and, for each solver, how its runs ended (stop rule, generations per restart;
one coarse segment for the pycma ``fmin*`` rows), to spot stop rules that fire too early.

Tasks (function, dimension, instance) run in ``--workers`` processes (each builds its
own cocoex Suite); BLAS/OpenMP threads are pinned to 1 before NumPy is imported. Usage::

    python benchmarks/bbob.py          # full run -> results/bbob.json
    python benchmarks/bbob.py --quick  # smoke run -> results/bbob_quick.json
    python benchmarks/bbob.py --dims 2,5 --functions 1-5 --instances 1-2 --out x.json
    python benchmarks/bbob.py --quick --solvers pycma,gradfree,gradfree-bipop
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

with warnings.catch_warnings():  # pycma warns that matplotlib is missing
    warnings.simplefilter("ignore")
    import cma  # noqa: E402
import cmaes  # noqa: E402
import cocoex  # noqa: E402
from _common import machine_info  # noqa: E402

import gradfree  # noqa: E402
from gradfree import Status, minimize  # noqa: E402
from gradfree.es import CMAES  # noqa: E402

SOLVERS = (
    "gradfree",
    "pycma",
    "cmaes",
    "pycma-bipop",
    "pycma-lq",
    "gradfree-bipop",
    "gradfree-lq",
    "gradfree-lq-bipop",
    "gradfree-default",
)
REFERENCE = "pycma"
PLAIN = "gradfree"  # gradfree's IPOP-CMA-ES: what the lq rows must never be 2x worse than
REPORT_BUDGETS = (100, 1000)  # ERT and fraction solved at these multiples of d
SIGMA0 = 2.0
BOX = 4.0  # restart points are uniform in [-BOX, BOX]^d
MAX_RESTARTS = 50
FINAL_TARGET = 1e-8
TARGET_EXPONENTS = np.round(np.linspace(2, -8, 51), 1)  # 10^2, 10^1.8, ..., 10^-8
TARGETS = 10.0**TARGET_EXPONENTS
TABLE_TARGETS = (1e1, 1e-1, 1e-8)
BUDGET_MULTS = (10, 100, 1000)
SHORT_RUN = 10  # inner runs that stop by a rule within this many generations are flagged
RESULTS = Path(__file__).resolve().parent / "results"
QUICK = {"dims": [2, 5], "instances": [1], "functions": [1, 2, 3, 8, 10, 15, 21]}


# -- recording ------------------------------------------------------------------------
class Recorder:
    """Wraps a cocoex problem: evaluates one point, records every value."""

    def __init__(self, problem: object, ftarget: float) -> None:
        self.problem = problem
        self.ftarget = ftarget
        self.values: list[float] = []
        self.best = math.inf

    def __call__(self, x: np.ndarray) -> float:
        f = float(self.problem(np.asarray(x, dtype=float)))
        self.values.append(f)
        if f < self.best:
            self.best = f
        return f

    def batch(self, X: np.ndarray) -> np.ndarray:
        """Batch objective for ``workers='vectorized'``: loops over the rows."""
        return np.array([self(x) for x in X])

    @property
    def hit(self) -> bool:
        return self.best <= self.ftarget


def _segment(popsize: int, start: int, end: int, generations: int, reason: str) -> dict:
    return {
        "popsize": popsize,
        "evals": end - start,
        "generations": generations,
        "reason": reason,
    }


# -- the three solvers, one harness ---------------------------------------------------
def run_gradfree(
    rec: Recorder,
    x0: np.ndarray,
    budget: int,
    seed: int,
    method: object = None,
    options: dict | None = None,
) -> list[dict]:
    """One `gradfree.minimize` call; by default IPOP through ``options={"restarts": ...}``."""
    d = x0.shape[0]

    def callback(result: object) -> None:
        if rec.hit:
            raise StopIteration

    if method is None and options is None:
        method = CMAES(sigma0=SIGMA0)
        options = {"restarts": "ipop", "max_restarts": MAX_RESTARTS}
    options = dict(options or {})
    if "restarts" in options:
        options["restart_x0"] = lambda rng: rng.uniform(-BOX, BOX, d)
    res = minimize(
        rec.batch,
        x0,
        method=method,
        rng=seed,
        workers="vectorized",
        maxfev=budget,
        callback=callback,
        options=options,
    )
    if res.nfev != len(rec.values):
        raise RuntimeError(f"gradfree counted {res.nfev} evaluations, recorded {len(rec.values)}")
    state = res.state
    if res.status == Status.CALLBACK:
        last = "ftarget"
    elif res.status == Status.MAXFEV:
        last = "budget"
    else:
        last = res.message
    if not hasattr(state, "restarts"):  # no restarts: one run
        return [_segment(getattr(res.population, "shape", (0,))[0], 0, res.nfev, res.nit, last)]
    records = state.restarts
    segments = []
    prev_gen, prev_eval, popsize = 0, 0, None
    for r in records:
        lam = popsize if popsize is not None else state.base_popsize
        segments.append(_segment(lam, prev_eval, r.evaluations, r.generation - prev_gen, r.reason))
        prev_gen, prev_eval, popsize = r.generation, r.evaluations, r.popsize
    if state.pending:  # stopped by a rule; the restart did not fit in the budget
        last = state.pending
    lam = popsize if popsize is not None else state.base_popsize
    segments.append(_segment(lam, prev_eval, res.nfev, res.nit - prev_gen, last))
    return segments


def _gradfree_row(method: object, options: dict | None) -> Callable[..., list[dict]]:
    def runner(rec: Recorder, x0: np.ndarray, budget: int, seed: int) -> list[dict]:
        return run_gradfree(rec, x0, budget, seed, method=method, options=options)

    return runner


class _Stop(Exception):
    """Raised by the objective of the pycma ``fmin*`` rows at the budget or the target."""


def _pycma_fmin(kind: str) -> Callable[..., list[dict]]:
    """pycma's own restart drivers: ``fmin2(..., bipop=True)`` or ``fmin_lq_surr2``."""

    def runner(rec: Recorder, x0: np.ndarray, budget: int, seed: int) -> list[dict]:
        d = x0.shape[0]
        rng = np.random.default_rng([seed, 3])
        starts = [0]

        def start() -> np.ndarray:
            starts[0] += 1
            return x0 if starts[0] == 1 else rng.uniform(-BOX, BOX, d)

        def f(x: np.ndarray) -> float:
            if rec.hit or len(rec.values) >= budget:
                raise _Stop
            return rec(x)

        opts = {
            "verbose": -9,
            "verb_log": 0,
            "maxfevals": budget,
            "ftarget": rec.ftarget,
            "seed": seed * 100 + 1,
        }
        reason = "stop"
        try:
            if kind == "bipop":
                cma.fmin2(f, start, SIGMA0, opts, restarts=9, bipop=True)
            else:
                cma.fmin_lq_surr2(f, start, SIGMA0, opts, restarts=9, incpopsize=2)
        except _Stop:
            reason = "ftarget" if rec.hit else "budget"
        return [_segment(0, 0, len(rec.values), 0, f"{reason} ({starts[0]} runs)")]

    return runner


def run_pycma(rec: Recorder, x0: np.ndarray, budget: int, seed: int) -> list[dict]:
    """pycma to ``es.stop()``, restarted by hand with doubled popsize."""
    d = x0.shape[0]
    rng = np.random.default_rng([seed, 1])
    segments: list[dict] = []
    popsize = None
    for k in range(MAX_RESTARTS + 1):
        used = len(rec.values)
        opts = {
            "verbose": -9,
            "verb_log": 0,
            "maxfevals": budget - used,
            "ftarget": rec.ftarget,
            "seed": seed * 100 + k + 1,  # 0 would mean "from the clock"
        }
        if popsize is not None:
            opts["popsize"] = popsize
        es = cma.CMAEvolutionStrategy(x0, SIGMA0, opts)
        lam = es.popsize
        if used + lam > budget:
            break
        gens, reason = 0, None
        while not es.stop():
            if len(rec.values) + lam > budget:
                reason = "budget"
                break
            X = es.ask()
            es.tell(X, [rec(x) for x in X])
            gens += 1
        if reason is None:
            reason = ",".join(es.stop()) or "?"
        segments.append(_segment(lam, used, len(rec.values), gens, reason))
        if rec.hit or reason == "budget":
            break
        popsize = 2 * lam
        x0 = rng.uniform(-BOX, BOX, d)
    return segments


def run_cmaes(rec: Recorder, x0: np.ndarray, budget: int, seed: int) -> list[dict]:
    """cmaes to ``should_stop()`` (or the final target), restarted by hand."""
    d = x0.shape[0]
    rng = np.random.default_rng([seed, 2])
    segments: list[dict] = []
    lam = 4 + int(3 * math.log(d))
    for k in range(MAX_RESTARTS + 1):
        used = len(rec.values)
        if used + lam > budget:
            break
        opt = cmaes.CMA(mean=x0, sigma=SIGMA0, population_size=lam, seed=seed * 100 + k + 1)
        gens, reason = 0, "should_stop"
        while not opt.should_stop():
            if len(rec.values) + lam > budget:
                reason = "budget"
                break
            solutions = []
            for _ in range(lam):
                x = opt.ask()
                solutions.append((x, rec(x)))
            opt.tell(solutions)
            gens += 1
            if rec.hit:
                reason = "ftarget"
                break
        segments.append(_segment(lam, used, len(rec.values), gens, reason))
        if reason in ("budget", "ftarget"):
            break
        lam *= 2
        x0 = rng.uniform(-BOX, BOX, d)
    return segments


RUNNERS: dict[str, Callable[..., list[dict]]] = {
    "gradfree": run_gradfree,
    "pycma": run_pycma,
    "cmaes": run_cmaes,
    "pycma-bipop": _pycma_fmin("bipop"),
    "pycma-lq": _pycma_fmin("lq"),
    "gradfree-bipop": _gradfree_row(
        CMAES(sigma0=SIGMA0), {"restarts": "bipop", "max_restarts": 9}
    ),
    "gradfree-lq": _gradfree_row(
        "lq-cma-es", {"sigma0": SIGMA0, "restarts": "ipop", "max_restarts": MAX_RESTARTS}
    ),
    "gradfree-lq-bipop": _gradfree_row(
        "lq-cma-es", {"sigma0": SIGMA0, "restarts": "bipop", "max_restarts": 9}
    ),
    "gradfree-default": _gradfree_row("cma-es", {}),
}


def fopt_of(problem: object) -> float:
    """f_opt: from ``final_target_fvalue1`` where cocoex has it, else `BareProblem`."""
    final = getattr(problem, "final_target_fvalue1", None)
    if final is not None:
        return float(final) - FINAL_TARGET
    bare = cocoex.BareProblem("bbob", problem.id_function, problem.dimension, problem.id_instance)
    return float(bare.best_value())


def run_task(task: tuple[int, int, int, int, tuple[str, ...]]) -> dict:
    """The solvers on one problem (f, d, instance index); builds its own Suite."""
    f, d, index, budget_mult, solvers = task
    suite = cocoex.Suite(
        "bbob", "", f"dimensions: {d} function_indices: {f} instance_indices: {index}"
    )
    if len(suite) != 1:
        raise RuntimeError(f"expected one problem for f={f} d={d} i={index}; got {len(suite)}")
    problem = suite.get_problem(0)  # the Suite stays alive while the problem is used
    fopt = fopt_of(problem)
    budget = budget_mult * d
    seed = 10_000 * f + 100 * d + index
    out = {
        "id": problem.id,
        "f": f,
        "d": d,
        "instance": int(problem.id_instance),
        "instance_index": index,
        "fopt": fopt,
        "budget": budget,
        "seed": seed,
        "solvers": {},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycma's and gradfree's numerical notes
        for name in solvers:
            runner = RUNNERS[name]
            rec = Recorder(problem, fopt + FINAL_TARGET)
            start = time.perf_counter()
            segments = runner(rec, np.array(problem.initial_solution, dtype=float), budget, seed)
            wall = time.perf_counter() - start
            values = np.asarray(rec.values)
            if values.size > budget:
                raise RuntimeError(f"{name} used {values.size} > {budget} evaluations")
            best = np.minimum.accumulate(values) if values.size else np.array([np.inf])
            reached = best[:, None] <= fopt + TARGETS[None, :]
            runtimes = [int(np.argmax(col)) + 1 for col in reached.T if col.any()]
            out["solvers"][name] = {
                "evals": int(values.size),
                "best_delta": float(best[-1] - fopt),
                "hit_final": bool(rec.hit),
                "wall_s": wall,
                "runtimes": runtimes,
                "segments": segments,
            }
    problem.free()
    suite.free()
    return out


# -- metrics --------------------------------------------------------------------------
def ert(runs: list[dict], j: int, cap: float = math.inf) -> float:
    """Expected runtime to target j over the instances' runs of one solver, the runs cut
    at `cap` evaluations (a prefix of a run is the run with that budget)."""
    successes = sum(j < len(r["runtimes"]) and r["runtimes"][j] <= cap for r in runs)
    if not successes:
        return math.inf
    spent = sum(
        r["runtimes"][j] if j < len(r["runtimes"]) and r["runtimes"][j] <= cap
        else min(r["evals"], cap)
        for r in runs
    )  # fmt: skip
    return spent / successes


def fraction_solved(runs: list[dict], budget: float) -> float:
    """Share of (run, target) pairs reached within `budget` evaluations."""
    hits = sum(rt <= budget for r in runs for rt in r["runtimes"])
    return hits / (len(runs) * TARGETS.size) if runs else math.nan


def _ratios(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]


def head_to_head(erts: dict, name: str, ref: str, dims: list[int], functions: list[int]) -> dict:
    """Geometric mean of ERT ratios over the (f, d, target) triples both solve."""
    ratios, per_dim, only_ref, only_this = [], defaultdict(list), 0, 0
    for f in functions:
        for d in dims:
            a, b = erts[name][f, d], erts[ref][f, d]
            r = _ratios(a, b)
            ratios += r
            per_dim[d] += r
            only_ref += sum(math.isfinite(y) and not math.isfinite(x) for x, y in zip(a, b))
            only_this += sum(math.isfinite(x) and not math.isfinite(y) for x, y in zip(a, b))
    j = TARGETS.size - 1
    behind = {
        str(d): [f for f in functions if erts[name][f, d][j] > erts[ref][f, d][j]] for d in dims
    }
    return {
        "ert_ratio_geomean": _geomean(ratios),
        "ert_ratio_geomean_per_dim": {str(d): _geomean(r) for d, r in per_dim.items()},
        "triples_both_solved": len(ratios),
        "triples_only_reference": only_ref,
        "triples_only_this": only_this,
        "behind_at_1e-8": behind,
    }


def report_budgets(budget_mult: int) -> tuple[int, ...]:
    """The report's budgets (multiples of d) that a run of `budget_mult` d reaches."""
    return tuple(m for m in REPORT_BUDGETS if m <= budget_mult) or (budget_mult,)


def summarize(
    tasks: list[dict],
    dims: list[int],
    functions: list[int],
    solvers: list[str],
    budgets: tuple[int, ...] = REPORT_BUDGETS,
) -> dict:
    """Fractions solved, ERT tables, head-to-head, the lq check and stop diagnostics."""
    by = defaultdict(list)  # (solver, f, d) -> runs
    for t in tasks:
        for name in solvers:
            by[name, t["f"], t["d"]].append(t["solvers"][name])
    mults = sorted({m for m in BUDGET_MULTS if m <= max(budgets)} | set(budgets))
    summary = {}
    for name in solvers:
        per_dim = {}
        for d in dims:
            runs = [r for f in functions for r in by[name, f, d]]
            per_dim[str(d)] = {f"{m}d": fraction_solved(runs, m * d) for m in mults}
        overall = {}
        for m in mults:
            hits = total = 0
            for d in dims:
                runs = [r for f in functions for r in by[name, f, d]]
                hits += fraction_solved(runs, m * d) * len(runs) * TARGETS.size
                total += len(runs) * TARGETS.size
            overall[f"{m}d"] = hits / total
        runs = [r for key, rs in by.items() if key[0] == name for r in rs]
        evals = sum(r["evals"] for r in runs)
        wall = sum(r["wall_s"] for r in runs)
        summary[name] = {
            "fraction_solved": {"per_dim": per_dim, "all": overall},
            "final_target_hits": sum(r["hit_final"] for r in runs),
            "runs": len(runs),
            "evaluations": evals,
            "wall_s": wall,
            "wall_us_per_evaluation": 1e6 * wall / evals if evals else None,
        }

    results: dict = {"summary": summary, "by_budget": {}}
    table_idx = [int(np.argmin(np.abs(TARGETS - t))) for t in TABLE_TARGETS]
    for m in budgets:
        erts = {
            name: {
                (f, d): [ert(by[name, f, d], j, m * d) for j in range(TARGETS.size)]
                for f in functions
                for d in dims
            }
            for name in solvers
        }
        h2h = {}
        for ref in (REFERENCE, PLAIN):
            if ref not in solvers:
                continue
            for name in solvers:
                if name != ref:
                    h2h[f"{name}_vs_{ref}"] = head_to_head(erts, name, ref, dims, functions)
        lq_check = {}
        if PLAIN in solvers:
            j = TARGETS.size - 1
            for name in (s for s in solvers if s.startswith("gradfree-lq")):
                worse = []
                for d in dims:
                    for f in functions:
                        a, b = erts[name][f, d], erts[PLAIN][f, d]
                        at_final = a[j] / b[j] if math.isfinite(b[j]) else None
                        mean = _geomean(_ratios(a, b))
                        lost = math.isfinite(b[j]) and not math.isfinite(a[j])
                        if lost or (at_final or 0) > 2 or (mean or 0) > 2:
                            worse.append(
                                {"f": f, "d": d, "ratio_1e-8": at_final, "ratio_geomean": mean}
                            )
                lq_check[name] = worse
        results["by_budget"][f"{m}d"] = {
            "head_to_head": h2h,
            "lq_more_than_2x_worse_than_plain": lq_check,
            "ert_table": [
                {
                    "f": f,
                    "d": d,
                    **{
                        name: {
                            f"{TARGETS[j]:.0e}": _finite(erts[name][f, d][j]) for j in table_idx
                        }
                        for name in solvers
                    },
                }
                for d in dims
                for f in functions
            ],
        }
    results["restart_diagnostics"] = {name: diagnostics(tasks, name) for name in solvers}
    return results


def diagnostics(tasks: list[dict], name: str) -> dict:
    """How the solver's inner runs ended: stop rules, restarts, generations per run."""
    reasons: Counter[str] = Counter()
    gens_by: dict[tuple[int, int], list[int]] = defaultdict(list)  # (d, restart no.) -> gens
    short = []
    restarts = []
    for t in tasks:
        segs = t["solvers"][name]["segments"]
        restarts.append(len(segs) - 1)
        for k, s in enumerate(segs):
            key = re.split(r"[:(]", s["reason"], maxsplit=1)[0].strip()
            reasons[key] += 1
            if key not in ("budget", "ftarget"):  # ended by a stop rule
                gens_by[t["d"], min(k, 4)].append(s["generations"])
                if s["generations"] <= SHORT_RUN:
                    short.append(
                        {
                            "id": t["id"],
                            "restart": k,
                            **{a: s[a] for a in ("popsize", "generations", "reason")},
                        }
                    )
    return {
        "stop_reasons": dict(reasons.most_common()),
        "restarts_mean": statistics.fmean(restarts) if restarts else None,
        "restarts_max": max(restarts, default=None),
        "median_generations_by_rule": {
            f"d={d} run={k if k < 4 else '4+'}": statistics.median(g)
            for (d, k), g in sorted(gens_by.items())
        },
        f"runs_stopped_by_rule_within_{SHORT_RUN}_generations": len(short),
        "short_runs_examples": short[:20],
    }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _geomean(xs: list[float]) -> float | None:
    return float(np.exp(np.mean(np.log(xs)))) if xs else None


# -- output ---------------------------------------------------------------------------
def markdown(report: dict) -> str:
    """Summary tables in markdown."""
    dims = report["settings"]["dims"]
    solvers = report["settings"]["solvers"]
    res = report["results"]
    mults = report["settings"].get("report_budgets", REPORT_BUDGETS)
    head = " | ".join(f"d={d} ({' / '.join(f'{m}d' for m in mults)})" for d in dims)
    rows = [
        f"| solver | {head} | all, {' / '.join(f'{m}d' for m in mults)} | µs / evaluation |",
        "|:---|" + "---:|" * (len(dims) + 2),
    ]
    for name in solvers:
        s = res["summary"][name]
        fs = s["fraction_solved"]
        cells = [" / ".join(f"{fs['per_dim'][str(d)][f'{m}d']:.3f}" for m in mults) for d in dims]
        total = " / ".join(f"**{fs['all'][f'{m}d']:.3f}**" for m in mults)
        wall = s["wall_us_per_evaluation"]
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {total} | {wall:.0f} |")
    lines = ["Fraction of (function, instance, target) pairs solved", "", *rows, ""]
    refs = [r for r in (REFERENCE, PLAIN) if r in solvers]
    lines += [
        "Geometric mean of ERT ratios over the (f, d, target) triples both solve",
        "",
        "| solver | " + " | ".join(f"/ {r} at {m}d" for r in refs for m in mults) + " |",
        "|:---|" + "---:|" * (len(refs) * len(mults)),
    ]
    for name in solvers:
        cells = []
        for ref in refs:
            for m in mults:
                h = res["by_budget"][f"{m}d"]["head_to_head"].get(f"{name}_vs_{ref}")
                v = None if h is None else h["ert_ratio_geomean"]
                cells.append("—" if v is None else f"{v:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for m in mults:
        check = res["by_budget"][f"{m}d"]["lq_more_than_2x_worse_than_plain"]
        for name, worse in check.items():
            items = ", ".join(
                f"f{w['f']} d={w['d']}"
                f" ({'-' if w['ratio_1e-8'] is None else format(w['ratio_1e-8'], '.1f')}"
                f", gm {w['ratio_geomean'] or float('nan'):.1f})"
                for w in worse
            )
            lines.append(
                f"- {m}d, {name} > 2x {PLAIN} (ERT at 1e-8 (inf: only {PLAIN} reaches it, "
                f"-: {PLAIN} does not), geomean over targets): {items or 'none'}"
            )
    lines += ["", f"ERT / d at 1e-8, budget {mults[-1]} d (inf: no instance reached it)", ""]
    lines += ["| f | d | " + " | ".join(solvers) + " |", "|---:|---:|" + "---:|" * len(solvers)]
    for row in res["by_budget"][f"{mults[-1]}d"]["ert_table"]:
        cells = []
        for name in solvers:
            v = row[name]["1e-08"]
            cells.append("inf" if v is None else f"{v / row['d']:.0f}")
        lines.append(f"| f{row['f']} | {row['d']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def git_state() -> dict:
    """Commit of the checkout and whether gradfree/ has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*cmd: str) -> str:
        return subprocess.run(
            ["git", *cmd], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "gradfree_dirty": bool(git("status", "--porcelain", "gradfree")),
        }
    except (OSError, subprocess.CalledProcessError):
        return {}


def parse_ints(text: str) -> list[int]:
    """'1-3,7' -> [1, 2, 3, 7]."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def dumps(report: dict) -> str:
    """JSON with indent 2, numeric lists on one line, and one line per solver per run."""
    runs = report.get("runs", [])
    head = {k: v for k, v in report.items() if k != "runs"}
    text = re.sub(
        r"\[\s*((?:-?[\d.eE+-]+|null)(?:,\s*(?:-?[\d.eE+-]+|null))*)\s*\]",
        lambda m: "[" + ", ".join(s.strip() for s in m.group(1).split(",")) + "]",
        json.dumps(head, indent=2),
    )
    lines = []
    for run in runs:
        meta = json.dumps({k: v for k, v in run.items() if k != "solvers"})[:-1]
        solvers = ",\n".join(
            f"      {json.dumps(name)}: {json.dumps(s, separators=(',', ':'))}"
            for name, s in run["solvers"].items()
        )
        lines.append(f'    {meta}, "solvers": {{\n{solvers}\n    }}}}')
    return text[:-2] + ',\n  "runs": [\n' + ",\n".join(lines) + "\n  ]\n}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=parse_ints, default=[2, 5, 10])
    parser.add_argument("--instances", type=parse_ints, default=parse_ints("1-5"))
    parser.add_argument("--functions", type=parse_ints, default=parse_ints("1-24"))
    parser.add_argument("--budget-mult", type=int, default=1000, help="budget = mult * d")
    parser.add_argument("--workers", type=int, default=2, help="processes over problems")
    parser.add_argument("--out", type=Path, help="default: results/bbob[_quick].json")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK}")
    parser.add_argument("--solvers", default=",".join(SOLVERS), help="rows, comma-separated")
    args = parser.parse_args(argv)
    solvers = tuple(args.solvers.split(","))
    unknown = sorted(set(solvers) - set(RUNNERS))
    if unknown:
        parser.error(f"unknown solvers {unknown}; choose from {list(RUNNERS)}")
    if args.quick:
        args.dims, args.instances, args.functions = (QUICK[k] for k in QUICK)
    out = args.out or RESULTS / f"bbob{'_quick' if args.quick else ''}.json"
    budgets = report_budgets(args.budget_mult)

    # largest dimension first, so that the long tasks do not trail at the end
    tasks = [
        (f, d, i, args.budget_mult, solvers)
        for d in sorted(args.dims, reverse=True)
        for f in args.functions
        for i in args.instances
    ]
    start = time.perf_counter()
    load_before = os.getloadavg()
    done: list[dict] = []

    def progress(r: dict) -> None:
        done.append(r)
        hits = " ".join(
            f"{n}={'hit' if s['hit_final'] else format(s['best_delta'], '.1e')}/{s['evals']}"
            for n, s in r["solvers"].items()
        )
        print(
            f"[{len(done)}/{len(tasks)} {time.perf_counter() - start:.0f}s] {r['id']}: {hits}",
            file=sys.stderr,
            flush=True,
        )

    if args.workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.workers) as pool:
            for r in pool.imap_unordered(run_task, tasks):
                progress(r)
    else:
        for task in tasks:
            progress(run_task(task))
    done.sort(key=lambda r: (r["d"], r["f"], r["instance_index"]))

    report = {
        "benchmark": "bbob",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            **machine_info(),
            "load_average_1_5_15min_before": load_before,
            "load_average_1_5_15min_after": os.getloadavg(),
        },
        "versions": {
            "gradfree": gradfree.__version__,
            "numpy": np.__version__,
            "pycma": cma.__version__,
            "cmaes": cmaes.__version__,
            "cocoex": cocoex.__version__,
            "git": git_state(),
        },
        "settings": {
            "suite": "bbob",
            "solvers": list(solvers),
            "dims": sorted(args.dims),
            "functions": args.functions,
            "instance_indices": args.instances,
            "budget": f"{args.budget_mult} * d evaluations",
            "sigma0": SIGMA0,
            "x0": "problem.initial_solution, then uniform in [-4, 4]^d at each restart",
            "restarts": f"IPOP: popsize doubled at each restart, at most {MAX_RESTARTS}",
            "first_popsize": "4 + floor(3 ln d) (each library's default)",
            "final_target": FINAL_TARGET,
            "targets": "10^k, k = 2, 1.8, ..., -8 (51), f - f_opt",
            "fopt": "final_target_fvalue1 - 1e-8, else cocoex.BareProblem.best_value()",
            "seed": "10000 f + 100 d + instance index (pycma/cmaes: seed * 100 + restart + 1)",
            "ert": "(evals to target of successes + evals of failures) / successes",
            "report_budgets": list(budgets),
            "budgets": "smaller budgets' figures from the prefix of each run (runs cut there)",
            "budget_rule": "no solver starts a generation that would overrun the budget",
            "workers": args.workers,
            "quick": args.quick,
            "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
        },
        "results": summarize(done, sorted(args.dims), args.functions, list(solvers), budgets),
        "wall_s": time.perf_counter() - start,
        "runs": [
            {
                **{k: r[k] for k in ("id", "f", "d", "instance", "fopt", "budget", "seed")},
                "solvers": r["solvers"],
            }
            for r in done
        ],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(report) + "\n")
    print(markdown(report))
    print(f"\nwrote {out} ({report['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
