"""Turning what a user passes to an estimator into what the engine takes, and refusing the rest.

One code path, with or without scikit-learn installed: the messages are scikit-learn's own
wording where its estimator checks look for it ("Complex data not supported", "Reshape your
data", "Unknown label type", "X has 3 features, but ... is expecting 4"), so the estimators
behave the same either way. The features become a C-contiguous float32 array: an array that
already is one passes through without a copy. NaN and infinity in X are found by the engine
as it reads the rows (one pass, naming row and column).
"""

from __future__ import annotations

import warnings
from typing import Any, Optional, Tuple

import numpy as np

try:  # scikit-learn's warning and error classes, so that its filters and checks see them
    from sklearn.exceptions import DataConversionWarning, NotFittedError
except ImportError:  # pragma: no cover - exercised without scikit-learn

    class DataConversionWarning(UserWarning):
        """A warning that the input was converted (as scikit-learn's)."""

    class NotFittedError(ValueError, AttributeError):
        """An estimator used before `fit` (as scikit-learn's)."""


_RESHAPE = (
    "Reshape your data either using array.reshape(-1, 1) if your data has a single feature "
    "or array.reshape(1, -1) if it contains a single sample."
)


def _is_sparse(X: Any) -> bool:
    module = type(X).__module__ or ""
    return module.startswith("scipy.sparse") or hasattr(X, "tocsr") and hasattr(X, "nnz")


def feature_names(X: Any) -> Optional[np.ndarray]:
    """A DataFrame's column names when they are all strings (as scikit-learn keeps them)."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "iloc"):
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    return None


def features(X: Any, owner: str) -> np.ndarray:
    """`X` as a 2-D C-contiguous float32 array: as it is when it already is one, else
    converted (float64, ints, lists, DataFrames). Sparse, complex, text, empty or not 2-D
    input raises with what to do."""
    if X is None:
        raise ValueError(f"{owner} requires X to be passed, but X is None: Expected 2D array, got None")
    if _is_sparse(X):
        raise TypeError(
            f"{owner} does not accept sparse input (a scipy.sparse matrix or array): "
            "convert it with X.toarray() if it fits in memory"
        )
    array = X if isinstance(X, np.ndarray) else np.asarray(X)
    if array.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{X}\n")
    if array.ndim == 0:
        raise ValueError(f"Expected 2D array, got scalar array instead:\narray={X}.\n{_RESHAPE}")
    if array.ndim == 1:
        raise ValueError(f"Expected 2D array, got 1D array instead:\narray={X}.\n{_RESHAPE}")
    if array.ndim > 2:
        raise ValueError(f"Found array with dim {array.ndim}, while dim <= 2 is required by {owner}.")
    if array.dtype.kind not in "biuf":
        try:
            # An object array of numbers converts; a dict in it raises numpy's TypeError.
            array = array.astype(np.float64)
        except ValueError as e:
            raise ValueError(f"{owner} takes numbers only; X holds values that are not: {e}") from e
    rows, cols = array.shape
    if rows == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={array.shape}) while a minimum of 1 is required by {owner}.")
    if cols == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={array.shape}) while a minimum of 1 is required by {owner}.")
    with np.errstate(over="ignore"):
        # Values beyond float32's range become infinity, which the engine then refuses.
        return np.ascontiguousarray(array, dtype=np.float32)


def target_vector(y: Any, rows: int, owner: str) -> np.ndarray:
    """`y` as a 1-D array of `rows` values; a column vector is accepted with scikit-learn's
    DataConversionWarning."""
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None.")
    array = np.asarray(y)
    if array.ndim == 2 and array.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the shape of y to "
            "(n_samples, ), for example using ravel().",
            DataConversionWarning,
            stacklevel=3,
        )
        array = array.ravel()
    if array.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {array.shape} instead.")
    if array.shape[0] != rows:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: [{rows}, {array.shape[0]}]")
    return array


def class_labels(y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The sorted distinct labels of `y` and each row's index among them; refuses a
    regression target (non-whole floats) and missing labels."""
    if y.dtype.kind == "f":
        if np.isnan(y).any():
            raise ValueError("Input y contains NaN.")
        if not np.isfinite(y).all():
            raise ValueError("Input y contains infinity or a value too large for dtype('float64').")
        if (y != np.round(y)).any():
            raise ValueError(
                "Unknown label type: continuous. A classifier takes discrete classes; "
                "for a continuous target use nabla.MLPRegressor."
            )
    elif y.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and v != v) for v in y):
            raise ValueError("Input y contains NaN or None.")
    try:
        classes, indices = np.unique(y, return_inverse=True)
    except TypeError as e:
        raise ValueError(f"Unknown label type: labels of mixed types cannot be sorted ({e})") from e
    return classes, indices.astype(np.int64).ravel()


def regression_values(y: np.ndarray) -> np.ndarray:
    """`y` as float64 values (the engine refuses NaN and infinity)."""
    try:
        return np.ascontiguousarray(y, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"a regression target must be numbers: {e}") from e


def check_names(fitted: Optional[np.ndarray], X: Any, owner: str) -> None:
    """Compares the column names of `X` with those seen in fit, as scikit-learn does: a
    mismatch raises, a DataFrame after an array (or the reverse) warns."""
    names = feature_names(X)
    if fitted is None and names is None:
        return
    if fitted is None:
        warnings.warn(f"X has feature names, but {owner} was fitted without feature names", UserWarning, stacklevel=3)
        return
    if names is None:
        warnings.warn(
            f"X does not have valid feature names, but {owner} was fitted with feature names", UserWarning, stacklevel=3
        )
        return
    if len(names) != len(fitted) or (names != fitted).any():
        unseen = [n for n in names if n not in set(fitted)]
        missing = [n for n in fitted if n not in set(names)]
        detail = ""
        if unseen:
            detail += f"\nFeature names unseen at fit time: {unseen[:10]}"
        if missing:
            detail += f"\nFeature names seen at fit time, yet now missing: {missing[:10]}"
        if not detail:
            detail = "\nFeature names must be in the same order as they were in fit."
        raise ValueError(f"The feature names should match those that were passed during fit.{detail}")
