"""Checkpoints that never unpickle: ``.npz`` (``allow_pickle=False``) plus JSON metadata.

A checkpoint holds the format version, the gradfree and numpy versions, the method and
its configuration, the full strategy state, the rng state (``bit_generator.state``),
the driver's counters, best point and history, and optionally the job that started
the run (the CLI stores its job file there). Arrays are stored as ``.npz`` members;
everything else is JSON in the member ``__meta__`` (UTF-8 bytes as a ``uint8`` array),
encoded by `gradfree._codec`.

Arrays are saved from the host (`gradfree._array.to_host`). On loading, "device"
arrays go to the namespace and device of the ``x0`` the resume asks for, while host
arrays (NumPy arrays in a non-NumPy run, or fields annotated ``np.ndarray``) stay
NumPy. Writes are atomic (`gradfree._atomic`): a temporary file in the same
directory, flushed and fsynced, then ``os.replace``; a kill during a write leaves the
previous checkpoint, and the next run or resume removes the temporary file.

Threat model
------------
A checkpoint is data: treat it like user input, never like code. What a hostile or
corrupt file **can** do is make a resume fail with a `ValueError` (or fill memory with
as many arrays as the file holds). What it **cannot** do:

- run code: nothing is unpickled (``allow_pickle=False``); the codec re-creates only
  classes and functions of gradfree modules that are already loaded, looked up by
  name, and never imports a module; no name read from the file is imported or called;
- choose the objective, the method or where outputs go: `gradfree.resume` calls only
  the ``fun`` its caller passes, and ``gradfree resume`` takes the objective, method,
  options and output directory from the user's job file; the job the checkpoint
  recorded is only compared with it (`gradfree._job.check_job_matches`);
- smuggle in values the constructors would refuse: the configuration is rebuilt
  through its constructors, the state is checked against a fresh state of that
  strategy (same classes, dtypes and dimension, counters >= 0, finite numbers, step
  sizes > 0) and the driver's counters, best point and history are validated
  (`gradfree._restore_checks`); the method name must match the saved strategy;
- escape the array members: every array must have the dtype and shape its metadata
  declares, and only real (bool, int, float) dtypes are read.

A checkpoint does not carry a signature: a file someone else edited with *plausible*
values (a different but valid step size, say) resumes a different run. Resume only
checkpoints whose provenance you trust for the results, as with any data file.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from array_api_compat import is_numpy_array

from ._atomic import atomic_write
from ._codec import _Decoder, _Encoder, decode, encode
from ._version import __version__

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "decode",
    "encode",
    "load_checkpoint",
    "method_name",
    "read_metadata",
    "save_checkpoint",
]

FORMAT_VERSION = 2
"""Version of the checkpoint layout; a file with another version is refused (2: the
wrappers moved to `gradfree.wrappers`, so version 1 files name classes that are gone)."""

_FORMAT = "gradfree-checkpoint"
_META = "__meta__"
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


# -- files -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """The decoded content of a checkpoint file (see `load_checkpoint`)."""

    path: str
    method: str
    strategy: Any
    state: Any
    rng: np.random.Generator
    driver: Any
    job: dict[str, Any] | None
    versions: dict[str, str]


def method_name(strategy: Any) -> str:
    """A readable name of `strategy`: its class's ``name`` (its `gradfree.METHODS` key),
    with the wrappers around it.

    Examples
    --------
    >>> from gradfree.es import CMAES, Restarts
    >>> method_name(CMAES()), method_name(Restarts(CMAES()))
    ('cma-es', 'restarts(cma-es)')
    """
    cls = type(strategy)
    if isinstance(cls.__dict__.get("name"), str):  # declared by the class itself
        return cls.__dict__["name"]
    inner = getattr(strategy, "strategy", None)
    if inner is not None and hasattr(inner, "init"):
        return f"{cls.__name__.lower()}({method_name(inner)})"
    return f"{cls.__module__}:{cls.__qualname__}"


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    strategy: Any,
    state: Any,
    rng: np.random.Generator,
    driver: Any,
    job: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file in the same directory, fsync, rename).

    Parameters
    ----------
    path : str or path-like
        Destination; written as a zip (``.npz``) whatever the suffix.
    strategy, state : gradfree dataclasses
        The configured strategy and its state.
    rng : numpy.random.Generator
    driver : gradfree._run_record.RunRecord
        The driver's bookkeeping (`gradfree._driver.Run.snapshot`); its ``x0`` is
        the run's starting point and decides which arrays are device arrays.
    job : dict, optional
        JSON-able description of the job (the CLI stores its job file here).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If something cannot be saved without pickling (e.g. a user callable in the
        configuration), naming it.

    Examples
    --------
    >>> import tempfile, os
    >>> from gradfree._driver import Run
    >>> from gradfree.es import OpenES
    >>> run = Run(OpenES(popsize=4), np.ones(2), rng=np.random.default_rng(0), maxiter=3)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
    >>> _ = save_checkpoint(path, strategy=run.strategy, state=run.state, rng=run.rng,
    ...                     driver=run.snapshot())
    >>> ckpt = load_checkpoint(path)
    >>> ckpt.method, ckpt.state.mean
    ('openai-es', array([1., 1.]))
    """
    like = getattr(driver, "x0", None)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"`rng` must be a numpy.random.Generator; got {type(rng).__name__}.")
    enc = _Encoder(like is None or is_numpy_array(like))
    meta = {
        "format": _FORMAT,
        "version": FORMAT_VERSION,
        "versions": {"gradfree": __version__, "numpy": np.__version__},
        "method": method_name(strategy),
        "x0": None if like is None else {"shape": list(like.shape), "dtype": str(like.dtype)},
        "strategy": enc(strategy, "strategy"),
        "state": enc(state, "state"),
        "rng": enc(rng.bit_generator.state, "rng", True),
        "driver": enc(driver, "driver"),
        "job": None if job is None else json.loads(json.dumps(dict(job))),
    }
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    members = {_META: blob, **enc.arrays}
    return _atomic_savez(Path(path), members)


def _atomic_savez(path: Path, members: dict[str, np.ndarray]) -> Path:
    """``np.savez`` through `gradfree._atomic.atomic_write` (temp file, fsync, rename)."""
    return atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **members))


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata and array members of a checkpoint, checked for format and version."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"checkpoint {name!r} is corrupt or truncated (not a readable .npz file: {exc})."
        ) from exc
    blob = arrays.pop(_META, None)
    if blob is None or blob.dtype != np.uint8 or blob.ndim != 1:
        raise ValueError(f"checkpoint {name!r} has no gradfree metadata (`{_META}` member).")
    try:
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"checkpoint {name!r}: the metadata is not valid JSON ({exc}).") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"checkpoint {name!r} is not a gradfree checkpoint.")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {name!r} has format version {meta.get('version')!r}; this gradfree "
            f"reads version {FORMAT_VERSION}."
        )
    missing = [
        k for k in ("method", "x0", "strategy", "state", "rng", "driver", "job") if k not in meta
    ]
    if missing:
        raise ValueError(f"checkpoint {name!r}: the metadata lacks {missing}.")
    return meta, arrays


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of a checkpoint (method, versions, job, ...), nothing decoded.

    Raises
    ------
    ValueError
        For a corrupt, truncated or foreign file, or another format version.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "bad.ckpt"
    >>> _ = path.write_bytes(b"not a zip")
    >>> read_metadata(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: checkpoint '...bad.ckpt' is corrupt or truncated (not a readable .npz file: ...).
    """
    return _read(path)[0]


def load_checkpoint(
    path: str | os.PathLike[str], *, x0: Any = None, method: Any = None
) -> Checkpoint:
    """Read and decode a checkpoint written by `save_checkpoint`; nothing is unpickled.

    Parameters
    ----------
    path : str or path-like
    x0 : array of shape (d,), optional
        Device arrays are restored to its namespace and device; it must have the shape
        and dtype of the run's ``x0``. Default: NumPy.
    method : str or strategy, optional
        When given, the checkpoint must be of this method (its `method_name` or, for
        a strategy, the same class).

    Returns
    -------
    Checkpoint

    Raises
    ------
    ValueError
        For a corrupt or truncated file, another format version, missing entries, a
        method or `x0` that does not match, or a reference to code outside gradfree.
    """
    name = os.fspath(path)
    meta, arrays = _read(name)
    if not isinstance(meta["method"], str):
        raise ValueError(f"checkpoint {name!r}: `method` must be a str; got {meta['method']!r}.")
    if method is not None:
        want = method.lower() if isinstance(method, str) else method_name(method)
        if want != meta["method"]:
            raise ValueError(f"checkpoint {name!r} is of method {meta['method']!r}, not {want!r}.")
    saved = meta["x0"] or {}
    if x0 is not None:
        shape, dtype = list(getattr(x0, "shape", ())), str(getattr(x0, "dtype", ""))
        if shape != saved.get("shape"):
            raise ValueError(
                f"`x0` has shape {tuple(shape)}; checkpoint {name!r} was made for shape "
                f"{tuple(saved.get('shape') or ())}."
            )
        if dtype.rsplit(".", 1)[-1] != str(saved.get("dtype")).rsplit(".", 1)[-1]:
            raise ValueError(
                f"`x0` has dtype {dtype}; checkpoint {name!r} was made for {saved.get('dtype')}."
            )
    dec = _Decoder(arrays, x0)
    try:
        rng = _generator(dec(meta["rng"], "rng"), name)
        ckpt = Checkpoint(
            path=name,
            method=meta["method"],
            strategy=dec(meta["strategy"], "strategy"),
            state=dec(meta["state"], "state"),
            rng=rng,
            driver=dec(meta["driver"], "driver"),
            job=meta["job"],
            versions=dict(meta.get("versions") or {}),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"checkpoint {name!r} is malformed: {exc!r}.") from exc
    if not hasattr(ckpt.strategy, "init") or method_name(ckpt.strategy) != ckpt.method:
        raise ValueError(
            f"checkpoint {name!r}: `method` says {ckpt.method!r}, but the saved strategy is "
            f"{type(ckpt.strategy).__qualname__}; the file was edited or is corrupt."
        )
    return ckpt


def _generator(state: Any, name: str) -> np.random.Generator:
    """A Generator with a saved ``bit_generator.state`` (known bit generators only)."""
    kind = state.get("bit_generator") if isinstance(state, dict) else None
    if kind not in _BIT_GENERATORS:
        raise ValueError(f"checkpoint {name!r}: unknown bit generator {kind!r}.")
    bit_generator = getattr(np.random, kind)()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"checkpoint {name!r}: invalid rng state ({exc}).") from exc
    return np.random.Generator(bit_generator)
