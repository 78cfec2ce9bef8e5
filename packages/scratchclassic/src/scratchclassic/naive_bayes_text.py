"""Multinomial naive Bayes: the classifier that goes with bag-of-words counts.

Notes: ``packages/scratchclassic/notes/08-information-and-wordle.md`` (the spam section); used by
``experiments/spam.py``. (Gaussian naive Bayes, for real-valued features, is
``scratchclassic.naive_bayes.GaussianNB``.)

A document of class ``c`` is modelled as words drawn independently from one distribution
``θ_c`` over the vocabulary, so its counts ``x`` ``(V,)`` have log-likelihood
``Σ_j x_j log θ_cj`` (plus a term that does not depend on the class). With additive (Laplace /
Lidstone) smoothing ``alpha``, the estimate from the training counts ``N_cj`` is

    θ_cj = (N_cj + alpha) / (Σ_j N_cj + alpha V),

and the posterior is ``log P(c | x) = log P(c) + x · log θ_c - logsumexp(...)``: a linear
classifier in the counts. Names and defaults follow scikit-learn's ``MultinomialNB``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    ClassifierMixin,
    check_array,
    check_is_fitted,
    check_n_features,
    check_X_y,
)


class MultinomialNB(ClassifierMixin, BaseEstimator):
    """Naive Bayes for count features ``X`` ``(n, V)`` (non-negative).

    ``alpha`` > 0 smooths the word distributions; ``fit_prior=False`` uses uniform class
    priors. Attributes: ``classes_`` ``(K,)``, ``class_count_`` ``(K,)``,
    ``feature_count_`` ``(K, V)``, ``class_log_prior_`` ``(K,)``, ``feature_log_prob_``
    ``(K, V)``.
    """

    def __init__(self, alpha: float = 1.0, fit_prior: bool = True):
        self.alpha = alpha
        self.fit_prior = fit_prior

    def _tags(self):
        # Counts only; and a count model on arbitrary real features (scikit-learn's toy data)
        # is not expected to score well, as scikit-learn says of its own MultinomialNB.
        return replace(super()._tags(), positive_only=True, poor_score=True)

    def fit(self, X, y) -> MultinomialNB:
        if not (np.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"MultinomialNB: alpha must be > 0, got {self.alpha!r}")
        X, y = check_X_y(X, y, "MultinomialNB", task="classification")
        if X.min() < 0:
            raise ValueError(
                f"MultinomialNB: Negative values in data passed to X (found {X.min()}); "
                "X must hold non-negative counts"
            )
        self.classes_, codes = np.unique(y, return_inverse=True)
        one_hot = np.eye(len(self.classes_))[codes]  # (n, K)
        self.class_count_ = one_hot.sum(axis=0)
        self.feature_count_ = one_hot.T @ X  # (K, V): every word count, summed per class
        smoothed = self.feature_count_ + self.alpha
        self.feature_log_prob_ = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
        if self.fit_prior:
            self.class_log_prior_ = np.log(self.class_count_ / self.class_count_.sum())
        else:
            self.class_log_prior_ = np.full(len(self.classes_), -np.log(len(self.classes_)))
        self.n_features_in_ = X.shape[1]
        return self

    def predict_log_proba(self, X) -> np.ndarray:
        """``(n, K)`` log posterior class probabilities."""
        check_is_fitted(self, "feature_log_prob_")
        X = check_array(X, "MultinomialNB")
        check_n_features(X, self.n_features_in_, "MultinomialNB")
        joint = X @ self.feature_log_prob_.T + self.class_log_prior_  # (n, K)
        top = joint.max(axis=1, keepdims=True)  # subtract the max: a stable logsumexp
        return joint - (top + np.log(np.sum(np.exp(joint - top), axis=1, keepdims=True)))

    def predict_proba(self, X) -> np.ndarray:
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        log_probabilities = self.predict_log_proba(X)  # first: it checks that fit has run
        return self.classes_[np.argmax(log_probabilities, axis=1)]
