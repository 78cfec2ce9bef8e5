"""AdaBoost with the SAMME rule (Zhu, Zou, Rosset & Hastie 2009), boosting decision stumps.

Notes: ``packages/scratchclassic/notes/05-trees-and-ensembles.md`` (boosting, SAMME).

Start with equal sample weights. Each round fits a weak learner $h_m$ to the weighted data, measures
its weighted error $\\varepsilon_m$, gives it the vote

$$\\alpha_m = \\eta\\,\\Big(\\log\\frac{1 - \\varepsilon_m}{\\varepsilon_m} + \\log(K - 1)\\Big),$$

and multiplies the weight of every sample it got wrong by $e^{\\alpha_m}$ (then renormalises), so
the next learner concentrates on those. This is forward stagewise additive modelling with the
exponential loss; the $\\log(K-1)$ term is what the multi-class loss adds, and it makes any learner
better than chance ($\\varepsilon < 1 - 1/K$) earn a positive vote. For $K = 2$ it is AdaBoost.
"""

from __future__ import annotations

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    ClassifierMixin,
    check_array,
    check_is_fitted,
    check_n_features,
    check_sample_weight,
    check_X_y,
)
from scratchclassic.tree import DecisionTreeClassifier


def samme_update(
    sample_weight: np.ndarray, incorrect: np.ndarray, n_classes: int, learning_rate: float
) -> tuple[np.ndarray, float, float]:
    """One SAMME step: ``(new weights (n,), estimator weight alpha, weighted error)``.

    ``sample_weight`` ``(n,)`` sums to one; ``incorrect`` ``(n,)`` marks the learner's mistakes.
    The new weights are *not* renormalised here (the caller does it).
    """
    error = float(np.sum(sample_weight * incorrect) / np.sum(sample_weight))
    alpha = learning_rate * (np.log((1.0 - error) / error) + np.log(n_classes - 1.0))
    return sample_weight * np.exp(alpha * incorrect), float(alpha), error


class AdaBoostClassifier(ClassifierMixin, BaseEstimator):
    """SAMME AdaBoost over depth-1 trees (stumps), with scikit-learn's parameters and defaults.

    After ``fit``: ``estimators_`` (the stumps), ``estimator_weights_`` and ``estimator_errors_``
    (one per fitted stump: boosting stops early when a stump is perfect — weight 1, as
    scikit-learn — or no better than chance), ``classes_``, ``n_classes_``.
    """

    def __init__(self, n_estimators=50, learning_rate=1.0, max_depth=1, random_state=None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None) -> AdaBoostClassifier:
        """Boost for up to ``n_estimators`` rounds on ``X`` ``(n, d)``, ``y`` ``(n,)``."""
        X, y = check_X_y(X, y, "AdaBoostClassifier", task="classification")
        if not self.learning_rate > 0:
            raise ValueError(
                f"AdaBoostClassifier: learning_rate must be positive, got {self.learning_rate!r}"
            )
        if not (isinstance(self.n_estimators, (int, np.integer)) and self.n_estimators >= 1):
            raise ValueError(
                f"AdaBoostClassifier: n_estimators must be an int >= 1, got {self.n_estimators!r}"
            )
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.n_classes_ = len(self.classes_)
        if self.n_classes_ < 2:
            raise ValueError(
                f"AdaBoostClassifier: needs samples of at least 2 classes, got 1 class "
                f"({self.classes_[0].tolist()!r})"
            )
        weight = check_sample_weight(sample_weight, len(X), "AdaBoostClassifier")
        if len(np.unique(codes[weight > 0])) < 2:
            raise ValueError(
                "AdaBoostClassifier: only one class has samples with a positive weight; "
                "boosting needs at least 2 classes to separate"
            )
        weight = weight / weight.sum()
        zero = weight == 0  # rows the caller switched off stay off
        rng = np.random.default_rng(self.random_state)
        tiny = np.finfo(np.float64).eps
        self.estimators_, weights, errors = [], [], []
        # One weak learner per round: the loop over boosting rounds is on purpose.
        for _ in range(self.n_estimators):
            # Keep weights away from underflow to zero, as scikit-learn does.
            weight = np.where(zero, 0.0, np.maximum(weight, tiny))
            stump = DecisionTreeClassifier(
                max_depth=self.max_depth, random_state=int(rng.integers(2**31))
            )
            stump.fit(X, codes, sample_weight=weight)
            incorrect = stump.predict(X) != codes
            if not incorrect.any():  # a perfect learner: it gets weight 1 and boosting stops
                self.estimators_.append(stump)
                weights.append(1.0)
                errors.append(0.0)
                break
            new_weight, alpha, error = samme_update(
                weight, incorrect, self.n_classes_, self.learning_rate
            )
            if error >= 1.0 - 1.0 / self.n_classes_:  # no better than chance: stop
                if not self.estimators_:
                    raise ValueError(
                        "AdaBoostClassifier: the first weak learner is no better than chance "
                        f"(weighted error {error:.3f}); the ensemble cannot be fit"
                    )
                break
            self.estimators_.append(stump)
            weights.append(alpha)
            errors.append(error)
            weight = new_weight / new_weight.sum()
        self.estimator_weights_ = np.array(weights)
        self.estimator_errors_ = np.array(errors)
        self.n_features_in_ = X.shape[1]
        return self

    def _staged_votes(self, X: np.ndarray) -> np.ndarray:
        """$f_k(x)$ after each round, ``(M, m, K)``: $f_k = \\sum_m \\alpha_m c_{mk}(x) /
        \\sum_m \\alpha_m$ with $c_{mk} = 1$ if $h_m(x) = k$ and $-1/(K-1)$ otherwise (SAMME's
        symmetric coding)."""
        K = self.n_classes_
        chosen = np.stack([stump.predict(X) for stump in self.estimators_])[..., None] == np.arange(
            K
        )
        coded = np.where(chosen, 1.0, -1.0 / (K - 1))  # (M, m, K)
        running = np.cumsum(self.estimator_weights_[:, None, None] * coded, axis=0)
        return running / np.cumsum(self.estimator_weights_)[:, None, None]

    def _votes(self, X: np.ndarray) -> np.ndarray:
        """$f_k(x)$ of the whole ensemble, ``(m, K)``."""
        return self._staged_votes(X)[-1]

    def _proba(self, votes: np.ndarray) -> np.ndarray:
        """$\\operatorname{softmax}(f(x) / (K - 1))$ (Zhu et al., eq. 15) over the last axis."""
        scores = votes / (self.n_classes_ - 1)
        if self.n_classes_ == 2:  # scikit-learn's binary convention: +-d/2 from d = f_1 - f_0
            d = scores[..., 1] - scores[..., 0]
            scores = np.stack([-d / 2, d / 2], axis=-1)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return scores / scores.sum(axis=-1, keepdims=True)

    def _checked(self, X) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        X = check_array(X, "AdaBoostClassifier")
        check_n_features(X, self.n_features_in_, "AdaBoostClassifier")
        return X

    def decision_function(self, X) -> np.ndarray:
        """Binary: ``(m,)`` $f_1 - f_0$, positive for ``classes_[1]``; else ``(m, K)``."""
        votes = self._votes(self._checked(X))
        return votes[:, 1] - votes[:, 0] if self.n_classes_ == 2 else votes

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities from the votes (see ``_proba``): ``(m, d) -> (m, K)``."""
        return self._proba(self._votes(self._checked(X)))

    def predict(self, X) -> np.ndarray:
        """The class with the largest weighted vote: ``(m, d) -> (m,)``."""
        votes = self._votes(self._checked(X))
        return self.classes_[votes.argmax(axis=1)]

    def staged_predict(self, X) -> np.ndarray:
        """Predictions after 1, 2, ..., M rounds: ``(M, m)`` (for learning curves)."""
        votes = self._staged_votes(self._checked(X))
        return self.classes_[votes.argmax(axis=-1)]

    def staged_predict_proba(self, X) -> np.ndarray:
        """Probabilities after 1, 2, ..., M rounds: ``(M, m, K)``."""
        return self._proba(self._staged_votes(self._checked(X)))
