"""Fixtures of the local-rule tests: one BLAS thread, standardized digits, the control."""

from __future__ import annotations

import pytest
from _data import DIGITS

from gradfree.datasets import load_digits
from gradfree.local import ReadoutOnlyLocalClassifier


@pytest.fixture(autouse=True)
def _blas(one_blas_thread):
    """Every test here runs on one BLAS thread."""


@pytest.fixture(scope="session")
def digits():
    """``(X, y, X_test, y_test)``, standardized by the training mean and deviation."""
    data = load_digits()
    mu, sd = data.X_train.mean(0), data.X_train.std(0) + 1e-8
    return (data.X_train - mu) / sd, data.y_train, (data.X_test - mu) / sd, data.y_test


@pytest.fixture(scope="session")
def control(digits):
    """Readout-only test accuracy for seeds 0..2 under `DIGITS`."""
    X, y, Xt, yt = digits
    return [ReadoutOnlyLocalClassifier(**DIGITS, rng=s).fit(X, y).score(Xt, yt) for s in range(3)]
