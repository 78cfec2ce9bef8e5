"""k-means: Lloyd's monotone descent, k-means++ seeding, and agreement with scikit-learn."""

import numpy as np
import pytest
from sklearn import cluster as sk
from sklearn.datasets import load_digits, load_iris, make_blobs

from scratchclassic.base import NotFittedError
from scratchclassic.cluster import KMeans, kmeans_plusplus, lloyd


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Are two labelings the same partition, up to renaming the clusters?"""
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("seed", range(5))
def test_inertia_never_increases(seed):
    X, _ = load_digits(return_X_y=True)
    model = KMeans(n_clusters=10, init="random", n_init=1, random_state=seed, tol=0).fit(X)
    history = np.array(model.inertia_history_)
    assert len(history) > 5
    assert np.all(np.diff(history) <= 1e-9 * history[0])
    assert model.inertia_ == history[-1]


def test_converged_state_is_a_fixed_point():
    X, _ = load_iris(return_X_y=True)
    model = KMeans(n_clusters=3, random_state=0, tol=0).fit(X)
    distances = ((X[:, None, :] - model.cluster_centers_[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(model.labels_, distances.argmin(axis=1))  # nearest centre
    for k in range(3):  # each centre is its cluster's mean
        np.testing.assert_allclose(model.cluster_centers_[k], X[model.labels_ == k].mean(axis=0))
    assert model.inertia_ == pytest.approx(distances.min(axis=1).sum(), rel=1e-12)
    np.testing.assert_array_equal(model.predict(X), model.labels_)


@pytest.mark.parametrize("seed", range(3))
def test_separated_blobs_give_sklearns_partition(seed):
    X, truth = make_blobs(n_samples=300, centers=4, cluster_std=0.5, random_state=seed)
    ours = KMeans(n_clusters=4, random_state=seed).fit(X)
    ref = sk.KMeans(n_clusters=4, random_state=seed).fit(X)
    assert same_partition(ours.labels_, ref.labels_)
    assert same_partition(ours.labels_, truth)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)


def test_iris_inertia_within_half_a_percent_of_sklearn():
    # Margin stated up front: k-means finds local minima, so the two libraries' best-of-10 runs
    # (different random draws) need not agree exactly; both should reach iris's best known
    # partition for k = 3, so 0.5% is generous.
    X, _ = load_iris(return_X_y=True)
    ours = KMeans(n_clusters=3, n_init=10, random_state=0).fit(X)
    ref = sk.KMeans(n_clusters=3, n_init=10, random_state=0).fit(X)
    assert abs(ours.inertia_ - ref.inertia_) <= 0.005 * ref.inertia_


def test_kmeans_plusplus_spreads_the_centres():
    # Three far-apart tight clusters: k-means++ puts one seed in each, for every seed.
    X, truth = make_blobs(n_samples=150, centers=[[-20, 0], [0, 20], [20, 0]], random_state=0)
    for seed in range(10):
        centres = kmeans_plusplus(X, 3, np.random.default_rng(seed))
        nearest = ((centres[:, None] - X[None]) ** 2).sum(axis=2).argmin(axis=1)
        assert sorted(truth[nearest]) == [0, 1, 2]


def test_empty_cluster_is_moved_not_left_behind():
    X = np.array([[0.0], [0.1], [10.0], [10.1]])
    start = np.array([[0.05], [10.05], [100.0]])  # the third centre wins no points
    _, labels, inertia, _, history = lloyd(X, start, max_iter=10, tol=0.0)
    assert len(set(labels.tolist())) == 3
    assert inertia < history[0]


def test_n_init_keeps_the_best_run_and_the_same_seed_repeats():
    X, _ = load_digits(return_X_y=True)
    one = KMeans(n_clusters=10, init="random", n_init=1, random_state=3).fit(X)
    many = KMeans(n_clusters=10, init="random", n_init=5, random_state=3).fit(X)
    assert many.inertia_ <= one.inertia_  # the first of the five runs is the single run
    again = KMeans(n_clusters=10, init="random", n_init=5, random_state=3).fit(X)
    np.testing.assert_array_equal(again.labels_, many.labels_)


def test_bad_inputs():
    X, _ = load_iris(return_X_y=True)
    with pytest.raises(
        ValueError, match=r"KMeans: n_clusters must be an integer in \[1, n_samples"
    ):
        KMeans(n_clusters=0).fit(X)
    with pytest.raises(ValueError, match="KMeans: init must be 'k-means\\+\\+', 'random'"):
        KMeans(init="kmeans").fit(X)
    with pytest.raises(ValueError, match=r"KMeans: init array must have shape \(3, 4\)"):
        KMeans(n_clusters=3, init=np.zeros((2, 4))).fit(X)
    with pytest.raises(ValueError, match="KMeans: n_init must be 'auto' or an integer >= 1"):
        KMeans(n_init=0).fit(X)
    with pytest.raises(NotFittedError, match="This KMeans instance is not fitted yet"):
        KMeans().predict(X)
    with pytest.raises(ValueError, match="X has 2 features, but KMeans is expecting 4 features"):
        KMeans(n_clusters=3).fit(X).predict(X[:, :2])
