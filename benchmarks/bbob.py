"""COCO ``bbob``: gradfree's IPOP-CMA-ES against pycma and cmaes under one restart harness.

Every problem of ``cocoex.Suite("bbob", "", "dimensions: 2,5,10 instance_indices: 1-5")``
(24 functions x 3 dimensions x 5 instances, one run per instance) is solved by three
solvers in the same run, all with the same harness (as in ``refs/es.md`` section 4.2):
``x0 = problem.initial_solution``, ``sigma0 = 2``, the library's default population
``4 + floor(3 ln d)`` first; whenever the library's own stop rules end a run, restart
from a point drawn uniformly in ``[-4, 4]^d`` with the population doubled (IPOP, at most
50 restarts), until the budget of ``1000 d`` evaluations is used or the final target
``f - f_opt <= 1e-8`` is hit:

- *gradfree*: ``minimize(batch, x0, method=CMAES(sigma0=2.0), rng=seed,
  workers="vectorized", maxfev=budget, options={"restarts": "ipop", "max_restarts": 50,
  "restart_x0": lambda rng: rng.uniform(-4, 4, d)})``; the batch objective loops over
  the rows, and a callback raises ``StopIteration`` at the final target;
- *pycma*: ``cma.CMAEvolutionStrategy(x0, 2, {"verbose": -9, "verb_log": 0,
  "maxfevals": remaining, "ftarget": f_opt + 1e-8, "seed": ...})`` looped to
  ``es.stop()``, restarts by hand;
- *cmaes*: ``cmaes.CMA(mean=x0, sigma=2, population_size=lam, seed=...)`` looped to
  ``should_stop()`` (or the final target), restarts by hand.

gradfree's driver never starts a generation that would overrun the budget; the pycma and
cmaes loops follow the same rule, so all three spend at most ``1000 d`` evaluations.
Every evaluation's value is recorded. ``f_opt`` is ``problem.final_target_fvalue1 -
1e-8`` where cocoex has that attribute, else ``cocoex.BareProblem(...).best_value()``
(coco-experiment 2.8.2 lacks the attribute); a target ``t`` counts as reached at the
first evaluation with ``f <= f_opt + t``.

Metrics (cocopp's definitions), over the 51 targets ``10^2, 10^1.8, ..., 10^-8``:

- *fraction solved* at ``10 d``, ``100 d``, ``1000 d`` evaluations: the share of
  (function, instance, target) triples whose target was reached within that many
  evaluations (the runtime ECDF), per dimension and over all dimensions;
- *ERT* (f, d, target) = (evaluations to the target in the successful runs + all
  evaluations of the unsuccessful ones) / number of successful runs (inf without one);
- head-to-head: the geometric mean of ``ERT_gradfree / ERT_pycma`` (and cmaes / pycma)
  over the (function, dimension, target) triples both solve, and the (f, d) where
  gradfree's ERT at 1e-8 is worse than pycma's. The project's target: gradfree's
  fraction solved >= pycma's and the ERT ratio <= 1.

The JSON also keeps every run's runtimes (evaluations to each target, easiest first; the
reached targets are always the first ones, so the list stops at the first target not
reached) and, for each solver, how its runs ended (stop rule, generations per restart),
to spot stop rules that fire too early.

Tasks (function, dimension, instance) run in ``--workers`` processes (each builds its
own cocoex Suite); BLAS/OpenMP threads are pinned to 1 before NumPy is imported. Usage::

    python benchmarks/bbob.py          # full run -> results/bbob.json
    python benchmarks/bbob.py --quick  # smoke run -> results/bbob_quick.json
    python benchmarks/bbob.py --dims 2,5 --functions 1-5 --instances 1-2 --out x.json
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

SOLVERS = ("gradfree", "pycma", "cmaes")
REFERENCE = "pycma"
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
def run_gradfree(rec: Recorder, x0: np.ndarray, budget: int, seed: int) -> list[dict]:
    """One `gradfree.minimize` call; IPOP through ``options={"restarts": "ipop", ...}``."""
    d = x0.shape[0]

    def callback(result: object) -> None:
        if rec.hit:
            raise StopIteration

    res = minimize(
        rec.batch,
        x0,
        method=CMAES(sigma0=SIGMA0),
        rng=seed,
        workers="vectorized",
        maxfev=budget,
        callback=callback,
        options={
            "restarts": "ipop",
            "max_restarts": MAX_RESTARTS,
            "restart_x0": lambda rng: rng.uniform(-BOX, BOX, d),
        },
    )
    if res.nfev != len(rec.values):
        raise RuntimeError(f"gradfree counted {res.nfev} evaluations, recorded {len(rec.values)}")
    state = res.state
    records = state.restarts
    segments = []
    prev_gen, prev_eval, popsize = 0, 0, None
    for r in records:
        lam = popsize if popsize is not None else state.base_popsize
        segments.append(_segment(lam, prev_eval, r.evaluations, r.generation - prev_gen, r.reason))
        prev_gen, prev_eval, popsize = r.generation, r.evaluations, r.popsize
    if state.pending:  # stopped by a rule; the restart did not fit in the budget
        last = state.pending
    elif res.status == Status.CALLBACK:
        last = "ftarget"
    elif res.status == Status.MAXFEV:
        last = "budget"
    else:
        last = res.message
    lam = popsize if popsize is not None else state.base_popsize
    segments.append(_segment(lam, prev_eval, res.nfev, res.nit - prev_gen, last))
    return segments


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
}


def fopt_of(problem: object) -> float:
    """f_opt: from ``final_target_fvalue1`` where cocoex has it, else `BareProblem`."""
    final = getattr(problem, "final_target_fvalue1", None)
    if final is not None:
        return float(final) - FINAL_TARGET
    bare = cocoex.BareProblem("bbob", problem.id_function, problem.dimension, problem.id_instance)
    return float(bare.best_value())


def run_task(task: tuple[int, int, int, int]) -> dict:
    """All solvers on one problem (f, d, instance index); builds its own Suite."""
    f, d, index, budget_mult = task
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
        for name, runner in RUNNERS.items():
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
def ert(runs: list[dict], j: int) -> float:
    """Expected runtime to target j over the instances' runs of one solver."""
    successes = sum(j < len(r["runtimes"]) for r in runs)
    if not successes:
        return math.inf
    spent = sum(r["runtimes"][j] if j < len(r["runtimes"]) else r["evals"] for r in runs)
    return spent / successes


def fraction_solved(runs: list[dict], budget: float) -> float:
    """Share of (run, target) pairs reached within `budget` evaluations."""
    hits = sum(rt <= budget for r in runs for rt in r["runtimes"])
    return hits / (len(runs) * TARGETS.size) if runs else math.nan


def summarize(tasks: list[dict], dims: list[int], functions: list[int]) -> dict:
    """Fractions solved, ERT tables, head-to-head and stop diagnostics."""
    by = defaultdict(list)  # (solver, f, d) -> runs
    for t in tasks:
        for name in SOLVERS:
            by[name, t["f"], t["d"]].append(t["solvers"][name])
    summary = {}
    for name in SOLVERS:
        per_dim = {}
        for d in dims:
            runs = [r for f in functions for r in by[name, f, d]]
            per_dim[str(d)] = {f"{m}d": fraction_solved(runs, m * d) for m in BUDGET_MULTS}
        overall = {}
        for m in BUDGET_MULTS:
            hits = total = 0
            for d in dims:
                runs = [r for f in functions for r in by[name, f, d]]
                hits += fraction_solved(runs, m * d) * len(runs) * TARGETS.size
                total += len(runs) * TARGETS.size
            overall[f"{m}d"] = hits / total
        runs = [r for key, rs in by.items() if key[0] == name for r in rs]
        summary[name] = {
            "fraction_solved": {"per_dim": per_dim, "all": overall},
            "final_target_hits": sum(r["hit_final"] for r in runs),
            "runs": len(runs),
            "evaluations": sum(r["evals"] for r in runs),
            "wall_s": sum(r["wall_s"] for r in runs),
        }

    erts = {
        name: {
            (f, d): [ert(by[name, f, d], j) for j in range(TARGETS.size)]
            for f in functions
            for d in dims
        }
        for name in SOLVERS
    }
    table_idx = [int(np.argmin(np.abs(TARGETS - t))) for t in TABLE_TARGETS]
    ert_table = [
        {
            "f": f,
            "d": d,
            **{
                name: {f"{TARGETS[j]:.0e}": _finite(erts[name][f, d][j]) for j in table_idx}
                for name in SOLVERS
            },
        }
        for d in dims
        for f in functions
    ]

    head_to_head = {}
    for name in SOLVERS:
        if name == REFERENCE:
            continue
        ratios, only_ref, only_this = [], 0, 0
        per_dim_ratios: dict[int, list[float]] = defaultdict(list)
        for (f, d), row in erts[name].items():
            for a, b in zip(row, erts[REFERENCE][f, d]):
                if math.isfinite(a) and math.isfinite(b):
                    ratios.append(a / b)
                    per_dim_ratios[d].append(a / b)
                elif math.isfinite(b):
                    only_ref += 1
                elif math.isfinite(a):
                    only_this += 1
        j = TARGETS.size - 1
        behind = {
            str(d): [f for f in functions if erts[name][f, d][j] > erts[REFERENCE][f, d][j]]
            for d in dims
        }
        ahead = {
            str(d): [f for f in functions if erts[name][f, d][j] < erts[REFERENCE][f, d][j]]
            for d in dims
        }
        head_to_head[f"{name}_vs_{REFERENCE}"] = {
            "ert_ratio_geomean": _geomean(ratios),
            "ert_ratio_median": statistics.median(ratios) if ratios else None,
            "ert_ratio_geomean_per_dim": {str(d): _geomean(r) for d, r in per_dim_ratios.items()},
            "triples_both_solved": len(ratios),
            f"triples_only_{REFERENCE}": only_ref,
            f"triples_only_{name}": only_this,
            "behind_at_1e-8": behind,
            "behind_at_1e-8_count": {d: len(fs) for d, fs in behind.items()},
            "ahead_at_1e-8": ahead,
            "ahead_at_1e-8_count": {d: len(fs) for d, fs in ahead.items()},
        }
    ref = summary[REFERENCE]["fraction_solved"]["all"]["1000d"]
    gf = summary["gradfree"]["fraction_solved"]["all"]["1000d"]
    ratio = head_to_head[f"gradfree_vs_{REFERENCE}"]["ert_ratio_geomean"]
    target = {
        "fraction_solved_at_least_pycma": gf >= ref,
        "ert_ratio_at_most_1": ratio is not None and ratio <= 1.0,
    }
    target["met"] = all(target.values())
    return {
        "summary": summary,
        "ert_table": ert_table,
        "head_to_head": head_to_head,
        "project_target": target,
        "restart_diagnostics": {name: diagnostics(tasks, name) for name in SOLVERS},
    }


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
    res = report["results"]
    rows = [
        "| solver | "
        + " | ".join(f"d={d} (10d / 100d / 1000d)" for d in dims)
        + " | all, 1000d |",
        "|:---|" + "---:|" * (len(dims) + 1),
    ]
    for name in SOLVERS:
        fs = res["summary"][name]["fraction_solved"]
        cells = [
            " / ".join(f"{fs['per_dim'][str(d)][f'{m}d']:.3f}" for m in BUDGET_MULTS) for d in dims
        ]
        rows.append(f"| {name} | " + " | ".join(cells) + f" | **{fs['all']['1000d']:.3f}** |")
    lines = ["Fraction of (function, instance, target) pairs solved", "", *rows, ""]
    for key, h in res["head_to_head"].items():
        name = key.split("_vs_")[0]
        per_dim = ", ".join(f"d={d}: {v:.3f}" for d, v in h["ert_ratio_geomean_per_dim"].items())
        behind = "; ".join(f"d={d}: {fs}" for d, fs in h["behind_at_1e-8"].items())
        lines.append(
            f"- {name} / {REFERENCE}: ERT ratio geomean {h['ert_ratio_geomean']:.3f} over "
            f"{h['triples_both_solved']} (f, d, target) triples ({per_dim}); solved only by "
            f"{REFERENCE}: {h[f'triples_only_{REFERENCE}']}, only by {name}: "
            f"{h[f'triples_only_{name}']}; worse ERT at 1e-8 on "
            f"{sum(h['behind_at_1e-8_count'].values())} (f, d): {behind}"
        )
    t = res["project_target"]
    lines += ["", f"project target met: {t['met']} ({t})", ""]
    lines += [
        "ERT/d at 1e-8 (inf: no instance reached it)",
        "",
        "| f | d | " + " | ".join(SOLVERS) + " |",
        "|---:|---:|" + "---:|" * len(SOLVERS),
    ]
    for row in res["ert_table"]:
        cells = []
        for name in SOLVERS:
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
    args = parser.parse_args(argv)
    if args.quick:
        args.dims, args.instances, args.functions = (QUICK[k] for k in QUICK)
    out = args.out or RESULTS / f"bbob{'_quick' if args.quick else ''}.json"

    # largest dimension first, so that the long tasks do not trail at the end
    tasks = [
        (f, d, i, args.budget_mult)
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
            "budget_rule": "no solver starts a generation that would overrun the budget",
            "workers": args.workers,
            "quick": args.quick,
            "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
        },
        "results": summarize(done, sorted(args.dims), args.functions),
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
