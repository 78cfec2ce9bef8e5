"""Lloyd's iterations (notes/06-unsupervised.md) from a given start, against scikit-learn.

From the same initial centres Lloyd's algorithm is deterministic, so ``lloyd`` and
``sklearn.cluster.KMeans(init=centres, n_init=1, algorithm="lloyd")`` must reach the same fixed
point: the same partition, centres and inertia. At that point each centre is the mean of its
cluster and each point's label is its nearest centre — checked directly as well, and through
``KMeans`` with an array ``init`` (which does not draw k-means++ seeds).
"""

import numpy as np
import pytest
from sklearn import cluster as sk
from sklearn.datasets import load_iris, make_blobs

from scratchclassic.cluster import KMeans, lloyd


@pytest.mark.parametrize("data", ["iris", "blobs"])
def test_lloyd_from_given_centres_is_sklearns_lloyd(data):
    if data == "iris":
        X, _ = load_iris(return_X_y=True)
        start = X[[0, 50, 100]].copy()
    else:
        X, _ = make_blobs(n_samples=200, centers=5, cluster_std=2.0, random_state=3)
        start = X[:5].copy()
    centres, labels, inertia, n_iter, history = lloyd(X, start.copy(), max_iter=300, tol=0.0)
    ref = sk.KMeans(len(start), init=start, n_init=1, algorithm="lloyd", tol=0.0).fit(X)
    np.testing.assert_array_equal(labels, ref.labels_)
    np.testing.assert_allclose(centres, ref.cluster_centers_, rtol=1e-12, atol=1e-12)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-10)
    assert inertia == history[-1] and n_iter >= 2
    distances = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels, distances.argmin(axis=1))  # nearest centre
    for k in range(len(start)):  # each centre is the mean of its cluster
        np.testing.assert_allclose(centres[k], X[labels == k].mean(axis=0), rtol=1e-12)
    assert inertia == pytest.approx(distances.min(axis=1).sum(), rel=1e-12)
    model = KMeans(n_clusters=len(start), init=start, tol=0.0).fit(X)
    np.testing.assert_array_equal(model.labels_, ref.labels_)
