"""The checkpoint codec: gradfree dataclasses, arrays and plain data <-> JSON plus arrays.

A (nested) dataclass becomes ``{"__dataclass__": "module:QualName", "fields": {...}}``
with every attribute of the instance (fields and attributes set in ``__post_init__``);
tuples, dicts, numpy scalars and module-level functions get markers of their own, and
an array becomes a reference to an array member. Decoding re-creates **only classes and
functions of gradfree modules that are already imported**, looked up by name: it never
imports a module, never calls a constructor and never unpickles, so a file from an
untrusted source cannot run code through it; anything else is a `ValueError` naming it.
What the decoded objects hold is checked by `gradfree._restore_checks`.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj, is_numpy_array

from ._array import asarray_like, get_xp, to_host

__all__ = ["decode", "encode"]

_MODULE = re.compile(r"^gradfree(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    """Look up ``module:qualname`` in a gradfree module that is already imported.

    Nothing is imported: a name read from a file only ever selects among the classes
    and functions gradfree has loaded itself.
    """
    if not isinstance(module, str) or not _MODULE.match(module):
        raise ValueError(
            f"checkpoint `{path}` names {module!r}, which is not a gradfree module; "
            "refusing to import it."
        )
    parts = qualname.split(".") if isinstance(qualname, str) else []
    if not parts or not all(_NAME.match(p) and not p.startswith("__") for p in parts):
        raise ValueError(f"checkpoint `{path}`: invalid name {qualname!r}.")
    obj: Any = sys.modules.get(module)
    if obj is None:
        raise ValueError(
            f"checkpoint `{path}` names {module!r}, which gradfree has not loaded; "
            "a checkpoint never makes gradfree import a module (import it yourself first "
            "if you trust the file)."
        )
    try:
        for part in parts:
            obj = getattr(obj, part)
    except AttributeError as exc:
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
