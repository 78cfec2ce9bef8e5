"""Low-rank models of a ratings matrix: biases, truncated SVD, and alternating least squares.

Notes: ``packages/scratchclassic/notes/07-matrix-factorisation.md``.

A ratings table is a sparse matrix: ``R[u, i]`` is known for a few ``(user, item)`` pairs only.
Every model here follows scikit-learn's conventions with ``X`` an ``(n, 2)`` array of integer
``(user, item)`` ids and ``y`` the ``(n,)`` ratings, so ``fit(X, y)`` / ``predict(X)`` read like
any regressor (``score`` is R²; the chapter reports RMSE via ``root_mean_squared_error``).

All three models share one baseline, ``mu + b_u + b_i`` (global mean, user bias, item bias),
fitted by damped alternating means (``BiasBaseline``). The two factor models then explain what
the baseline leaves over, the *residual* ``r - mu - b_u - b_i``, with a rank-``k`` product
``p_u · q_i``:

- ``SVDRecommender`` fills every missing residual with 0 (that is, "the baseline is right
  there"), takes the dense ``(n_users, n_items)`` residual matrix and keeps its top ``k``
  singular triplets (the best rank-``k`` approximation, by Eckart–Young). Simple, but it fits
  the invented zeros as if they were data.
- ``ALSRecommender`` minimises the squared error on the *observed* entries only, plus an L2
  penalty, by alternating two exact ridge regressions: all user vectors given the items, then
  all item vectors given the users. Each half-step is the exact minimiser of the objective in
  its block, so the objective never increases.

Ids seen at ``predict`` time but not at ``fit`` time get no bias and a zero factor vector (the
model knows nothing about them, so it predicts what it predicts for an average user/item).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    RegressorMixin,
    check_array,
    check_is_fitted,
    check_X_y,
)


def check_ratings(
    X, y=None, owner: str = "ratings", fitting: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """``X`` as ``(n, 2)`` int64 non-negative ``(user, item)`` ids; ``y`` as ``(n,)`` float64.

    The shared checks of every estimator first (``check_array``, ``check_X_y``: no NaN, no
    complex numbers, no sparse or empty input), then what ids need: exactly two columns, and
    whole numbers >= 0 (floats such as ``3.0`` are accepted: tables often store ids so).
    ``fitting`` says ``y`` is required.
    """
    if not fitting:
        X = check_array(X, owner)
    else:
        X, y = check_X_y(X, y, owner, task="regression")
    if X.shape[1] != 2:
        raise ValueError(
            f"X has {X.shape[1]} features, but {owner} is expecting 2 features as input: "
            "the (user, item) id of each rating"
        )
    if not np.all(X == np.round(X)):
        raise ValueError(f"{owner}: X must hold whole-number (user, item) ids")
    if X.min() < 0:
        raise ValueError(f"{owner}: ids must be >= 0, found {X.min():g}")
    return X.astype(np.int64), y


def _lookup(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``table[ids]`` with rows of zeros for ids beyond the table (unseen at fit time)."""
    seen = ids < len(table)
    out = np.zeros((len(ids), *table.shape[1:]))
    out[seen] = table[ids[seen]]
    return out


class BiasBaseline(RegressorMixin, BaseEstimator):
    """``r̂(u, i) = mu + b_u + b_i``: global mean plus a user and an item offset.

    The biases minimise ``Σ_obs (r - mu - b_u - b_i)² + reg (Σ b_u² + Σ b_i²)`` by alternating
    exact updates (each is a damped mean: ``b_i = Σ_u (r - mu - b_u) / (reg + n_i)``), ``n_iter``
    rounds. ``reg`` shrinks the bias of a user or item with few ratings towards 0.

    Attributes: ``global_mean_``, ``user_bias_`` ``(n_users,)``, ``item_bias_`` ``(n_items,)``,
    ``n_users_``, ``n_items_``.
    """

    def __init__(self, reg: float = 5.0, n_iter: int = 10):
        self.reg = reg
        self.n_iter = n_iter

    def _tags(self):
        # Inputs are ids: whole numbers, which scikit-learn's tags call categorical.
        return replace(super()._tags(), input="pairs")

    def _check_params(self) -> None:
        name = type(self).__name__
        if not self.reg >= 0:
            raise ValueError(f"{name}: reg must be >= 0, got {self.reg}")
        if not (isinstance(self.n_iter, int | np.integer) and self.n_iter >= 1):
            raise ValueError(f"{name}: n_iter must be a positive integer, got {self.n_iter}")

    def _fit_biases(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Fit ``mu``, ``b_u``, ``b_i``; return the ``(n,)`` residuals ``y - baseline``."""
        users, items = X[:, 0], X[:, 1]
        self.n_features_in_ = 2
        self.n_users_, self.n_items_ = int(users.max()) + 1, int(items.max()) + 1
        n_u = np.bincount(users, minlength=self.n_users_)
        n_i = np.bincount(items, minlength=self.n_items_)
        self.global_mean_ = float(y.mean())
        self.user_bias_ = np.zeros(self.n_users_)
        self.item_bias_ = np.zeros(self.n_items_)
        # A loop over rounds on purpose: each round is two exact block updates (vectorised sums).
        # Users with no rating have n_u = 0; max(., 1e-12) keeps their bias at 0 when reg = 0.
        for _ in range(self.n_iter):
            r = y - self.global_mean_ - self.user_bias_[users]
            self.item_bias_ = np.bincount(items, r, self.n_items_) / np.maximum(
                self.reg + n_i, 1e-12
            )
            r = y - self.global_mean_ - self.item_bias_[items]
            self.user_bias_ = np.bincount(users, r, self.n_users_) / np.maximum(
                self.reg + n_u, 1e-12
            )
        return y - self._baseline(X)

    def _baseline(self, X: np.ndarray) -> np.ndarray:
        return (
            self.global_mean_
            + _lookup(self.user_bias_, X[:, 0])
            + _lookup(self.item_bias_, X[:, 1])
        )

    def fit(self, X, y) -> BiasBaseline:
        self._check_params()
        X, y = check_ratings(X, y, type(self).__name__, fitting=True)
        self._fit_biases(X, y)
        return self

    def predict(self, X) -> np.ndarray:
        """``(n,)`` predicted ratings for the ``(n, 2)`` ``(user, item)`` ids."""
        check_is_fitted(self, "global_mean_")
        X, _ = check_ratings(X, owner=type(self).__name__)
        return self._baseline(X)


class SVDRecommender(BiasBaseline):
    """Baseline + the rank-``n_components`` truncated SVD of the zero-filled residual matrix.

    ``E[u, i]`` = residual where observed, 0 where missing; ``E ≈ U_k S_k V_kᵀ`` (top ``k``
    singular triplets). ``user_factors_ = U_k S_k^{1/2}`` and ``item_factors_ = V_k S_k^{1/2}``,
    so ``r̂ = baseline + user_factors_[u] · item_factors_[i]``.
    """

    def __init__(self, n_components: int = 10, reg: float = 5.0, n_iter: int = 10):
        super().__init__(reg=reg, n_iter=n_iter)
        self.n_components = n_components

    def fit(self, X, y) -> SVDRecommender:
        self._check_params()
        X, y = check_ratings(X, y, "SVDRecommender", fitting=True)
        residual = self._fit_biases(X, y)
        k = self.n_components
        if not (isinstance(k, int | np.integer) and 1 <= k <= min(self.n_users_, self.n_items_)):
            raise ValueError(
                f"SVDRecommender: n_components must be an integer in [1, "
                f"{min(self.n_users_, self.n_items_)}] for a {self.n_users_} x {self.n_items_} "
                f"matrix, got {k}"
            )
        E = np.zeros((self.n_users_, self.n_items_))
        # Duplicate (user, item) pairs are averaged rather than silently overwritten.
        counts = np.zeros_like(E)
        np.add.at(E, (X[:, 0], X[:, 1]), residual)
        np.add.at(counts, (X[:, 0], X[:, 1]), 1.0)
        E /= np.maximum(counts, 1.0)
        U, s, Vt = np.linalg.svd(E, full_matrices=False)
        root = np.sqrt(s[:k])
        self.singular_values_ = s[:k]
        self.user_factors_ = U[:, :k] * root
        self.item_factors_ = Vt[:k].T * root
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "user_factors_")
        X, _ = check_ratings(X, owner="SVDRecommender")
        P = _lookup(self.user_factors_, X[:, 0])
        Q = _lookup(self.item_factors_, X[:, 1])
        return self._baseline(X) + np.sum(P * Q, axis=1)


class ALSRecommender(BiasBaseline):
    """Baseline + ``p_u · q_i`` fitted by alternating least squares on the observed entries.

    With ``e`` the residuals after the baseline, ALS minimises

        J(P, Q) = Σ_obs (e_ui - p_u · q_i)² + alpha (Σ_u n_u ‖p_u‖² + Σ_i n_i ‖q_i‖²)

    (``n_u``, ``n_i`` = number of ratings of the user/item: the "weighted-λ" penalty of Zhou et
    al., 2008, so ``alpha`` means the same on a small and a large table). With ``Q`` fixed each
    ``p_u`` is a ridge regression of user ``u``'s residuals on the item vectors they rated:

        (Q_uᵀ Q_u + alpha n_u I) p_u = Q_uᵀ e_u,

    and symmetrically for ``q_i``. All users' ``k x k`` systems are built at once as matrix
    products with the mask of observed entries (how often each pair was rated: a repeated
    pair counts as often as it occurs) and solved as one stacked ``np.linalg.solve``.

    Attributes: ``user_factors_`` ``(n_users, k)``, ``item_factors_`` ``(n_items, k)``,
    ``objective_`` (``J`` after initialisation and after every sweep, ``n_sweeps + 1`` values).
    """

    def __init__(
        self,
        n_components: int = 10,
        alpha: float = 0.1,
        n_sweeps: int = 15,
        random_state: int | None = 0,
        reg: float = 5.0,
        n_iter: int = 10,
    ):
        super().__init__(reg=reg, n_iter=n_iter)
        self.n_components = n_components
        self.alpha = alpha
        self.n_sweeps = n_sweeps
        self.random_state = random_state

    def _objective(self, E, M, P, Q, n_u, n_i) -> float:
        error = M * (E - P @ Q.T)
        penalty = self.alpha * (n_u @ np.sum(P**2, axis=1) + n_i @ np.sum(Q**2, axis=1))
        return float(np.sum(error**2) + penalty)

    def _ridge_rows(self, M: np.ndarray, E: np.ndarray, F: np.ndarray, n: np.ndarray):
        """Solve every row's ridge system at once: row ``u`` regresses ``E[u, M[u]=1]`` on the
        matching rows of ``F`` ``(m, k)``. Returns ``(len(M), k)``."""
        k = F.shape[1]
        outer = (F[:, :, None] * F[:, None, :]).reshape(len(F), k * k)
        A = (M @ outer).reshape(len(M), k, k)  # Σ_{i observed} f_i f_iᵀ per row
        # Rows with no ratings get A = 0; the max(n, 1) keeps their system regular (solution 0).
        A += self.alpha * np.maximum(n, 1)[:, None, None] * np.eye(k)
        b = (M * E) @ F
        return np.linalg.solve(A, b[:, :, None])[:, :, 0]

    def fit(self, X, y) -> ALSRecommender:
        self._check_params()
        if not self.alpha > 0:
            raise ValueError(f"ALSRecommender: alpha must be > 0, got {self.alpha}")
        if not (isinstance(self.n_sweeps, int | np.integer) and self.n_sweeps >= 1):
            raise ValueError(
                f"ALSRecommender: n_sweeps must be a positive integer, got {self.n_sweeps}"
            )
        X, y = check_ratings(X, y, "ALSRecommender", fitting=True)
        residual = self._fit_biases(X, y)
        k = self.n_components
        if not (isinstance(k, int | np.integer) and k >= 1):
            raise ValueError(f"ALSRecommender: n_components must be a positive integer, got {k}")
        users, items = X[:, 0], X[:, 1]
        # M counts the ratings of each (user, item) pair and E holds their mean residual: a pair
        # rated twice weighs twice, which is the same objective as two separate terms (up to
        # a constant, the spread of the repeated ratings about their mean).
        sums = np.zeros((self.n_users_, self.n_items_))
        M = np.zeros_like(sums)
        np.add.at(sums, (users, items), residual)
        np.add.at(M, (users, items), 1.0)
        E = sums / np.maximum(M, 1.0)
        n_u, n_i = M.sum(axis=1), M.sum(axis=0)
        rng = np.random.default_rng(self.random_state)
        P = rng.normal(0.0, 0.1, (self.n_users_, k))
        Q = rng.normal(0.0, 0.1, (self.n_items_, k))
        objective = [self._objective(E, M, P, Q, n_u, n_i)]
        # A loop over sweeps on purpose: ALS *is* alternation; each half-step is vectorised.
        for _ in range(self.n_sweeps):
            P = self._ridge_rows(M, E, Q, n_u)
            Q = self._ridge_rows(M.T, E.T, P, n_i)
            objective.append(self._objective(E, M, P, Q, n_u, n_i))
        self.user_factors_, self.item_factors_ = P, Q
        self.objective_ = np.array(objective)
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "user_factors_")
        X, _ = check_ratings(X, owner="ALSRecommender")
        P = _lookup(self.user_factors_, X[:, 0])
        Q = _lookup(self.item_factors_, X[:, 1])
        return self._baseline(X) + np.sum(P * Q, axis=1)
