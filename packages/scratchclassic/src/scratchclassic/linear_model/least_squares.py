"""Ordinary least squares three ways: the normal equations, QR, and gradient descent.

Notes: ``packages/scratchclassic/notes/01-linear-models.md``.

All three minimise $\\|y - Xw\\|^2$ over $w$ for ``X`` ``(n, d)`` (after centring, see
``_centring.py``) and must agree:

- ``"normal"`` solves $X^\\top X w = X^\\top y$. Quick, but it squares the condition number:
  $\\kappa(X^\\top X) = \\kappa(X)^2$, so ill-conditioned data lose twice as many digits.
- ``"qr"`` factors $X = QR$ ($Q$ ``(n, d)`` with orthonormal columns, $R$ ``(d, d)`` upper
  triangular) and solves $Rw = Q^\\top y$ by back-substitution: it never forms $X^\\top X$, so it
  works with $\\kappa(X)$ itself.
- ``"gd"`` walks down the gradient of $\\frac{1}{2n}\\|y - Xw\\|^2$ with the fixed step $1/L$,
  where $L = \\lambda_{\\max}(X^\\top X)/n$ is the gradient's Lipschitz constant: the largest
  step that is guaranteed to decrease the loss.
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

SOLVERS = ("normal", "qr", "gd")


def solve_upper_triangular(R: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x`` with ``R x = b`` for an upper-triangular ``(d, d)`` ``R`` and ``(d,)`` ``b``.

    Back-substitution: the last equation has one unknown, each earlier one adds one more. The
    loop over rows is the algorithm (each row needs the unknowns below it); each step is a dot
    product.
    """
    d = len(b)
    x = np.zeros(d)
    for i in range(d - 1, -1, -1):  # one row at a time, bottom up, on purpose
        if R[i, i] == 0:
            raise np.linalg.LinAlgError(
                f"solve_upper_triangular: R[{i}, {i}] = 0; the columns of X are linearly dependent"
            )
        x[i] = (b[i] - R[i, i + 1 :] @ x[i + 1 :]) / R[i, i]
    return x


def gradient_descent_least_squares(
    X: np.ndarray, y: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, int]:
    """Minimise $\\frac{1}{2n}\\|y - Xw\\|^2$ from $w = 0$ with step $1/L$; ``(w, n_iter)``.

    Stops when the gradient's norm falls below ``tol`` times its norm at the start.
    """
    n = len(X)
    lipschitz = np.linalg.eigvalsh(X.T @ X / n)[-1]
    w = np.zeros(X.shape[1])
    gradient = -X.T @ y / n
    start_norm = np.linalg.norm(gradient)
    for iteration in range(1, max_iter + 1):  # iterations of the optimiser, on purpose
        w -= gradient / lipschitz
        gradient = X.T @ (X @ w - y) / n
        if np.linalg.norm(gradient) <= tol * start_norm:
            return w, iteration
    warnings.warn(
        f"LinearRegression(solver='gd'): not converged after max_iter={max_iter} steps "
        f"(gradient norm {np.linalg.norm(gradient):.3g}); increase max_iter",
        RuntimeWarning,
        stacklevel=3,
    )
    return w, max_iter


class LinearRegression(RegressorMixin, BaseEstimator):
    """Ordinary least squares: ``coef_`` ``(d,)``, ``intercept_`` minimising $\\|y - Xw - b\\|^2$.

    ``solver`` is ``"normal"``, ``"qr"`` or ``"gd"`` (see the module docstring); ``max_iter`` and
    ``tol`` are used by ``"gd"`` only.
    """

    def __init__(
        self,
        fit_intercept: bool = True,
        solver: str = "qr",
        max_iter: int = 100_000,
        tol: float = 1e-10,
    ):
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y) -> LinearRegression:
        if self.solver not in SOLVERS:
            raise ValueError(
                f"LinearRegression: solver must be one of {SOLVERS}, got {self.solver!r}"
            )
        X, y = check_X_y(X, y, "LinearRegression", task="regression")
        y = y.astype(np.float64)
        Xc, yc, X_offset, y_offset = centre(X, y, self.fit_intercept)
        self.n_iter_ = None
        if self.solver == "normal":
            self.coef_ = np.linalg.solve(Xc.T @ Xc, Xc.T @ yc)
        elif self.solver == "qr":
            if len(Xc) < Xc.shape[1]:
                raise ValueError(
                    "LinearRegression(solver='qr'): needs n_samples >= n_features, got "
                    f"n_samples={Xc.shape[0]} and n_features={Xc.shape[1]}"
                )
            Q, R = np.linalg.qr(Xc)  # reduced: Q (n, d), R (d, d)
            self.coef_ = solve_upper_triangular(R, Q.T @ yc)
        else:
            self.coef_, self.n_iter_ = gradient_descent_least_squares(
                Xc, yc, self.max_iter, self.tol
            )
        self.intercept_ = intercept_from_offsets(self.coef_, X_offset, y_offset)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """``(n,)`` predictions $Xw + b$ for ``X`` ``(n, d)``."""
        check_is_fitted(self, "coef_")
        X = check_array(X, "LinearRegression")
        check_n_features(X, self.n_features_in_, "LinearRegression")
        return X @ self.coef_ + self.intercept_
