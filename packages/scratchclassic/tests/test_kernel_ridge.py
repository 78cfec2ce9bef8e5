"""KernelRidge against ``sklearn.kernel_ridge.KernelRidge``: dual coefficients and predictions to
1e-8 (it is one linear solve on both sides), on standardised diabetes."""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.kernel_ridge import KernelRidge as SkKernelRidge

from scratchclassic.base import NotFittedError
from scratchclassic.kernel_ridge import KernelRidge

TOL = 1e-8

X, y = load_diabetes(return_X_y=True)
X = (X - X.mean(axis=0)) / X.std(axis=0)
X_train, X_test, y_train = X[:300], X[300:], y[:300] - y[:300].mean()


@pytest.mark.parametrize(
    "params",
    [
        dict(alpha=1.0, kernel="linear"),
        dict(alpha=0.5, kernel="rbf", gamma=0.05),
        dict(alpha=2.0, kernel="rbf"),
        dict(alpha=3.0, kernel="poly", degree=2, gamma=0.1, coef0=1.0),
    ],
)
def test_matches_sklearn(params):
    ours = KernelRidge(**params).fit(X_train, y_train)
    theirs = SkKernelRidge(**params).fit(X_train, y_train)
    np.testing.assert_allclose(ours.dual_coef_, theirs.dual_coef_, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=TOL, atol=TOL)


def test_linear_kernel_ridge_is_ridge_without_intercept():
    # The dual of ridge: X^T a equals the primal solution (X^T X + alpha I)^{-1} X^T y.
    alpha = 4.0
    model = KernelRidge(alpha=alpha, kernel="linear").fit(X_train, y_train)
    primal = np.linalg.solve(X_train.T @ X_train + alpha * np.eye(X.shape[1]), X_train.T @ y_train)
    np.testing.assert_allclose(X_train.T @ model.dual_coef_, primal, rtol=1e-9)


def test_bad_inputs():
    with pytest.raises(ValueError, match="KernelRidge: alpha must be positive, got 0"):
        KernelRidge(alpha=0).fit(X_train, y_train)
    with pytest.raises(ValueError, match="KernelRidge: y must have 300 rows"):
        KernelRidge().fit(X_train, y_train[:10])
    with pytest.raises(NotFittedError, match="This KernelRidge instance is not fitted"):
        KernelRidge().predict(X_test)
    model = KernelRidge().fit(X_train, y_train)
    with pytest.raises(
        ValueError, match="X has 3 features, but KernelRidge is expecting 10 features"
    ):
        model.predict(X_test[:, :3])
