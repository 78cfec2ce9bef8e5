"""The scores the comparisons use: accuracy, R², mean squared error and its root.

Notes: ``packages/scratchclassic/notes/01-linear-models.md`` (R² as the fraction of variance
explained).
"""

from __future__ import annotations

import numpy as np


def _paired(y_true, y_pred, owner: str) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(
            f"{owner}: y_true and y_pred must be non-empty 1-D arrays of one shape, "
            f"got {y_true.shape} and {y_pred.shape}"
        )
    return y_true, y_pred


def _weights(sample_weight, n: int, owner: str) -> np.ndarray:
    """``(n,)`` weights, all ones when ``None``; a score is then a weighted mean over examples."""
    if sample_weight is None:
        return np.ones(n)
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != (n,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            f"{owner}: sample_weight must be {n} finite non-negative numbers, got shape "
            f"{weights.shape}"
        )
    if weights.sum() == 0:
        raise ValueError(f"{owner}: sample weights are all zero")
    return weights


def accuracy_score(y_true, y_pred, sample_weight=None) -> float:
    """Fraction of ``(n,)`` predictions equal to the ``(n,)`` true labels (weighted, if given)."""
    y_true, y_pred = _paired(y_true, y_pred, "accuracy_score")
    weights = _weights(sample_weight, len(y_true), "accuracy_score")
    return float(np.sum(weights * (y_true == y_pred)) / np.sum(weights))


def mean_squared_error(y_true, y_pred) -> float:
    """``mean((y_true - y_pred)²)`` over ``(n,)`` targets."""
    y_true, y_pred = _paired(y_true, y_pred, "mean_squared_error")
    return float(np.mean((y_true.astype(np.float64) - y_pred) ** 2))


def root_mean_squared_error(y_true, y_pred) -> float:
    """The square root of ``mean_squared_error``: an error in the targets' own units."""
    return float(np.sqrt(mean_squared_error(y_true, y_pred)))


def r2_score(y_true, y_pred, sample_weight=None) -> float:
    """``1 - SS_res / SS_tot``: 1 is perfect, 0 is predicting the mean, negative is worse.

    A constant ``y_true`` has ``SS_tot = 0``; like scikit-learn, the score is then 1.0 for a
    perfect prediction and 0.0 otherwise. With ``sample_weight`` both sums and the mean are
    weighted, as scikit-learn's.
    """
    y_true, y_pred = _paired(y_true, y_pred, "r2_score")
    y_true = y_true.astype(np.float64)
    weights = _weights(sample_weight, len(y_true), "r2_score")
    ss_res = np.sum(weights * (y_true - y_pred) ** 2)
    mean = np.sum(weights * y_true) / np.sum(weights)
    ss_tot = np.sum(weights * (y_true - mean) ** 2)
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return float(1.0 - ss_res / ss_tot)
