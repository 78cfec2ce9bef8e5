"""What every estimator shares: input checks, the not-fitted error, and the default ``score``.

Notes: ``packages/scratchclassic/notes/01-linear-models.md`` (the conventions section).

The conventions are scikit-learn's (DESIGN.md §5), so a learner can swap one library for the
other: hyperparameters in ``__init__``, ``fit(X, y)`` returns ``self``, learned attributes end in
``_``, and ``score`` is accuracy for a classifier and R² for a regressor.
"""

from __future__ import annotations

import numpy as np

from scratchclassic.metrics import accuracy_score, r2_score


class NotFittedError(RuntimeError):
    """Raised when ``predict`` (or any use of learned attributes) comes before ``fit``."""


def check_array(X, owner: str, name: str = "X", ndim: int = 2) -> np.ndarray:
    """``X`` as a finite float64 array with ``ndim`` dimensions and at least one row.

    ``owner`` names the estimator or function in the error message, so a learner sees *where*
    the bad input arrived.
    """
    array = np.asarray(X, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"{owner}: {name} must have {ndim} dimensions, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{owner}: {name} has no rows (shape {array.shape})")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{owner}: {name} contains NaN or infinity")
    return array


def check_X_y(X, y, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """``X`` ``(n, d)`` float64 and ``y`` ``(n,)``, checked to have the same number of rows.

    ``y`` keeps its dtype (class labels may be strings or ints); only its shape is checked.
    """
    X = check_array(X, owner)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{owner}: y must be 1-D, got shape {y.shape}")
    if len(y) != len(X):
        raise ValueError(f"{owner}: X has {len(X)} rows but y has {len(y)}")
    return X, y


def check_is_fitted(estimator: object, attribute: str) -> None:
    """Raise ``NotFittedError`` naming the estimator unless ``fit`` has set ``attribute``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"{type(estimator).__name__} is not fitted yet: call fit(X, y) before using it"
        )


def check_n_features(X: np.ndarray, expected: int, owner: str) -> None:
    """Raise if ``X`` has a different number of columns than the data ``fit`` saw."""
    if X.shape[1] != expected:
        raise ValueError(f"{owner}: X has {X.shape[1]} features, but fit saw {expected}")


class ClassifierMixin:
    """``score(X, y)`` = accuracy of ``predict(X)``, as scikit-learn's classifiers."""

    def score(self, X, y) -> float:
        return accuracy_score(y, self.predict(X))


class RegressorMixin:
    """``score(X, y)`` = R² (coefficient of determination) of ``predict(X)``."""

    def score(self, X, y) -> float:
        return r2_score(y, self.predict(X))
