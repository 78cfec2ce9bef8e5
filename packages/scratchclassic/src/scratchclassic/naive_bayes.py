r"""Gaussian naive Bayes: a generative classifier with one axis-aligned Gaussian per class.

Notes: ``packages/scratchclassic/notes/06-unsupervised.md`` (section "Gaussian naive Bayes").

Model the joint $p(x, y = k) = \pi_k \prod_j \mathcal N(x_j; \mu_{kj}, \sigma^2_{kj})$ — the
features are *assumed* independent given the class (the "naive" part). Fitting is counting and
averaging (the maximum-likelihood estimates); predicting is Bayes' rule:

$$ \log p(y = k \mid x) = \log \pi_k - \tfrac12 \sum_j \Big[\log(2\pi\sigma^2_{kj})
   + \frac{(x_j - \mu_{kj})^2}{\sigma^2_{kj}}\Big] - \log p(x), $$

with $\log p(x)$ the log-sum-exp of the rest over $k$. Like scikit-learn, every variance gets
$\epsilon$ = ``var_smoothing`` times the largest feature variance added, so a feature that is
constant within a class does not divide by zero.
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


class GaussianNB(ClassifierMixin, BaseEstimator):
    """``theta_`` ``(K, d)`` means, ``var_`` ``(K, d)`` variances, ``class_prior_`` ``(K,)``.

    ``priors`` ``(K,)`` fixes the class priors (else the class frequencies); ``var_smoothing``
    as scikit-learn's (``epsilon_`` is the amount added to every variance).
    """

    def __init__(self, priors=None, var_smoothing: float = 1e-9):
        self.priors = priors
        self.var_smoothing = var_smoothing

    def fit(self, X, y) -> GaussianNB:
        if not (np.isfinite(self.var_smoothing) and self.var_smoothing >= 0):
            raise ValueError(
                "GaussianNB: var_smoothing must be a finite number >= 0, "
                f"got {self.var_smoothing!r}"
            )
        X, y = check_X_y(X, y, "GaussianNB", task="classification")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        K = len(self.classes_)
        one_hot = np.eye(K)[y_index]  # (n, K): class sums become one matrix product
        self.class_count_ = one_hot.sum(axis=0)
        self.theta_ = one_hot.T @ X / self.class_count_[:, None]
        # Maximum-likelihood (biased: divide by the count) variances, from deviations about each
        # example's own class mean (E[x²] - E[x]² would cancel catastrophically for large means).
        deviations = X - self.theta_[y_index]
        self.var_ = one_hot.T @ deviations**2 / self.class_count_[:, None]
        self.epsilon_ = self.var_smoothing * np.max(np.var(X, axis=0))
        self.var_ += self.epsilon_
        if self.priors is None:
            self.class_prior_ = self.class_count_ / len(X)
        else:
            priors = np.asarray(self.priors, dtype=np.float64)
            if priors.shape != (K,) or np.any(priors < 0) or not np.isclose(priors.sum(), 1.0):
                raise ValueError(
                    f"GaussianNB: priors must be {K} non-negative numbers summing to 1, "
                    f"got {self.priors!r}"
                )
            self.class_prior_ = priors
        self.n_features_in_ = X.shape[1]
        return self

    def _joint_log_likelihood(self, X) -> np.ndarray:
        """``(n, K)`` matrix of $\\log \\pi_k + \\log p(x \\mid y = k)$."""
        check_is_fitted(self, "theta_")
        X = check_array(X, "GaussianNB")
        check_n_features(X, self.n_features_in_, "GaussianNB")
        log_normaliser = -0.5 * np.sum(np.log(2.0 * np.pi * self.var_), axis=1)  # (K,)
        squared = (X[:, None, :] - self.theta_[None, :, :]) ** 2 / self.var_[None]  # (n, K, d)
        with np.errstate(divide="ignore"):  # a zero prior is a log-probability of -inf
            log_prior = np.log(self.class_prior_)
        return log_prior + log_normaliser - 0.5 * squared.sum(axis=2)

    def predict_log_proba(self, X) -> np.ndarray:
        """``(n, K)`` log posterior probabilities (log-sum-exp normalised)."""
        joint = self._joint_log_likelihood(X)
        top = joint.max(axis=1, keepdims=True)
        return joint - (top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True)))

    def predict_proba(self, X) -> np.ndarray:
        """``(n, K)`` posterior probabilities, columns as ``classes_``."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """``(n,)`` the class with the largest posterior."""
        best = np.argmax(self._joint_log_likelihood(X), axis=1)  # checks fitting first
        return self.classes_[best]
