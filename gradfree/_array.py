"""Array-namespace helpers: every array a run creates follows an existing one.

There is no global backend. The namespace, device and dtype of ``x0`` decide where a
run lives; these helpers are the only place that looks at which library an array
comes from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, device, is_cupy_array, is_numpy_array

from ._typing import Array

__all__ = ["asarray_like", "get_xp", "gpu_available", "to_host"]

_NUMPY = array_namespace(np.empty(0))


def get_xp(*arrays: Array) -> tuple[Any, Any]:
    """Return the namespace and device shared by `arrays`.

    Parameters
    ----------
    *arrays : arrays
        One or more arrays from the same library and device.

    Returns
    -------
    xp : module
        The array-API namespace (array-api-compat wraps NumPy and CuPy).
    device : object
        The device of the first array.

    Raises
    ------
    ValueError
        If the arrays live on different devices.
    TypeError
        If the arrays come from different libraries.

    Examples
    --------
    >>> xp, dev = get_xp(np.zeros(3), np.ones(2))
    >>> xp.__name__, dev
    ('array_api_compat.numpy', 'cpu')
    """
    if len(arrays) == 1:
        if type(arrays[0]) is np.ndarray:  # the common case, without the lookup
            return _NUMPY, "cpu"
        return array_namespace(arrays[0]), device(arrays[0])
    xp = array_namespace(*arrays)
    devices = {str(device(a)) for a in arrays}
    if len(devices) > 1:
        raise ValueError(f"arrays live on different devices: {sorted(devices)}")
    return xp, device(arrays[0])


def asarray_like(obj: Any, like: Array, *, dtype: Any = None) -> Array:
    """Convert `obj` to an array with the namespace, device and dtype of `like`.

    Parameters
    ----------
    obj : array_like
        Data to convert (host or device).
    like : array
        Template array.
    dtype : dtype, optional
        Overrides the dtype of `like` (default=``like.dtype``).

    Returns
    -------
    array

    Examples
    --------
    >>> asarray_like([1, 2], np.zeros(1, dtype=np.float32))
    array([1., 2.], dtype=float32)
    """
    xp, dev = get_xp(like)
    return xp.asarray(obj, dtype=like.dtype if dtype is None else dtype, device=dev)


def to_host(x: Any) -> np.ndarray:
    """Copy `x` to a NumPy array on the host (no copy for NumPy input).

    Examples
    --------
    >>> to_host(np.arange(3))
    array([0, 1, 2])
    >>> import array_api_strict as xp
    >>> to_host(xp.asarray([1.0, 2.0], device=xp.Device("device1")))
    array([1., 2.])
    """
    if is_numpy_array(x):
        return x
    if is_cupy_array(x):
        return x.get()
    if hasattr(x, "__dlpack__"):
        try:  # device="cpu" (NumPy >= 2.1) copies an array on another device to the host
            return np.from_dlpack(x, device="cpu")
        except (TypeError, RuntimeError, BufferError, ValueError):
            pass
        try:
            return np.from_dlpack(x)
        except (TypeError, RuntimeError, BufferError, ValueError):
            pass
    return np.asarray(x)


def gpu_available() -> bool:
    """True when CuPy can allocate on a GPU; ``import cupy`` alone proves nothing.

    Examples
    --------
    >>> isinstance(gpu_available(), bool)
    True
    """
    try:
        import cupy

        cupy.zeros(1).sum().item()
    except Exception:  # noqa: BLE001 - any failure means no usable GPU
        return False
    return True
