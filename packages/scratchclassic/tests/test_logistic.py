"""L2 logistic regression, binary and multinomial, against scikit-learn's ``lbfgs`` and against
finite differences of its own objective."""

import numpy as np
import pytest
from sklearn import linear_model as sk
from sklearn.datasets import load_breast_cancer, load_iris, load_wine

from scratchclassic.base import NotFittedError
from scratchclassic.linear_model import LogisticRegression
from scratchclassic.linear_model.logistic import _Problem


def standardised(loader):
    X, y = loader(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


# scikit-learn's lbfgs stops on its own gradient test; with tol=1e-12 it is within ~1e-6 of the
# minimiser on these tables, while Newton here reaches it to rounding. So the coefficients are
# compared at 1e-5 (|coef| ~ 1) and, separately, ours are checked to be the better minimiser.
COEF_ATOL = 1e-5
PROBA_ATOL = 1e-6


def sklearn_twin(C, X, y):
    return sk.LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)


@pytest.mark.parametrize("loader", [load_breast_cancer, load_iris, load_wine])
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_newton_matches_sklearn_lbfgs(loader, C):
    X, y = standardised(loader)
    ours, ref = LogisticRegression(C=C).fit(X, y), sklearn_twin(C, X, y)
    assert ours.coef_.shape == ref.coef_.shape and ours.intercept_.shape == ref.intercept_.shape
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=COEF_ATOL)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=COEF_ATOL)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=0, atol=PROBA_ATOL)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    # Ours is at least as good a minimiser of the shared objective.
    K = len(ours.classes_)
    Y = (y == ours.classes_[1])[:, None].astype(float) if K == 2 else np.eye(K)[y]
    problem = _Problem(np.hstack([X, np.ones((len(X), 1))]), Y, C, True)
    theirs = np.column_stack([ref.coef_, ref.intercept_])
    mine = np.column_stack([ours.coef_, ours.intercept_])
    assert problem.value(mine) <= problem.value(theirs) + 1e-12
    start = np.abs(problem.gradient(np.zeros_like(mine))).max()
    assert np.abs(problem.gradient(mine)).max() < 1e-8 * start  # the default tol, relative


def test_multinomial_intercepts_sum_to_zero_like_sklearn():
    X, y = standardised(load_wine)
    ours = LogisticRegression().fit(X, y)
    assert abs(ours.intercept_.sum()) < 1e-10
    assert abs(sklearn_twin(1.0, X, y).intercept_.sum()) < 1e-6
    np.testing.assert_allclose(ours.coef_.sum(axis=0), 0.0, atol=1e-10)  # the L2 optimum too


@pytest.mark.parametrize("loader", [load_breast_cancer, load_iris])
def test_gradient_descent_reaches_the_newton_solution(loader):
    X, y = standardised(loader)
    newton = LogisticRegression(C=0.1).fit(X, y)
    gd = LogisticRegression(C=0.1, solver="gd", max_iter=20_000, tol=1e-10).fit(X, y)
    assert gd.n_iter_ > 10 * newton.n_iter_  # first order is much slower ...
    np.testing.assert_allclose(gd.coef_, newton.coef_, rtol=0, atol=1e-8)  # ... but gets there
    np.testing.assert_allclose(gd.intercept_, newton.intercept_, rtol=0, atol=1e-8)


@pytest.mark.parametrize("K", [1, 3])
def test_gradient_and_hessian_match_finite_differences(K):
    rng = np.random.default_rng(0)
    n, d = 20, 3
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    Y = (rng.random((n, 1)) < 0.5).astype(float) if K == 1 else np.eye(K)[rng.integers(K, size=n)]
    problem = _Problem(X, Y, C=0.7, fit_intercept=True)
    theta = rng.standard_normal((K, d + 1))
    h = 1e-6
    grad_fd = np.zeros_like(theta)
    hess_fd = np.zeros((theta.size, theta.size))
    for i in range(theta.size):  # one coordinate per finite difference
        e = np.zeros(theta.size)
        e[i] = h
        e = e.reshape(theta.shape)
        grad_fd.flat[i] = (problem.value(theta + e) - problem.value(theta - e)) / (2 * h)
        hess_fd[:, i] = (problem.gradient(theta + e) - problem.gradient(theta - e)).ravel() / (
            2 * h
        )
    np.testing.assert_allclose(problem.gradient(theta), grad_fd, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(problem.hessian(theta), hess_fd, rtol=1e-6, atol=1e-7)


def test_string_labels_and_without_intercept():
    X, y = standardised(load_breast_cancer)
    labels = np.array(["malignant", "benign"])[y]
    ours = LogisticRegression(fit_intercept=False).fit(X, labels)
    ref = sk.LogisticRegression(fit_intercept=False, tol=1e-12, max_iter=10_000).fit(X, labels)
    np.testing.assert_array_equal(ours.classes_, ["benign", "malignant"])
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=COEF_ATOL)
    assert ours.intercept_[0] == 0.0
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


def test_multinomial_without_intercept_matches_sklearn():
    # No intercept: nothing is unpenalised, the Hessian has no singular direction to fix.
    X, y = standardised(load_wine)
    ours = LogisticRegression(fit_intercept=False).fit(X, y)
    ref = sk.LogisticRegression(fit_intercept=False, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=COEF_ATOL)
    np.testing.assert_array_equal(ours.intercept_, np.zeros(3))


def test_small_C_is_first_order_in_C():
    # Stationarity: W = C (Y - P)^T X. As C -> 0 the weights vanish, the unpenalised intercepts
    # make P the class frequencies, and (X standardised) W = C (Y - mean Y)^T X + O(C²): the
    # relative error of that first-order formula must shrink tenfold when C does.
    X, y = standardised(load_iris)
    Y = np.eye(3)[y]
    errors = []
    for C in (1e-5, 1e-6):
        first_order = C * (Y - Y.mean(axis=0)).T @ X
        coef = LogisticRegression(C=C).fit(X, y).coef_
        errors.append(np.abs(coef - first_order).max() / np.abs(first_order).max())
    assert errors[0] < 2e-3
    assert 9 < errors[0] / errors[1] < 11


def test_newton_is_fast_and_gd_warns_when_out_of_steps():
    X, y = standardised(load_breast_cancer)
    assert LogisticRegression().fit(X, y).n_iter_ <= 15  # quadratic convergence
    with pytest.warns(RuntimeWarning, match=r"solver='gd'\): not converged after max_iter=3"):
        LogisticRegression(solver="gd", max_iter=3).fit(X, y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"solver": "lbfgs"}, "LogisticRegression: solver must be one of"),
        ({"C": 0.0}, "LogisticRegression: C must be a finite number > 0, got 0.0"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs, match):
    X, y = standardised(load_iris)
    with pytest.raises(ValueError, match=match):
        LogisticRegression(**kwargs).fit(X, y)


def test_bad_inputs():
    X, y = standardised(load_iris)
    with pytest.raises(
        ValueError,
        match="LogisticRegression: needs samples of at least 2 classes in y, got 1 class",
    ):
        LogisticRegression().fit(X, np.zeros(len(X)))
    with pytest.raises(NotFittedError, match="This LogisticRegression instance is not fitted yet"):
        LogisticRegression().predict(X)
    with pytest.raises(
        ValueError, match="X has 2 features, but LogisticRegression is expecting 4 features"
    ):
        LogisticRegression().fit(X, y).predict_proba(X[:, :2])
