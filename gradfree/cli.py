"""The ``gradfree`` command line.

- ``gradfree demo`` runs five short acts, one per family, beside the tools one would
  otherwise use (`gradfree.demo`), and draws ``demo.png``;
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._history import plot_run
from ._result import Status
from ._version import __version__

__all__ = ["main", "plot_run"]


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
    p_demo = sub.add_parser("demo", help="what each family is for, against the usual tools")
    p_demo.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    p_demo.add_argument("--maxfev", type=int, default=None, help="black-box evaluation budget")
    p_demo.add_argument("--seed", type=int, default=0)
    p_demo.add_argument("--figure", default="demo.png", help="figure path (needs matplotlib)")
    p_demo.add_argument("--no-figure", action="store_true", help="print the tables only")
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
        if args.maxfev is not None and args.maxfev < 1:
            parser.error("--maxfev must be >= 1")
        from .demo import run_demo

        figure = None if args.no_figure else args.figure
        run_demo(quick=args.quick, seed=args.seed, maxfev=args.maxfev, figure=figure)
        return 0
    from ._job import resume_job, run_job
    from ._jobfile import find_job_file, load_job

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
