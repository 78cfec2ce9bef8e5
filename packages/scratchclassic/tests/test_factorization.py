"""Ratings models: exact recovery of a low-rank matrix, ALS's monotone objective, each ALS
half-step equal to an explicit per-user ridge solve, and held-out RMSE below the baselines."""

import numpy as np
import pytest

from scratchclassic.base import NotFittedError
from scratchclassic.factorization import ALSRecommender, BiasBaseline, SVDRecommender
from scratchclassic.metrics import root_mean_squared_error

N_USERS, N_ITEMS, RANK = 30, 40, 3


def all_pairs(n_users=N_USERS, n_items=N_ITEMS):
    users, items = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    return np.column_stack([users.ravel(), items.ravel()])


def low_rank_with_biases(seed=0, n_users=N_USERS, n_items=N_ITEMS):
    """``R = 3 + a_u + b_i + L``: zero-mean biases and a double-centred rank-3 ``L``, so the
    exact least-squares biases are ``a`` and ``b`` and the residual is exactly ``L``."""
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n_users, RANK))
    V = rng.normal(size=(n_items, RANK))
    L = (U - U.mean(axis=0)) @ (V - V.mean(axis=0)).T
    a = rng.normal(size=n_users)
    b = rng.normal(size=n_items)
    return 3.0 + (a - a.mean())[:, None] + (b - b.mean())[None, :] + L, L


def synthetic_ratings(seed=0, density=0.4, noise=0.3, n_users=80, n_items=100):
    """A rank-3 + biases + noise table, 40% observed at random: (train X, y), (test X, y)."""
    rng = np.random.default_rng(seed)
    R, _ = low_rank_with_biases(seed, n_users, n_items)
    X = all_pairs(n_users, n_items)
    y = R.ravel() + noise * rng.normal(size=R.size)
    observed = rng.permutation(len(X))[: int(density * len(X))]
    split = int(0.8 * len(observed))
    return (X[observed[:split]], y[observed[:split]]), (X[observed[split:]], y[observed[split:]])


def test_biases_are_exact_double_centring_on_a_full_table():
    R, L = low_rank_with_biases()
    model = BiasBaseline(reg=0.0, n_iter=3).fit(all_pairs(), R.ravel())
    np.testing.assert_allclose(model.global_mean_, R.mean(), atol=1e-12)
    np.testing.assert_allclose(model.user_bias_, R.mean(axis=1) - R.mean(), atol=1e-12)
    np.testing.assert_allclose(model.item_bias_, R.mean(axis=0) - R.mean(), atol=1e-12)
    residual = R.ravel() - model.predict(all_pairs())
    np.testing.assert_allclose(residual, L.ravel(), atol=1e-12)


@pytest.mark.parametrize(
    "model",
    [
        SVDRecommender(n_components=RANK, reg=0.0),
        ALSRecommender(n_components=RANK, alpha=1e-12, n_sweeps=10, reg=0.0),
    ],
    ids=["svd", "als"],
)
def test_both_recover_an_exactly_low_rank_fully_observed_matrix(model):
    R, _ = low_rank_with_biases()
    model.fit(all_pairs(), R.ravel())
    np.testing.assert_allclose(model.predict(all_pairs()), R.ravel(), atol=1e-8)


def test_svd_factors_are_the_eckart_young_truncation():
    rng = np.random.default_rng(1)
    R = rng.normal(size=(N_USERS, N_ITEMS))
    model = SVDRecommender(n_components=4, reg=0.0).fit(all_pairs(), R.ravel())
    # Residual after exact double centring, and its best rank-4 approximation by NumPy's SVD.
    E = R - R.mean(axis=1, keepdims=True) - R.mean(axis=0, keepdims=True) + R.mean()
    U, s, Vt = np.linalg.svd(E)
    best = (U[:, :4] * s[:4]) @ Vt[:4]
    np.testing.assert_allclose(model.user_factors_ @ model.item_factors_.T, best, atol=1e-10)
    np.testing.assert_allclose(model.singular_values_, s[:4], rtol=1e-12)


def test_als_objective_never_increases():
    (X, y), _ = synthetic_ratings()
    for alpha in (0.01, 0.1, 1.0):
        model = ALSRecommender(n_components=5, alpha=alpha, n_sweeps=20).fit(X, y)
        steps = np.diff(model.objective_)
        assert np.all(steps <= 1e-9 * model.objective_[0]), (alpha, steps.max())
        assert model.objective_[-1] < model.objective_[0]


def test_als_user_step_is_each_users_ridge_regression():
    """One sweep from a known Q: every p_u equals the explicit ridge solution on u's ratings."""
    (X, y), _ = synthetic_ratings()
    model = ALSRecommender(n_components=4, alpha=0.3, n_sweeps=1, random_state=5).fit(X, y)
    residual = y - BiasBaseline(reg=model.reg, n_iter=model.n_iter).fit(X, y).predict(X)
    rng = np.random.default_rng(5)
    rng.normal(0.0, 0.1, (model.n_users_, 4))  # the initial P, drawn first (and overwritten)
    Q0 = rng.normal(0.0, 0.1, (model.n_items_, 4))
    for u in range(model.n_users_):
        mine = X[:, 0] == u
        F = Q0[X[mine, 1]]
        expected = np.linalg.solve(F.T @ F + 0.3 * mine.sum() * np.eye(4), F.T @ residual[mine])
        # The stored P is after the sweep's user step; Q changed after it, P did not.
        np.testing.assert_allclose(model.user_factors_[u], expected, rtol=1e-10, atol=1e-12)


def test_held_out_rmse_beats_global_mean_and_biases():
    (X, y), (X_test, y_test) = synthetic_ratings()
    mean_rmse = root_mean_squared_error(y_test, np.full(len(y_test), y.mean()))
    bias_rmse = root_mean_squared_error(y_test, BiasBaseline().fit(X, y).predict(X_test))
    als = ALSRecommender(n_components=RANK, alpha=0.05, n_sweeps=30).fit(X, y)
    svd = SVDRecommender(n_components=RANK).fit(X, y)
    als_rmse = root_mean_squared_error(y_test, als.predict(X_test))
    svd_rmse = root_mean_squared_error(y_test, svd.predict(X_test))
    assert bias_rmse < 0.9 * mean_rmse
    # The rank-3 signal has standard deviation about 1.7, the noise 0.3: factor models must
    # explain most of what the biases leave.
    assert als_rmse < 0.5 * bias_rmse, (als_rmse, bias_rmse)
    assert svd_rmse < 0.9 * bias_rmse, (svd_rmse, bias_rmse)


def test_unseen_ids_fall_back_to_the_global_mean():
    (X, y), _ = synthetic_ratings()
    model = ALSRecommender(n_components=2, n_sweeps=2).fit(X, y)
    pred = model.predict(np.array([[1000, 2000]]))
    np.testing.assert_allclose(pred, [model.global_mean_])


def test_bad_input_is_rejected_clearly():
    (X, y), _ = synthetic_ratings()
    with pytest.raises(ValueError, match="X has 1 features, but ALSRecommender is expecting 2"):
        ALSRecommender().fit(X[:, :1], y)
    with pytest.raises(ValueError, match="SVDRecommender: found input variables with inconsistent"):
        SVDRecommender().fit(X, y[:-1])
    with pytest.raises(ValueError, match="ids must be >= 0"):
        BiasBaseline().fit(X - 100, y)
    with pytest.raises(ValueError, match="ALSRecommender: alpha must be > 0, got 0"):
        ALSRecommender(alpha=0).fit(X, y)
    with pytest.raises(ValueError, match=r"SVDRecommender: n_components must be .* got 99"):
        SVDRecommender(n_components=99).fit(X, y)
    with pytest.raises(NotFittedError, match="SVDRecommender instance is not fitted"):
        SVDRecommender().predict(X)


def test_als_counts_a_repeated_pair_as_often_as_it_occurs():
    """Every rating given twice: each user's and item's ridge system doubles on both sides (the
    penalty too, as it is weighted by the number of ratings), so the factors do not move. With
    reg = 0 the biases do not move either, and the predictions are the same."""
    (X, y), (X_test, _) = synthetic_ratings()
    once = ALSRecommender(reg=0.0).fit(X, y)
    twice = ALSRecommender(reg=0.0).fit(np.vstack([X, X]), np.concatenate([y, y]))
    np.testing.assert_allclose(twice.predict(X_test), once.predict(X_test), rtol=1e-9, atol=1e-9)
