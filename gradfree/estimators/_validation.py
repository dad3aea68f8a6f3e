"""Input checks of the estimators: scikit-learn's for host data, the same rules on any namespace.

NumPy input (and lists, DataFrames, sparse matrices) goes through scikit-learn's
``validate_data``, so the errors are scikit-learn's own (NaN or inf, sparse input,
complex data, a wrong number of features, a missing ``y``). Arrays of another array
namespace (CuPy, array-api-strict, a second device) are checked by the same rules here
and stay where they are, so that a fit and its predictions keep the namespace and
device of ``X``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj
from sklearn.utils import assert_all_finite
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d, validate_data

from .._array import get_xp, to_host

__all__ = [
    "CONTINUOUS_DATA_CHECKS",
    "check_X",
    "check_Xy",
    "check_n_features",
    "validate_X",
    "validate_Xy",
]

_FLOATS = [np.float64, np.float32]

CONTINUOUS_DATA_CHECKS = (
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_readonly_memmap_input",
)
"""scikit-learn's estimator checks that fit on continuous random data: an estimator of
discrete data (counts, symbol sequences) rejects that data, so it lists these among its
expected failures, with the reason."""


def _foreign(X: Any) -> bool:
    """Whether `X` is an array of a namespace other than NumPy (CuPy, array-api-strict)."""
    return is_array_api_obj(X) and not isinstance(X, np.ndarray)


def check_X(X: Any, name: str = "X") -> Any:
    """`X` as a finite, non-empty 2-d real-floating array of its own namespace, or raise.

    Lists and tuples become NumPy arrays; integer input becomes float64. Used by the
    solvers (``init``, ``step``), which take arrays of any namespace.

    Raises
    ------
    ValueError
        For a wrong rank, no rows or columns, or NaN/inf.
    TypeError
        For complex, boolean or non-numeric input.

    Examples
    --------
    >>> check_X([[0, 1], [2, 3]]).dtype
    dtype('float64')
    """
    if not is_array_api_obj(X):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"`{name}` must be a 2-d numeric array.") from exc
        if X.dtype.kind not in "biuf":
            raise TypeError(f"`{name}` must be real numeric; got dtype {X.dtype}.")
    xp, _ = get_xp(X)
    if X.ndim != 2:
        raise ValueError(f"`{name}` must be 2-d (n_samples, n_features); got {X.ndim}-d.")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"`{name}` must be non-empty; got shape {tuple(X.shape)}.")
    if xp.isdtype(X.dtype, "complex floating") or xp.isdtype(X.dtype, "bool"):
        raise TypeError(f"`{name}` must be real numeric; got dtype {X.dtype}.")
    if not xp.isdtype(X.dtype, "real floating"):
        X = xp.astype(X, xp.float64)
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"Input {name} contains NaN or infinity.")
    return X


def check_Xy(X: Any, Y: Any) -> tuple[Any, Any]:
    """Check inputs `X` ``(n, d)`` and targets `Y` ``(n, k)``; `Y` gets the namespace and
    dtype of `X`.

    Examples
    --------
    >>> X, Y = check_Xy(np.zeros((3, 2)), np.eye(3))
    >>> Y.shape
    (3, 3)
    """
    X = check_X(X)
    xp, dev = get_xp(X)
    if not is_array_api_obj(Y):
        Y = xp.asarray(np.asarray(Y), device=dev)
    Y = check_X(Y, "Y")
    if Y.shape[0] != X.shape[0]:
        raise ValueError(
            f"`X` and `Y` have different numbers of rows: {X.shape[0]} and {Y.shape[0]}."
        )
    return X, xp.astype(Y, X.dtype)


def check_n_features(est: Any, X: Any, reset: bool) -> None:
    """Set (`reset`) or check ``n_features_in_`` of `est` with scikit-learn's message.

    For estimators whose inputs are not plain feature matrices (counts, sequences),
    which check their data themselves.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> est = BaseEstimator()
    >>> check_n_features(est, np.ones((2, 3)), reset=True)
    >>> est.n_features_in_
    3
    """
    n = X.shape[1]
    if reset:
        est.n_features_in_ = n
        if hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
    elif n != est.n_features_in_:
        raise ValueError(
            f"X has {n} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input."
        )


def validate_X(est: Any, X: Any, *, reset: bool) -> Any:
    """`X` checked for `est` (``n_features_in_`` set when `reset`, else compared).

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> est = BaseEstimator()
    >>> validate_X(est, [[1, 2]], reset=True).dtype, est.n_features_in_
    (dtype('float64'), 2)
    """
    if _foreign(X):
        X = check_X(X)
        check_n_features(est, X, reset)
        return X
    return validate_data(est, X, reset=reset, dtype=_FLOATS)


def validate_Xy(est: Any, X: Any, y: Any, *, classifier: bool) -> tuple[Any, np.ndarray]:
    """`X` and targets `y` checked for fitting `est`; `y` comes back as a host NumPy array.

    For a classifier, `y` must hold class labels (continuous targets and NaN raise);
    for a regressor, finite numbers. A column vector `y` is raveled with a
    ``DataConversionWarning``, as in scikit-learn.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> X, y = validate_Xy(BaseEstimator(), np.ones((3, 2)), ["a", "b", "a"], classifier=True)
    >>> X.shape, y.tolist()
    ((3, 2), ['a', 'b', 'a'])
    """
    if _foreign(X):
        X = check_X(X)
        check_n_features(est, X, True)
        if y is None:
            raise ValueError(
                f"{type(est).__name__} requires y to be passed, but the target y is None."
            )
        y = column_or_1d(to_host(y), warn=True)
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: "
                f"[{X.shape[0]}, {y.shape[0]}]"
            )
        if not classifier:
            y = np.asarray(y, dtype=np.float64)
        if y.dtype.kind in "fc":
            assert_all_finite(y, input_name="y")
    else:
        X, y = validate_data(est, X, y, dtype=_FLOATS, y_numeric=not classifier)
    if classifier:
        check_classification_targets(y)
    return X, np.asarray(y)
