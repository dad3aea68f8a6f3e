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

import dataclasses
import importlib
import inspect
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj, is_numpy_array

from ._array import asarray_like, get_xp, to_host

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
_MODULE = re.compile(r"^gradfree(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


# -- encoding ----------------------------------------------------------------------------
class _Encoder:
    """Turns a Python object into JSON plus a dict of host arrays (the npz members)."""

    def __init__(self, numpy_run: bool) -> None:
        self.numpy_run = numpy_run
        self.arrays: dict[str, np.ndarray] = {}

    def __call__(self, obj: Any, path: str, host_hint: bool = False) -> Any:
        if obj is None or type(obj) in (bool, str):
            return obj
        if isinstance(obj, np.generic):
            if obj.dtype.kind not in "biuf":
                raise ValueError(f"cannot checkpoint `{path}`: numpy scalar of dtype {obj.dtype}.")
            return {"__scalar__": obj.dtype.str, "value": obj.item()}
        if type(obj) is int or type(obj) is float:
            return obj
        if is_array_api_obj(obj):
            return self._array(obj, path, host_hint)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return self._dataclass(obj, path)
        if isinstance(obj, tuple) and type(obj) is tuple:
            return {"__tuple__": [self(v, f"{path}[{i}]", host_hint) for i, v in enumerate(obj)]}
        if type(obj) is list:
            return [self(v, f"{path}[{i}]", host_hint) for i, v in enumerate(obj)]
        if type(obj) is dict:
            bad = [k for k in obj if not isinstance(k, str)]
            if bad:
                raise ValueError(f"cannot checkpoint `{path}`: dict key {bad[0]!r} is not a str.")
            return {"__dict__": {k: self(v, f"{path}[{k!r}]") for k, v in obj.items()}}
        if callable(obj):
            return {"__function__": _function_path(obj, path)}
        raise ValueError(
            f"cannot checkpoint `{path}`: objects of type {type(obj).__qualname__} are not "
            "supported (arrays, numbers, str, None, tuples, lists, dicts and gradfree "
            "dataclasses are)."
        )

    def _array(self, obj: Any, path: str, host_hint: bool) -> dict[str, Any]:
        host = np.ascontiguousarray(to_host(obj))
        if host.dtype.kind not in "biuf":
            raise ValueError(f"cannot checkpoint `{path}`: array of dtype {host.dtype}.")
        # host: a NumPy array in a non-NumPy run, or in a NumPy run a field annotated so
        kind = "host" if is_numpy_array(obj) and (not self.numpy_run or host_hint) else "device"
        key = f"a{len(self.arrays)}"
        # An exactly symmetric matrix (a covariance) keeps its upper triangle only.
        symmetric = (
            host.ndim == 2 and host.shape[0] == host.shape[1] > 1 and np.array_equal(host, host.T)
        )
        self.arrays[key] = host[np.triu_indices(host.shape[0])] if symmetric else host
        node = {
            "__array__": key,
            "kind": kind,
            "dtype": host.dtype.name,
            "shape": list(host.shape),
        }
        if symmetric:
            node["packing"] = "upper"
        return node

    def _dataclass(self, obj: Any, path: str) -> dict[str, Any]:
        cls = type(obj)
        where = _class_path(cls, path)
        hints = {f.name: str(f.type) for f in dataclasses.fields(obj)}
        attrs = vars(obj)  # fields plus attributes set in __post_init__
        fields = {
            name: self(value, f"{path}.{name}", "ndarray" in hints.get(name, ""))
            for name, value in attrs.items()
        }
        return {"__dataclass__": where, "fields": fields}


def _class_path(cls: type, path: str) -> str:
    module, qualname = cls.__module__, cls.__qualname__
    if not _MODULE.match(module) or "<locals>" in qualname:
        raise ValueError(
            f"cannot checkpoint `{path}`: {module}.{qualname} is not a class of gradfree; "
            "only gradfree's own classes can be restored safely."
        )
    return f"{module}:{qualname}"


def _function_path(fun: Any, path: str) -> str:
    module = getattr(fun, "__module__", None) or ""
    qualname = getattr(fun, "__qualname__", "")
    if (
        inspect.isfunction(fun)
        and _MODULE.match(module)
        and "<" not in qualname
        and _resolve(module, qualname, path) is fun
    ):
        return f"{module}:{qualname}"
    raise ValueError(
        f"cannot checkpoint `{path}`: the callable {fun!r} cannot be saved (only functions "
        "defined at module level in gradfree can); leave this option at its default to "
        "checkpoint the run."
    )


def encode(obj: Any, *, like: Any = None, path: str = "obj") -> tuple[Any, dict[str, np.ndarray]]:
    """Encode `obj` as JSON-able data plus host arrays; the inverse of `decode`.

    Parameters
    ----------
    obj : object
        A strategy, a state or any nesting of gradfree dataclasses, arrays, Python and
        numpy scalars, None, str, tuples, lists and str-keyed dicts.
    like : array, optional
        The run's ``x0``; with a NumPy `like` (or None), NumPy arrays count as device
        arrays unless their dataclass field is annotated ``np.ndarray``.
    path : str, default='obj'
        Name of `obj` in error messages.

    Returns
    -------
    tree : JSON-able object
    arrays : dict of str to numpy.ndarray

    Raises
    ------
    ValueError
        For anything that cannot be restored without unpickling (user classes,
        lambdas, user functions), naming where it sits.

    Examples
    --------
    >>> from gradfree.updates import AdamState
    >>> tree, arrays = encode(AdamState(np.zeros(2), np.ones(2), count=3))
    >>> tree["__dataclass__"], tree["fields"]["count"], sorted(arrays)
    ('gradfree.updates:AdamState', 3, ['a0', 'a1'])
    """
    numpy_run = like is None or is_numpy_array(like)
    enc = _Encoder(numpy_run)
    return enc(obj, path), enc.arrays


# -- decoding ----------------------------------------------------------------------------
def _resolve(module: str, qualname: str, path: str) -> Any:
    """Look up ``module:qualname``, importing only gradfree modules."""
    if not isinstance(module, str) or not _MODULE.match(module):
        raise ValueError(
            f"checkpoint `{path}` names {module!r}, which is not a gradfree module; "
            "refusing to import it."
        )
    parts = qualname.split(".") if isinstance(qualname, str) else []
    if not parts or not all(_NAME.match(p) and not p.startswith("__") for p in parts):
        raise ValueError(f"checkpoint `{path}`: invalid name {qualname!r}.")
    try:
        obj: Any = importlib.import_module(module)
        for part in parts:
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"checkpoint `{path}`: {module}:{qualname} does not exist.") from exc
    if (
        getattr(obj, "__module__", None) != module
        or getattr(obj, "__qualname__", None) != qualname
    ):
        raise ValueError(f"checkpoint `{path}`: {module}:{qualname} is not defined there.")
    return obj


def _unpack_upper(packed: np.ndarray, shape: Any, path: str) -> np.ndarray:
    """The symmetric matrix whose upper triangle (row-major) is `packed`."""
    n = shape[0] if isinstance(shape, list) and len(shape) == 2 else -1
    if not (isinstance(n, int) and n > 1 and packed.shape == (n * (n + 1) // 2,)):
        raise ValueError(f"checkpoint `{path}`: packed matrix does not fit shape {shape}.")
    full = np.empty((n, n), dtype=packed.dtype)
    rows, cols = np.triu_indices(n)
    full[rows, cols] = packed
    full[cols, rows] = packed
    return full


class _Decoder:
    """Rebuilds objects from `encode`'s output; device arrays follow `like`."""

    def __init__(self, arrays: Mapping[str, np.ndarray], like: Any) -> None:
        self.arrays = arrays
        self.like = like

    def __call__(self, node: Any, path: str) -> Any:
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self(v, f"{path}[{i}]") for i, v in enumerate(node)]
        if type(node) is not dict or len(node) == 0:
            raise ValueError(f"checkpoint `{path}`: unexpected entry {node!r}.")
        if "__array__" in node:
            return self._array(node, path)
        if "__dataclass__" in node:
            return self._dataclass(node, path)
        if "__tuple__" in node and type(node["__tuple__"]) is list:
            return tuple(self(v, f"{path}[{i}]") for i, v in enumerate(node["__tuple__"]))
        if "__dict__" in node and type(node["__dict__"]) is dict:
            return {k: self(v, f"{path}[{k!r}]") for k, v in node["__dict__"].items()}
        if "__scalar__" in node:
            try:
                dtype = np.dtype(node["__scalar__"])
            except TypeError as exc:
                raise ValueError(f"checkpoint `{path}`: bad scalar dtype.") from exc
            if dtype.kind not in "biuf" or type(node.get("value")) not in (bool, int, float):
                raise ValueError(f"checkpoint `{path}`: bad numpy scalar {node!r}.")
            return dtype.type(node["value"])
        if "__function__" in node:
            fun = self._lookup(node["__function__"], path)
            if not inspect.isfunction(fun):
                raise ValueError(f"checkpoint `{path}`: {node['__function__']} is no function.")
            return fun
        raise ValueError(f"checkpoint `{path}`: unexpected entry {node!r}.")

    def _lookup(self, where: Any, path: str) -> Any:
        if not isinstance(where, str) or where.count(":") != 1:
            raise ValueError(f"checkpoint `{path}`: bad reference {where!r}.")
        module, qualname = where.split(":")
        return _resolve(module, qualname, path)

    def _array(self, node: dict[str, Any], path: str) -> Any:
        key = node["__array__"]
        if not isinstance(key, str) or key not in self.arrays:
            raise ValueError(f"checkpoint `{path}`: array member {key!r} is missing.")
        host = self.arrays[key]
        if node.get("packing") == "upper":
            host = _unpack_upper(host, node.get("shape"), path)
        if host.dtype.name != node.get("dtype") or list(host.shape) != node.get("shape"):
            raise ValueError(
                f"checkpoint `{path}`: array member {key!r} has dtype {host.dtype} and shape "
                f"{host.shape}; the metadata says {node.get('dtype')} and {node.get('shape')}."
            )
        if node.get("kind") == "host" or self.like is None:
            return np.array(host, copy=True)
        xp, _ = get_xp(self.like)
        return asarray_like(host, self.like, dtype=getattr(xp, host.dtype.name))

    def _dataclass(self, node: dict[str, Any], path: str) -> Any:
        cls = self._lookup(node["__dataclass__"], path)
        fields = node.get("fields")
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise ValueError(f"checkpoint `{path}`: {node['__dataclass__']} is no dataclass.")
        if type(fields) is not dict:
            raise ValueError(f"checkpoint `{path}`: `fields` missing for {cls.__qualname__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(names - set(fields))
        if missing:
            raise ValueError(f"checkpoint `{path}`: {cls.__qualname__} lacks fields {missing}.")
        obj = object.__new__(cls)  # no constructor runs: the values are restored as saved
        for name, value in fields.items():
            if not _NAME.match(name) or name.startswith("__"):
                raise ValueError(f"checkpoint `{path}`: invalid attribute name {name!r}.")
            object.__setattr__(obj, name, self(value, f"{path}.{name}"))
        return obj


def decode(tree: Any, arrays: Mapping[str, np.ndarray], *, like: Any = None) -> Any:
    """Rebuild an object from `encode`'s output without unpickling or importing non-gradfree code.

    Parameters
    ----------
    tree : JSON-able object
    arrays : mapping of str to numpy.ndarray
    like : array, optional
        Device arrays get its namespace and device (keeping their saved dtype); None
        keeps NumPy.

    Raises
    ------
    ValueError
        For a reference outside gradfree, a missing array or a malformed entry.

    Examples
    --------
    >>> from gradfree.updates import AdamState
    >>> tree, arrays = encode(AdamState(np.zeros(2), np.ones(2), count=3))
    >>> decode(tree, arrays)
    AdamState(m=array([0., 0.]), v=array([1., 1.]), count=3)
    >>> decode({"__dataclass__": "os:system", "fields": {}}, {})
    Traceback (most recent call last):
    ...
    ValueError: checkpoint `obj` names 'os', which is not a gradfree module; refusing to import it.
    """
    return _Decoder(arrays, like)(tree, "obj")


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
