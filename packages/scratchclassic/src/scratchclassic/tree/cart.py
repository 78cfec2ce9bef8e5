"""CART decision trees (Breiman et al. 1984): greedy binary splits, stored as flat node arrays.

Notes: ``packages/scratchclassic/notes/05-trees-and-ensembles.md`` (greedy splitting).

The fitted tree is ``tree_``, a ``Tree`` of parallel arrays indexed by node id, as scikit-learn's
``tree_``: ``children_left``/``children_right`` (``-1`` at a leaf), ``feature`` and ``threshold``
(``-2`` at a leaf), ``value``, ``impurity``, ``n_node_samples``, ``weighted_n_node_samples``.
Nodes are numbered in depth-first pre-order, left child first, as scikit-learn's depth-first
builder does, so on data without ties the two trees agree array for array. A sample goes left
when ``x[feature] <= threshold``; ``predict`` walks all samples down the tree together, one level
per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scratchclassic.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    check_array,
    check_is_fitted,
    check_n_features,
    check_sample_weight,
    check_X_y,
    target_task,
)
from scratchclassic.tree.splitting import CRITERIA, best_split, impurity

TREE_LEAF = -1
TREE_UNDEFINED = -2
EPSILON = np.finfo(np.float64).eps  # a node this pure is a leaf


@dataclass
class Tree:
    """Node arrays of a fitted tree; ``value`` is ``(node_count, n_classes)`` class proportions
    for a classifier and ``(node_count,)`` means for a regressor."""

    children_left: np.ndarray
    children_right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    impurity: np.ndarray
    n_node_samples: np.ndarray
    weighted_n_node_samples: np.ndarray
    max_depth: int = field(default=0)

    @property
    def node_count(self) -> int:
        return len(self.feature)

    @property
    def n_leaves(self) -> int:
        return int((self.children_left == TREE_LEAF).sum())

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Leaf id reached by each row of ``X`` ``(m, d)`` -> ``(m,)``."""
        node = np.zeros(len(X), dtype=np.intp)
        rows = np.arange(len(X))
        # One step per tree level (a loop over depth, not over samples).
        for _ in range(self.max_depth):
            inner = self.children_left[node] != TREE_LEAF
            if not inner.any():
                break
            goes_left = X[rows, self.feature[node]] <= self.threshold[node]
            child = np.where(goes_left, self.children_left[node], self.children_right[node])
            node = np.where(inner, child, node)
        return node


def _n_features_to_try(max_features, n_features: int, owner: str) -> int:
    """scikit-learn's ``max_features``: None, "sqrt", "log2", an int, or a fraction in (0, 1]."""
    if max_features is None:
        return n_features
    if max_features == "sqrt":
        return max(1, int(np.sqrt(n_features)))
    if max_features == "log2":
        return max(1, int(np.log2(n_features)))
    if isinstance(max_features, (int, np.integer)) and 1 <= max_features <= n_features:
        return int(max_features)
    if isinstance(max_features, float) and 0.0 < max_features <= 1.0:
        return max(1, int(max_features * n_features))
    raise ValueError(
        f"{owner}: max_features must be None, 'sqrt', 'log2', an int in [1, {n_features}] "
        f"or a float in (0, 1], got {max_features!r}"
    )


class BaseDecisionTree(BaseEstimator):
    """What the classifier and the regressor share: hyperparameters and the tree builder."""

    def __init__(
        self,
        criterion,
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features=None,
        random_state=None,
    ):
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state

    def _check_params(self, allowed: tuple[str, ...]) -> None:
        owner = type(self).__name__
        if self.criterion not in allowed:
            raise ValueError(f"{owner}: criterion must be one of {allowed}, got {self.criterion!r}")
        if self.max_depth is not None and not (
            isinstance(self.max_depth, (int, np.integer)) and self.max_depth >= 1
        ):
            raise ValueError(f"{owner}: max_depth must be None or >= 1, got {self.max_depth!r}")
        if not (
            isinstance(self.min_samples_split, (int, np.integer)) and self.min_samples_split >= 2
        ):
            raise ValueError(
                f"{owner}: min_samples_split must be an int >= 2, got {self.min_samples_split!r}"
            )
        if not (
            isinstance(self.min_samples_leaf, (int, np.integer)) and self.min_samples_leaf >= 1
        ):
            raise ValueError(
                f"{owner}: min_samples_leaf must be an int >= 1, got {self.min_samples_leaf!r}"
            )

    def _build(self, X: np.ndarray, stats: np.ndarray, sample_weight: np.ndarray) -> Tree:
        """Grow the tree depth-first from per-sample statistics ``stats`` ``(n, s)``."""
        owner = type(self).__name__
        n_features = X.shape[1]
        budget = _n_features_to_try(self.max_features, n_features, owner)
        rng = np.random.default_rng(self.random_state)
        max_depth = np.inf if self.max_depth is None else self.max_depth
        nodes: list[dict] = []
        # A stack of (sample indices, depth, parent id, is_left); popping the left child first
        # numbers the nodes in pre-order. The loop is over nodes, on purpose. Rows of weight
        # zero take no part (as in scikit-learn): they would only add empty statistics.
        stack = [(np.flatnonzero(sample_weight > 0), 0, -1, False)]
        deepest = 0
        while stack:
            rows, depth, parent, is_left = stack.pop()
            node_id = len(nodes)
            if parent >= 0:
                nodes[parent]["left" if is_left else "right"] = node_id
            total = stats[rows].sum(axis=0)
            node_impurity = float(impurity(total[None, :], self.criterion)[0])
            node = dict(
                left=TREE_LEAF,
                right=TREE_LEAF,
                feature=TREE_UNDEFINED,
                threshold=float(TREE_UNDEFINED),
                total=total,
                impurity=max(node_impurity, 0.0),
                n=len(rows),
                w=float(sample_weight[rows].sum()),
            )
            nodes.append(node)
            deepest = max(deepest, depth)
            is_leaf = (
                depth >= max_depth
                or len(rows) < self.min_samples_split
                or len(rows) < 2 * self.min_samples_leaf
                or node_impurity <= EPSILON
            )
            if is_leaf:
                continue
            # Without a limit the order still comes from the generator (as scikit-learn), but
            # then it only matters for ties.
            features = rng.permutation(n_features)
            split = best_split(
                X[rows], stats[rows], self.criterion, features, self.min_samples_leaf, budget
            )
            if split is None:
                continue
            node["feature"], node["threshold"] = split
            goes_left = X[rows, split[0]] <= split[1]
            stack.append((rows[~goes_left], depth + 1, node_id, False))
            stack.append((rows[goes_left], depth + 1, node_id, True))

        totals = np.array([node["total"] for node in nodes])
        return Tree(
            children_left=np.array([node["left"] for node in nodes], dtype=np.intp),
            children_right=np.array([node["right"] for node in nodes], dtype=np.intp),
            feature=np.array([node["feature"] for node in nodes], dtype=np.intp),
            threshold=np.array([node["threshold"] for node in nodes]),
            value=self._node_values(totals),
            impurity=np.array([node["impurity"] for node in nodes]),
            n_node_samples=np.array([node["n"] for node in nodes], dtype=np.intp),
            weighted_n_node_samples=np.array([node["w"] for node in nodes]),
            max_depth=deepest,
        )

    def _fit_checks(self, X, y, sample_weight, allowed):
        owner = type(self).__name__
        X, y = check_X_y(X, y, owner, task=target_task(self))
        self._check_params(allowed)
        sample_weight = check_sample_weight(sample_weight, len(X), owner)
        return X, y, sample_weight

    def apply(self, X) -> np.ndarray:
        """The id of the leaf each row of ``X`` ``(m, d)`` lands in -> ``(m,)``."""
        check_is_fitted(self, "tree_")
        X = check_array(X, type(self).__name__)
        check_n_features(X, self.n_features_in_, type(self).__name__)
        return self.tree_.apply(X)

    @property
    def feature_importances_(self) -> np.ndarray:
        """``(d,)``: each feature's total weighted impurity decrease over the splits that use it,
        $\\sum_\\text{nodes} w\\,i - w_L i_L - w_R i_R$, normalised to sum to one (the "mean
        decrease in impurity" of scikit-learn)."""
        check_is_fitted(self, "tree_")
        t = self.tree_
        inner = np.flatnonzero(t.children_left != TREE_LEAF)
        left, right = t.children_left[inner], t.children_right[inner]
        weighted = t.weighted_n_node_samples * t.impurity
        decrease = weighted[inner] - weighted[left] - weighted[right]
        importances = np.bincount(t.feature[inner], decrease, minlength=self.n_features_in_)
        total = importances.sum()
        return importances / total if total > 0 else importances

    def get_depth(self) -> int:
        check_is_fitted(self, "tree_")
        return self.tree_.max_depth

    def get_n_leaves(self) -> int:
        check_is_fitted(self, "tree_")
        return self.tree_.n_leaves


class DecisionTreeClassifier(ClassifierMixin, BaseDecisionTree):
    """CART classifier: ``criterion`` "gini" (default) or "entropy"/"log_loss".

    ``max_features`` (None = all, "sqrt", "log2", int, fraction) draws that many candidate
    features per node from ``random_state``. After ``fit``: ``classes_``, ``n_classes_``,
    ``tree_`` (see ``Tree``), ``n_features_in_``.
    """

    def __init__(
        self,
        criterion="gini",
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features=None,
        random_state=None,
    ):
        super().__init__(
            criterion, max_depth, min_samples_split, min_samples_leaf, max_features, random_state
        )

    def _node_values(self, totals: np.ndarray) -> np.ndarray:
        return totals / totals.sum(axis=1, keepdims=True)

    def fit(self, X, y, sample_weight=None) -> DecisionTreeClassifier:
        """Grow the tree on ``X`` ``(n, d)``, labels ``y`` ``(n,)``, optional weights ``(n,)``."""
        X, y, sample_weight = self._fit_checks(X, y, sample_weight, CRITERIA[:3])
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.n_classes_ = len(self.classes_)
        # Per-sample statistics: the sample's weight in its class's column.
        stats = np.zeros((len(X), self.n_classes_))
        stats[np.arange(len(X)), codes] = sample_weight
        self.n_features_in_ = X.shape[1]
        self.tree_ = self._build(X, stats, sample_weight)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class proportions (weighted) of the leaf each row lands in: ``(m, d) -> (m, K)``."""
        leaves = self.apply(X)
        return self.tree_.value[leaves]

    def predict(self, X) -> np.ndarray:
        """The majority class of each row's leaf: ``(m, d) -> (m,)``."""
        probabilities = self.predict_proba(X)  # first: it checks that the tree is fitted
        return self.classes_[probabilities.argmax(axis=1)]


class DecisionTreeRegressor(RegressorMixin, BaseDecisionTree):
    """CART regressor with the squared-error criterion; leaves predict the (weighted) mean.

    Same hyperparameters as ``DecisionTreeClassifier``. After ``fit``: ``tree_``,
    ``n_features_in_``.
    """

    def __init__(
        self,
        criterion="squared_error",
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features=None,
        random_state=None,
    ):
        super().__init__(
            criterion, max_depth, min_samples_split, min_samples_leaf, max_features, random_state
        )

    def _node_values(self, totals: np.ndarray) -> np.ndarray:
        return totals[:, 1] / totals[:, 0]

    def fit(self, X, y, sample_weight=None) -> DecisionTreeRegressor:
        """Grow the tree on ``X`` ``(n, d)``, targets ``y`` ``(n,)``, optional weights ``(n,)``."""
        X, y, sample_weight = self._fit_checks(X, y, sample_weight, CRITERIA[3:])
        y = y.astype(np.float64)
        stats = np.stack([sample_weight, sample_weight * y, sample_weight * y**2], axis=1)
        self.n_features_in_ = X.shape[1]
        self.tree_ = self._build(X, stats, sample_weight)
        return self

    def predict(self, X) -> np.ndarray:
        """The mean target of each row's leaf: ``(m, d) -> (m,)``."""
        leaves = self.apply(X)
        return self.tree_.value[leaves]
