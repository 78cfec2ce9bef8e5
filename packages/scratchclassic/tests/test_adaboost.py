"""AdaBoostClassifier (SAMME) against the formula by hand and ``sklearn.ensemble.
AdaBoostClassifier`` (scikit-learn 1.9 implements only SAMME; its default weak learner is a
depth-1 tree, as ours).

Stated up front: on these tables the stumps of both libraries see no tied splits, so they cut the
training set identically: estimator weights, errors, and decision values and probabilities on the
training rows agree to 1e-12. scikit-learn stores features as float32, so a test value within
float32 rounding of a threshold can fall on the other side; test accuracies agree within 0.01
(one or two test rows).
"""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.ensemble import AdaBoostClassifier as SkAdaBoost

from scratchclassic.base import NotFittedError
from scratchclassic.ensemble import AdaBoostClassifier
from scratchclassic.ensemble.adaboost import samme_update

TOL = 1e-12


def split(load, fraction=0.7):
    X, y = load(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    n = int(fraction * len(X))
    return X[:n], X[n:], y[:n], y[n:]


def test_samme_step_by_hand():
    # Four samples, uniform weights 1/4, the learner misses sample 3 only, K = 3 classes.
    # error = 1/4; alpha = log((3/4) / (1/4)) + log(2) = log 6; the missed sample's weight is
    # multiplied by 6: (1/4, 1/4, 6/4, 1/4), i.e. 1/9, 1/9, 6/9, 1/9 after renormalising.
    weight = np.full(4, 0.25)
    incorrect = np.array([False, False, True, False])
    new, alpha, error = samme_update(weight, incorrect, n_classes=3, learning_rate=1.0)
    assert error == pytest.approx(0.25, rel=1e-15)
    assert alpha == pytest.approx(np.log(6.0), rel=1e-15)
    np.testing.assert_allclose(new / new.sum(), [1 / 9, 1 / 9, 6 / 9, 1 / 9], rtol=1e-15)
    # With K = 2 it is classic AdaBoost's alpha = log((1 - e) / e) (scikit-learn's SAMME omits
    # the factor 1/2 of Freund & Schapire), and learning_rate scales it.
    _, alpha2, _ = samme_update(weight, incorrect, n_classes=2, learning_rate=0.5)
    assert alpha2 == pytest.approx(0.5 * np.log(3.0), rel=1e-15)


def test_weights_follow_samme_through_the_rounds():
    # Recompute every round from the fitted stumps: the weights each stump was fitted with,
    # its error and its alpha.
    X_train, _, y_train, _ = split(load_iris)
    model = AdaBoostClassifier(n_estimators=6, random_state=0).fit(X_train, y_train)
    weight = np.full(len(X_train), 1.0 / len(X_train))
    for stump, alpha, error in zip(
        model.estimators_, model.estimator_weights_, model.estimator_errors_, strict=True
    ):
        incorrect = model.classes_[stump.predict(X_train)] != y_train
        assert error == pytest.approx(weight[incorrect].sum(), rel=1e-12)
        assert alpha == pytest.approx(np.log((1 - error) / error) + np.log(2.0), rel=1e-12)
        weight = weight * np.exp(alpha * incorrect)
        weight /= weight.sum()


@pytest.mark.parametrize("load", [load_breast_cancer, load_wine, load_iris])
@pytest.mark.parametrize("learning_rate", [1.0, 0.5])
def test_matches_sklearn(load, learning_rate):
    X_train, X_test, y_train, y_test = split(load)
    ours = AdaBoostClassifier(n_estimators=30, learning_rate=learning_rate, random_state=0)
    theirs = SkAdaBoost(n_estimators=30, learning_rate=learning_rate, random_state=0)
    ours.fit(X_train, y_train)
    theirs.fit(X_train, y_train)
    np.testing.assert_allclose(ours.estimator_weights_, theirs.estimator_weights_, rtol=TOL)
    np.testing.assert_allclose(ours.estimator_errors_, theirs.estimator_errors_, rtol=1e-10)
    np.testing.assert_allclose(
        ours.decision_function(X_train), theirs.decision_function(X_train), atol=TOL
    )
    np.testing.assert_allclose(ours.predict_proba(X_train), theirs.predict_proba(X_train), atol=TOL)
    assert abs(ours.score(X_test, y_test) - theirs.score(X_test, y_test)) <= 0.01
    staged = np.stack(list(theirs.staged_predict_proba(X_train)))
    np.testing.assert_allclose(ours.staged_predict_proba(X_train), staged, atol=TOL)
    np.testing.assert_array_equal(ours.staged_predict(X_train)[-1], ours.predict(X_train))


def test_stops_at_a_perfect_stump():
    X = np.arange(6.0)[:, None]
    y = np.array([0, 0, 0, 1, 1, 1])
    model = AdaBoostClassifier(n_estimators=10).fit(X, y)
    assert len(model.estimators_) == 1 and model.estimator_weights_[0] == 1.0
    np.testing.assert_array_equal(model.predict(X), y)


def test_bad_inputs():
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="AdaBoostClassifier: learning_rate must be positive"):
        AdaBoostClassifier(learning_rate=0).fit(X, y)
    with pytest.raises(
        ValueError, match="AdaBoostClassifier: needs samples of at least 2 classes, got 1 class"
    ):
        AdaBoostClassifier().fit(X, np.zeros(4))
    with pytest.raises(ValueError, match="AdaBoostClassifier: sample_weight has negative values"):
        AdaBoostClassifier().fit(X, y, sample_weight=[1.0, -1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="no better than chance"):
        AdaBoostClassifier().fit(X, y)  # constant features: the stump is a coin toss
    with pytest.raises(NotFittedError, match="This AdaBoostClassifier instance is not fitted"):
        AdaBoostClassifier().predict(X)
