"""Kernel ridge regression: ridge solved in its dual, so any kernel can replace $x^\\top z$.

Notes: ``packages/scratchclassic/notes/04-kernels-and-svm.md`` (kernel ridge as the dual of ridge).

Ridge minimises $\\|y - Xw\\|^2 + \\alpha\\|w\\|^2$; its solution lies in the span of the training
points, $w = X^\\top a$, with $a = (XX^\\top + \\alpha I)^{-1} y$. Replacing $XX^\\top$ by a Gram
matrix $K$ gives kernel ridge: fit solves one ``(n, n)`` linear system, and a prediction is
$f(x) = \\sum_i a_i k(x, x_i)$. As scikit-learn's ``KernelRidge`` there is no intercept (centre
``y`` first if you want one).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    RegressorMixin,
    check_array,
    check_is_fitted,
    check_n_features,
    require_y,
)
from scratchclassic.kernels import KERNELS, pairwise_kernel, resolve_gamma


class KernelRidge(RegressorMixin, BaseEstimator):
    """Kernel ridge regression with scikit-learn's parameters and defaults.

    ``kernel`` is ``"linear"``, ``"poly"`` or ``"rbf"``; ``gamma=None`` means ``1 / n_features``
    (as ``sklearn.metrics.pairwise``); ``degree``/``coef0`` are the polynomial kernel's.
    After ``fit``: ``dual_coef_`` ``(n,)`` (or ``(n, t)`` for ``t`` targets) and ``X_fit_``.
    """

    def __init__(self, alpha=1.0, kernel="linear", gamma=None, degree=3, coef0=1.0):
        self.alpha = alpha
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0

    def _gram(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        gamma = (
            1.0 / Y.shape[1] if self.gamma is None else resolve_gamma(self.gamma, Y, "KernelRidge")
        )
        return pairwise_kernel(X, Y, self.kernel, gamma, self.degree, self.coef0)

    def _tags(self):
        return replace(super()._tags(), multi_output=True)

    def fit(self, X, y) -> KernelRidge:
        """Solve $(K + \\alpha I)\\,a = y$ for the dual coefficients $a$; ``X`` is ``(n, d)``."""
        X = check_array(X, "KernelRidge")
        require_y(y, "KernelRidge")  # 1-D y, or 2-D for several targets at once
        y = check_array(y, "KernelRidge", name="y", ndim=2 if np.ndim(np.asarray(y)) == 2 else 1)
        if y.ndim not in (1, 2) or len(y) != len(X):
            raise ValueError(f"KernelRidge: y must have {len(X)} rows (1-D or 2-D), got {y.shape}")
        if self.kernel not in KERNELS:
            raise ValueError(f"KernelRidge: kernel must be one of {KERNELS}, got {self.kernel!r}")
        if not self.alpha > 0:
            raise ValueError(f"KernelRidge: alpha must be positive, got {self.alpha!r}")
        K = self._gram(X, X)
        # K is positive semi-definite, so K + alpha I is positive definite: a unique solution.
        self.dual_coef_ = np.linalg.solve(K + self.alpha * np.eye(len(X)), y)
        self.X_fit_ = X
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """$f(x) = \\sum_i a_i\\, k(x, x_i)$: ``(m, d) -> (m,)`` (or ``(m, t)``)."""
        check_is_fitted(self, "dual_coef_")
        X = check_array(X, "KernelRidge")
        check_n_features(X, self.n_features_in_, "KernelRidge")
        return self._gram(X, self.X_fit_) @ self.dual_coef_
