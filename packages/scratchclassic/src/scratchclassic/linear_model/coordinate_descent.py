r"""The lasso and the elastic net, by cyclic coordinate descent with soft-thresholding.

Notes: ``packages/scratchclassic/notes/01-linear-models.md`` (sections "The lasso" and
"Coordinate descent").

scikit-learn's objective, for ``X`` ``(n, d)`` centred (see ``_centring.py``):

$$ \frac{1}{2n}\|y - Xw\|^2 + \alpha\rho\|w\|_1 + \frac{\alpha(1-\rho)}{2}\|w\|^2 $$

with $\rho$ = ``l1_ratio`` ($\rho = 1$ is the lasso). Holding every coordinate but $w_j$ fixed,
the objective is a one-dimensional quadratic plus $\alpha\rho|w_j|$, minimised exactly by

$$ w_j = \frac{S(x_j^\top r_{(j)} / n,\ \alpha\rho)}{x_j^\top x_j / n + \alpha(1-\rho)},
\qquad S(z, t) = \operatorname{sign}(z)\max(|z| - t, 0), $$

where $r_{(j)} = y - \sum_{k \ne j} x_k w_k$ is the residual without feature $j$. The
soft-threshold $S$ sets $w_j$ to exactly zero when $|x_j^\top r_{(j)}|/n \le \alpha\rho$: that is
where the lasso's sparsity comes from. Sweeping $j = 1, \dots, d$ over and over decreases the
(convex) objective at every step. Stopping uses the duality gap, which bounds how far the
objective is from its minimum.
"""

from __future__ import annotations

import warnings

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


def soft_threshold(z, threshold: float):
    """$S(z, t) = \\operatorname{sign}(z)\\max(|z| - t, 0)$ elementwise: the prox of $t|\\cdot|$."""
    return np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)


def duality_gap(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, residual: np.ndarray, l1: float, l2: float
) -> float:
    r"""Gap between the primal objective $\frac12\|r\|^2 + l_1\|w\|_1 + \frac{l_2}{2}\|w\|^2$
    (the module's objective times $n$) and the dual objective at a feasible dual point.

    The dual point is the residual scaled by $c \le 1$ so that
    $\|X^\top r - l_2 w\|_\infty\, c \le l_1$ (and $c\,w$ for the L2 part); the gap is $\ge 0$ and
    is $0$ exactly at the minimum.
    """
    correlation = X.T @ residual - l2 * w
    worst = np.max(np.abs(correlation)) if len(w) else 0.0
    scale = min(1.0, l1 / worst) if worst > 0 else 1.0
    residual_sq = residual @ residual
    primal = 0.5 * residual_sq + l1 * np.abs(w).sum() + 0.5 * l2 * (w @ w)
    # The dual point for the L2 part is the same scaled copy of w.
    dual = scale * (residual @ y) - 0.5 * scale**2 * (residual_sq + l2 * (w @ w))
    return float(primal - dual)


def coordinate_descent(
    X: np.ndarray,
    y: np.ndarray,
    alpha: float,
    l1_ratio: float,
    w: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, int, float]:
    """Minimise the elastic-net objective from the start ``w`` ``(d,)``; ``(w, n_iter, gap)``.

    Stops when the duality gap (of the objective times $n$) is at most ``tol * ||y||²``, the
    same scale-free criterion as scikit-learn.
    """
    n, d = X.shape
    l1, l2 = alpha * l1_ratio * n, alpha * (1.0 - l1_ratio) * n  # penalties on the n-times scale
    column_sq = np.einsum("ij,ij->j", X, X)  # x_j^T x_j for every j
    w = w.copy()
    residual = y - X @ w
    target = tol * (y @ y)
    gap = np.inf
    for sweep in range(1, max_iter + 1):  # sweeps of the optimiser, on purpose
        # The loop over coordinates *is* coordinate descent: each update needs the residual
        # left by the previous one. Each update is vectorised over the n samples.
        for j in range(d):
            if column_sq[j] == 0:
                continue  # a constant (zero after centring) feature keeps w_j = 0
            old = w[j]
            rho_j = X[:, j] @ residual + column_sq[j] * old  # x_j^T r_(j)
            w[j] = soft_threshold(rho_j, l1) / (column_sq[j] + l2)
            if w[j] != old:
                residual -= X[:, j] * (w[j] - old)  # keep r = y - Xw, in place
        gap = duality_gap(X, y, w, residual, l1, l2)
        if gap <= target:
            return w, sweep, gap
    warnings.warn(
        f"coordinate descent: not converged after max_iter={max_iter} sweeps (duality gap "
        f"{gap:.3g} > tol * ||y||² = {target:.3g}); increase max_iter or tol",
        RuntimeWarning,
        stacklevel=3,
    )
    return w, max_iter, gap


class ElasticNet(RegressorMixin, BaseEstimator):
    """L1 + L2 penalised least squares (objective in the module docstring), as scikit-learn's.

    ``coef_`` ``(d,)``, ``intercept_``, ``n_iter_`` (sweeps) and ``dual_gap_`` after ``fit``.
    ``warm_start=True`` starts from the previous ``coef_``, which makes a path of decreasing
    ``alpha`` cheap.
    """

    _name = "ElasticNet"

    def __init__(
        self,
        alpha: float = 1.0,
        l1_ratio: float = 0.5,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        warm_start: bool = False,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start

    def fit(self, X, y) -> ElasticNet:
        if not np.isfinite(self.alpha) or self.alpha < 0:
            raise ValueError(
                f"{self._name}: alpha must be a finite number >= 0, got {self.alpha!r}"
            )
        if not 0.0 <= self.l1_ratio <= 1.0:
            raise ValueError(f"{self._name}: l1_ratio must be in [0, 1], got {self.l1_ratio!r}")
        X, y = check_X_y(X, y, self._name, task="regression")
        Xc, yc, X_offset, y_offset = centre(X, y.astype(np.float64), self.fit_intercept)
        start = np.zeros(X.shape[1])
        if self.warm_start and getattr(self, "coef_", None) is not None:
            if self.coef_.shape == start.shape:
                start = self.coef_
        self.coef_, self.n_iter_, self.dual_gap_ = coordinate_descent(
            Xc, yc, self.alpha, self.l1_ratio, start, self.max_iter, self.tol
        )
        self.intercept_ = intercept_from_offsets(self.coef_, X_offset, y_offset)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """``(n,)`` predictions $Xw + b$ for ``X`` ``(n, d)``."""
        check_is_fitted(self, "coef_")
        X = check_array(X, self._name)
        check_n_features(X, self.n_features_in_, self._name)
        return X @ self.coef_ + self.intercept_


class Lasso(ElasticNet):
    """The elastic net with ``l1_ratio = 1``: $\\frac{1}{2n}\\|y - Xw\\|^2 + \\alpha\\|w\\|_1$."""

    _name = "Lasso"

    def __init__(
        self,
        alpha: float = 1.0,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        warm_start: bool = False,
    ):
        super().__init__(
            alpha=alpha,
            l1_ratio=1.0,
            fit_intercept=fit_intercept,
            max_iter=max_iter,
            tol=tol,
            warm_start=warm_start,
        )
