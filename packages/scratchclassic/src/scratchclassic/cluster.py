r"""k-means: Lloyd's algorithm from a k-means++ start, best of ``n_init`` runs.

Notes: ``packages/scratchclassic/notes/06-unsupervised.md`` (section "k-means").

k-means minimises the *inertia* $J(c, \mu) = \sum_i \|x_i - \mu_{c_i}\|^2$ over assignments $c$
and centres $\mu$ ``(k, d)``. Lloyd's algorithm is coordinate descent on $J$: with the centres
fixed the best assignment sends each point to its nearest centre; with the assignment fixed the
best centre is the mean of its points. Neither step can increase $J$, so the inertia recorded
after each assignment never goes up (``inertia_history_``), and since there are finitely many
assignments the algorithm stops — at a local minimum, which is why the start matters.

k-means++ picks the first centre uniformly and each next one with probability proportional to
$D(x)^2$, the squared distance to the nearest centre chosen so far. Like scikit-learn's
("greedy" k-means++), it draws $2 + \lfloor\ln k\rfloor$ candidates each time and keeps the one
that lowers the potential $\sum_x D(x)^2$ the most.
"""

from __future__ import annotations

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    ClusterMixin,
    TransformerMixin,
    check_array,
    check_is_fitted,
    check_n_features,
)


def squared_distances(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(n, k)`` squared distances via $\\|x\\|^2 + \\|\\mu\\|^2 - 2x^\\top\\mu$, clipped at 0."""
    x_sq = np.einsum("ij,ij->i", X, X)[:, None]
    c_sq = np.einsum("ij,ij->i", centres, centres)[None, :]
    return np.maximum(x_sq + c_sq - 2.0 * X @ centres.T, 0.0)


def kmeans_plusplus(X: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_clusters, d)`` initial centres by greedy k-means++ (see the module docstring)."""
    n = len(X)
    n_trials = 2 + int(np.log(n_clusters))
    centres = np.empty((n_clusters, X.shape[1]))
    centres[0] = X[rng.integers(n)]
    closest = squared_distances(X, centres[:1])[:, 0]  # D(x)² to the nearest chosen centre
    for c in range(1, n_clusters):  # one centre at a time: each depends on the previous ones
        total = closest.sum()
        if total == 0:  # every point already coincides with a centre: any point will do
            candidates = rng.integers(n, size=n_trials)
        else:
            candidates = rng.choice(n, size=n_trials, p=closest / total)
        # (n, trials): the potential each candidate would leave; keep the best candidate.
        candidate_closest = np.minimum(closest[:, None], squared_distances(X, X[candidates]))
        best = np.argmin(candidate_closest.sum(axis=0))
        centres[c] = X[candidates[best]]
        closest = candidate_closest[:, best]
    return centres


def lloyd(X: np.ndarray, centres: np.ndarray, max_iter: int, tol: float):
    """Lloyd iterations from ``centres``; ``(centres, labels, inertia, n_iter, inertia_history)``.

    Stops when the assignment stops changing or the centres move less than ``tol`` (sum of
    squared shifts). An empty cluster is moved onto the point farthest from its centre.
    """
    k = len(centres)
    history, labels, iteration = [], None, 0
    while iteration < max_iter:  # Lloyd iterations, on purpose
        iteration += 1
        distances = squared_distances(X, centres)
        new_labels = np.argmin(distances, axis=1)
        point_costs = distances[np.arange(len(X)), new_labels]
        history.append(float(point_costs.sum()))
        if labels is not None and np.array_equal(new_labels, labels):
            return centres, labels, history[-1], iteration, history  # a fixed point
        labels = new_labels
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, X)
        new_centres = centres.copy()
        filled = counts > 0
        new_centres[filled] = sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if len(empty):
            farthest = np.argsort(point_costs, kind="stable")[::-1][: len(empty)]
            new_centres[empty] = X[farthest]
        shift = np.sum((new_centres - centres) ** 2)
        centres = new_centres
        if shift <= tol:
            break
    # The centres moved after the last assignment: assign once more so labels match them.
    distances = squared_distances(X, centres)
    labels = np.argmin(distances, axis=1)
    history.append(float(distances[np.arange(len(X)), labels].sum()))
    return centres, labels, history[-1], iteration, history


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """Partition ``(n, d)`` data into ``n_clusters`` groups around centres (scikit-learn's API).

    ``init``: ``"k-means++"``, ``"random"`` (k distinct points) or an ``(n_clusters, d)`` array.
    ``n_init="auto"`` is 1 run for k-means++ and for an array, 10 for ``"random"``; the run with
    the lowest inertia is kept. ``tol`` is relative to the mean feature variance, as in
    scikit-learn. After ``fit``: ``cluster_centers_`` ``(k, d)``, ``labels_`` ``(n,)``,
    ``inertia_``, ``n_iter_`` and ``inertia_history_`` (the kept run's inertia per iteration).
    """

    def __init__(
        self,
        n_clusters: int = 8,
        init="k-means++",
        n_init="auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: int | None = None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _initial_centres(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if isinstance(self.init, str) and self.init == "k-means++":
            return kmeans_plusplus(X, self.n_clusters, rng)
        if isinstance(self.init, str) and self.init == "random":
            return X[rng.choice(len(X), size=self.n_clusters, replace=False)].copy()
        centres = np.asarray(self.init, dtype=np.float64)
        if centres.shape != (self.n_clusters, X.shape[1]):
            raise ValueError(
                f"KMeans: init array must have shape {(self.n_clusters, X.shape[1])}, "
                f"got {centres.shape}"
            )
        return centres.copy()

    def fit(self, X, y=None) -> KMeans:
        """Cluster ``X`` ``(n, d)``; ``y`` is ignored (unsupervised)."""
        X = check_array(X, "KMeans")
        if not (isinstance(self.n_clusters, int | np.integer) and 1 <= self.n_clusters <= len(X)):
            raise ValueError(
                f"KMeans: n_clusters must be an integer in [1, n_samples = {len(X)}], "
                f"got {self.n_clusters!r}"
            )
        if isinstance(self.init, str) and self.init not in ("k-means++", "random"):
            raise ValueError(
                f"KMeans: init must be 'k-means++', 'random' or an array, got {self.init!r}"
            )
        n_init = self.n_init
        if n_init == "auto":
            n_init = 10 if isinstance(self.init, str) and self.init == "random" else 1
        if not (isinstance(n_init, int | np.integer) and n_init >= 1):
            raise ValueError(
                f"KMeans: n_init must be 'auto' or an integer >= 1, got {self.n_init!r}"
            )
        rng = np.random.default_rng(self.random_state)
        absolute_tol = self.tol * np.mean(np.var(X, axis=0))
        best = None
        for _ in range(n_init):  # independent restarts, on purpose
            run = lloyd(X, self._initial_centres(X, rng), self.max_iter, absolute_tol)
            if best is None or run[2] < best[2]:
                best = run
        (
            self.cluster_centers_,
            self.labels_,
            self.inertia_,
            self.n_iter_,
            self.inertia_history_,
        ) = best
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """``(n,)`` index of the nearest centre for each row of ``X``."""
        check_is_fitted(self, "cluster_centers_")
        X = check_array(X, "KMeans")
        check_n_features(X, self.n_features_in_, "KMeans")
        return np.argmin(squared_distances(X, self.cluster_centers_), axis=1)

    def score(self, X, y=None) -> float:
        """Minus the inertia of ``X`` (its squared distances to the nearest centres, summed): the
        higher the better, as scikit-learn's ``score`` promises, so a grid search can use it."""
        return -float(np.sum(np.min(self.transform(X) ** 2, axis=1)))

    def transform(self, X) -> np.ndarray:
        """``(n, k)`` Euclidean distances to every centre."""
        check_is_fitted(self, "cluster_centers_")
        X = check_array(X, "KMeans")
        check_n_features(X, self.n_features_in_, "KMeans")
        return np.sqrt(squared_distances(X, self.cluster_centers_))
