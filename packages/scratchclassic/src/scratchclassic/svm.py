"""Support vector classification: the soft-margin dual, solved by SMO as libsvm does.

Notes: ``packages/scratchclassic/notes/04-kernels-and-svm.md`` (the dual, KKT, SMO's step).

For labels $y_i \\in \\{-1, +1\\}$ and Gram matrix $K$, the C-SVC dual is

$$\\min_\\alpha \\tfrac12 \\alpha^\\top Q \\alpha - \\mathbf 1^\\top \\alpha \\quad
\\text{s.t. } 0 \\le \\alpha_i \\le C,\\; y^\\top \\alpha = 0, \\qquad Q_{ij} = y_i y_j K_{ij}.$$

Sequential minimal optimisation (Platt 1998) changes two multipliers at a time — the fewest that
can move without breaking $y^\\top\\alpha = 0$ — and solves that two-variable problem in closed
form. Which pair to move is the working-set selection of Fan, Chen & Lin (2005), libsvm's "WSS3":
$i$ is the most violating index, $j$ the partner that gives the largest decrease of a second-order
model of the objective. The stopping rule is libsvm's (maximal KKT violation below ``tol``), so
with the same ``tol`` this solver and ``sklearn.svm.SVC`` reach the same unique decision function.

Several classes are handled one-vs-one, as scikit-learn: one binary machine per pair of classes,
and the class with the most votes wins.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    ClassifierMixin,
    check_array,
    check_is_fitted,
    check_n_features,
    check_X_y,
)
from scratchclassic.kernels import KERNELS, pairwise_kernel, resolve_gamma

TAU = 1e-12  # libsvm's floor on the curvature a_ij when the kernel is not strictly positive


def smo(K: np.ndarray, y: np.ndarray, C: float, tol: float, max_iter: int = -1):
    """Solve the C-SVC dual for Gram matrix ``K`` ``(n, n)`` and labels ``y`` ``(n,)`` in ±1.

    Returns ``(alpha, rho, n_iter)``: the multipliers ``(n,)`` and the offset, so that the
    decision function is $f(x) = \\sum_i \\alpha_i y_i k(x_i, x) - \\rho$.
    """
    n = len(y)
    alpha = np.zeros(n)
    # The gradient of the dual objective, G = Q alpha - 1; at alpha = 0 it is -1 everywhere.
    gradient = -np.ones(n)
    diagonal = np.diag(K)
    n_iter = 0
    # One iteration per pair update: this loop is over SMO steps, every step is vectorised.
    while max_iter < 0 or n_iter < max_iter:
        score = -y * gradient  # -y_t G_t: how much the objective wants alpha_t to grow along y_t
        up = ((y > 0) & (alpha < C)) | ((y < 0) & (alpha > 0))  # can move "up" in y_t alpha_t
        low = ((y > 0) & (alpha > 0)) | ((y < 0) & (alpha < C))  # can move "down"
        i = np.flatnonzero(up)[np.argmax(score[up])]
        m, M = score[i], score[low].min()
        if m - M < tol:  # KKT conditions hold to within tol: optimal
            break
        # Second-order choice of j among the violators: the largest guaranteed decrease b^2 / a.
        b = m - score
        a = diagonal[i] + diagonal - 2.0 * K[i]
        a = np.where(a > 0, a, TAU)
        candidates = low & (b > 0)
        gain = np.where(candidates, b**2 / a, -np.inf)
        j = int(np.argmax(gain))
        # Move along alpha_i += y_i t, alpha_j -= y_j t (keeps y^T alpha fixed). Along that line
        # the objective is a parabola with slope -b_ij and curvature a_ij: its minimum is at
        # t = b / a, clipped so both multipliers stay inside the box [0, C].
        room_i = C - alpha[i] if y[i] > 0 else alpha[i]
        room_j = alpha[j] if y[j] > 0 else C - alpha[j]
        t = min(b[j] / a[j], room_i, room_j)
        alpha[i] += y[i] * t
        alpha[j] -= y[j] * t
        # A multiplier that hit its bound is set to it exactly, so "free" tests are not fooled
        # by rounding.
        if t == room_i:
            alpha[i] = C if y[i] > 0 else 0.0
        if t == room_j:
            alpha[j] = 0.0 if y[j] > 0 else C
        # Q u t with u = (y_i e_i - y_j e_j): the gradient changes by t y (K_i - K_j).
        gradient += t * y * (K[i] - K[j])
        n_iter += 1
    # rho from the free multipliers, where y_t f(x_t) = 1 exactly gives rho = y_t G_t; with none
    # free, the middle of the interval the KKT conditions allow.
    free = (alpha > 0) & (alpha < C)
    yg = y * gradient
    if free.any():
        rho = float(yg[free].mean())
    else:
        upper_rho = ((y > 0) & (alpha == C)) | ((y < 0) & (alpha == 0))
        lower_rho = ((y > 0) & (alpha == 0)) | ((y < 0) & (alpha == C))
        rho = 0.5 * (yg[upper_rho].min() + yg[lower_rho].max())
    return alpha, rho, n_iter


class SVC(ClassifierMixin, BaseEstimator):
    """C-support vector classifier with scikit-learn's parameters and defaults.

    ``kernel`` is ``"linear"``, ``"poly"`` or ``"rbf"``; ``gamma`` is ``"scale"`` (default),
    ``"auto"`` or a number; ``tol`` bounds the maximal KKT violation at the solution.
    ``decision_function_shape`` is ``"ovr"`` (default: one column per class, whose argmax is
    the predicted class) or ``"ovo"`` (one column per pair of classes, the machines' own
    values); ``break_ties=True`` makes ``predict`` the argmax of the ``"ovr"`` values, which
    settles a tie in the votes by the machines' confidence instead of by class order.

    After ``fit`` (``n_sv`` support vectors, ordered by class then by index as scikit-learn):
    ``support_`` ``(n_sv,)`` indices into the training set, ``support_vectors_`` ``(n_sv, d)``,
    ``n_support_`` ``(n_classes,)``, ``dual_coef_`` ``(n_classes - 1, n_sv)`` holding
    $\\alpha_i y_i$ (scikit-learn's one-vs-one layout), ``intercept_`` ``(n_pairs,)``,
    ``n_iter_`` ``(n_pairs,)``.
    """

    def __init__(
        self,
        C=1.0,
        kernel="rbf",
        degree=3,
        gamma="scale",
        coef0=0.0,
        tol=1e-3,
        max_iter=-1,
        decision_function_shape="ovr",
        break_ties=False,
    ):
        self.C = C
        self.kernel = kernel
        self.degree = degree
        self.gamma = gamma
        self.coef0 = coef0
        self.tol = tol
        self.max_iter = max_iter
        self.decision_function_shape = decision_function_shape
        self.break_ties = break_ties

    def _gram(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return pairwise_kernel(X, Y, self.kernel, self._gamma, self.degree, self.coef0)

    def fit(self, X, y) -> SVC:
        """Train one SMO machine per pair of classes on ``X`` ``(n, d)``, ``y`` ``(n,)``."""
        X, y = check_X_y(X, y, "SVC", task="classification")
        if self.kernel not in KERNELS:
            raise ValueError(f"SVC: kernel must be one of {KERNELS}, got {self.kernel!r}")
        if not self.C > 0:
            raise ValueError(f"SVC: C must be positive, got {self.C!r}")
        if not self.tol > 0:
            raise ValueError(f"SVC: tol must be positive, got {self.tol!r}")
        if self.decision_function_shape not in ("ovr", "ovo"):
            raise ValueError(
                "SVC: decision_function_shape must be 'ovr' or 'ovo', "
                f"got {self.decision_function_shape!r}"
            )
        if self.break_ties and self.decision_function_shape == "ovo":
            raise ValueError("SVC: break_ties must be False when decision_function_shape is 'ovo'")
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError("SVC: needs samples of at least 2 classes, got 1 class")
        self._gamma = resolve_gamma(self.gamma, X, "SVC")
        K = self._gram(X, X)  # precomputed once: every pair's machine reads its block

        # For each pair (p, q), p < q: the machine with +1 for class p (libsvm's convention:
        # a positive one-vs-one decision votes for the first class of the pair).
        coef = {}
        intercepts, n_iters = [], []
        for p, q in combinations(range(n_classes), 2):  # loop over class pairs, on purpose
            rows = np.flatnonzero((codes == p) | (codes == q))
            signs = np.where(codes[rows] == p, 1.0, -1.0)
            alpha, rho, n_iter = smo(K[np.ix_(rows, rows)], signs, self.C, self.tol, self.max_iter)
            coef[p, q] = (rows, alpha * signs)
            intercepts.append(-rho)
            n_iters.append(n_iter)
            if n_iter == self.max_iter:
                warnings.warn(
                    f"SVC: SMO stopped at max_iter={self.max_iter} before the KKT conditions held "
                    f"to tol={self.tol}; the solution is approximate",
                    RuntimeWarning,
                    stacklevel=2,
                )

        is_sv = np.zeros(len(X), dtype=bool)
        for rows, dual in coef.values():
            is_sv[rows[dual != 0]] = True
        # Order: by class, then by index within the class (stable sort of codes).
        support = np.flatnonzero(is_sv)
        support = support[np.argsort(codes[support], kind="stable")]
        position = np.full(len(X), -1)
        position[support] = np.arange(len(support))

        # scikit-learn's layout: for pair (p, q), class p's coefficients sit in row q - 1 and
        # class q's in row p.
        dual_coef = np.zeros((max(n_classes - 1, 1), len(support)))
        for (p, q), (rows, dual) in coef.items():
            nonzero = dual != 0
            rows, dual = rows[nonzero], dual[nonzero]
            in_p = codes[rows] == p
            dual_coef[q - 1, position[rows[in_p]]] = dual[in_p]
            dual_coef[p, position[rows[~in_p]]] = dual[~in_p]

        # Per pair: positions of its support vectors in support_, and their alpha_i y_i.
        self._pair_coef = {
            pair: (position[rows[dual != 0]], dual[dual != 0])
            for pair, (rows, dual) in coef.items()
        }
        self.support_ = support
        self.support_vectors_ = X[support]
        self.n_support_ = np.bincount(codes[support], minlength=n_classes)
        self.dual_coef_ = dual_coef
        self.intercept_ = np.array(intercepts)
        self.n_iter_ = np.array(n_iters)
        self.n_features_in_ = X.shape[1]
        if n_classes == 2:
            # Binary: scikit-learn flips the sign so that a positive decision means classes_[1].
            self.dual_coef_ = -dual_coef
            self.intercept_ = -self.intercept_
        return self

    def _pairwise_decisions(self, X: np.ndarray) -> np.ndarray:
        """``(m, n_pairs)`` one-vs-one decisions; positive votes for the pair's first class."""
        K = self._gram(X, self.support_vectors_)
        columns = []
        for index, (positions, dual) in enumerate(self._pair_coef.values()):
            intercept = self.intercept_[index]
            if len(self.classes_) == 2:
                intercept = -intercept  # undo the binary flip above
            columns.append(K[:, positions] @ dual + intercept)
        return np.stack(columns, axis=1)

    def _votes(self, decisions: np.ndarray) -> np.ndarray:
        """``(m, n_classes)`` one-vs-one votes: each pair's machine votes for one of its classes."""
        n_classes = len(self.classes_)
        votes = np.zeros((len(decisions), n_classes), dtype=int)
        for index, (p, q) in enumerate(combinations(range(n_classes), 2)):
            votes[:, p] += decisions[:, index] > 0
            votes[:, q] += decisions[:, index] <= 0
        return votes

    def _one_vs_rest(self, decisions: np.ndarray) -> np.ndarray:
        """``(m, n_classes)``: each class's votes plus a confidence in ``(-1/3, 1/3)``.

        The confidence is the sum of the class's one-vs-one values (for it, minus against it),
        squashed by $s / (3(|s| + 1))$ so it can only reorder classes with equal votes: the
        argmax is the class with the most votes, and a tie goes to the surer one. (libsvm's and
        scikit-learn's "ovr" shape.)
        """
        n_classes = len(self.classes_)
        confidence = np.zeros((len(decisions), n_classes))
        for index, (p, q) in enumerate(combinations(range(n_classes), 2)):
            confidence[:, p] += decisions[:, index]
            confidence[:, q] -= decisions[:, index]
        return self._votes(decisions) + confidence / (3.0 * (np.abs(confidence) + 1.0))

    def _checked_decisions(self, X) -> np.ndarray:
        check_is_fitted(self, "support_")
        X = check_array(X, "SVC")
        check_n_features(X, self.n_features_in_, "SVC")
        return self._pairwise_decisions(X)

    def decision_function(self, X) -> np.ndarray:
        """Binary: ``(m,)``, positive for ``classes_[1]``. Several classes: ``(m, n_classes)``
        (``decision_function_shape="ovr"``) or ``(m, n_pairs)`` one-vs-one values (``"ovo"``)."""
        decisions = self._checked_decisions(X)
        if len(self.classes_) == 2:
            return -decisions[:, 0]
        if self.decision_function_shape == "ovr":
            return self._one_vs_rest(decisions)
        return decisions

    def predict(self, X) -> np.ndarray:
        """The class with the most one-vs-one votes (ties go to the lower class index, or, with
        ``break_ties``, to the larger ``"ovr"`` value)."""
        decisions = self._checked_decisions(X)
        if self.break_ties and len(self.classes_) > 2:
            return self.classes_[self._one_vs_rest(decisions).argmax(axis=1)]
        return self.classes_[self._votes(decisions).argmax(axis=1)]
