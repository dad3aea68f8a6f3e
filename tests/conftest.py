"""Fixtures: the array namespaces every method runs on, and a fixed-seed rng."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

from gradfree._array import gpu_available

# CI replays the same examples every run; local runs explore new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

_BACKENDS = [
    "numpy",
    "array_api_strict",
    "array_api_strict-device1",
    pytest.param("cupy", marks=pytest.mark.gpu),
]

_CREATION = ("asarray", "arange", "empty", "eye", "full", "linspace", "ones", "zeros")


class OnDevice:
    """A namespace whose creation functions default to `device` (a second GPU stand-in).

    array-api-strict arrays on different devices refuse to mix, as CuPy arrays on two
    GPUs do, so a run that creates anything on the default device fails or is caught by
    a device assertion. Arrays passed to ``asarray`` keep their own device.
    """

    def __init__(self, module, device):
        self._module, self.device = module, device
        self._array_type = type(module.asarray(0.0))

    def __getattr__(self, name):
        attr = getattr(self._module, name)
        if name not in _CREATION:
            return attr

        def on_device(*args, **kwargs):
            if not (name == "asarray" and isinstance(args[0], self._array_type)):
                kwargs.setdefault("device", self.device)
            return attr(*args, **kwargs)

        return on_device

    def __repr__(self):
        return f"OnDevice({self._module.__name__}, {self.device!r})"


@pytest.fixture(params=_BACKENDS)
def xp(request):
    """The namespace under test: NumPy, array-api-strict (catches NumPy leaks) on its
    default device and on ``Device("device1")`` (catches device leaks), CuPy."""
    if request.param == "numpy":
        return np
    if request.param == "cupy":
        if not gpu_available():
            pytest.skip("no CUDA GPU: CuPy could not allocate")
        import cupy

        return cupy
    strict = pytest.importorskip("array_api_strict")
    if request.param == "array_api_strict-device1":
        return OnDevice(strict, strict.Device("device1"))
    return strict


@pytest.fixture
def rng():
    """A fixed-seed generator."""
    return np.random.default_rng(12345)


@pytest.fixture
def one_blas_thread():
    """Small matrices: BLAS threading only adds contention on shared CI cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        yield
        return
    with threadpool_limits(1):
        yield
