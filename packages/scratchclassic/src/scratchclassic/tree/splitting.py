"""Impurity criteria and the sorted-threshold scan that finds a node's best split.

Notes: ``packages/scratchclassic/notes/05-trees-and-ensembles.md`` (impurity, greedy splitting).

Every criterion here is a function of a few *additive* statistics of the samples in a node, so the
statistics of "everything left of threshold $i$" for every $i$ at once are one cumulative sum
over the samples sorted by the feature:

- classification: the weighted class counts, ``stats[n] = w_n * onehot(y_n)`` ``(n, K)``;
- regression: ``stats[n] = (w_n, w_n y_n, w_n y_n^2)`` ``(n, 3)``.

``scan_thresholds`` therefore scores every threshold of every candidate feature with array
arithmetic — no Python loop over thresholds or over features.
"""

from __future__ import annotations

import numpy as np

CRITERIA = ("gini", "entropy", "log_loss", "squared_error")
# Two sorted feature values closer than this are treated as equal, as scikit-learn does: no
# threshold is placed between them.
FEATURE_THRESHOLD = 1e-7


def _entropy(counts: np.ndarray, total: np.ndarray) -> np.ndarray:
    """$-\\sum_k p_k \\log_2 p_k$ over the last axis of class weights, which sum to ``total``."""
    p = counts / total[..., None]
    logs = np.log2(np.where(p > 0, p, 1.0))  # 0 log 0 = 0
    return -(p * logs).sum(axis=-1)


def impurity(stats: np.ndarray, criterion: str) -> np.ndarray:
    """Impurity of nodes given their summed statistics ``(..., s)`` -> ``(...)``.

    Gini $1 - \\sum_k p_k^2$; entropy $-\\sum_k p_k \\log_2 p_k$; squared error = the weighted
    variance $\\overline{y^2} - \\bar y^2$.
    """
    if criterion == "squared_error":
        w = stats[..., 0]
        return stats[..., 2] / w - (stats[..., 1] / w) ** 2
    total = stats.sum(axis=-1)
    if criterion == "gini":
        return 1.0 - ((stats / total[..., None]) ** 2).sum(axis=-1)
    return _entropy(stats, total)


def split_proxy(left: np.ndarray, right: np.ndarray, criterion: str) -> np.ndarray:
    """A score, larger = better, with the same order as the impurity decrease of each split.

    ``left``/``right`` ``(..., s)`` are the children's statistics. The parent's impurity is the
    same for every candidate, so only the children's weighted impurity
    $w_L\\,i(L) + w_R\\,i(R)$ matters; for Gini and squared error the terms that do not depend on
    the split cancel, leaving $\\sum_k c_{Lk}^2 / w_L + \\sum_k c_{Rk}^2 / w_R$ and
    $S_L^2 / w_L + S_R^2 / w_R$ ($S$ = weighted sum of $y$).
    """
    if criterion == "squared_error":
        return left[..., 1] ** 2 / left[..., 0] + right[..., 1] ** 2 / right[..., 0]
    w_left, w_right = left.sum(axis=-1), right.sum(axis=-1)
    if criterion == "gini":
        return (left**2).sum(axis=-1) / w_left + (right**2).sum(axis=-1) / w_right
    return -(w_left * _entropy(left, w_left) + w_right * _entropy(right, w_right))


def scan_thresholds(
    X: np.ndarray, stats: np.ndarray, criterion: str, min_samples_leaf: int
) -> tuple[np.ndarray, np.ndarray]:
    """Score every threshold of every column of ``X`` ``(n, f)`` at once.

    Returns, per column, the best score ``(f,)`` (``-inf`` when the column has no valid
    threshold), and its threshold ``(f,)``. ``stats`` is ``(n, s)``. The split after sorted
    position ``i`` sends the ``i + 1`` smallest values left; it is valid when the values on
    either side differ and both children keep ``min_samples_leaf`` samples. Among equal scores
    within a column the smallest threshold wins (``argmax`` returns the first).
    """
    n = len(X)
    order = np.argsort(X, axis=0, kind="stable")  # (n, f)
    values = np.take_along_axis(X, order, axis=0)
    left = np.cumsum(stats[order], axis=0)[:-1]  # (n - 1, f, s): statistics left of each cut
    right = stats.sum(axis=0) - left
    n_left = np.arange(1, n)[:, None]
    valid = (
        (values[1:] > values[:-1] + FEATURE_THRESHOLD)
        & (n_left >= min_samples_leaf)
        & (n - n_left >= min_samples_leaf)
    )
    with np.errstate(divide="ignore", invalid="ignore"):  # empty children only where not valid
        score = np.where(valid, split_proxy(left, right, criterion), -np.inf)
    position = score.argmax(axis=0)
    columns = np.arange(X.shape[1])
    low, high = values[position, columns], values[np.minimum(position + 1, n - 1), columns]
    threshold = (low + high) / 2.0
    # Rounding can land the midpoint on the right value: then stay left of it, as scikit-learn.
    threshold = np.where(threshold == high, low, threshold)
    return score[position, columns], threshold


def best_split(
    X: np.ndarray,
    stats: np.ndarray,
    criterion: str,
    features: np.ndarray,
    min_samples_leaf: int,
    max_features: int,
) -> tuple[int, float] | None:
    """The best ``(feature, threshold)`` for a node, or ``None`` if no valid split exists.

    ``X`` ``(n, d)`` and ``stats`` ``(n, s)`` are the node's samples; ``features`` is the order
    in which to try the features. The search stops after ``max_features`` features that had at
    least one valid threshold (so, as in scikit-learn, constant features do not use up the
    budget). Among equally good splits the first one found wins.
    """
    best, best_score, tried, start = None, -np.inf, 0, 0
    # Usually one pass: the first max_features candidates, all scored together. Another pass
    # only happens when some of them turned out constant in this node.
    while tried < max_features and start < len(features):
        block = features[start : start + max_features - tried]
        start += len(block)
        score, threshold = scan_thresholds(X[:, block], stats, criterion, min_samples_leaf)
        has_split = np.isfinite(score)
        tried += int(has_split.sum())
        if has_split.any():
            column = int(np.argmax(score))  # the first of equal scores, in the given order
            if score[column] > best_score:
                best, best_score = (int(block[column]), float(threshold[column])), score[column]
    return best
