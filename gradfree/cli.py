"""The ``gradfree`` command line.

- ``gradfree demo`` runs every method on bundled problems;
- ``gradfree run job.toml`` runs a batch job (see `gradfree._job` for the job file) and
  writes ``result.json``, ``history.csv`` and ``convergence.png`` into its output
  directory, checkpointing as it goes;
- ``gradfree resume JOB.toml`` (or ``CHECKPOINT [--job JOB.toml]``) continues such a
  job exactly where it stopped, with the objective of the job file, never one named by
  the checkpoint;
- ``gradfree plot RUN_DIR`` draws ``convergence.png`` from ``history.csv``.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ._history import plot_run
from ._minimize import METHODS, minimize
from ._result import Status
from ._version import __version__
from .testing import Rotated, ellipsoid, problem_for, rosenbrock, sphere

__all__ = ["main", "plot_run"]


def _demo_problems() -> list[tuple[str, Callable[..., Any], np.ndarray]]:
    return [
        ("sphere", sphere, np.full(10, 1.0)),
        ("rotated ellipsoid (cond 1e6)", Rotated(ellipsoid, 10, seed=0), np.full(10, 1.0)),
        ("rosenbrock", rosenbrock, np.zeros(2)),
    ]


def _rule(res: Any) -> str:
    """The stop rule in a word: the method's rule name, else the status name."""
    head = res.message.split(":", 1)[0]
    return head if ":" in res.message and " " not in head else Status(res.status).name.lower()


def demo(maxfev: int = 20_000, seed: int = 0, out: TextIO | None = None) -> list[dict[str, Any]]:
    """Run every registered method on the bundled problems and print a table.

    Parameters
    ----------
    maxfev : int, default=20000
        Evaluations per run.
    seed : int, default=0
        Seed of every run.
    out : file-like, optional
        Where the table goes (default: standard output).

    Returns
    -------
    list of dict
        One row per (method, problem).

    Examples
    --------
    >>> import io
    >>> rows = demo(maxfev=400, out=io.StringIO())
    >>> sorted(rows[0])
    ['d', 'f(x0)', 'fun', 'method', 'nfev', 'problem', 'seconds', 'status']
    """
    stream = sys.stdout if out is None else out
    rows = []
    for name, cls in sorted(METHODS.items()):
        for label, fun, x0 in _demo_problems():
            if getattr(cls, "vector_values", False):
                fun, label = problem_for(cls), "residual x - 1"
            start = time.perf_counter()
            res = minimize(fun, x0, method=name, rng=seed, maxfev=maxfev, workers="vectorized")
            rows.append(
                {
                    "method": name,
                    "problem": label,
                    "d": x0.shape[0],
                    "f(x0)": float(np.sum(fun(x0))),
                    "fun": res.fun,
                    "nfev": res.nfev,
                    "seconds": time.perf_counter() - start,
                    "status": _rule(res),
                }
            )
    header = (
        f"{'method':<12} {'problem':<30} {'d':>3} {'f(x0)':>10} {'best f':>10} "
        f"{'nfev':>7} {'time/s':>7}  stop"
    )
    print(header, file=stream)
    print("-" * len(header), file=stream)
    for r in rows:
        print(
            f"{r['method']:<12} {r['problem']:<30} {r['d']:>3} {r['f(x0)']:>10.3g} "
            f"{r['fun']:>10.3g} {r['nfev']:>7} {r['seconds']:>7.2f}  {r['status']}",
            file=stream,
        )
    return rows


def _summary(res: Any, output: Path) -> str:
    status = Status(res.status).name.lower()
    return (
        f"{status}: {res.message}\n"
        f"fun = {res.fun:.6g}   nit = {res.nit}   nfev = {res.nfev}\n"
        f"outputs in {output}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gradfree`` console script."""
    parser = argparse.ArgumentParser(
        prog="gradfree", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"gradfree {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="run every method on bundled problems")
    p_demo.add_argument("--maxfev", type=int, default=20_000, help="evaluations per run")
    p_demo.add_argument("--seed", type=int, default=0)
    p_run = sub.add_parser("run", help="run a TOML job file")
    p_run.add_argument("job", help="job file (TOML)")
    p_run.add_argument("--progress", action="store_true", help="show a tqdm progress bar")
    p_resume = sub.add_parser(
        "resume",
        help="continue a job from its checkpoint",
        description=(
            "Continue a job exactly where it stopped. The objective, method and output "
            "directory come from the job file (never from the checkpoint, which only "
            "gives the run's progress and must agree with the job file). Give the job "
            "file, or the checkpoint and --job; with a checkpoint alone, the job file "
            "beside it (in its directory or the one above) that names it is used."
        ),
    )
    p_resume.add_argument("checkpoint", help="the job file, or a checkpoint it wrote")
    p_resume.add_argument("--job", help="the job file (TOML) that started the run")
    p_resume.add_argument("--progress", action="store_true", help="show a tqdm progress bar")
    p_plot = sub.add_parser("plot", help="draw convergence.png from a run's history.csv")
    p_plot.add_argument("run_dir", help="output directory of `gradfree run`")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    if args.command == "demo":
        if args.maxfev < 1:
            parser.error("--maxfev must be >= 1")
        demo(maxfev=args.maxfev, seed=args.seed)
        return 0
    from ._job import find_job_file, load_job, resume_job, run_job

    progress = bool(getattr(args, "progress", False))
    if progress:
        try:
            import tqdm  # noqa: F401
        except ImportError:
            logging.getLogger(__name__).warning("tqdm is not installed: no progress bar.")
            progress = False
    try:
        if args.command == "run":
            job = load_job(args.job)
            res = run_job(job, progress=progress, search=Path(args.job).resolve().parent)
        elif args.command == "resume":
            checkpoint: Path | None = Path(args.checkpoint)
            if checkpoint is not None and checkpoint.suffix == ".toml":
                if args.job is not None:
                    parser.error("give the job file once: `resume JOB.toml` or `--job`")
                job_file, checkpoint = checkpoint, None
            elif args.job is not None:
                job_file = Path(args.job)
            else:
                job_file = find_job_file(args.checkpoint)
            job = load_job(job_file)
            res = resume_job(
                job,
                checkpoint=checkpoint,
                progress=progress,
                search=job_file.resolve().parent,
            )
        else:
            try:
                out = plot_run(args.run_dir)
            except ImportError:
                print("gradfree plot needs matplotlib: pip install matplotlib", file=sys.stderr)
                return 1
            print(f"wrote {out}")
            return 0
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"gradfree {args.command}: error: {exc}", file=sys.stderr)
        return 2
    print(_summary(res, job.output))
    return 0 if not math.isnan(res.fun) else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
