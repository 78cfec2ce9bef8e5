"""k-nearest neighbours against scikit-learn's brute-force search: the same predictions, point
for point, wherever the k nearest neighbours are uniquely defined."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn import neighbors as sk
from sklearn.datasets import load_diabetes, load_iris, load_wine
from sklearn.model_selection import train_test_split

from scratchclassic.base import NotFittedError
from scratchclassic.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    squared_euclidean_distances,
)


def split(loader):
    X, y = loader(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0)


def boundary_tied(X_train, X_test, k):
    """``(n_test,)``: is the k-th nearest distance equal (to 1e-9) to the (k+1)-th? Then which
    training point is "the" k-th neighbour is a matter of tie-breaking, not of geometry."""
    d = np.sort(cdist(X_test, X_train), axis=1)
    return np.isclose(d[:, k - 1], d[:, k], rtol=0, atol=1e-9)


def test_squared_distances_match_scipy():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((7, 5)) * 10, rng.standard_normal((4, 5))
    ours = squared_euclidean_distances(A, B)
    np.testing.assert_allclose(ours, cdist(A, B, "sqeuclidean"), rtol=1e-12, atol=1e-10)
    assert np.all(squared_euclidean_distances(A, A).diagonal() >= 0)  # clipped, never negative


@pytest.mark.parametrize("k", [1, 3, 5, 7, 15])
def test_classifier_equals_sklearn_on_wine(k):
    # Wine has no distance ties at the k-th neighbour for these k: predictions must be identical.
    X_train, X_test, y_train, y_test = split(load_wine)
    assert not boundary_tied(X_train, X_test, k).any()
    ours = KNeighborsClassifier(n_neighbors=k).fit(X_train, y_train)
    ref = sk.KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(X_train, y_train)
    np.testing.assert_array_equal(ours.predict(X_test), ref.predict(X_test))
    np.testing.assert_allclose(ours.predict_proba(X_test), ref.predict_proba(X_test), atol=1e-12)
    np.testing.assert_array_equal(ours.kneighbors(X_test)[1], ref.kneighbors(X_test)[1])
    assert ours.score(X_test, y_test) == ref.score(X_test, y_test)


@pytest.mark.parametrize("k", [1, 3, 5, 10])
def test_classifier_on_iris_equal_wherever_the_neighbours_are_unique(k):
    # Iris is measured to 1 mm, so many distances tie exactly. Where the k-th and (k+1)-th
    # distances differ the prediction must match scikit-learn's exactly. The tied points (counts
    # found once for this split and fixed here) are decided by tie-breaking; both sides break
    # ties by training index here (stable sort; scikit-learn's brute force), so they agree too.
    X_train, X_test, y_train, _ = split(load_iris)
    tied = boundary_tied(X_train, X_test, k)
    assert tied.sum() == {1: 3, 3: 8, 5: 10, 10: 10}[k]
    ours = KNeighborsClassifier(n_neighbors=k).fit(X_train, y_train).predict(X_test)
    ref = sk.KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(X_train, y_train)
    ref = ref.predict(X_test)
    np.testing.assert_array_equal(ours[~tied], ref[~tied])
    np.testing.assert_array_equal(ours[tied], ref[tied])


@pytest.mark.parametrize("k", [1, 5, 20])
def test_regressor_equals_sklearn_on_diabetes(k):
    X_train, X_test, y_train, y_test = split(load_diabetes)
    assert not boundary_tied(X_train, X_test, k).any()
    ours = KNeighborsRegressor(n_neighbors=k).fit(X_train, y_train)
    ref = sk.KNeighborsRegressor(n_neighbors=k, algorithm="brute").fit(X_train, y_train)
    np.testing.assert_allclose(ours.predict(X_test), ref.predict(X_test), rtol=1e-12)
    assert ours.score(X_test, y_test) == pytest.approx(ref.score(X_test, y_test), abs=1e-12)


def test_distance_weights_match_sklearn():
    X_train, X_test, y_train, _ = split(load_wine)
    ours = KNeighborsClassifier(n_neighbors=5, weights="distance").fit(X_train, y_train)
    ref = sk.KNeighborsClassifier(n_neighbors=5, weights="distance", algorithm="brute")
    ref.fit(X_train, y_train)
    np.testing.assert_allclose(ours.predict_proba(X_test), ref.predict_proba(X_test), atol=1e-12)
    X_train, X_test, y_train, _ = split(load_diabetes)
    ours = KNeighborsRegressor(n_neighbors=5, weights="distance").fit(X_train, y_train)
    ref = sk.KNeighborsRegressor(n_neighbors=5, weights="distance", algorithm="brute")
    np.testing.assert_allclose(
        ours.predict(X_test), ref.fit(X_train, y_train).predict(X_test), rtol=1e-12
    )


def test_an_exact_match_takes_all_the_weight():
    X = np.array([[0.0], [1.0], [3.0]])
    model = KNeighborsRegressor(n_neighbors=3, weights="distance").fit(X, [10.0, 20.0, 30.0])
    # At 1.0 the exact match decides alone; at 2.0 the weights are 1/2, 1, 1.
    expected = [20.0, (10 / 2 + 20 + 30) / 2.5]
    np.testing.assert_allclose(model.predict([[1.0], [2.0]]), expected, rtol=1e-15)


def test_ties_go_to_the_earlier_point_and_the_smaller_label():
    X = np.array([[-1.0], [1.0], [2.0], [-2.0]])
    model = KNeighborsClassifier(n_neighbors=1).fit(X, ["b", "a", "a", "b"])
    # 0 is equally far from -1 (index 0, "b") and 1 (index 1, "a"): the earlier index wins.
    assert model.predict([[0.0]])[0] == "b"
    # With k = 2 the vote is 1-1: the smaller label wins.
    assert (
        KNeighborsClassifier(n_neighbors=2).fit(X, ["b", "a", "a", "b"]).predict([[0.0]])[0] == "a"
    )


def test_bad_inputs():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(
        ValueError, match=r"n_neighbors must be an integer in \[1, n_samples = 150\], got 0"
    ):
        KNeighborsClassifier(n_neighbors=0).fit(X, y)
    with pytest.raises(ValueError, match="got 151"):
        KNeighborsRegressor(n_neighbors=151).fit(X, y)
    with pytest.raises(ValueError, match="KNeighborsClassifier: weights must be one of"):
        KNeighborsClassifier(weights="gaussian").fit(X, y)
    with pytest.raises(NotFittedError, match="This KNeighborsRegressor instance is not fitted yet"):
        KNeighborsRegressor().predict(X)
    with pytest.raises(
        ValueError, match="X has 3 features, but KNeighborsClassifier is expecting 4 features"
    ):
        KNeighborsClassifier().fit(X, y).predict(X[:, :3])
