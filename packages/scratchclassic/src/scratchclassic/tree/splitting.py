"""Impurity criteria and the sorted-threshold scan that finds a node's best split.

Notes: ``packages/scratchclassic/notes/05-trees-and-ensembles.md`` (impurity, greedy splitting).

Every criterion here is a function of a few *additive* statistics of the samples in a node, so the
statistics of "everything left of threshold $i$" for every $i$ at once are one cumulative sum
over the samples sorted by the feature:

- classification: the weighted class counts, ``stats[n] = w_n * onehot(y_n)`` ``(n, K)``;
- regression: ``stats[n] = (w_n, w_n y_n, w_n y_n^2)`` ``(n, 3)``.

``best_split`` therefore evaluates every threshold of a feature with array arithmetic — the only
Python loop is over the candidate features.
"""

from __future__ import annotations

import numpy as np

CRITERIA = ("gini", "entropy", "log_loss", "squared_error")
# Two sorted feature values closer than this are treated as equal, as scikit-learn does: no
# threshold is placed between them.
FEATURE_THRESHOLD = 1e-7


def _entropy(counts: np.ndarray, total: np.ndarray) -> np.ndarray:
    """$-\\sum_k p_k \\log_2 p_k$ per row of class weights ``(m, K)`` summing to ``total``."""
    p = counts / total[:, None]
    logs = np.log2(np.where(p > 0, p, 1.0))  # 0 log 0 = 0
    return -(p * logs).sum(axis=1)


def impurity(stats: np.ndarray, criterion: str) -> np.ndarray:
    """Impurity of nodes given their summed statistics ``(m, s)`` -> ``(m,)``.

    Gini $1 - \\sum_k p_k^2$; entropy $-\\sum_k p_k \\log_2 p_k$; squared error = the weighted
    variance $\\overline{y^2} - \\bar y^2$.
    """
    if criterion == "squared_error":
        w = stats[:, 0]
        return stats[:, 2] / w - (stats[:, 1] / w) ** 2
    total = stats.sum(axis=1)
    if criterion == "gini":
        return 1.0 - ((stats / total[:, None]) ** 2).sum(axis=1)
    return _entropy(stats, total)


def split_proxy(left: np.ndarray, right: np.ndarray, criterion: str) -> np.ndarray:
    """A score, larger = better, with the same order as the impurity decrease of each split.

    ``left``/``right`` ``(m, s)`` are the children's statistics. The parent's impurity is the
    same for every candidate, so only the children's weighted impurity
    $w_L\\,i(L) + w_R\\,i(R)$ matters; for Gini and squared error the terms that do not depend on
    the split cancel, leaving $\\sum_k c_{Lk}^2 / w_L + \\sum_k c_{Rk}^2 / w_R$ and
    $S_L^2 / w_L + S_R^2 / w_R$ ($S$ = weighted sum of $y$).
    """
    if criterion == "squared_error":
        return left[:, 1] ** 2 / left[:, 0] + right[:, 1] ** 2 / right[:, 0]
    w_left, w_right = left.sum(axis=1), right.sum(axis=1)
    if criterion == "gini":
        return (left**2).sum(axis=1) / w_left + (right**2).sum(axis=1) / w_right
    return -(w_left * _entropy(left, w_left) + w_right * _entropy(right, w_right))


def best_split(
    X: np.ndarray,
    stats: np.ndarray,
    criterion: str,
    features: np.ndarray,
    min_samples_leaf: int,
    max_features: int,
) -> tuple[int, float] | None:
    """The best ``(feature, threshold)`` for a node, or ``None`` if no valid split exists.

    ``X`` ``(n, d)`` and ``stats`` ``(n, s)`` are the node's samples. ``features`` is the order
    in which to try them; the search stops after ``max_features`` features that had at least one
    valid threshold (so, as in scikit-learn, constant features do not use up the budget). A
    threshold is midway between two consecutive distinct sorted values, and both children must
    keep ``min_samples_leaf`` samples. Among equally good splits the first one found wins.
    """
    n = len(X)
    total = stats.sum(axis=0)
    best, best_score, tried = None, -np.inf, 0
    # Loop over candidate features on purpose; all thresholds of one feature are scored at once.
    for feature in features:
        order = np.argsort(X[:, feature], kind="stable")
        values = X[order, feature]
        # Split after sorted position i (i = 0 .. n-2): the left child holds the first i + 1.
        n_left = np.arange(1, n)
        valid = (
            (values[1:] > values[:-1] + FEATURE_THRESHOLD)
            & (n_left >= min_samples_leaf)
            & (n - n_left >= min_samples_leaf)
        )
        if not valid.any():
            continue
        left = np.cumsum(stats[order], axis=0)[:-1][valid]
        score = split_proxy(left, total - left, criterion)
        position = int(np.argmax(score))  # the first of equal scores
        if score[position] > best_score:
            i = np.flatnonzero(valid)[position]
            threshold = (values[i] + values[i + 1]) / 2.0
            if threshold == values[i + 1]:  # rounding landed on the right value: stay left of it
                threshold = values[i]
            best, best_score = (int(feature), float(threshold)), score[position]
        tried += 1
        if tried >= max_features:
            break
    return best
