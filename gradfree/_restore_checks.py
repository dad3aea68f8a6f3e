"""Checks of what a checkpoint restores: every value is validated as if a user typed it.

The codec (`gradfree._codec`) only ever re-creates gradfree's own classes, so a file
cannot run code; these checks make sure that it cannot smuggle in values that the
constructors would refuse either (a negative popsize, a NaN step size, a state of
another method), which would otherwise run silently:

- `rebuild_config` re-creates a decoded configuration through its constructors, so
  every ``__post_init__`` check runs and derived attributes are computed afresh;
- `check_state` compares a decoded state with a fresh state of the same strategy:
  the same classes at every node, arrays of the same dtype that keep the run's
  dimension, counters
  that are ints >= 0, finite numbers where a fresh state has them, and step sizes
  (``sigma``, ``dt``, ``spread``, learning rates) finite and > 0.

Every refusal is a `ValueError` that names the offending field by its path.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from ._array import to_host
from ._codec import encode

__all__ = ["rebuild_config", "same_config", "check_state"]

#: State fields that are step sizes or spreads: finite and > 0 wherever they are set.
_POSITIVE = frozenset({"sigma", "dt", "spread", "spread0"})

#: Host arrays that hold objective values as told, where NaN and inf are legitimate.
_VALUES = frozenset({"best", "median", "told"})


def _bad(path: str, what: str) -> ValueError:
    return ValueError(f"checkpoint: `{path}` {what}")


def rebuild_config(obj: Any, path: str = "strategy") -> Any:
    """Re-create a decoded configuration through its constructors (their checks run).

    Only the constructor arguments are taken from the file; whatever a constructor
    derives (and any cached attribute) is computed afresh.

    Raises
    ------
    ValueError
        If a constructor refuses a stored value, naming the field.

    Examples
    --------
    >>> from gradfree.es import CMAES
    >>> bad = object.__new__(CMAES)
    >>> for k, v in vars(CMAES()).items():
    ...     object.__setattr__(bad, k, v)
    >>> object.__setattr__(bad, "sigma0", -1.0)
    >>> rebuild_config(bad)
    Traceback (most recent call last):
    ...
    ValueError: checkpoint: `strategy` is refused by CMAES: `sigma0` must be finite and > 0; \
got -1.0.
    """
    return _rebuild(obj, path)


def _rebuild(obj: Any, path: str) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        kwargs = {
            f.name: _rebuild(getattr(obj, f.name), f"{path}.{f.name}")
            for f in dataclasses.fields(obj)
            if f.init
        }
        try:
            return type(obj)(**kwargs)
        except (TypeError, ValueError) as exc:
            raise _bad(path, f"is refused by {type(obj).__name__}: {exc}") from exc
    if type(obj) is tuple:
        return tuple(_rebuild(v, f"{path}[{i}]") for i, v in enumerate(obj))
    if type(obj) is list:
        return [_rebuild(v, f"{path}[{i}]") for i, v in enumerate(obj)]
    if type(obj) is dict:
        return {k: _rebuild(v, f"{path}[{k!r}]") for k, v in obj.items()}
    return obj


def same_config(a: Any, b: Any) -> bool:
    """Whether two configurations have the same classes and field values (caches aside).

    Examples
    --------
    >>> from gradfree.es import CMAES
    >>> same_config(CMAES(sigma0=0.5), CMAES(sigma0=0.5)), same_config(CMAES(), CMAES(sigma0=2))
    (True, False)
    """
    (ta, xa), (tb, xb) = encode(_rebuild(a, "a")), encode(_rebuild(b, "b"))
    return ta == tb and all(np.array_equal(xa[k], xb[k], equal_nan=True) for k in xa)


def check_state(state: Any, reference: Any, *, d: int, path: str = "state") -> None:
    """Refuse a decoded `state` that a fresh `reference` state of its strategy rules out.

    Parameters
    ----------
    state : object
        The decoded state.
    reference : object
        ``strategy.init(x0)`` of the same strategy (fixes classes, dtypes, dimensions).
    d : int
        The run's dimension: an array axis of length `d` in `reference` must keep it.
    path : str, default='state'
        The name of `state` in messages.

    Raises
    ------
    ValueError
        Naming the first field that does not fit.

    Examples
    --------
    >>> import dataclasses
    >>> from gradfree.es import CMAES
    >>> ref = CMAES().init(np.zeros(2), rng=np.random.default_rng(0))
    >>> check_state(dataclasses.replace(ref, sigma=0.3), ref, d=2)
    >>> check_state(dataclasses.replace(ref, generation=-5), ref, d=2)
    Traceback (most recent call last):
    ...
    ValueError: checkpoint: `state.generation` must be an int >= 0; got -5.
    >>> check_state(dataclasses.replace(ref, sigma=float("nan")), ref, d=2)
    Traceback (most recent call last):
    ...
    ValueError: checkpoint: `state.sigma` must be finite and > 0; got nan.
    """
    _check(state, reference, d, path, None)


def _check(value: Any, ref: Any, d: int, path: str, annotation: str | None) -> None:
    name = path.rsplit(".", 1)[-1]
    if dataclasses.is_dataclass(ref) and not isinstance(ref, type):
        if type(value) is not type(ref):
            raise _bad(
                path, f"must be a {type(ref).__qualname__}; got {type(value).__qualname__}."
            )
        hints = {f.name: str(f.type) for f in dataclasses.fields(ref)}
        for key, expected in vars(ref).items():
            if key not in vars(value):
                raise _bad(f"{path}.{key}", "is missing.")
            _check(vars(value)[key], expected, d, f"{path}.{key}", hints.get(key))
        return
    if value is None:
        if ref is not None and annotation is not None and "None" not in annotation:
            raise _bad(path, f"must not be None (a {type(ref).__name__}).")
        return
    if dataclasses.is_dataclass(value):
        if ref is None:  # an optional sub-state set during the run: check its own fields
            for key, item in vars(value).items():
                _check_leaf(item, f"{path}.{key}", key, None)
            return
        raise _bad(path, f"must be a {type(ref).__name__}; got {type(value).__qualname__}.")
    if is_array_api_obj(ref) or is_array_api_obj(value):
        strict = annotation is not None and ("Array" in annotation or "ndarray" in annotation)
        _check_array(value, ref if strict else None, d, path, name)
        return
    if isinstance(ref, (tuple, list)):
        if type(value) is not type(ref):
            raise _bad(path, f"must be a {type(ref).__name__}; got {type(value).__name__}.")
        if len(ref) == len(value):
            for i, (v, r) in enumerate(zip(value, ref)):
                _check(v, r, d, f"{path}[{i}]", None)
        elif annotation is not None and "float" in annotation:  # e.g. tuple[float, ...]
            for i, v in enumerate(value):
                if not isinstance(v, Real) or isinstance(v, bool):
                    raise _bad(f"{path}[{i}]", f"must be a real number; got {v!r}.")
        return
    if isinstance(ref, Mapping):
        if not isinstance(value, Mapping):
            raise _bad(path, f"must be a dict; got {type(value).__name__}.")
        return
    _check_leaf(value, path, name, ref, annotation)


def _check_leaf(value: Any, path: str, name: str, ref: Any, annotation: str | None = None) -> None:
    """A scalar: the type of the fresh state's value, counters >= 0, step sizes > 0."""
    if isinstance(value, bool) or isinstance(ref, bool):
        if type(value) is not type(ref) and ref is not None:
            raise _bad(path, f"must be a {type(ref).__name__}; got {value!r}.")
        return
    if isinstance(ref, str) or (annotation is not None and annotation.startswith("str")):
        if not isinstance(value, str):
            raise _bad(path, f"must be a str or None; got {type(value).__name__}.")
        return
    if isinstance(ref, Integral) or annotation in ("int", "int | None"):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 0:
            raise _bad(path, f"must be an int >= 0; got {value!r}.")
        return
    if isinstance(ref, Real) or (annotation is not None and "float" in annotation):
        if not isinstance(value, Real):
            raise _bad(path, f"must be a real number; got {type(value).__name__}.")
        if name in _POSITIVE or name.endswith("learning_rate"):
            if not (math.isfinite(value) and float(value) > 0):
                raise _bad(path, f"must be finite and > 0; got {value!r}.")
        elif math.isnan(value) or (
            math.isinf(value) and (ref is None or math.isfinite(float(ref)))
        ):
            raise _bad(path, f"must be finite; got {value!r}.")
        return
    if is_array_api_obj(value):
        _check_array(value, None, 0, path, name)


def _check_array(value: Any, ref: Any, d: int, path: str, name: str) -> None:
    if not is_array_api_obj(value):
        raise _bad(path, f"must be an array; got {type(value).__name__}.")
    host = np.asarray(to_host(value))
    if ref is not None:
        ref_host = np.asarray(to_host(ref))
        if host.dtype != ref_host.dtype:
            raise _bad(path, f"must be an array of {ref_host.dtype}; got {host.dtype}.")
        kept = [i for i, n in enumerate(ref_host.shape) if n == d]
        if host.ndim == ref_host.ndim and any(host.shape[i] != d for i in kept):
            raise _bad(path, f"must keep the dimension {d} of the run; got shape {host.shape}.")
        if host.dtype.kind == "f" and np.isfinite(ref_host).all() and not np.isfinite(host).all():
            raise _bad(path, "must be finite; it holds NaN or inf.")
    elif host.dtype.kind == "f" and not np.isfinite(host).all() and name not in _VALUES:
        raise _bad(path, "must be finite; it holds NaN or inf.")
    if (name in _POSITIVE or name.endswith("learning_rate")) and host.size:
        if not (np.isfinite(host).all() and (host > 0).all()):
            raise _bad(path, "must be finite and > 0 everywhere.")
