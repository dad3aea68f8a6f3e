"""Act 5: a batch job that checkpoints, is interrupted, and resumes to the same result.

A TOML job file (the format of ``gradfree run``, `gradfree._job`) is written to a
temporary directory and run twice: once to the end, once with a `walltime` that
stops it between two generations, as a cluster's time limit would, after which
`gradfree.resume` continues from the checkpoint. Checkpoints hold the strategy's
state and the random generator, so the continued run is the uninterrupted one.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._job import run_job
from .._jobfile import load_job
from .._result import Status
from .._run import resume
from ..testing import rosenbrock
from ._table import Act, secs

__all__ = ["batch_act"]

_JOB = """\
objective = "rosenbrock"
dim = {dim}
x0_value = 0.5
method = "cma-es"
seed = {seed}
maxfev = {maxfev}
workers = "vectorized"
output = "{output}"
{walltime}
[checkpoint]
every = 10
"""


def _write(folder: Path, name: str, **fields: Any) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(_JOB.format(output=name, **fields))
    return path


def batch_act(*, quick: bool, seed: int, maxfev: int | None) -> Act:
    """Run the job whole, and interrupted + resumed; compare the two results."""
    start = time.perf_counter()
    budget = maxfev if maxfev is not None else (3000 if quick else 30_000)
    dim = 6 if quick else 10
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fields = {"dim": dim, "seed": seed, "maxfev": budget}
        t0 = time.perf_counter()
        whole = run_job(load_job(_write(folder, "whole", walltime="", **fields)))
        t_whole = time.perf_counter() - t0
        limit = t_whole / 4
        for attempt in itertools.count():  # shorter limits until one interrupts the run
            text = f"walltime = {limit:.6f}"  # (0 stops it after its first generation)
            job = load_job(_write(folder, f"cut{attempt}", walltime=text, **fields))
            t0 = time.perf_counter()
            cut = run_job(job)
            t_cut = time.perf_counter() - t0
            if cut.status == Status.WALLTIME:
                break
            limit = limit / 4 if limit > 1e-3 else 0.0
        files = sorted(p.name for p in job.output.iterdir())
        t0 = time.perf_counter()
        rest = resume(job.checkpoint, rosenbrock, workers="vectorized", checkpoint_every=10)
        t_rest = time.perf_counter() - t0
    same = bool(
        rest.fun == whole.fun and rest.nfev == whole.nfev and np.array_equal(rest.x, whole.x)
    )
    rows = [
        ["uninterrupted", whole.nit, whole.nfev, whole.fun, secs(t_whole)],
        [f"interrupted (walltime {limit:.2f} s)", cut.nit, cut.nfev, cut.fun, secs(t_cut)],
        ["resumed from the checkpoint", rest.nit, rest.nfev, rest.fun, secs(t_rest)],
    ]
    reading = (
        f"Resumed run equal to the uninterrupted one (x, f, nfev, bit for bit): {same}. "
        f"The job wrote {', '.join(files)}."
    )
    return Act(
        title="5. A batch job: checkpoint, interruption, resume",
        setting=(
            f"CMA-ES on the {dim}-d Rosenbrock function from a job file, budget {budget} "
            "evaluations, a checkpoint every 10 generations; the second run is stopped "
            "by its walltime and continued with gradfree.resume."
        ),
        header=["run", "generations", "evaluations", "best f", "seconds"],
        rows=rows,
        reading=reading,
        seconds=time.perf_counter() - start,
        plot={
            "whole": (whole.history["nfev"], whole.history["fun"]),
            "cut": (cut.history["nfev"], cut.history["fun"]),
            "rest": (rest.history["nfev"], rest.history["fun"]),
            "same": same,
        },
    )
