"""RandomForestClassifier against ``sklearn.ensemble.RandomForestClassifier`` (same
n_estimators=100, max_features="sqrt", bootstrap, full-depth trees).

The two forests draw different bootstrap samples and feature subsets, so they are compared as
estimators of the same thing. Stated up front: our test accuracy and our OOB score are each within
0.03 of the mean of scikit-learn's over random_state 0..4 (on 171 and 54 test rows, 0.03 is about
five and two rows). The OOB machinery itself is checked exactly, by recomputing it from the trees.
"""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import RandomForestClassifier as SkForest

from scratchclassic.base import NotFittedError
from scratchclassic.ensemble import RandomForestClassifier

MARGIN = 0.03


def split(load, fraction=0.7):
    X, y = load(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    n = int(fraction * len(X))
    return X[:n], X[n:], y[:n], y[n:]


@pytest.mark.parametrize("load", [load_breast_cancer, load_wine])
def test_accuracy_and_oob_score_match_sklearn(load):
    X_train, X_test, y_train, y_test = split(load)
    ours = RandomForestClassifier(n_estimators=100, oob_score=True, random_state=0)
    ours.fit(X_train, y_train)
    theirs = [
        SkForest(n_estimators=100, oob_score=True, random_state=seed).fit(X_train, y_train)
        for seed in range(5)
    ]
    reference_accuracy = np.mean([forest.score(X_test, y_test) for forest in theirs])
    reference_oob = np.mean([forest.oob_score_ for forest in theirs])
    assert abs(ours.score(X_test, y_test) - reference_accuracy) <= MARGIN
    assert abs(ours.oob_score_ - reference_oob) <= MARGIN


def test_oob_decision_function_recomputed_from_the_trees():
    X_train, _, y_train, _ = split(load_wine)
    forest = RandomForestClassifier(n_estimators=15, oob_score=True, random_state=1)
    forest.fit(X_train, y_train)
    n, K = len(X_train), len(forest.classes_)
    total = np.zeros((n, K))
    for tree, drawn in zip(forest.estimators_, forest.estimators_samples_, strict=True):
        out = np.setdiff1d(np.arange(n), drawn)
        proba = np.zeros((len(out), K))
        proba[:, tree.classes_] = tree.predict_proba(X_train[out])
        total[out] += proba
    seen = total.sum(axis=1) > 0
    expected = total[seen] / total[seen].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(forest.oob_decision_function_[seen], expected, rtol=1e-12)
    assert np.isnan(forest.oob_decision_function_[~seen]).all()
    expected_score = np.mean(forest.classes_[expected.argmax(axis=1)] == y_train[seen])
    assert forest.oob_score_ == pytest.approx(expected_score, abs=1e-15)
    # About e^-1 of the rows are out of each bootstrap sample.
    out_fraction = 1 - np.mean([len(d) for d in forest.estimators_samples_]) / n
    assert abs(out_fraction - np.exp(-1)) < 0.05


def test_predict_proba_is_the_mean_of_the_trees():
    X_train, X_test, y_train, _ = split(load_breast_cancer)
    forest = RandomForestClassifier(n_estimators=7, random_state=2).fit(X_train, y_train)
    mean = np.mean([tree.predict_proba(X_test) for tree in forest.estimators_], axis=0)
    np.testing.assert_allclose(forest.predict_proba(X_test), mean, rtol=1e-12)
    # Same seed, same forest.
    again = RandomForestClassifier(n_estimators=7, random_state=2).fit(X_train, y_train)
    np.testing.assert_array_equal(forest.predict_proba(X_test), again.predict_proba(X_test))


def test_bad_inputs():
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="RandomForestClassifier: n_estimators must be an int"):
        RandomForestClassifier(n_estimators=0).fit(X, y)
    with pytest.raises(ValueError, match="oob_score=True needs bootstrap=True"):
        RandomForestClassifier(oob_score=True, bootstrap=False).fit(X, y)
    with pytest.raises(NotFittedError, match="This RandomForestClassifier instance is not fitted"):
        RandomForestClassifier().predict(X)
