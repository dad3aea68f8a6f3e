"""Run a gradfree optimization on a SLURM cluster through dask-jobqueue.

This script is the *driver*: run it on a login node or inside a small batch job
(see ``submit_driver.sbatch``). It asks SLURM for worker jobs, evaluates each
generation on them (one chunk of the population per worker), checkpoints every few
generations, and resumes from the checkpoint when started again after a preemption.

    pip install "gradfree[dask]" dask-jobqueue
    python dask_slurm.py --workers 8 --checkpoint run.npz

For PBS use ``dask_jobqueue.PBSCluster`` with the same arguments (``queue``,
``account``, ``walltime``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import gradfree


def expensive_objective(x: np.ndarray) -> float:
    """Stand-in for a simulation: replace with your model (it runs on the workers)."""
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8, help="SLURM worker jobs")
    parser.add_argument("--checkpoint", type=Path, default=Path("run.npz"))
    parser.add_argument("--dim", type=int, default=20)
    args = parser.parse_args()

    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster

    cluster = SLURMCluster(
        cores=1,  # one evaluation at a time per worker job
        processes=1,
        memory="4GB",
        walltime="02:00:00",
        queue="normal",  # your partition
        # account="my-project",
        job_extra_directives=["--requeue"],  # let SLURM requeue preempted workers
    )
    cluster.scale(jobs=args.workers)
    with Client(cluster) as client:
        client.wait_for_workers(1)
        keep = {"checkpoint_every": 5, "walltime": 3.5 * 3600, "timeout": 600}
        if args.checkpoint.exists():  # a previous driver was stopped: continue exactly
            res = gradfree.resume(args.checkpoint, expensive_objective, workers=client, **keep)
        else:
            res = gradfree.minimize(
                expensive_objective,
                np.zeros(args.dim),
                method="cma-es",
                options={"restarts": "ipop", "max_restarts": 4},
                rng=0,
                workers=client,  # lost workers are retried once
                maxfev=200_000,
                checkpoint=args.checkpoint,
                # every 5 generations; stop cleanly before the driver job's time limit;
                # an evaluation hanging for 10 minutes counts as failed
                **keep,
            )
    print(res.message, res.fun, res.nfev)


if __name__ == "__main__":
    main()
