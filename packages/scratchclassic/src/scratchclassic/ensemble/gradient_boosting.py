"""Gradient boosting for regression (Friedman 2001): trees fit to residuals, added with shrinkage.

Notes: ``packages/scratchclassic/notes/05-trees-and-ensembles.md`` (functional gradient descent).

Gradient descent in the space of functions: the model $F_m(x)$ is a sum of trees, and the loss
$\\sum_i L(y_i, F(x_i))$ is minimised one step at a time. For the squared loss
$L = \\tfrac12 (y - F)^2$ the negative gradient at each training point is the residual
$r_i = y_i - F_{m-1}(x_i)$, so each round fits a regression tree to the residuals and takes a step
$F_m = F_{m-1} + \\eta\\, h_m$ with learning rate (shrinkage) $\\eta$. $F_0$ is the mean of $y$,
the best constant. With ``subsample < 1`` each tree sees a random fraction of the rows
(stochastic gradient boosting).
"""

from __future__ import annotations

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    RegressorMixin,
    check_array,
    check_is_fitted,
    check_n_features,
    check_X_y,
)
from scratchclassic.tree import DecisionTreeRegressor


class GradientBoostingRegressor(RegressorMixin, BaseEstimator):
    """Least-squares gradient boosting with scikit-learn's parameters and defaults.

    After ``fit``: ``init_`` (the mean of ``y``), ``estimators_`` (the trees), ``train_score_``
    ``(n_estimators,)`` (mean squared error on the rows each tree was fitted to, after its step,
    as scikit-learn reports it).
    """

    def __init__(
        self,
        loss="squared_error",
        learning_rate=0.1,
        n_estimators=100,
        subsample=1.0,
        max_depth=3,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features=None,
        random_state=None,
    ):
        self.loss = loss
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.subsample = subsample
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state

    def fit(self, X, y) -> GradientBoostingRegressor:
        """Boost ``n_estimators`` trees on ``X`` ``(n, d)``, targets ``y`` ``(n,)``."""
        X, y = check_X_y(X, y, "GradientBoostingRegressor", task="regression")
        y = y.astype(np.float64)
        if self.loss != "squared_error":
            raise ValueError(
                f"GradientBoostingRegressor: only loss='squared_error' is built, got {self.loss!r}"
            )
        if not self.learning_rate > 0:
            raise ValueError(
                "GradientBoostingRegressor: learning_rate must be positive, "
                f"got {self.learning_rate!r}"
            )
        if not 0.0 < self.subsample <= 1.0:
            raise ValueError(
                f"GradientBoostingRegressor: subsample must be in (0, 1], got {self.subsample!r}"
            )
        rng = np.random.default_rng(self.random_state)
        n = len(X)
        self.init_ = float(y.mean())
        prediction = np.full(n, self.init_)
        self.estimators_, train_score = [], []
        # One tree per boosting stage: the loop over stages is on purpose.
        for _ in range(self.n_estimators):
            residual = y - prediction  # the negative gradient of (y - F)^2 / 2
            rows = np.arange(n)
            if self.subsample < 1.0:
                rows = np.sort(rng.choice(n, size=max(1, int(self.subsample * n)), replace=False))
            tree = DecisionTreeRegressor(
                max_depth=self.max_depth,
                min_samples_split=self.min_samples_split,
                min_samples_leaf=self.min_samples_leaf,
                max_features=self.max_features,
                random_state=int(rng.integers(2**31)),
            )
            tree.fit(X[rows], residual[rows])
            prediction += self.learning_rate * tree.predict(X)
            self.estimators_.append(tree)
            train_score.append(np.mean((y[rows] - prediction[rows]) ** 2))
        self.train_score_ = np.array(train_score)
        self.n_features_in_ = X.shape[1]
        return self

    def staged_predict(self, X):
        """$F_0(x), \\dots$: the prediction after each stage, ``(m,)`` per stage."""
        check_is_fitted(self, "estimators_")
        X = check_array(X, "GradientBoostingRegressor")
        check_n_features(X, self.n_features_in_, "GradientBoostingRegressor")
        prediction = np.full(len(X), self.init_)
        for tree in self.estimators_:
            prediction = prediction + self.learning_rate * tree.predict(X)
            yield prediction

    def predict(self, X) -> np.ndarray:
        """$F_M(x) = \\bar y + \\eta \\sum_m h_m(x)$: ``(m, d) -> (m,)``."""
        *_, prediction = self.staged_predict(X)
        return prediction
