"""Constraints and integer variables: gradfree's CMA-ES wrappers against pycma and cmaes.

**Benchmark 1, constrained continuous problems.** gradfree's
``minimize(f, x0, method="cma-es", constraints=NonlinearConstraint(g, -inf, 0),
rng=seed, maxfev=budget, options={"sigma0": sigma0})`` (adaptive augmented Lagrangian,
`gradfree.Constrained`) against pycma's ``cma.fmin_con2(f, x0, sigma0, constraints=g,
options={"seed": seed, "verbose": -9, "maxfevals": budget})`` (pycma's
``ConstrainedFitnessAL``, the rules gradfree follows). Both get the same ``g(x) <= 0``
vector function, ``x0``, ``sigma0``, the default population ``4 + floor(3 ln d)``, no
restarts, a budget of ``2000 d`` evaluations, and run until their own stop rules or the
budget. Problems, with their known optimum f*:

- (a) d=5: ``|x|^2`` s.t. ``x0 + x1 >= 2``, ``x1 <= 0.5``; f* = 2.5, ``x0 = 3 ones``;
- (b) d=10: ``|x|^2`` s.t. ``sum(x) >= 10``; f* = 10 at ``x* = ones``, ``x0 = 0``;
- (c) d=10: ``sum (x_i - 2)^2`` s.t. ``x_i <= 1`` for i < 5 (one 5-vector
  constraint); f* = 5, ``x0 = 0``;
- (d) d=2: ``x0 + x1`` s.t. ``x0^2 + x1^2 <= 1``; f* = -sqrt(2), ``x0 = 0``;
- (e) d=10: ellipsoid ``sum w_i x_i^2``, ``w_i = 1e4^(i/9)``, s.t. ``sum(x) >= 1``;
  KKT: ``2 w_i x_i = lam`` and ``sum x = 1`` give ``x*_i = (1/w_i) / S`` with
  ``S = sum 1/w_i``, so f* = 1/S (checked against SLSQP when the script starts);
  ``x0 = ones``.

One evaluation = one f and one g at a point, the same for both: the objective and the
constraint function are wrapped by one recorder that pairs the two calls at a point and
sees every evaluated point (gradfree's extra evaluation of the distribution mean per
generation included; pycma's final-mean evaluation included). gradfree's one probe of
``g(x0)``, which `parse_constraints` makes to learn the constraint count, is not an
evaluation (``nfev`` does not count it) and is skipped. Points beyond the budget (pycma
may finish a generation past ``maxfevals``) are ignored. Per run: evaluations to the
first point that is feasible (all ``g <= 0``) with ``f - f* <= 1e-6 max(1, |f*|)``
(success), the first feasible point, the best feasible f error within the budget (also
at 100 d, 200 d, 500 d and 1000 d evaluations), and the f error and largest violation
of the point each library returns (gradfree ``result.x``, pycma's ``xfavorite``).

**Benchmark 2, mixed-integer problems.** gradfree's ``minimize(f, x0,
integrality=mask, bounds=..., rng=seed, maxfev=budget, options={"sigma0": sigma0})``
(CMA-ES with margin, `gradfree.Integrality`) against cmaes's ``CMAwM(mean=x0, sigma=
sigma0, bounds=..., steps=1 for integers, 0 else, seed=seed)`` and pycma's
``CMAEvolutionStrategy(x0, sigma0, {"integer_variables": [...], "bounds": [lb, ub],
...})``; budget ``1000 d``, no restarts; each run stops at the target
``f - f* <= 1e-8``, the budget or its own stop rules. Integer coordinates are bounded,
continuous ones are not. Problems:

- (a) d=10: ``sum (x_i - 0.3)^2``, x_0..x_4 integer in [-10, 10]; f* = 5 * 0.09
  (integers at 0, continuous at 0.3), ``x0 = 3 ones``, ``sigma0 = 2``;
- (b) d=10: ellipsoid ``sum w_i (x_i - 0.4)^2``, ``w_i = 1e2^(i/9)``, all integer in
  [-10, 10]; f* = 0.16 sum w (at 0), ``x0 = 3 ones``, ``sigma0 = 2``;
- (c) d=20: ``-sum x_i (i < 10, binary in [0, 1]) + sum x_i^2 (i >= 10)``; f* = -10,
  ``x0 = (0,...,0, 1,...,1)``, ``sigma0 = 0.5``.

Seeds 1..10 (pycma reads 0 as "from the clock"). Tasks (one problem and seed, all
solvers) run in ``--workers`` processes; BLAS/OpenMP threads are pinned to 1 before
NumPy is imported. Usage::

    python benchmarks/constrained.py          # full run -> results/constrained.json
    python benchmarks/constrained.py --quick  # 3 seeds -> results/constrained_quick.json
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy.optimize import NonlinearConstraint  # noqa: E402
from scipy.optimize import minimize as scipy_minimize  # noqa: E402

with warnings.catch_warnings():  # pycma warns that matplotlib is missing
    warnings.simplefilter("ignore")
    import cma  # noqa: E402
import cmaes  # noqa: E402
from _common import machine_info  # noqa: E402

import gradfree  # noqa: E402
from gradfree import minimize  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CON_BUDGET = 2000  # evaluations per dimension, benchmark 1
INT_BUDGET = 1000  # benchmark 2
CON_RTOL = 1e-6  # success: feasible and f - f* <= CON_RTOL * max(1, |f*|)
INT_TOL = 1e-8  # success: f - f* <= INT_TOL
CHECKPOINTS = (100, 200, 500, 1000)  # x d evaluations: best feasible error so far
CON_SOLVERS = ("gradfree", "pycma")
INT_SOLVERS = ("gradfree", "cmaes", "pycma")


# -- problems -------------------------------------------------------------------------
def _ellipsoid_weights(d: int, cond: float) -> np.ndarray:
    return cond ** (np.arange(d) / (d - 1))


W_CON = _ellipsoid_weights(10, 1e4)
W_INT = _ellipsoid_weights(10, 1e2)


def f_sq(x: np.ndarray) -> float:
    return float(x @ x)


def g_a(x: np.ndarray) -> np.ndarray:
    return np.array([2.0 - x[0] - x[1], x[1] - 0.5])


def g_b(x: np.ndarray) -> np.ndarray:
    return np.array([10.0 - x.sum()])


def f_c(x: np.ndarray) -> float:
    return float(((x - 2.0) ** 2).sum())


def g_c(x: np.ndarray) -> np.ndarray:
    return x[:5] - 1.0


def f_d(x: np.ndarray) -> float:
    return float(x[0] + x[1])


def g_d(x: np.ndarray) -> np.ndarray:
    return np.array([x[0] ** 2 + x[1] ** 2 - 1.0])


def f_e(x: np.ndarray) -> float:
    return float(W_CON @ x**2)


def g_e(x: np.ndarray) -> np.ndarray:
    return np.array([1.0 - x.sum()])


def fstar_e() -> float:
    """KKT of ``min sum w x^2 s.t. sum x >= 1``: ``x* = (1/w) / sum(1/w)``, f* = 1/S."""
    return float(1.0 / np.sum(1.0 / W_CON))


@dataclass(frozen=True)
class ConProblem:
    name: str
    d: int
    f: Callable[[np.ndarray], float]
    g: Callable[[np.ndarray], np.ndarray]
    fstar: float
    x0: float
    sigma0: float
    text: str


CON_PROBLEMS = {
    p.name: p
    for p in (
        ConProblem("a", 5, f_sq, g_a, 2.5, 3.0, 1.0, "sum x^2, x0+x1>=2, x1<=0.5"),
        ConProblem("b", 10, f_sq, g_b, 10.0, 0.0, 1.0, "sum x^2, sum x>=10"),
        ConProblem("c", 10, f_c, g_c, 5.0, 0.0, 1.0, "sum (x-2)^2, x_i<=1 (i<5)"),
        ConProblem("d", 2, f_d, g_d, -math.sqrt(2.0), 0.0, 1.0, "x0+x1, x0^2+x1^2<=1"),
        ConProblem("e", 10, f_e, g_e, fstar_e(), 1.0, 1.0, "ellipsoid 1e4, sum x>=1"),
    )
}


def f_int_a(x: np.ndarray) -> float:
    return float(((x - 0.3) ** 2).sum())


def f_int_b(x: np.ndarray) -> float:
    return float(W_INT @ (x - 0.4) ** 2)


def f_int_c(x: np.ndarray) -> float:
    return float(-x[:10].sum() + x[10:] @ x[10:])


@dataclass(frozen=True)
class IntProblem:
    name: str
    d: int
    f: Callable[[np.ndarray], float]
    fstar: float
    mask: tuple[bool, ...]
    lower: tuple[float, ...]  # bounds per coordinate; +-inf for the continuous ones
    upper: tuple[float, ...]
    x0: tuple[float, ...]
    sigma0: float
    text: str


def _int_problem(name, d, f, fstar, n_int, lo, hi, x0, sigma0, text) -> IntProblem:
    mask = [i < n_int for i in range(d)]
    return IntProblem(
        name,
        d,
        f,
        fstar,
        tuple(mask),
        tuple(lo if m else -math.inf for m in mask),
        tuple(hi if m else math.inf for m in mask),
        tuple(x0),
        sigma0,
        text,
    )


INT_PROBLEMS = {
    p.name: p
    for p in (
        _int_problem("a", 10, f_int_a, 5 * 0.09, 5, -10, 10, [3.0] * 10, 2.0, "sphere c=0.3"),
        _int_problem(
            "b",
            10,
            f_int_b,
            float(0.16 * W_INT.sum()),
            10,
            -10,
            10,
            [3.0] * 10,
            2.0,
            "ellipsoid 1e2 c=0.4",
        ),
        _int_problem(
            "c", 20, f_int_c, -10.0, 10, 0, 1, [0.0] * 10 + [1.0] * 10, 0.5, "onemax + sphere"
        ),
    )
}


def check_fstar_e() -> dict:
    """Closed-form f* of problem (e) against SLSQP (with exact gradients)."""
    d = W_CON.size
    res = scipy_minimize(
        f_e,
        np.ones(d),
        jac=lambda x: 2 * W_CON * x,
        method="SLSQP",
        constraints={"type": "ineq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones(d)},
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    closed = fstar_e()
    rel = abs(res.fun - closed) / closed
    if not res.success or rel > 1e-8:
        raise RuntimeError(f"f* of (e): closed form {closed!r}, SLSQP {res.fun!r} ({res.message})")
    return {"closed_form": closed, "slsqp": float(res.fun), "rel_diff": rel}


# -- benchmark 1: recording -----------------------------------------------------------
class ConRecorder:
    """Sees every evaluated point: pairs the f and g calls at one point into one evaluation.

    Whichever of f, g is called first at a point evaluates both (and records them); the
    other call at the same point returns the stored value.
    """

    def __init__(self, problem: ConProblem, budget: int) -> None:
        self.p = problem
        self.budget = budget
        self.target = problem.fstar + CON_RTOL * max(1.0, abs(problem.fstar))
        self.f_values: list[float] = []
        self.violations: list[float] = []
        self._key: bytes | None = None
        self._pending: str | None = None  # which of 'f', 'g' is still to come at _key
        self._fg: tuple[float, np.ndarray] = (math.nan, np.zeros(0))
        self.skip_g = 0  # g calls to pass through unrecorded (gradfree's probe at x0)

    def _point(self, x: np.ndarray, which: str) -> tuple[float, np.ndarray]:
        x = np.asarray(x, dtype=float)
        key = x.tobytes()
        if key == self._key and self._pending == which:
            self._pending = None
            return self._fg
        f, g = float(self.p.f(x)), np.atleast_1d(np.asarray(self.p.g(x), dtype=float))
        self.f_values.append(f)
        self.violations.append(float(np.max(g, initial=0.0)))
        self._key, self._pending = key, ("g" if which == "f" else "f")
        self._fg = (f, g)
        return self._fg

    def f(self, x: np.ndarray) -> float:
        return self._point(x, "f")[0]

    def g(self, x: np.ndarray) -> np.ndarray:
        if self.skip_g:
            self.skip_g -= 1
            return np.atleast_1d(np.asarray(self.p.g(np.asarray(x, dtype=float)), dtype=float))
        return self._point(x, "g")[1]

    def summary(self) -> dict:
        """Metrics over the evaluations within the budget."""
        f = np.array(self.f_values[: self.budget])
        feasible = np.array(self.violations[: self.budget]) <= 0
        hits = np.flatnonzero(feasible & (f <= self.target))
        feas = np.flatnonzero(feasible)
        err = np.where(feasible, f - self.p.fstar, np.inf)
        best = np.minimum.accumulate(err) if err.size else np.array([np.inf])
        d = self.p.d
        return {
            "evals": len(self.f_values),
            "hit_at": int(hits[0]) + 1 if hits.size else None,
            "first_feasible_at": int(feas[0]) + 1 if feas.size else None,
            "best_feasible_error": _finite(float(best[-1])),
            "best_feasible_error_at": {
                f"{m}d": _finite(float(best[min(m * d, best.size) - 1])) for m in CHECKPOINTS
            },
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _returned(problem: ConProblem, x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=float)
    return {
        "f_error": float(problem.f(x)) - problem.fstar,
        "max_violation": float(np.max(problem.g(x), initial=0.0)),
    }


def con_gradfree(p: ConProblem, seed: int, budget: int) -> dict:
    rec = ConRecorder(p, budget)
    rec.skip_g = 1  # parse_constraints calls g(x0) once to learn its length
    res = minimize(
        rec.f,
        np.full(p.d, p.x0),
        method="cma-es",
        constraints=NonlinearConstraint(rec.g, -np.inf, 0.0),
        rng=seed,
        maxfev=budget,
        options={"sigma0": p.sigma0},
    )
    if res.nfev != len(rec.f_values) or rec.skip_g:
        raise RuntimeError(f"gradfree: nfev {res.nfev}, recorded {len(rec.f_values)}")
    return {
        **rec.summary(),
        "returned": _returned(p, res.x),
        "maxcv": float(res.maxcv),
        "generations": int(res.nit),
        "stop": res.message,
    }


def con_pycma(p: ConProblem, seed: int, budget: int) -> dict:
    rec = ConRecorder(p, budget)
    x, es = cma.fmin_con2(
        rec.f,
        np.full(p.d, p.x0),
        p.sigma0,
        constraints=rec.g,
        options={"seed": seed, "verbose": -9, "maxfevals": budget},
    )
    if es.result.evaluations != len(rec.f_values):
        raise RuntimeError(
            f"pycma: {es.result.evaluations} evaluations, recorded {len(rec.f_values)}"
        )
    return {
        **rec.summary(),
        "returned": _returned(p, x),
        "generations": int(es.countiter),
        "stop": ",".join(f"{k}={v}" for k, v in es.stop().items()),
    }


CON_RUNNERS = {"gradfree": con_gradfree, "pycma": con_pycma}


# -- benchmark 2 ----------------------------------------------------------------------
class IntRecorder:
    """Every evaluated value; the integer coordinates are rounded (a no-op for all three
    libraries, which evaluate integral points)."""

    def __init__(self, problem: IntProblem) -> None:
        self.p = problem
        self.mask = np.array(problem.mask)
        self.target = problem.fstar + INT_TOL
        self.values: list[float] = []
        self.hit_at: int | None = None
        self.nonintegral = 0

    def __call__(self, x: np.ndarray) -> float:
        x = np.array(x, dtype=float)
        r = np.round(x[self.mask])
        self.nonintegral += int(np.any(r != x[self.mask]))
        x[self.mask] = r
        f = float(self.p.f(x))
        self.values.append(f)
        if self.hit_at is None and f <= self.target:
            self.hit_at = len(self.values)
        return f

    def summary(self) -> dict:
        best = min(self.values, default=math.inf)
        return {
            "evals": len(self.values),
            "hit_at": self.hit_at,
            "best_error": best - self.p.fstar,
            "nonintegral_points": self.nonintegral,
        }


def int_gradfree(p: IntProblem, seed: int, budget: int) -> dict:
    rec = IntRecorder(p)

    def callback(result: object) -> None:
        if rec.hit_at is not None:
            raise StopIteration

    res = minimize(
        rec,
        np.array(p.x0),
        method="cma-es",
        integrality=np.array(p.mask),
        bounds=list(zip(p.lower, p.upper, strict=True)),
        rng=seed,
        maxfev=budget,
        callback=callback,
        options={"sigma0": p.sigma0},
    )
    if res.nfev != len(rec.values):
        raise RuntimeError(f"gradfree: nfev {res.nfev}, recorded {len(rec.values)}")
    return {
        **rec.summary(),
        "popsize": 4 + int(3 * math.log(p.d)),
        "generations": int(res.nit),
        "stop": res.message,
    }


def int_cmaes(p: IntProblem, seed: int, budget: int) -> dict:
    rec = IntRecorder(p)
    opt = cmaes.CMAwM(
        mean=np.array(p.x0),
        sigma=p.sigma0,
        bounds=np.array([p.lower, p.upper]).T,
        steps=np.array(p.mask, dtype=float),
        seed=seed,
    )
    lam, gens, stop = opt.population_size, 0, "should_stop"
    while not opt.should_stop():
        if len(rec.values) + lam > budget:
            stop = "budget"
            break
        solutions = []
        for _ in range(lam):
            x_eval, x_tell = opt.ask()
            solutions.append((x_tell, rec(x_eval)))
        opt.tell(solutions)
        gens += 1
        if rec.hit_at is not None:
            stop = "target"
            break
    return {**rec.summary(), "popsize": lam, "generations": gens, "stop": stop}


def int_pycma(p: IntProblem, seed: int, budget: int) -> dict:
    rec = IntRecorder(p)
    lower = [None if math.isinf(v) else v for v in p.lower]
    upper = [None if math.isinf(v) else v for v in p.upper]
    es = cma.CMAEvolutionStrategy(
        list(p.x0),
        p.sigma0,
        {
            "integer_variables": [i for i, m in enumerate(p.mask) if m],
            "bounds": [lower, upper],
            "seed": seed,
            "verbose": -9,
            "verb_log": 0,
            "maxfevals": budget,
            "ftarget": rec.target,
        },
    )
    lam, gens, stop = es.popsize, 0, None
    while not es.stop():
        if len(rec.values) + lam > budget:
            stop = "budget"
            break
        X = es.ask()
        es.tell(X, [rec(x) for x in X])
        gens += 1
    return {
        **rec.summary(),
        "popsize": lam,
        "generations": gens,
        "stop": stop or ",".join(f"{k}={v}" for k, v in es.stop().items()),
    }


INT_RUNNERS = {"gradfree": int_gradfree, "cmaes": int_cmaes, "pycma": int_pycma}


# -- tasks ----------------------------------------------------------------------------
def run_task(task: tuple[str, str, int]) -> dict:
    """All solvers of one benchmark on one problem and seed."""
    bench, name, seed = task
    if bench == "constrained":
        p, runners, budget = CON_PROBLEMS[name], CON_RUNNERS, CON_BUDGET * CON_PROBLEMS[name].d
    else:
        p, runners, budget = INT_PROBLEMS[name], INT_RUNNERS, INT_BUDGET * INT_PROBLEMS[name].d
    out = {"benchmark": bench, "problem": name, "d": p.d, "seed": seed, "solvers": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycma's and gradfree's numerical notes
        for solver, runner in runners.items():
            start = time.perf_counter()
            r = runner(p, seed, budget)
            r["wall_s"] = round(time.perf_counter() - start, 3)
            out["solvers"][solver] = r
    return out


# -- summary --------------------------------------------------------------------------
def _median(xs: list[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def summarize(runs: list[dict], bench: str, problems: dict, solvers: tuple) -> dict:
    out = {}
    for name, p in problems.items():
        rs = [r for r in runs if r["benchmark"] == bench and r["problem"] == name]
        if not rs:
            continue
        row: dict = {"d": p.d, "fstar": p.fstar, "text": p.text, "runs": len(rs)}
        for s in solvers:
            hits = [r["solvers"][s]["hit_at"] for r in rs if r["solvers"][s]["hit_at"] is not None]
            entry = {
                "success_rate": len(hits) / len(rs),
                "median_evals_to_target": _median(hits),
                "median_evals": _median([r["solvers"][s]["evals"] for r in rs]),
            }
            if bench == "constrained":
                errs = [r["solvers"][s]["best_feasible_error"] for r in rs]
                med = _median([math.inf if e is None else e for e in errs])
                entry["median_best_feasible_error"] = None if med is None else _finite(med)
                ret = [r["solvers"][s]["returned"] for r in rs]
                entry["returned_feasible_rate"] = sum(v["max_violation"] <= 0 for v in ret) / len(
                    ret
                )
                entry["median_returned_f_error"] = _median([v["f_error"] for v in ret])
                # generations: gradfree evaluates lam candidates + the mean, pycma lam
                per_gen = 4 + int(3 * math.log(p.d)) + (s == "gradfree")
                entry["median_generations_to_target"] = _median(
                    [math.ceil(h / per_gen) for h in hits]
                )
                entry["median_first_feasible_at"] = _median(
                    [
                        r["solvers"][s]["first_feasible_at"]
                        for r in rs
                        if r["solvers"][s]["first_feasible_at"] is not None
                    ]
                )
            else:
                entry["median_best_error"] = _median([r["solvers"][s]["best_error"] for r in rs])
            row[s] = entry
        for s in solvers[1:]:
            a, b = row["gradfree"]["median_evals_to_target"], row[s]["median_evals_to_target"]
            row[f"ratio_gradfree_{s}"] = a / b if a is not None and b is not None else None
        out[name] = row
    return out


def _fmt(x: float | None, spec: str = ".0f") -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return format(x, spec)


def markdown(report: dict) -> str:
    res = report["results"]
    lines = [
        f"Constrained problems: budget {CON_BUDGET} d, success = first feasible point with "
        f"f - f* <= {CON_RTOL:g} max(1, |f*|); evaluations: median over the successful "
        "runs; error: median best feasible f - f*",
        "",
        "| problem | d | success gradfree / pycma | evals gradfree | evals pycma | ratio "
        "| error gradfree | error pycma |",
        "|:---|---:|:---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in res["constrained"].items():
        g, c = row["gradfree"], row["pycma"]
        lines.append(
            f"| ({name}) {row['text']} | {row['d']} | {g['success_rate']:.0%} / "
            f"{c['success_rate']:.0%} | {_fmt(g['median_evals_to_target'])} | "
            f"{_fmt(c['median_evals_to_target'])} | {_fmt(row['ratio_gradfree_pycma'], '.2f')} | "
            f"{_fmt(g['median_best_feasible_error'], '.1e')} | "
            f"{_fmt(c['median_best_feasible_error'], '.1e')} |"
        )
    lines += [
        "",
        f"Mixed-integer problems: budget {INT_BUDGET} d, success = f - f* <= {INT_TOL:g}; "
        "evaluations: median over the successful runs",
        "",
        "| problem | d | success gradfree / CMAwM / pycma | evals gradfree | evals CMAwM "
        "| evals pycma | ratio vs CMAwM | ratio vs pycma |",
        "|:---|---:|:---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in res["mixed_integer"].items():
        g, w, c = row["gradfree"], row["cmaes"], row["pycma"]
        lines.append(
            f"| ({name}) {row['text']} | {row['d']} | {g['success_rate']:.0%} / "
            f"{w['success_rate']:.0%} / {c['success_rate']:.0%} | "
            f"{_fmt(g['median_evals_to_target'])} | {_fmt(w['median_evals_to_target'])} | "
            f"{_fmt(c['median_evals_to_target'])} | {_fmt(row['ratio_gradfree_cmaes'], '.2f')} | "
            f"{_fmt(row['ratio_gradfree_pycma'], '.2f')} |"
        )
    return "\n".join(lines)


def dumps(report: dict) -> str:
    """JSON with indent 2 and one line per run."""
    runs = report["runs"]
    head = json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2)
    lines = ",\n".join("    " + json.dumps(r) for r in runs)
    return head[:-2] + ',\n  "runs": [\n' + lines + "\n  ]\n}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 1..n")
    parser.add_argument("--workers", type=int, default=2, help="processes over tasks")
    parser.add_argument("--out", type=Path, help="default: results/constrained[_quick].json")
    parser.add_argument("--quick", action="store_true", help="3 seeds")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = 3
    out = args.out or RESULTS / f"constrained{'_quick' if args.quick else ''}.json"
    fstar_check = check_fstar_e()
    seeds = list(range(1, args.seeds + 1))
    tasks = [("constrained", n, s) for n in CON_PROBLEMS for s in seeds]
    tasks += [("mixed_integer", n, s) for n in INT_PROBLEMS for s in seeds]
    tasks.sort(key=lambda t: -(CON_PROBLEMS if t[0] == "constrained" else INT_PROBLEMS)[t[1]].d)

    start = time.perf_counter()
    load_before = os.getloadavg()
    done: list[dict] = []

    def progress(r: dict) -> None:
        done.append(r)
        cells = " ".join(
            f"{n}={s['hit_at'] if s['hit_at'] is not None else 'miss'}/{s['evals']}"
            for n, s in r["solvers"].items()
        )
        print(
            f"[{len(done)}/{len(tasks)} {time.perf_counter() - start:.0f}s] "
            f"{r['benchmark']} ({r['problem']}) seed {r['seed']}: {cells}",
            file=sys.stderr,
            flush=True,
        )

    if args.workers > 1:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            for r in pool.imap_unordered(run_task, tasks):
                progress(r)
    else:
        for task in tasks:
            progress(run_task(task))
    done.sort(key=lambda r: (r["benchmark"], r["problem"], r["seed"]))

    report = {
        "benchmark": "constrained",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            **machine_info(),
            "load_average_1_5_15min_before": load_before,
            "load_average_1_5_15min_after": os.getloadavg(),
        },
        "versions": {
            "gradfree": gradfree.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pycma": cma.__version__,
            "cmaes": cmaes.__version__,
        },
        "settings": {
            "seeds": seeds,
            "workers": args.workers,
            "quick": args.quick,
            "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
            "constrained": {
                "budget": f"{CON_BUDGET} * d evaluations (one f and one g per point)",
                "success": f"feasible (all g <= 0) and f - f* <= {CON_RTOL} max(1, |f*|)",
                "gradfree": "minimize(f, x0, method='cma-es', constraints="
                "NonlinearConstraint(g, -inf, 0), rng=seed, maxfev=budget, "
                "options={'sigma0': sigma0}); the mean evaluated each generation counts",
                "pycma": "cma.fmin_con2(f, x0, sigma0, constraints=g, options={'seed': seed, "
                "'verbose': -9, 'maxfevals': budget}); evaluations past the budget ignored",
                "returned": "gradfree result.x, pycma xfavorite (fmin_con2's x)",
                "fstar_e_check": fstar_check,
                "problems": {
                    n: {"d": p.d, "fstar": p.fstar, "x0": p.x0, "sigma0": p.sigma0, "text": p.text}
                    for n, p in CON_PROBLEMS.items()
                },
            },
            "mixed_integer": {
                "budget": f"{INT_BUDGET} * d evaluations; each run stops at the target",
                "success": f"f - f* <= {INT_TOL}",
                "gradfree": "minimize(f, x0, method='cma-es', integrality=mask, bounds=..., "
                "rng=seed, maxfev=budget, options={'sigma0': sigma0})",
                "cmaes": "CMAwM(mean=x0, sigma=sigma0, bounds, steps=mask, seed=seed)",
                "pycma": "CMAEvolutionStrategy(x0, sigma0, {'integer_variables': idx, "
                "'bounds': [lb, ub], 'seed': seed, 'maxfevals': budget, 'ftarget': f* + tol})",
                "problems": {
                    n: {
                        "d": p.d,
                        "fstar": p.fstar,
                        "integer": [i for i, m in enumerate(p.mask) if m],
                        "lower": [_finite(v) for v in p.lower],
                        "upper": [_finite(v) for v in p.upper],
                        "x0": list(p.x0),
                        "sigma0": p.sigma0,
                        "text": p.text,
                    }
                    for n, p in INT_PROBLEMS.items()
                },
            },
        },
        "results": {
            "constrained": summarize(done, "constrained", CON_PROBLEMS, CON_SOLVERS),
            "mixed_integer": summarize(done, "mixed_integer", INT_PROBLEMS, INT_SOLVERS),
        },
        "wall_s": round(time.perf_counter() - start, 1),
        "runs": done,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(report) + "\n")
    print(markdown(report))
    print(f"\nwrote {out} ({report['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
