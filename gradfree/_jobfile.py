"""Job files: a TOML file read as data (`tomllib`), validated into a `Job`.

A job file (read with the standard library's `tomllib`; nothing is evaluated)::

    objective = "sphere"          # a name in gradfree.testing.PROBLEMS, or "module:function"
    dim = 10                      # or x0 = [1.0, 2.0, ...]; x0_value fills dim (default 0.0)
    x0_value = 1.0
    bounds = [-5.0, 5.0]          # one (low, high) pair for all, or one pair per coordinate
    method = "cma-es"             # a key of gradfree.METHODS
    seed = 0
    maxfev = 20000                # budgets: maxfev, maxiter, walltime (seconds)
    workers = 1                   # 1, an int for joblib, "vectorized", or "dask://host:8786"
    timeout = 600                 # seconds per evaluation (needs joblib or Dask workers)
    output = "run"                # directory for result.json, history.csv, convergence.png

    [options]                     # hyperparameters of the method
    popsize = 16

    [checkpoint]                  # default: <output>/checkpoint.npz after every generation
    every = 10                    # generations
    seconds = 600

``module:function`` is **imported** (it runs that module's code, as any Python import
does): the module must be importable, from the ``PYTHONPATH`` or the job file's
directory. Relative paths are relative to the job file. ``walltime`` is checked
between generations: the run saves its checkpoint and stops with ``Status.WALLTIME``
and a message naming the walltime; ``gradfree resume`` continues it exactly.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Job", "find_job_file", "load_job", "parse_job", "resolve_objective"]

_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "objective": ((str,), "a str: a bundled problem name or 'module:function'"),
    "x0": ((list,), "a list of numbers"),
    "dim": ((int,), "an int >= 1"),
    "x0_value": ((int, float), "a number"),
    "bounds": ((list,), "[low, high] or a list of [low, high] pairs"),
    "method": ((str,), "a method name"),
    "options": ((dict,), "a table of method options"),
    "seed": ((int,), "an int >= 0"),
    "maxfev": ((int,), "an int >= 1"),
    "maxiter": ((int,), "an int >= 1"),
    "walltime": ((int, float), "a number of seconds >= 0"),
    "tol": ((int, float), "a number >= 0"),
    "workers": ((int, str), "an int, 'vectorized' or 'dask://host:port'"),
    "timeout": ((int, float), "a number of seconds > 0"),
    "on_error": ((str,), "'raise' or 'nan'"),
    "output": ((str,), "a directory path"),
    "checkpoint": ((dict,), "a table with path, every, seconds"),
}
_CHECKPOINT_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "path": ((str,), "a file path"),
    "every": ((int,), "an int >= 1 (generations)"),
    "seconds": ((int, float), "a number >= 0"),
}


@dataclass(frozen=True)
class Job:
    """A validated job file; paths are absolute. ``raw`` is what the checkpoint stores."""

    objective: str
    x0: tuple[float, ...]
    bounds: Any
    method: str
    options: dict[str, Any]
    seed: int | None
    maxfev: int | None
    maxiter: int | None
    walltime: float | None
    tol: float | None
    workers: Any
    timeout: float | None
    on_error: str
    output: Path
    checkpoint: Path
    checkpoint_every: int | None
    checkpoint_seconds: float | None

    def to_meta(self) -> dict[str, Any]:
        """JSON-able form, stored in the checkpoint so ``gradfree resume`` can rebuild it."""
        meta = {
            "objective": self.objective,
            "x0": list(self.x0),
            "bounds": self.bounds,
            "method": self.method,
            "options": self.options,
            "seed": self.seed,
            "maxfev": self.maxfev,
            "maxiter": self.maxiter,
            "walltime": self.walltime,
            "tol": self.tol,
            "workers": self.workers,
            "timeout": self.timeout,
            "on_error": self.on_error,
            "output": str(self.output),
            "checkpoint": {
                "path": str(self.checkpoint),
                "every": self.checkpoint_every,
                "seconds": self.checkpoint_seconds,
            },
        }
        meta["checkpoint"] = {k: v for k, v in meta["checkpoint"].items() if v is not None}
        return {k: v for k, v in meta.items() if v is not None}


def _check_type(table: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(table) - set(spec))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(spec)}.")
    for key, value in table.items():
        types, expect = spec[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise TypeError(f"{where}: `{key}` must be {expect}; got {value!r}.")


def _number_list(value: Any, key: str, where: str) -> list[float]:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise TypeError(f"{where}: `{key}` must be a list of numbers; got {value!r}.")
    return [float(v) for v in value]


def parse_job(table: Mapping[str, Any], *, base: Path | None = None, where: str = "job") -> Job:
    """Validate a parsed job table (see the module docstring); errors name the key.

    Parameters
    ----------
    table : dict
        The parsed TOML (or a job's stored ``to_meta()`` form).
    base : pathlib.Path, optional
        Directory that relative paths start from (default: the current directory).
    where : str, default='job'
        Prefix of error messages (the CLI passes the file name).

    Raises
    ------
    ValueError
        For an unknown or missing key or a bad value.
    TypeError
        For a value of the wrong type.

    Examples
    --------
    >>> job = parse_job({"objective": "sphere", "dim": 2, "x0_value": 1.0, "maxiter": 5})
    >>> job.x0, job.method, job.checkpoint.name
    ((1.0, 1.0), 'cma-es', 'checkpoint.npz')
    >>> parse_job({"objective": "sphere", "dim": 2, "maxiters": 5})
    Traceback (most recent call last):
    ...
    ValueError: job: unknown key(s) ['maxiters']; valid keys are ['bounds', 'checkpoint', \
'dim', 'maxfev', 'maxiter', 'method', 'objective', 'on_error', 'options', 'output', \
'seed', 'timeout', 'tol', 'walltime', 'workers', 'x0', 'x0_value'].
    """
    base = Path.cwd() if base is None else base
    table = dict(table)
    _check_type(table, _KEYS, where)
    if "objective" not in table:
        raise ValueError(f"{where}: `objective` is required.")
    objective = table["objective"]
    if ":" not in objective and objective not in _problems():
        raise ValueError(
            f"{where}: `objective` {objective!r} is neither 'module:function' nor one of "
            f"{sorted(_problems())}."
        )
    if ("x0" in table) == ("dim" in table):
        raise ValueError(f"{where}: give exactly one of `x0` and `dim`.")
    if "x0" in table:
        if "x0_value" in table:
            raise ValueError(f"{where}: `x0_value` goes with `dim`, not `x0`.")
        x0 = _number_list(table["x0"], "x0", where)
        if not x0:
            raise ValueError(f"{where}: `x0` must not be empty.")
    else:
        if table["dim"] < 1:
            raise ValueError(f"{where}: `dim` must be >= 1; got {table['dim']}.")
        x0 = [float(table.get("x0_value", 0.0))] * table["dim"]
    bounds = table.get("bounds")
    if bounds is not None:
        if all(isinstance(b, list) for b in bounds):
            bounds = [_number_list(b, "bounds", where) for b in bounds]
            if len(bounds) != len(x0) or any(len(b) != 2 for b in bounds):
                raise ValueError(
                    f"{where}: `bounds` needs one [low, high] pair per coordinate ({len(x0)})."
                )
        else:
            pair = _number_list(bounds, "bounds", where)
            if len(pair) != 2:
                raise ValueError(f"{where}: `bounds` must be [low, high]; got {bounds!r}.")
            bounds = [pair] * len(x0)
    for key, low in (("seed", 0), ("maxfev", 1), ("maxiter", 1)):
        if key in table and table[key] < low:
            raise ValueError(f"{where}: `{key}` must be >= {low}; got {table[key]}.")
    for key in ("walltime", "tol"):
        if key in table and not (math.isfinite(table[key]) and table[key] >= 0):
            raise ValueError(f"{where}: `{key}` must be finite and >= 0; got {table[key]}.")
    workers = table.get("workers", 1)
    if isinstance(workers, str):
        if workers == "mpi":
            pass  # mpi4py.futures workers; run under `mpirun ... python -m mpi4py.futures`
        elif workers.startswith("dask://"):
            if not re.fullmatch(r"dask://[^\s/:]+:\d+", workers):
                raise ValueError(
                    f"{where}: `workers` must be a Dask scheduler address "
                    f"'dask://host:port'; got {workers!r}."
                )
        elif workers != "vectorized":
            raise ValueError(
                f"{where}: `workers` must be an int, 'vectorized' or 'dask://host:port'; "
                f"got {workers!r}."
            )
    elif workers == 0 or workers < -1:
        raise ValueError(f"{where}: `workers` must be -1 or >= 1; got {workers}.")
    timeout = table.get("timeout")
    if timeout is not None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"{where}: `timeout` must be finite and > 0; got {timeout}.")
        if workers == 1 or workers == "vectorized":
            raise ValueError(
                f"{where}: `timeout` needs a process pool: set `workers` to an int > 1, -1 "
                "or a Dask scheduler address."
            )
    on_error = table.get("on_error", "raise")
    if on_error not in ("raise", "nan"):
        raise ValueError(f"{where}: `on_error` must be 'raise' or 'nan'; got {on_error!r}.")
    output = (base / table.get("output", "gradfree-run")).resolve()
    ckpt = dict(table.get("checkpoint", {}))
    _check_type(ckpt, _CHECKPOINT_KEYS, f"{where}: [checkpoint]")
    if ckpt.get("every") is not None and ckpt["every"] < 1:
        raise ValueError(f"{where}: [checkpoint] `every` must be >= 1; got {ckpt['every']}.")
    seconds = ckpt.get("seconds")
    if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{where}: [checkpoint] `seconds` must be >= 0; got {seconds}.")
    ckpt_path = (output / "checkpoint.npz") if "path" not in ckpt else base / ckpt["path"]
    options = json.loads(json.dumps(table.get("options", {})))  # plain, JSON-able values
    return Job(
        objective=objective,
        x0=tuple(x0),
        bounds=bounds,
        method=table.get("method", "cma-es"),
        options=options,
        seed=table.get("seed"),
        maxfev=table.get("maxfev"),
        maxiter=table.get("maxiter"),
        walltime=None if "walltime" not in table else float(table["walltime"]),
        tol=None if "tol" not in table else float(table["tol"]),
        workers=workers,
        timeout=None if timeout is None else float(timeout),
        on_error=on_error,
        output=output,
        checkpoint=ckpt_path.resolve(),
        checkpoint_every=ckpt.get("every"),
        checkpoint_seconds=None if seconds is None else float(seconds),
    )


def load_job(path: str | os.PathLike[str]) -> Job:
    """Read and validate a TOML job file (relative paths start at its directory).

    Raises
    ------
    ValueError, TypeError
        For invalid TOML, unknown keys or bad values, naming the file and the key.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError as exc:
            raise ImportError("job files need Python >= 3.11 or `pip install tomli`") from exc
    path = Path(path)
    try:
        with path.open("rb") as f:
            table = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from exc
    return parse_job(table, base=path.resolve().parent, where=str(path))


def _problems() -> dict[str, Callable[..., Any]]:
    from .testing import PROBLEMS

    return dict(PROBLEMS)


def resolve_objective(spec: str, *, search: Path | None = None) -> Callable[..., Any]:
    """The objective of ``spec``: a bundled problem name, or ``module:function`` (imported).

    Examples
    --------
    >>> resolve_objective("sphere").__name__, resolve_objective("math:fsum").__name__
    ('sphere', 'fsum')
    """
    problems = _problems()
    if spec in problems:
        return problems[spec]
    module, _, name = spec.partition(":")
    if not re.match(r"^[A-Za-z_][\w.]*$", module) or not re.match(r"^[A-Za-z_][\w.]*$", name):
        raise ValueError(f"`objective` must be 'module:function'; got {spec!r}.")
    if search is not None and str(search) not in sys.path:
        sys.path.insert(0, str(search))
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"`objective` {spec!r} cannot be imported: {exc}") from exc
    if not callable(obj):
        raise ValueError(f"`objective` {spec!r} is not callable.")
    return obj  # type: ignore[no-any-return]


def find_job_file(checkpoint: str | os.PathLike[str]) -> Path:
    """The job file beside `checkpoint` (in its directory or the one above) naming it.

    A candidate is a ``.toml`` job file whose own ``checkpoint`` path (its default:
    ``<output>/checkpoint.npz``) is `checkpoint`; the checkpoint itself is never asked.

    Raises
    ------
    ValueError
        When no such job file, or more than one, is found: pass ``--job``.
    """
    target = Path(checkpoint).resolve()
    found = []
    for directory in dict.fromkeys((target.parent, target.parent.parent)):
        for candidate in sorted(directory.glob("*.toml")):
            try:
                if load_job(candidate).checkpoint == target:
                    found.append(candidate)
            except (ValueError, TypeError, OSError):
                continue
    if len(found) != 1:
        which = "no job file" if not found else f"{len(found)} job files ({found})"
        raise ValueError(
            f"{which} beside {os.fspath(checkpoint)!r} names it as its checkpoint; pass the "
            "job file with --job (gradfree resume CHECKPOINT --job job.toml)."
        )
    return found[0]
