"""Random forests (Breiman 2001): bagged trees that each see a random subset of features per split.

Notes: ``packages/scratchclassic/notes/05-trees-and-ensembles.md`` (bagging, decorrelation, OOB).

Each tree is grown to full depth on a bootstrap sample of the training set — $n$ draws with
replacement, given to the tree as integer sample weights (how often each row was drawn), as
scikit-learn does. A deep tree has low bias and high variance; averaging $B$ of them divides the
part of the variance they do not share by $B$, and drawing ``max_features`` candidate features at
every split keeps the trees from all making the same first split, so they share less of it.

About a third of the rows ($(1 - 1/n)^n \\to e^{-1}$) are left out of each bootstrap sample; the
trees that never saw a row vote on it, which gives the out-of-bag estimate of the test accuracy
for free.
"""

from __future__ import annotations

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    ClassifierMixin,
    check_array,
    check_is_fitted,
    check_n_features,
    check_X_y,
)
from scratchclassic.tree import DecisionTreeClassifier


class RandomForestClassifier(ClassifierMixin, BaseEstimator):
    """A forest of CART classifiers with scikit-learn's parameters and defaults.

    ``predict_proba`` averages the trees' leaf class proportions (soft voting, as scikit-learn).
    After ``fit``: ``estimators_`` (the trees), ``estimators_samples_`` (the distinct rows each
    tree was grown on), ``classes_``, ``n_features_in_``, and with
    ``oob_score=True`` also ``oob_decision_function_`` ``(n, K)`` (averaged class proportions from
    the trees that did not see each row) and ``oob_score_`` (its accuracy).
    """

    def __init__(
        self,
        n_estimators=100,
        criterion="gini",
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features="sqrt",
        bootstrap=True,
        oob_score=False,
        random_state=None,
    ):
        self.n_estimators = n_estimators
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.oob_score = oob_score
        self.random_state = random_state

    def fit(self, X, y) -> RandomForestClassifier:
        """Grow ``n_estimators`` trees on bootstrap samples of ``X`` ``(n, d)``, ``y`` ``(n,)``."""
        X, y = check_X_y(X, y, "RandomForestClassifier", task="classification")
        if not (isinstance(self.n_estimators, (int, np.integer)) and self.n_estimators >= 1):
            raise ValueError(
                "RandomForestClassifier: n_estimators must be an int >= 1, "
                f"got {self.n_estimators!r}"
            )
        if self.oob_score and not self.bootstrap:
            raise ValueError("RandomForestClassifier: oob_score=True needs bootstrap=True")
        self.classes_, codes = np.unique(y, return_inverse=True)
        n, n_classes = len(X), len(self.classes_)
        rng = np.random.default_rng(self.random_state)
        self.estimators_, self.estimators_samples_ = [], []
        oob_sum = np.zeros((n, n_classes))
        # One tree per iteration: the loop over trees is on purpose.
        for _ in range(self.n_estimators):
            seed = int(rng.integers(2**31))
            counts = np.bincount(rng.integers(0, n, n), minlength=n) if self.bootstrap else None
            drawn = np.flatnonzero(counts) if self.bootstrap else np.arange(n)
            tree = DecisionTreeClassifier(
                criterion=self.criterion,
                max_depth=self.max_depth,
                min_samples_split=self.min_samples_split,
                min_samples_leaf=self.min_samples_leaf,
                max_features=self.max_features,
                random_state=seed,
            )
            # Rows drawn k times carry weight k; rows never drawn are left out entirely.
            tree.fit(X[drawn], codes[drawn], None if counts is None else counts[drawn])
            self.estimators_.append(tree)
            self.estimators_samples_.append(drawn)
            if self.oob_score:
                left_out = counts == 0
                oob_sum[left_out] += self._tree_proba(tree, X[left_out])
        self.n_features_in_ = X.shape[1]
        if self.oob_score:
            voted = oob_sum.sum(axis=1) > 0  # rows that were out of bag at least once
            self.oob_decision_function_ = np.full((n, n_classes), np.nan)
            self.oob_decision_function_[voted] = oob_sum[voted] / oob_sum[voted].sum(
                axis=1, keepdims=True
            )
            predicted = self.oob_decision_function_[voted].argmax(axis=1)
            self.oob_score_ = float(np.mean(predicted == codes[voted]))
        return self

    @property
    def feature_importances_(self) -> np.ndarray:
        """``(d,)``: the trees' normalised impurity-decrease importances, averaged."""
        check_is_fitted(self, "estimators_")
        return np.mean([tree.feature_importances_ for tree in self.estimators_], axis=0)

    def _tree_proba(self, tree: DecisionTreeClassifier, X: np.ndarray) -> np.ndarray:
        """A tree's ``(m, K)`` proportions; a bootstrap sample can miss a class entirely, so the
        tree's own classes (codes into ``classes_``) say which columns it fills."""
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, tree.classes_] = tree.tree_.value[tree.tree_.apply(X)]
        return proba

    def predict_proba(self, X) -> np.ndarray:
        """The trees' class proportions averaged: ``(m, d) -> (m, K)``."""
        check_is_fitted(self, "estimators_")
        X = check_array(X, "RandomForestClassifier")
        check_n_features(X, self.n_features_in_, "RandomForestClassifier")
        return sum(self._tree_proba(tree, X) for tree in self.estimators_) / len(self.estimators_)

    def predict(self, X) -> np.ndarray:
        """The class with the largest averaged proportion: ``(m, d) -> (m,)``."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]
