"""Assertions shared by the test suite and by people testing their own strategies."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from .._array import to_host

__all__ = ["assert_states_equal"]


def assert_states_equal(a: Any, b: Any, *, path: str = "state") -> None:
    """Assert two strategy states are equal, field by field, arrays exactly.

    Examples
    --------
    >>> from gradfree.updates import AdamState
    >>> assert_states_equal(AdamState(np.zeros(2), np.ones(2)), AdamState(np.zeros(2), np.ones(2)))
    """
    if is_array_api_obj(a) or is_array_api_obj(b):
        np.testing.assert_array_equal(to_host(a), to_host(b), err_msg=path)
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
        for f in dataclasses.fields(a):
            assert_states_equal(getattr(a, f.name), getattr(b, f.name), path=f"{path}.{f.name}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: lengths {len(a)} != {len(b)}"
        for i, (u, v) in enumerate(zip(a, b)):
            assert_states_equal(u, v, path=f"{path}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path}: keys differ"
        for k in a:
            assert_states_equal(a[k], b[k], path=f"{path}[{k!r}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
