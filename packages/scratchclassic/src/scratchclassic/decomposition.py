r"""Principal component analysis through the singular value decomposition.

Notes: ``packages/scratchclassic/notes/06-unsupervised.md`` (section "PCA").

Centre the data, $X_c = X - \bar x$ ``(n, d)``, and take its thin SVD
$X_c = U \operatorname{diag}(s) V^\top$. The rows of $V^\top$ are the principal directions:
the first maximises the variance of the projection $\|X_c v\|^2 / (n - 1)$ over unit vectors
$v$, each next one does the same orthogonally to those before, and the variance it captures is
$s_i^2 / (n - 1)$ — the eigenvalues of the covariance matrix, without ever forming it. The
same $k$ directions minimise the squared reconstruction error $\|X_c - X_c V_k V_k^\top\|^2$.

A singular vector is only defined up to its sign; like scikit-learn, each component is flipped
so that its largest-magnitude entry is positive, making the output deterministic.
"""

from __future__ import annotations

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    TransformerMixin,
    check_array,
    check_is_fitted,
    check_n_features,
)


class PCA(TransformerMixin, BaseEstimator):
    """Project ``(n, d)`` data onto its top ``n_components`` principal directions.

    ``n_components``: an int in ``[1, min(n, d)]``, a float in ``(0, 1)`` (keep the fewest
    components whose explained-variance ratios sum to at least that), or ``None`` (all
    ``min(n, d)``). ``whiten=True`` divides each projected coordinate by its standard deviation.
    After ``fit``: ``components_`` ``(k, d)``, ``explained_variance_`` ``(k,)``,
    ``explained_variance_ratio_`` ``(k,)``, ``singular_values_`` ``(k,)``, ``mean_`` ``(d,)``,
    ``n_components_``.
    """

    def __init__(self, n_components=None, whiten: bool = False):
        self.n_components = n_components
        self.whiten = whiten

    def _number_to_keep(self, ratios: np.ndarray, n: int, d: int) -> int:
        limit, wanted = min(n, d), self.n_components
        if wanted is None:
            return limit
        if isinstance(wanted, float) and 0.0 < wanted < 1.0:
            # The first index whose cumulative ratio reaches `wanted` (with rounding slack).
            return int(np.searchsorted(np.cumsum(ratios), wanted - 1e-12) + 1)
        if isinstance(wanted, int | np.integer) and 1 <= wanted <= limit:
            return int(wanted)
        raise ValueError(
            f"PCA: n_components must be None, an int in [1, {limit}] or a float in (0, 1), "
            f"got {wanted!r}"
        )

    def fit(self, X, y=None) -> PCA:
        """Learn the components of ``X`` ``(n, d)``; ``y`` is ignored (unsupervised)."""
        X = check_array(X, "PCA")
        n, d = X.shape
        if n < 2:
            raise ValueError(
                f"PCA: needs at least 2 samples to estimate a variance, got n_samples={n}"
            )
        self.mean_ = X.mean(axis=0)
        _, s, Vt = np.linalg.svd(X - self.mean_, full_matrices=False)  # s sorted, descending
        biggest = np.argmax(np.abs(Vt), axis=1)
        Vt *= np.sign(Vt[np.arange(len(Vt)), biggest])[:, None]  # largest entry positive
        variances = s**2 / (n - 1)
        total = variances.sum()
        ratios = variances / total if total > 0 else np.zeros_like(variances)
        k = self._number_to_keep(ratios, n, d)
        self.n_components_ = k
        self.components_ = Vt[:k]
        self.singular_values_ = s[:k]
        self.explained_variance_ = variances[:k]
        self.explained_variance_ratio_ = ratios[:k]
        self.n_features_in_ = d
        return self

    def transform(self, X) -> np.ndarray:
        """``(n, k)`` coordinates of ``X`` ``(n, d)`` along the components."""
        check_is_fitted(self, "components_")
        X = check_array(X, "PCA")
        check_n_features(X, self.n_features_in_, "PCA")
        Z = (X - self.mean_) @ self.components_.T
        return Z / np.sqrt(self.explained_variance_) if self.whiten else Z

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        """``(n, d)`` reconstruction $\\bar x + Z V_k^\\top$ of ``(n, k)`` coordinates."""
        check_is_fitted(self, "components_")
        Z = check_array(Z, "PCA", name="Z")
        check_n_features(Z, self.n_components_, "PCA.inverse_transform", name="Z")
        if self.whiten:
            Z = Z * np.sqrt(self.explained_variance_)
        return Z @ self.components_ + self.mean_
