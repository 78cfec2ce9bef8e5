r"""Logistic regression, binary and multinomial (softmax), with an L2 penalty: Newton/IRLS and
gradient descent.

Notes: ``packages/scratchclassic/notes/02-logistic-regression.md``.

Parameters: $\Theta$ ``(K, d + 1)``, one row per class (one row in total for two classes), the
last column the intercepts. With $\tilde X = [X, \mathbf 1]$ ``(n, d + 1)`` the logits are
$Z = \tilde X \Theta^\top$ ``(n, K)``. The objective is scikit-learn's

$$ f(\Theta) = C \sum_{i=1}^n \ell_i(\Theta) + \tfrac12 \|W\|^2, $$

$W$ = $\Theta$ without its intercept column (the intercept is not penalised, as in
scikit-learn's ``lbfgs``), and $\ell_i$ the negative log-likelihood of example $i$: the
logistic loss $\log(1 + e^{z_i}) - y_i z_i$ for two classes, the cross-entropy of the softmax
otherwise. Its gradient and Hessian are

$$ \nabla f = C\,(P - Y)^\top \tilde X + M \odot \Theta, \qquad
   \nabla^2 f = C\,\tilde X^\top S\,\tilde X + \operatorname{diag}(M), $$

with $P$ the predicted probabilities, $Y$ the one-hot targets, $M$ the mask that is 1 on weights
and 0 on intercepts, and $S$ the softmax's Jacobian $\operatorname{diag}(p_i) - p_i p_i^\top$
per example ($p_i(1 - p_i)$ for two classes). $S \succeq 0$ makes $f$ convex.

- ``"newton"``: $\Theta \leftarrow \Theta - t\,(\nabla^2 f)^{-1} \nabla f$, with $t$ halved
  until the objective decreases enough (Armijo). For two classes this is *iteratively
  reweighted least squares*. For $K$ classes the full $K(d+1) \times K(d+1)$ Hessian is built:
  fine for the small tables here, the wrong tool for thousands of features.
- ``"gd"``: the fixed step $1/L$ with $L = C\,\lambda_{\max}(\tilde X^\top \tilde X)\,s + 1$,
  where $s = 1/4$ (the largest $p(1-p)$) for two classes and $s = 1/2$ (a bound on the softmax
  Jacobian's largest eigenvalue) for more.
"""

from __future__ import annotations

import warnings

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    ClassifierMixin,
    check_array,
    check_is_fitted,
    check_n_features,
    check_X_y,
)

SOLVERS = ("newton", "gd")


def sigmoid(z: np.ndarray) -> np.ndarray:
    """$1 / (1 + e^{-z})$, written so that neither branch overflows."""
    out = np.empty_like(z, dtype=np.float64)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    exp_z = np.exp(z[~positive])
    out[~positive] = exp_z / (1.0 + exp_z)
    return out


def log_softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise $z_k - \\log\\sum_l e^{z_l}$ of ``(n, K)`` logits (shifted by the row max)."""
    shifted = Z - Z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class _Problem:
    """The objective of the module docstring on fixed data: value, gradient and Hessian of
    ``theta`` ``(K, d + 1)``. ``K = 1`` is the binary (sigmoid) case."""

    def __init__(self, X_tilde: np.ndarray, Y: np.ndarray, C: float, fit_intercept: bool):
        self.X, self.Y, self.C = X_tilde, Y, C  # X (n, d + 1), Y (n, K) in {0, 1}
        self.binary = Y.shape[1] == 1
        self.mask = np.ones(X_tilde.shape[1])
        self.mask[-1] = 0.0 if fit_intercept else 1.0  # without an intercept the column is zero

    def probabilities(self, theta: np.ndarray) -> np.ndarray:
        Z = self.X @ theta.T
        return sigmoid(Z) if self.binary else np.exp(log_softmax(Z))

    def value(self, theta: np.ndarray) -> float:
        Z = self.X @ theta.T
        if self.binary:
            nll = np.sum(np.logaddexp(0.0, Z) - self.Y * Z)
        else:
            nll = -np.sum(self.Y * log_softmax(Z))
        return float(self.C * nll + 0.5 * np.sum(self.mask * theta**2))

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        return self.C * (self.probabilities(theta) - self.Y).T @ self.X + self.mask * theta

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        r"""``(K (d + 1), K (d + 1))``, for ``theta`` flattened row by row (class-major).

        Block ``(k, l)`` is $C\,\tilde X^\top \operatorname{diag}(P_{:k}(\delta_{kl} - P_{:l}))
        \tilde X$: one matrix product per pair of classes (a loop over class pairs, on purpose —
        K is small, and each product runs in BLAS).
        """
        P = self.probabilities(theta)  # (n, K)
        K, p = P.shape[1], self.X.shape[1]
        if self.binary:
            H = self.C * self.X.T @ ((P[:, 0] * (1.0 - P[:, 0]))[:, None] * self.X)
        else:
            H = np.empty((K * p, K * p))
            for k in range(K):
                for l in range(k, K):
                    weights = P[:, k] * ((k == l) - P[:, l])  # (n,) softmax Jacobian entries
                    block = self.C * self.X.T @ (weights[:, None] * self.X)
                    H[k * p : (k + 1) * p, l * p : (l + 1) * p] = block
                    H[l * p : (l + 1) * p, k * p : (k + 1) * p] = block.T
        H[np.diag_indices_from(H)] += np.tile(self.mask, K)
        return H

    def gauge_direction(self) -> np.ndarray | None:
        """The unit ``(K, d + 1)`` direction the objective cannot see, or None if there is none.

        With K > 2 classes and unpenalised intercepts, adding the same number to every intercept
        changes no probability and no penalty: the Hessian is singular along it.
        """
        if self.binary or self.mask[-1] != 0.0:
            return None
        u = np.zeros((self.Y.shape[1], self.X.shape[1]))
        u[:, -1] = 1.0 / np.sqrt(self.Y.shape[1])
        return u

    def lipschitz(self) -> float:
        curvature = 0.25 if self.binary else 0.5
        return self.C * curvature * np.linalg.eigvalsh(self.X.T @ self.X)[-1] + 1.0


def newton(problem: _Problem, theta: np.ndarray, max_iter: int, tol: float):
    """Damped Newton steps until the largest gradient entry is ``tol`` times its start value."""
    gradient = problem.gradient(theta)
    target = tol * max(np.max(np.abs(gradient)), 1e-300)
    gauge = problem.gauge_direction()
    gauge = None if gauge is None else gauge.ravel()
    for iteration in range(1, max_iter + 1):  # Newton iterations, on purpose
        hessian = problem.hessian(theta)
        if gauge is not None:
            # H is singular along u (gauge_direction), and g is orthogonal to u. Adding u u^T
            # makes the matrix invertible without changing the answer: the solution of
            # (H + u u^T) step = g satisfies u^T step = 0 and H step = g — the Newton step that
            # keeps the intercepts' sum where it started (zero).
            hessian += np.outer(gauge, gauge)
        step = np.linalg.solve(hessian, gradient.ravel()).reshape(theta.shape)
        value, slope, t = problem.value(theta), np.sum(gradient * step), 1.0
        while problem.value(theta - t * step) > value - 1e-4 * t * slope and t > 1e-10:
            t *= 0.5  # backtracking: halve until the decrease is at least 1e-4 of the predicted
        theta = theta - t * step
        gradient = problem.gradient(theta)
        if np.max(np.abs(gradient)) <= target:
            return theta, iteration
    return theta, None


def gradient_descent(problem: _Problem, theta: np.ndarray, max_iter: int, tol: float):
    """Fixed steps ``1 / L`` until the largest gradient entry is ``tol`` times its start value."""
    step = 1.0 / problem.lipschitz()
    gradient = problem.gradient(theta)
    target = tol * max(np.max(np.abs(gradient)), 1e-300)
    for iteration in range(1, max_iter + 1):  # iterations of the optimiser, on purpose
        theta = theta - step * gradient
        gradient = problem.gradient(theta)
        if np.max(np.abs(gradient)) <= target:
            return theta, iteration
    return theta, None


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """L2-penalised logistic regression; softmax (multinomial) when there are more than 2 classes.

    ``C`` is scikit-learn's: the objective is ``C * sum(losses) + ||w||² / 2``, so a larger ``C``
    means a weaker penalty. After ``fit``: ``classes_`` ``(K,)``, ``coef_`` ``(1, d)`` for two
    classes or ``(K, d)``, ``intercept_`` ``(1,)`` or ``(K,)`` (summing to zero for K > 2, the
    one choice among equivalent intercepts that scikit-learn's solvers land on too) and
    ``n_iter_``. ``tol`` is relative: the largest gradient entry must shrink by that factor.
    """

    def __init__(
        self,
        C: float = 1.0,
        fit_intercept: bool = True,
        solver: str = "newton",
        max_iter: int = 1000,
        tol: float = 1e-8,
    ):
        self.C = C
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y) -> LogisticRegression:
        if self.solver not in SOLVERS:
            raise ValueError(
                f"LogisticRegression: solver must be one of {SOLVERS}, got {self.solver!r}"
            )
        if not (np.isfinite(self.C) and self.C > 0):
            raise ValueError(f"LogisticRegression: C must be a finite number > 0, got {self.C!r}")
        X, y = check_X_y(X, y, "LogisticRegression", task="classification")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        K = len(self.classes_)
        if K < 2:
            raise ValueError(
                f"LogisticRegression: needs samples of at least 2 classes in y, got 1 class "
                f"({self.classes_[0].tolist()!r})"
            )
        # Two classes need one logit (class 1 against class 0); K classes need K.
        Y = (y_index == 1)[:, None].astype(float) if K == 2 else np.eye(K)[y_index]
        X_tilde = np.hstack(
            [X, np.ones((len(X), 1)) if self.fit_intercept else np.zeros((len(X), 1))]
        )
        problem = _Problem(X_tilde, Y, self.C, self.fit_intercept)
        theta = np.zeros((Y.shape[1], X_tilde.shape[1]))
        optimiser = newton if self.solver == "newton" else gradient_descent
        theta, self.n_iter_ = optimiser(problem, theta, self.max_iter, self.tol)
        if self.n_iter_ is None:
            self.n_iter_ = self.max_iter
            warnings.warn(
                f"LogisticRegression(solver={self.solver!r}): not converged after "
                f"max_iter={self.max_iter} iterations; increase max_iter",
                RuntimeWarning,
                stacklevel=2,
            )
        self.coef_, self.intercept_ = theta[:, :-1], theta[:, -1].copy()
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:
        """Logits: ``(n,)`` for two classes (log-odds of ``classes_[1]``), else ``(n, K)``."""
        check_is_fitted(self, "coef_")
        X = check_array(X, "LogisticRegression")
        check_n_features(X, self.n_features_in_, "LogisticRegression")
        Z = X @ self.coef_.T + self.intercept_
        return Z[:, 0] if len(self.classes_) == 2 else Z

    def predict_proba(self, X) -> np.ndarray:
        """``(n, K)`` class probabilities, columns in the order of ``classes_``."""
        Z = self.decision_function(X)
        if Z.ndim == 1:
            p = sigmoid(Z)
            return np.column_stack([1.0 - p, p])
        return np.exp(log_softmax(Z))

    def predict(self, X) -> np.ndarray:
        """``(n,)`` most probable class labels."""
        best = np.argmax(self.predict_proba(X), axis=1)  # checks fitting before classes_ is read
        return self.classes_[best]
