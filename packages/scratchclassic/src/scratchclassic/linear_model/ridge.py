"""Ridge regression: least squares with an L2 penalty, solved in closed form through the SVD.

Notes: ``packages/scratchclassic/notes/01-linear-models.md`` (section "Ridge").

Minimise $\\|y - Xw\\|^2 + \\alpha \\|w\\|^2$ (scikit-learn's ``Ridge`` objective; the intercept
is removed by centring and so never penalised). Setting the gradient to zero gives
$(X^\\top X + \\alpha I) w = X^\\top y$. With the thin SVD $X = U \\operatorname{diag}(s) V^\\top$
the solution is

$$ w = V \\operatorname{diag}\\!\\left(\\frac{s_i}{s_i^2 + \\alpha}\\right) U^\\top y, $$

which shows what the penalty does: the component of $y$ along the $i$-th singular direction is
scaled by $s_i^2/(s_i^2 + \\alpha)$ compared with least squares — directions of small variance
(small $s_i$) are shrunk the most.
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
from scratchclassic.linear_model._centring import centre, intercept_from_offsets


class Ridge(RegressorMixin, BaseEstimator):
    """L2-penalised least squares; ``coef_`` ``(d,)``, ``intercept_``, ``alpha`` as scikit-learn."""

    def __init__(self, alpha: float = 1.0, fit_intercept: bool = True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X, y) -> Ridge:
        if not np.isfinite(self.alpha) or self.alpha < 0:
            raise ValueError(f"Ridge: alpha must be a finite number >= 0, got {self.alpha!r}")
        X, y = check_X_y(X, y, "Ridge", task="regression")
        Xc, yc, X_offset, y_offset = centre(X, y.astype(np.float64), self.fit_intercept)
        U, s, Vt = np.linalg.svd(Xc, full_matrices=False)  # U (n, r), s (r,), Vt (r, d)
        # s / (s² + α); a zero singular value with α = 0 contributes nothing (minimum norm).
        denominator = s**2 + self.alpha
        filter_factors = np.divide(s, denominator, out=np.zeros_like(s), where=denominator > 0)
        self.coef_ = Vt.T @ (filter_factors * (U.T @ yc))
        self.intercept_ = intercept_from_offsets(self.coef_, X_offset, y_offset)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """``(n,)`` predictions $Xw + b$ for ``X`` ``(n, d)``."""
        check_is_fitted(self, "coef_")
        X = check_array(X, "Ridge")
        check_n_features(X, self.n_features_in_, "Ridge")
        return X @ self.coef_ + self.intercept_
