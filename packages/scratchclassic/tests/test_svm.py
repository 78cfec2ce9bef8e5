"""SVC (SMO) against ``sklearn.svm.SVC`` with the same kernel, C and tol=1e-8 on both sides.

The C-SVC dual of a strictly positive definite kernel has a unique decision function, and both
solvers stop when the maximal KKT violation is below tol (1e-8: the multipliers themselves are
only accurate to about tol / the smallest eigenvalue of K, so a tight tol is needed for them to
agree, not only the decision values), so (stated up front): decision values
agree to 1e-4 absolute, the support-vector sets are identical, dual coefficients agree to 1e-4,
predictions are identical; and our solution satisfies the KKT conditions to 1e-5.
"""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.svm import SVC as SkSVC

from scratchclassic.base import NotFittedError
from scratchclassic.svm import SVC

TOL = 1e-8
DECISION_ATOL = 1e-4
KKT_ATOL = 1e-5

X_cancer, y_cancer = load_breast_cancer(return_X_y=True)
X_cancer = (X_cancer - X_cancer.mean(axis=0)) / X_cancer.std(axis=0)
X_train, X_test = X_cancer[:400], X_cancer[400:]
y_train, y_test = y_cancer[:400], y_cancer[400:]

rng = np.random.default_rng(0)
X_toy = np.concatenate([rng.normal(-1.0, 1.0, (60, 2)), rng.normal(1.0, 1.0, (60, 2))])
y_toy = np.repeat(np.array(["blue", "red"]), 60)

CONFIGS = [
    dict(kernel="linear", C=1.0),
    dict(kernel="rbf", C=1.0),
    dict(kernel="rbf", C=10.0, gamma=0.05),
    dict(kernel="poly", C=0.5, degree=3, coef0=1.0),
]


def assert_same_machine(ours, theirs, X_eval):
    np.testing.assert_array_equal(ours.support_, theirs.support_)
    np.testing.assert_array_equal(ours.n_support_, theirs.n_support_)
    np.testing.assert_allclose(ours.dual_coef_, theirs.dual_coef_, atol=DECISION_ATOL)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=DECISION_ATOL)
    np.testing.assert_allclose(
        ours.decision_function(X_eval), theirs.decision_function(X_eval), atol=DECISION_ATOL
    )
    np.testing.assert_array_equal(ours.predict(X_eval), theirs.predict(X_eval))


@pytest.mark.parametrize("params", CONFIGS)
def test_breast_cancer_matches_sklearn(params):
    ours = SVC(tol=TOL, **params).fit(X_train, y_train)
    theirs = SkSVC(tol=TOL, **params).fit(X_train, y_train)
    assert_same_machine(ours, theirs, X_test)
    assert ours.score(X_test, y_test) == theirs.score(X_test, y_test)


@pytest.mark.parametrize("params", CONFIGS)
def test_2d_toy_matches_sklearn(params):
    ours = SVC(tol=TOL, **params).fit(X_toy, y_toy)
    theirs = SkSVC(tol=TOL, **params).fit(X_toy, y_toy)
    assert_same_machine(ours, theirs, X_toy)


@pytest.mark.parametrize("params", CONFIGS)
def test_kkt_conditions_hold(params):
    model = SVC(tol=TOL, **params).fit(X_toy, y_toy)
    signs = np.where(y_toy == "red", 1.0, -1.0)
    margin = signs * model.decision_function(X_toy)  # y_i f(x_i)
    alpha = np.zeros(len(X_toy))
    alpha[model.support_] = np.abs(model.dual_coef_[0])
    C = params["C"]
    # alpha = 0 => y f >= 1;  0 < alpha < C => y f = 1;  alpha = C => y f <= 1.
    assert np.all(margin[alpha == 0] >= 1 - KKT_ATOL)
    free = (alpha > 0) & (alpha < C)
    assert free.any()
    np.testing.assert_allclose(margin[free], 1.0, atol=KKT_ATOL)
    assert np.all(margin[alpha == C] <= 1 + KKT_ATOL)
    # Stationarity in b: sum_i alpha_i y_i = 0.
    assert abs(model.dual_coef_.sum()) < 1e-10


def test_iris_one_vs_one_matches_sklearn():
    X, y = load_iris(return_X_y=True)
    ours = SVC(tol=TOL).fit(X, y)
    theirs = SkSVC(tol=TOL, decision_function_shape="ovo").fit(X, y)
    assert_same_machine(ours, theirs, X)


def test_max_iter_stops_early_with_a_warning():
    with pytest.warns(RuntimeWarning, match="SVC: SMO stopped at max_iter=5"):
        model = SVC(max_iter=5).fit(X_toy, y_toy)
    assert model.n_iter_[0] == 5


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"SVC: kernel must be one of .* 'sigmoid'"):
        SVC(kernel="sigmoid").fit(X_toy, y_toy)
    with pytest.raises(ValueError, match="SVC: C must be positive, got -1"):
        SVC(C=-1).fit(X_toy, y_toy)
    with pytest.raises(ValueError, match="SVC: needs at least 2 classes, got 1"):
        SVC().fit(X_toy, np.zeros(len(X_toy)))
    with pytest.raises(ValueError, match="SVC: X has 120 rows but y has 3"):
        SVC().fit(X_toy, y_toy[:3])
    with pytest.raises(NotFittedError, match="SVC is not fitted"):
        SVC().predict(X_toy)
    with pytest.raises(ValueError, match="SVC: X has 3 features, but fit saw 2"):
        SVC().fit(X_toy, y_toy).decision_function(np.ones((2, 3)))
