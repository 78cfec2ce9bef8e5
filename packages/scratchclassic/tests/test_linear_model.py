"""Least squares, ridge, the lasso and the elastic net against scikit-learn on diabetes, and the
numerical facts the notes rely on (QR's stability, soft-thresholding, the lasso's zero point)."""

import numpy as np
import pytest
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes

from scratchclassic.base import NotFittedError
from scratchclassic.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
from scratchclassic.linear_model.coordinate_descent import duality_gap, soft_threshold
from scratchclassic.linear_model.least_squares import solve_upper_triangular

X, Y = load_diabetes(return_X_y=True)  # coefficients are in the hundreds: tolerances are absolute


@pytest.mark.parametrize("solver", ["normal", "qr", "gd"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_least_squares_matches_sklearn(solver, fit_intercept):
    ours = LinearRegression(solver=solver, fit_intercept=fit_intercept).fit(X, Y)
    ref = sk.LinearRegression(fit_intercept=fit_intercept).fit(X, Y)
    # Direct solvers agree to rounding; GD stops at a 1e-10 relative gradient (|coef| ~ 800).
    atol = 1e-4 if solver == "gd" else 1e-8
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=atol)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=atol)
    assert ours.score(X, Y) == pytest.approx(ref.score(X, Y), abs=1e-10)


def test_gradient_descent_warns_and_stops_when_out_of_steps():
    with pytest.warns(RuntimeWarning, match="not converged after max_iter=5"):
        model = LinearRegression(solver="gd", max_iter=5).fit(X, Y)
    assert model.n_iter_ == 5


def test_qr_is_stable_where_the_normal_equations_are_not():
    # A Vandermonde matrix with condition number ~4e6: the normal equations work with its
    # square, ~1e13, and lose about 6 more digits than QR.
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 50)
    V = x[:, None] ** np.arange(10)
    w_true = rng.standard_normal(10)
    y = V @ w_true  # consistent: the exact answer is w_true
    assert 1e6 < np.linalg.cond(V) < 1e7
    qr = LinearRegression(solver="qr", fit_intercept=False).fit(V, y).coef_
    normal = LinearRegression(solver="normal", fit_intercept=False).fit(V, y).coef_
    qr_error, normal_error = np.abs(qr - w_true).max(), np.abs(normal - w_true).max()
    assert qr_error < 1e-8
    assert normal_error > 1e4 * qr_error


def test_back_substitution_solves_triangular_systems():
    rng = np.random.default_rng(1)
    R = np.triu(rng.standard_normal((6, 6))) + 3 * np.eye(6)
    b = rng.standard_normal(6)
    np.testing.assert_allclose(R @ solve_upper_triangular(R, b), b, rtol=0, atol=1e-12)
    R[2, 2] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match=r"R\[2, 2\] = 0"):
        solve_upper_triangular(R, b)


@pytest.mark.parametrize("alpha", [1e-3, 0.1, 1.0, 100.0])
def test_ridge_matches_sklearn_and_the_normal_equations(alpha):
    ours = Ridge(alpha=alpha).fit(X, Y)
    ref = sk.Ridge(alpha=alpha).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=1e-8)
    Xc, yc = X - X.mean(axis=0), Y - Y.mean()
    closed_form = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ yc)
    np.testing.assert_allclose(ours.coef_, closed_form, rtol=0, atol=1e-8)


def test_ridge_with_zero_alpha_is_least_squares():
    np.testing.assert_allclose(
        Ridge(alpha=0.0).fit(X, Y).coef_, LinearRegression().fit(X, Y).coef_, rtol=0, atol=1e-8
    )


@pytest.mark.parametrize("alpha", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.7, 0.2])
def test_elastic_net_and_lasso_match_sklearn(alpha, l1_ratio):
    # Both sides solve to a duality gap of 1e-12 * ||y||², so both are within ~1e-6 of the
    # unique minimiser.
    settings = dict(alpha=alpha, tol=1e-12, max_iter=100_000)
    if l1_ratio == 1.0:
        ours, ref = Lasso(**settings).fit(X, Y), sk.Lasso(**settings).fit(X, Y)
    else:
        ours = ElasticNet(l1_ratio=l1_ratio, **settings).fit(X, Y)
        ref = sk.ElasticNet(l1_ratio=l1_ratio, **settings).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours.coef_ == 0, ref.coef_ == 0)  # the same sparsity pattern


def test_soft_threshold_values():
    z = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_array_equal(soft_threshold(z, 1.0), [-2.0, 0, 0, 0, 0, 0, 2.0])


def test_lasso_is_all_zero_from_alpha_max_and_not_below():
    Xc, yc = X - X.mean(axis=0), Y - Y.mean()
    alpha_max = np.max(np.abs(Xc.T @ yc)) / len(X)
    assert np.all(Lasso(alpha=alpha_max * (1 + 1e-9)).fit(X, Y).coef_ == 0)
    below = Lasso(alpha=alpha_max * 0.99, tol=1e-12).fit(X, Y).coef_
    assert np.count_nonzero(below) == 1  # the most correlated feature enters alone
    assert np.argmax(np.abs(Xc.T @ yc)) == np.flatnonzero(below)[0]


def test_duality_gap_is_zero_at_the_minimum_and_positive_elsewhere():
    Xc, yc = X - X.mean(axis=0), Y - Y.mean()
    n = len(X)
    w = Lasso(alpha=0.1, tol=1e-14, max_iter=100_000).fit(X, Y).coef_
    gap = duality_gap(Xc, yc, w, yc - Xc @ w, 0.1 * n, 0.0)
    assert 0 <= gap < 1e-13 * (yc @ yc)
    w_off = w + 1.0
    assert duality_gap(Xc, yc, w_off, yc - Xc @ w_off, 0.1 * n, 0.0) > 1e-3 * (yc @ yc)


def test_warm_start_reaches_the_same_solution():
    cold = Lasso(alpha=0.05, tol=1e-12, max_iter=100_000).fit(X, Y)
    warm = Lasso(alpha=1.0, tol=1e-12, max_iter=100_000, warm_start=True).fit(X, Y)
    warm.alpha = 0.05
    warm.fit(X, Y)
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=0, atol=1e-6)


def test_coordinate_descent_warns_when_out_of_sweeps():
    with pytest.warns(RuntimeWarning, match="not converged after max_iter=2"):
        Lasso(alpha=0.001, max_iter=2, tol=1e-12).fit(X, Y)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (LinearRegression(solver="svd"), "LinearRegression: solver must be one of"),
        (Ridge(alpha=-1.0), r"Ridge: alpha must be a finite number >= 0, got -1.0"),
        (Lasso(alpha=np.nan), "Lasso: alpha must be a finite number >= 0"),
        (ElasticNet(l1_ratio=1.5), r"ElasticNet: l1_ratio must be in \[0, 1\], got 1.5"),
    ],
)
def test_bad_hyperparameters_are_named(model, match):
    with pytest.raises(ValueError, match=match):
        model.fit(X, Y)


@pytest.mark.parametrize("cls", [LinearRegression, Ridge, Lasso, ElasticNet])
def test_bad_inputs_and_unfitted_use(cls):
    with pytest.raises(NotFittedError, match=f"This {cls.__name__} instance is not fitted yet"):
        cls().predict(X)
    with pytest.raises(
        ValueError,
        match=f"{cls.__name__}: found input variables with inconsistent numbers of samples: "
        "X has 442 rows but y has 441",
    ):
        cls().fit(X, Y[:-1])
    model = cls().fit(X, Y)
    with pytest.raises(
        ValueError, match=f"X has 3 features, but {cls.__name__} is expecting 10 features"
    ):
        model.predict(X[:, :3])


def test_qr_needs_at_least_as_many_rows_as_columns():
    with pytest.raises(
        ValueError,
        match=r"LinearRegression\(solver='qr'\): needs n_samples >= n_features, "
        r"got n_samples=5 and n_features=10",
    ):
        LinearRegression(solver="qr").fit(X[:5], Y[:5])
