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

_BACKENDS = ["numpy", "array_api_strict", pytest.param("cupy", marks=pytest.mark.gpu)]


@pytest.fixture(params=_BACKENDS)
def xp(request):
    """The namespace under test: NumPy, array-api-strict (catches NumPy leaks), CuPy."""
    if request.param == "numpy":
        return np
    if request.param == "cupy":
        if not gpu_available():
            pytest.skip("no CUDA GPU: CuPy could not allocate")
        import cupy

        return cupy
    return pytest.importorskip(request.param)


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
