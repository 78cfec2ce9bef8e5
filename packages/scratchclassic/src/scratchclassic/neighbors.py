r"""k-nearest neighbours for classification and regression, with vectorised distances.

Notes: ``packages/scratchclassic/notes/03-nearest-neighbours.md``.

All squared Euclidean distances between ``n`` queries and ``m`` training points come from one
matrix product, by expanding the square:

$$ \|a - b\|^2 = \|a\|^2 + \|b\|^2 - 2\,a^\top b. $$

Rounding can make the right side slightly negative for (near-)identical points, so it is clipped
at zero. Neighbours are ordered by distance with a *stable* sort, so at equal distances the
training point that comes first in ``X`` wins — the one tie rule used everywhere here.
"""

from __future__ import annotations

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    check_array,
    check_is_fitted,
    check_n_features,
    check_X_y,
    target_task,
)

WEIGHTS = ("uniform", "distance")


def squared_euclidean_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``(n, m)`` matrix of $\\|a_i - b_j\\|^2$ for ``A`` ``(n, d)`` and ``B`` ``(m, d)``."""
    a_sq = np.einsum("ij,ij->i", A, A)[:, None]
    b_sq = np.einsum("ij,ij->i", B, B)[None, :]
    return np.maximum(a_sq + b_sq - 2.0 * A @ B.T, 0.0)


class _KNeighbors(BaseEstimator):
    """What both estimators share: storing the data and finding each query's ``k`` neighbours."""

    def __init__(self, n_neighbors: int = 5, weights: str = "uniform"):
        self.n_neighbors = n_neighbors
        self.weights = weights

    def _store(self, X, y):
        name = type(self).__name__
        if self.weights not in WEIGHTS:
            raise ValueError(f"{name}: weights must be one of {WEIGHTS}, got {self.weights!r}")
        X, y = check_X_y(X, y, name, task=target_task(self))
        if not (isinstance(self.n_neighbors, int | np.integer) and 1 <= self.n_neighbors <= len(X)):
            raise ValueError(
                f"{name}: n_neighbors must be an integer in [1, n_samples = {len(X)}], "
                f"got {self.n_neighbors!r}"
            )
        self.X_fit_ = X
        self.n_features_in_ = X.shape[1]
        return y

    def kneighbors(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, indices)``, both ``(n, k)``, nearest first, for ``X`` ``(n, d)``."""
        name = type(self).__name__
        check_is_fitted(self, "X_fit_")
        X = check_array(X, name)
        check_n_features(X, self.n_features_in_, name)
        squared = squared_euclidean_distances(X, self.X_fit_)  # (n, m): memory grows as n * m
        order = np.argsort(squared, axis=1, kind="stable")[:, : self.n_neighbors]
        return np.sqrt(np.take_along_axis(squared, order, axis=1)), order

    def _neighbour_weights(self, distances: np.ndarray) -> np.ndarray:
        """``(n, k)`` vote weights: ones, or ``1 / distance`` (exact matches take all of it)."""
        if self.weights == "uniform":
            return np.ones_like(distances)
        exact = distances == 0
        with np.errstate(divide="ignore"):
            inverse = 1.0 / distances
        # A query that coincides with training points gets exactly their vote, like scikit-learn.
        return np.where(exact.any(axis=1, keepdims=True), exact.astype(float), inverse)


class KNeighborsClassifier(ClassifierMixin, _KNeighbors):
    """Majority vote of the ``n_neighbors`` nearest training points (a tie: the smaller label)."""

    def fit(self, X, y) -> KNeighborsClassifier:
        y = self._store(X, y)
        self.classes_, self._y_index = np.unique(y, return_inverse=True)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """``(n, K)``: each class's share of the (weighted) votes, columns as ``classes_``."""
        distances, indices = self.kneighbors(X)
        weights = self._neighbour_weights(distances)
        votes = np.zeros((len(indices), len(self.classes_)))
        rows = np.repeat(np.arange(len(indices)), indices.shape[1])
        np.add.at(votes, (rows, self._y_index[indices].ravel()), weights.ravel())
        return votes / votes.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """``(n,)`` labels; ``argmax`` picks the first (smallest) class on a tied vote."""
        best = np.argmax(self.predict_proba(X), axis=1)  # checks fitting first
        return self.classes_[best]


class KNeighborsRegressor(RegressorMixin, _KNeighbors):
    """The (weighted) mean target of the ``n_neighbors`` nearest training points."""

    def fit(self, X, y) -> KNeighborsRegressor:
        self._y = self._store(X, y).astype(np.float64)
        return self

    def predict(self, X) -> np.ndarray:
        """``(n,)`` predictions."""
        distances, indices = self.kneighbors(X)
        weights = self._neighbour_weights(distances)
        return np.sum(weights * self._y[indices], axis=1) / weights.sum(axis=1)
