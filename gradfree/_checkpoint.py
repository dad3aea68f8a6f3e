"""Checkpoints that never unpickle: ``.npz`` (``allow_pickle=False``) plus JSON metadata.

A checkpoint holds the format version, the gradfree and numpy versions, the method and
its configuration, the full strategy state, the rng state (``bit_generator.state``),
the driver's counters, best point and history, and optionally the job that started
the run (the CLI stores its job file there). Arrays are stored as ``.npz`` members;
everything else is JSON in the member ``__meta__`` (UTF-8 bytes as a ``uint8`` array).

The codec is generic: a (nested) dataclass becomes
``{"__dataclass__": "module:QualName", "fields": {...}}`` with every attribute of the
instance (fields and attributes set in ``__post_init__``); tuples, dicts, numpy
scalars and module-level functions get markers of their own, and an array becomes a
reference to an ``.npz`` member. Loading re-creates **only classes and functions
defined in modules under ``gradfree.``**, looked up by name without calling any
constructor, so a checkpoint from an untrusted source cannot run code; anything else
is a `ValueError` naming it.

Arrays are saved from the host (`gradfree._array.to_host`). On loading, "device"
arrays go to the namespace and device of the ``x0`` the resume asks for, while host
arrays (NumPy arrays in a non-NumPy run, or fields annotated ``np.ndarray``) stay
NumPy. Writes are atomic: a temporary file in the same directory, flushed and
fsynced, then ``os.replace``; a kill during a write leaves the previous checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from array_api_compat import is_numpy_array

from ._codec import _Decoder, _Encoder, decode, encode

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

FORMAT_VERSION = 1
"""Version of the checkpoint layout; a file with another version is refused."""

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
    driver: dict[str, Any]
    job: dict[str, Any] | None
    versions: dict[str, str]


def method_name(strategy: Any) -> str:
    """A readable name of `strategy`: its `gradfree.METHODS` key, wrappers around it.

    Examples
    --------
    >>> from gradfree.es import CMAES, Restarts
    >>> method_name(CMAES()), method_name(Restarts(CMAES()))
    ('cma-es', 'restarts(cma-es)')
    """
    from ._minimize import METHODS

    names = {cls: key for key, cls in METHODS.items()}
    cls = type(strategy)
    if cls in names:
        return names[cls]
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
    driver: Mapping[str, Any],
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
    driver : dict
        The driver's bookkeeping (`gradfree._driver.Run.snapshot`); ``driver['x0']``
        is the run's starting point and decides which arrays are device arrays.
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
    import gradfree

    like = driver.get("x0")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"`rng` must be a numpy.random.Generator; got {type(rng).__name__}.")
    enc = _Encoder(like is None or is_numpy_array(like))
    meta = {
        "format": _FORMAT,
        "version": FORMAT_VERSION,
        "versions": {"gradfree": gradfree.__version__, "numpy": np.__version__},
        "method": method_name(strategy),
        "x0": None if like is None else {"shape": list(like.shape), "dtype": str(like.dtype)},
        "strategy": enc(strategy, "strategy"),
        "state": enc(state, "state"),
        "rng": enc(rng.bit_generator.state, "rng", True),
        "driver": enc(dict(driver), "driver"),
        "job": None if job is None else json.loads(json.dumps(dict(job))),
    }
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    members = {_META: blob, **enc.arrays}
    return _atomic_savez(Path(path), members)


def _atomic_savez(path: Path, members: dict[str, np.ndarray]) -> Path:
    """``np.savez`` to a temp file next to `path`, fsync, then ``os.replace``."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable (POSIX); harmless where unsupported
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - platform dependent
        pass
    return path


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
    if not isinstance(ckpt.driver, dict):
        raise ValueError(f"checkpoint {name!r}: `driver` is not a dict.")
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
