"""Gaussian naive Bayes against scikit-learn: every learned quantity and probability to 1e-10."""

import numpy as np
import pytest
from sklearn import naive_bayes as sk
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.model_selection import train_test_split

from scratchclassic.base import NotFittedError
from scratchclassic.naive_bayes import GaussianNB

TOL = 1e-10


@pytest.mark.parametrize("loader", [load_iris, load_wine, load_breast_cancer])
@pytest.mark.parametrize("var_smoothing", [1e-9, 1e-2])
def test_matches_sklearn(loader, var_smoothing):
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    ours = GaussianNB(var_smoothing=var_smoothing).fit(X_train, y_train)
    ref = sk.GaussianNB(var_smoothing=var_smoothing).fit(X_train, y_train)
    np.testing.assert_allclose(ours.theta_, ref.theta_, rtol=TOL)
    np.testing.assert_allclose(ours.var_, ref.var_, rtol=TOL)
    np.testing.assert_allclose(ours.class_prior_, ref.class_prior_, rtol=TOL)
    np.testing.assert_allclose(ours.class_count_, ref.class_count_, rtol=0)
    assert ours.epsilon_ == pytest.approx(ref.epsilon_, rel=TOL)
    np.testing.assert_allclose(ours.predict_proba(X_test), ref.predict_proba(X_test), atol=TOL)
    np.testing.assert_allclose(
        ours.predict_log_proba(X_test), ref.predict_log_proba(X_test), rtol=1e-8, atol=TOL
    )
    np.testing.assert_array_equal(ours.predict(X_test), ref.predict(X_test))
    assert ours.score(X_test, y_test) == ref.score(X_test, y_test)


def test_fixed_priors_match_sklearn():
    X, y = load_iris(return_X_y=True)
    priors = [0.5, 0.3, 0.2]
    ours, ref = GaussianNB(priors=priors).fit(X, y), sk.GaussianNB(priors=priors).fit(X, y)
    np.testing.assert_array_equal(ours.class_prior_, priors)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=TOL)


def test_posterior_is_bayes_rule_on_one_feature():
    # Two classes, one feature: the posterior by hand from the two fitted Gaussians.
    X = np.array([[0.0], [1.0], [2.0], [4.0], [5.0], [7.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    model = GaussianNB(var_smoothing=0.0).fit(X, y)
    x = 3.0

    def density(mean, var):
        return np.exp(-((x - mean) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var)

    joint = np.array([0.5 * density(1.0, 2 / 3), 0.5 * density(16 / 3, 14 / 9)])
    np.testing.assert_allclose(model.predict_proba([[x]])[0], joint / joint.sum(), rtol=1e-12)


def test_bad_inputs():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="GaussianNB: priors must be 3 non-negative numbers"):
        GaussianNB(priors=[0.5, 0.5]).fit(X, y)
    with pytest.raises(ValueError, match="GaussianNB: var_smoothing must be a finite number >= 0"):
        GaussianNB(var_smoothing=-1.0).fit(X, y)
    with pytest.raises(NotFittedError, match="This GaussianNB instance is not fitted yet"):
        GaussianNB().predict(X)
    with pytest.raises(
        ValueError, match="X has 2 features, but GaussianNB is expecting 4 features"
    ):
        GaussianNB().fit(X, y).predict_proba(X[:, :2])
