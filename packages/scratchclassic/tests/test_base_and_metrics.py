"""The shared estimator plumbing and metrics, against scikit-learn's."""

import numpy as np
import pytest
from sklearn import metrics as skm

from scratchclassic.base import NotFittedError, check_array, check_is_fitted, check_X_y
from scratchclassic.metrics import (
    accuracy_score,
    mean_squared_error,
    r2_score,
    root_mean_squared_error,
)


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=50), rng.normal(size=50)
    assert r2_score(y, p) == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    assert mean_squared_error(y, p) == pytest.approx(skm.mean_squared_error(y, p), rel=1e-12)
    assert root_mean_squared_error(y, p) == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    labels, guesses = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    assert accuracy_score(labels, guesses) == skm.accuracy_score(labels, guesses)
    assert r2_score(np.ones(4), np.ones(4)) == 1.0 and r2_score(np.ones(4), np.zeros(4)) == 0.0


def test_checks_name_the_owner():
    with pytest.raises(ValueError, match=r"Ridge: expected X with 2 dimensions, got shape \(3,\)"):
        check_array(np.zeros(3), "Ridge")
    with pytest.raises(ValueError, match="Lasso: input X contains NaN"):
        check_array([[np.nan]], "Lasso")
    with pytest.raises(
        ValueError,
        match="SVC: found input variables with inconsistent numbers of samples: "
        "X has 3 rows but y has 2",
    ):
        check_X_y(np.zeros((3, 2)), [0, 1], "SVC")
    with pytest.raises(NotFittedError, match="This object instance is not fitted"):
        check_is_fitted(object(), "coef_")
    with pytest.raises(ValueError, match="accuracy_score"):
        accuracy_score([1, 2], [1])
