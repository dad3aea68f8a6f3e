"""Batch jobs: a `Job` (see `gradfree._jobfile`) -> a checkpointed run with ``result.json``
and ``history.csv``.

Resuming takes the code from the job file, never from the checkpoint:
``gradfree resume job.toml`` (or ``gradfree resume CHECKPOINT --job job.toml``, or the
checkpoint alone when exactly one job file beside it names it as its checkpoint). The
objective, method, options and output directory are the job file's; the job the
checkpoint recorded must agree with it on what shapes the run (`RUN_KEYS`), and is
otherwise ignored. See the threat model in `gradfree._checkpoint`.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from ._array import to_host
from ._atomic import atomic_write, remove_stale_temps
from ._checkpoint import read_metadata
from ._driver import Run
from ._history import HistoryWriter, plot_run
from ._jobfile import Job, resolve_objective
from ._random import check_rng
from ._result import Status
from ._runloop import _Saver, run_to_stop
from .evaluators import as_evaluator

__all__ = ["RUN_KEYS", "check_job_matches", "result_to_json", "resume_job", "run_job"]

logger = logging.getLogger(__name__)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return _json_safe(np.asarray(to_host(value)).tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def result_to_json(res: OptimizeResult, method: str) -> dict[str, Any]:
    """The `OptimizeResult` fields as JSON-safe data (non-finite floats become null).

    Examples
    --------
    >>> from gradfree._result import build_result
    >>> result_to_json(build_result(x=np.zeros(2), fun=0.0, nit=1, nfev=4), "cma-es")["x"]
    [0.0, 0.0]
    """
    out = {k: _json_safe(v) for k, v in res.items() if k != "state"}
    out["method"] = method
    if "status" in res:
        out["status_name"] = Status(res.status).name
    return out


def _write_outputs(job: Job, res: OptimizeResult, method: str) -> None:
    """``result.json`` and ``convergence.png``, each written atomically."""
    text = json.dumps(result_to_json(res, method), indent=2, allow_nan=False) + "\n"
    atomic_write(job.output / "result.json", lambda f: f.write(text.encode()))
    try:
        plot_run(job.output)
    except ImportError:
        logger.warning("matplotlib is not installed: convergence.png was not written.")


def _prepare(job: Job) -> None:
    """Create the output directories and remove what interrupted writes left there."""
    job.output.mkdir(parents=True, exist_ok=True)
    job.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    for name in ("result.json", "convergence.png"):
        remove_stale_temps(job.output / name)
    remove_stale_temps(job.checkpoint)


def run_job(job: Job, *, progress: bool = False, search: Path | None = None) -> OptimizeResult:
    """Run `job` from its start; writes the outputs into ``job.output``.

    Parameters
    ----------
    job : Job
        From `load_job` (the user's job file).
    progress : bool, default=False
        Show a tqdm progress bar.
    search : pathlib.Path, optional
        A directory to import a ``module:function`` objective from (the CLI passes the
        job file's directory).

    Returns
    -------
    scipy.optimize.OptimizeResult
    """
    from ._minimize import build_strategy

    fun = resolve_objective(job.objective, search=search)
    x0 = np.asarray(job.x0, dtype=np.float64)
    strategy = build_strategy(job.method, dict(job.options), job.bounds, x0)
    _prepare(job)
    writer = HistoryWriter(job.output / "history.csv", strategy, keep_until=None)
    logger.info(
        "running %s on %s, d=%d, output %s", job.method, job.objective, x0.size, job.output
    )
    try:
        state = Run(
            strategy,
            x0,
            rng=check_rng(job.seed),
            maxiter=job.maxiter,
            maxfev=job.maxfev,
            tol=job.tol,
        )
        res = _run_to_stop(job, state, fun, writer, progress)
    finally:
        writer.close()
    _write_outputs(job, res, job.method)
    return res


def _run_to_stop(
    job: Job, state: Run, fun: Any, writer: HistoryWriter, progress: bool
) -> OptimizeResult:
    saver = _Saver.create(
        job.checkpoint, job.checkpoint_every, job.checkpoint_seconds, job.walltime
    )
    if saver is not None:
        saver.job = job.to_meta()
    evaluator = as_evaluator(job.workers, timeout=job.timeout)
    try:
        return run_to_stop(
            state,
            evaluator,
            fun,
            on_error=job.on_error,
            callback=writer,
            progress=progress,
            saver=saver,
        )
    finally:
        evaluator.close()


#: What a job's checkpoint must agree on with the job file that resumes it.
RUN_KEYS = (
    *("objective", "x0", "bounds", "method", "options", "seed", "maxfev", "maxiter"),
    *("tol", "on_error"),
)


def check_job_matches(job: Job, checkpoint: str | os.PathLike[str]) -> None:
    """Refuse a checkpoint whose recorded job differs from `job` in what shapes the run.

    Only compared, never used: the objective, the method, the options and the output
    directory always come from `job`, the user's own file.

    Raises
    ------
    ValueError
        Naming the first key that differs, or when the checkpoint holds no job.
    """
    name = os.fspath(checkpoint)
    recorded = read_metadata(checkpoint).get("job")
    if not isinstance(recorded, dict):
        raise ValueError(
            f"checkpoint {name!r} holds no job description; resume it from Python with "
            "gradfree.resume(checkpoint, fun)."
        )
    mine = job.to_meta()
    for key in RUN_KEYS:
        if recorded.get(key) != mine.get(key):
            raise ValueError(
                f"checkpoint {name!r} was written by a job with `{key}` = "
                f"{recorded.get(key)!r}, but the job file has {mine.get(key)!r}: resume with "
                "the job file that started the run."
            )


def resume_job(
    job: Job,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = False,
    search: Path | None = None,
) -> OptimizeResult:
    """Continue `job` from its checkpoint: same outputs, the uninterrupted run's result.

    Everything that decides what runs comes from `job` (the user's job file): the
    objective, the method and its options, the output directory. The checkpoint gives
    only the run's progress (state, rng, counters), each value validated, and its
    recorded job must agree with `job` (`check_job_matches`); no name read from it is
    ever imported or called.

    Parameters
    ----------
    job : Job
        From `load_job`.
    checkpoint : path, optional
        Default: the job's own checkpoint path.
    progress : bool, default=False
    search : pathlib.Path, optional
        As in `run_job`.

    Returns
    -------
    scipy.optimize.OptimizeResult

    Raises
    ------
    ValueError
        For a corrupt, hostile or mismatched checkpoint, naming what does not fit.
    """
    from ._minimize import build_strategy
    from ._run import restore_run

    path = Path(job.checkpoint if checkpoint is None else checkpoint).resolve()
    check_job_matches(job, path)
    fun = resolve_objective(job.objective, search=search)
    x0 = np.asarray(job.x0, dtype=np.float64)
    strategy = build_strategy(job.method, dict(job.options), job.bounds, x0)
    restored = restore_run(path, fun, strategy=strategy)
    if not bool(np.array_equal(restored.x0, x0)):
        raise ValueError(f"checkpoint {os.fspath(path)!r}: `driver.x0` differs from the job's x0.")
    job = replace(job, checkpoint=path)
    _prepare(job)
    writer = HistoryWriter(job.output / "history.csv", strategy, keep_until=restored.nit)
    logger.info("resuming %s at generation %d from %s", job.method, restored.nit, path)
    try:
        res = _run_to_stop(job, restored, fun, writer, progress)
    finally:
        writer.close()
    _write_outputs(job, res, job.method)
    return res
