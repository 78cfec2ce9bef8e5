"""GradientBoostingRegressor against ``sklearn.ensemble.GradientBoostingRegressor`` (squared
error, same learning_rate, n_estimators, max_depth, min_samples_leaf).

scikit-learn's trees use the "friedman_mse" criterion, whose improvement
$w_L w_R (\\bar y_L - \\bar y_R)^2 / (w_L + w_R)$ equals the squared-error decrease, so on data
where no two splits tie the trees are the same and (stated up front) predictions agree to 1e-8 and
train_score_ to 1e-8. On diabetes (some discrete features, so ties happen) R² is within 0.02.
"""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor as SkBoosting

from scratchclassic.base import NotFittedError
from scratchclassic.ensemble import GradientBoostingRegressor

rng = np.random.default_rng(1)
X = rng.normal(size=(300, 5))
y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=300)
X_train, X_test, y_train, y_test = X[:200], X[200:], y[:200], y[200:]


@pytest.mark.parametrize(
    "params",
    [
        dict(max_depth=2, min_samples_leaf=5),
        dict(max_depth=3, min_samples_leaf=5, learning_rate=0.3, n_estimators=50),
        dict(max_depth=1, n_estimators=150),
    ],
)
def test_matches_sklearn_without_ties(params):
    ours = GradientBoostingRegressor(random_state=0, **params).fit(X_train, y_train)
    theirs = SkBoosting(random_state=0, **params).fit(X_train, y_train)
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ours.train_score_, theirs.train_score_, rtol=1e-8)


def test_diabetes_r2_within_margin():
    X_d, y_d = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X_d))
    X_d, y_d = X_d[order], y_d[order]
    ours = GradientBoostingRegressor(max_depth=2, random_state=0).fit(X_d[:300], y_d[:300])
    theirs = SkBoosting(max_depth=2, random_state=0).fit(X_d[:300], y_d[:300])
    assert abs(ours.score(X_d[300:], y_d[300:]) - theirs.score(X_d[300:], y_d[300:])) <= 0.02


def test_first_stage_is_the_mean_plus_a_step_on_the_residuals():
    model = GradientBoostingRegressor(n_estimators=2, learning_rate=0.5, random_state=0)
    model.fit(X_train, y_train)
    assert model.init_ == pytest.approx(y_train.mean(), rel=1e-15)
    first, second = model.estimators_
    residual = y_train - y_train.mean()
    # The first tree's leaves hold the mean residual of their rows.
    leaves = first.apply(X_train)
    for leaf in np.unique(leaves):
        assert first.tree_.value[leaf] == pytest.approx(residual[leaves == leaf].mean(), rel=1e-12)
    stages = list(model.staged_predict(X_test))
    np.testing.assert_allclose(stages[0], y_train.mean() + 0.5 * first.predict(X_test), rtol=1e-14)
    np.testing.assert_allclose(stages[1], stages[0] + 0.5 * second.predict(X_test), rtol=1e-14)


def test_training_loss_decreases_and_subsample_is_seeded():
    model = GradientBoostingRegressor(n_estimators=40, random_state=0).fit(X_train, y_train)
    assert np.all(np.diff(model.train_score_) <= 1e-12)  # full-batch steps never increase it
    one = GradientBoostingRegressor(subsample=0.5, random_state=3).fit(X_train, y_train)
    two = GradientBoostingRegressor(subsample=0.5, random_state=3).fit(X_train, y_train)
    np.testing.assert_array_equal(one.predict(X_test), two.predict(X_test))
    assert one.score(X_test, y_test) > 0.5


def test_bad_inputs():
    with pytest.raises(ValueError, match="only loss='squared_error' is built, got 'huber'"):
        GradientBoostingRegressor(loss="huber").fit(X_train, y_train)
    with pytest.raises(ValueError, match=r"subsample must be in \(0, 1\], got 1.5"):
        GradientBoostingRegressor(subsample=1.5).fit(X_train, y_train)
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        GradientBoostingRegressor(learning_rate=-1).fit(X_train, y_train)
    with pytest.raises(
        NotFittedError, match="This GradientBoostingRegressor instance is not fitted"
    ):
        GradientBoostingRegressor().predict(X_test)
