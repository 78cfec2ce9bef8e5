"""CART trees against scikit-learn's ``DecisionTree*`` (same criterion, depth, leaf size).

Stated up front:
- where no two candidate splits of a node score equally, the two trees are the same array for
  array: structure and features exactly, thresholds to 1e-6 relative (scikit-learn stores its
  features as float32), node values and impurities to 1e-9;
- fully grown trees do meet ties (two features separating the same samples); scikit-learn breaks
  them by a random feature order, we by ours. Walking both trees together, wherever the chosen
  splits differ, the two splits must score the same (1e-12 relative) — a tie, not a worse split;
- test accuracy / R² then lies within the range scikit-learn itself spans over random_state
  0..19 (its tie-breaks), widened by 0.02 accuracy / 0.05 R².
"""

import numpy as np
import pytest
from sklearn import tree as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from scratchclassic.base import NotFittedError
from scratchclassic.tree import DecisionTreeClassifier, DecisionTreeRegressor
from scratchclassic.tree.splitting import split_proxy


def split(load, fraction=0.7):
    X, y = load(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    n = int(fraction * len(X))
    return X[:n], X[n:], y[:n], y[n:]


def synthetic_regression():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=300)
    return X[:200], X[200:], y[:200], y[200:]


def assert_same_tree(ours, theirs, n_classes=None):
    a, b = ours.tree_, theirs.tree_
    np.testing.assert_array_equal(a.children_left, b.children_left)
    np.testing.assert_array_equal(a.children_right, b.children_right)
    np.testing.assert_array_equal(a.feature, b.feature)
    np.testing.assert_allclose(a.threshold, b.threshold, rtol=1e-6)
    np.testing.assert_array_equal(a.n_node_samples, b.n_node_samples)
    np.testing.assert_allclose(a.impurity, b.impurity, rtol=1e-9, atol=1e-12)
    value = b.value[:, 0, :] if n_classes else b.value[:, 0, 0]
    np.testing.assert_allclose(a.value, value, rtol=1e-9)
    np.testing.assert_allclose(
        ours.feature_importances_, theirs.feature_importances_, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize(
    "load, criterion, max_depth",
    [
        (load_wine, "gini", 2),
        (load_wine, "entropy", 2),
        (load_breast_cancer, "gini", 3),
    ],
)
def test_classifier_without_ties_is_sklearns_tree(load, criterion, max_depth):
    # (Iris is not here: petal length and petal width separate setosa equally well at the root.)
    X_train, X_test, y_train, _ = split(load)
    ours = DecisionTreeClassifier(criterion=criterion, max_depth=max_depth, random_state=0)
    ours.fit(X_train, y_train)
    theirs = sk.DecisionTreeClassifier(criterion=criterion, max_depth=max_depth, random_state=0)
    theirs.fit(X_train, y_train)
    assert_same_tree(ours, theirs, n_classes=len(ours.classes_))
    np.testing.assert_array_equal(ours.predict(X_test), theirs.predict(X_test))
    np.testing.assert_allclose(ours.predict_proba(X_test), theirs.predict_proba(X_test), rtol=1e-9)


@pytest.mark.parametrize(
    "data, params",
    [
        (split(load_diabetes), dict(max_depth=2)),
        (synthetic_regression(), dict(max_depth=6, min_samples_leaf=5)),
        (synthetic_regression(), dict(min_samples_split=30)),
    ],
)
def test_regressor_without_ties_is_sklearns_tree(data, params):
    X_train, X_test, y_train, _ = data
    ours = DecisionTreeRegressor(random_state=0, **params).fit(X_train, y_train)
    theirs = sk.DecisionTreeRegressor(random_state=0, **params).fit(X_train, y_train)
    assert_same_tree(ours, theirs)
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=1e-9)


def assert_agree_up_to_ties(ours, theirs, X, stats, criterion):
    """Walk both trees over the same samples; a different split must be an equally good one."""
    a, b = ours.tree_, theirs.tree_
    pairs, ties = [(0, 0, np.arange(len(X)))], 0
    while pairs:
        i, j, rows = pairs.pop()
        assert (a.children_left[i] == -1) == (b.children_left[j] == -1)
        if a.children_left[i] == -1:
            continue
        scores = []
        for feature, threshold in [(a.feature[i], a.threshold[i]), (b.feature[j], b.threshold[j])]:
            left = X[rows, feature] <= threshold
            scores.append(
                split_proxy(
                    stats[rows][left].sum(0)[None], stats[rows][~left].sum(0)[None], criterion
                )
            )
        np.testing.assert_allclose(scores[0], scores[1], rtol=1e-12)
        if a.feature[i] != b.feature[j]:
            ties += 1  # the subtrees now see different samples: stop comparing here
            continue
        left = X[rows, a.feature[i]] <= a.threshold[i]
        pairs.append((a.children_left[i], b.children_left[j], rows[left]))
        pairs.append((a.children_right[i], b.children_right[j], rows[~left]))
    return ties


@pytest.mark.parametrize("load", [load_iris, load_wine, load_breast_cancer])
@pytest.mark.parametrize("criterion", ["gini", "entropy"])
def test_full_classifier_agrees_up_to_ties_and_scores_like_sklearn(load, criterion):
    X_train, X_test, y_train, y_test = split(load)
    ours = DecisionTreeClassifier(criterion=criterion, random_state=0).fit(X_train, y_train)
    theirs = sk.DecisionTreeClassifier(criterion=criterion, random_state=0).fit(X_train, y_train)
    stats = np.eye(len(ours.classes_))[np.searchsorted(ours.classes_, y_train)]
    assert_agree_up_to_ties(ours, theirs, X_train, stats, criterion)
    np.testing.assert_array_equal(ours.predict(X_train), y_train)  # grown until pure
    reference = [
        sk.DecisionTreeClassifier(criterion=criterion, random_state=seed)
        .fit(X_train, y_train)
        .score(X_test, y_test)
        for seed in range(20)
    ]
    assert min(reference) - 0.02 <= ours.score(X_test, y_test) <= max(reference) + 0.02


def test_full_regressor_agrees_up_to_ties_and_scores_like_sklearn():
    X_train, X_test, y_train, y_test = split(load_diabetes)
    ours = DecisionTreeRegressor(min_samples_leaf=3, random_state=0).fit(X_train, y_train)
    theirs = sk.DecisionTreeRegressor(min_samples_leaf=3, random_state=0).fit(X_train, y_train)
    stats = np.stack([np.ones(len(y_train)), y_train, y_train**2], axis=1)
    assert_agree_up_to_ties(ours, theirs, X_train, stats, "squared_error")
    reference = [
        sk.DecisionTreeRegressor(min_samples_leaf=3, random_state=seed)
        .fit(X_train, y_train)
        .score(X_test, y_test)
        for seed in range(20)
    ]
    assert min(reference) - 0.05 <= ours.score(X_test, y_test) <= max(reference) + 0.05


def test_impurity_decrease_by_hand():
    # y = 0 0 1 0 1 1 along one feature. Root Gini = 1 - (1/2)^2 - (1/2)^2 = 1/2. Thresholds:
    # after x=1: 5/6 * 12/25 = 0.4; after 2: 4/6 * 3/8 = 0.25; after 3: 4/9; after 4: 0.25;
    # after 5: 0.4. The best weighted child impurity, 0.25, comes first at threshold 2.5
    # (decrease 0.5 - 0.25 = 0.25); its children are pure (0) and 3:1 (Gini 3/8).
    X = np.arange(1.0, 7.0)[:, None]
    y = np.array([0, 0, 1, 0, 1, 1])
    tree = DecisionTreeClassifier(max_depth=1).fit(X, y).tree_
    assert tree.threshold[0] == 2.5 and tree.feature[0] == 0
    np.testing.assert_allclose(tree.impurity, [0.5, 0.0, 0.375], rtol=1e-15)
    n = tree.n_node_samples
    decrease = tree.impurity[0] - (n[1] * tree.impurity[1] + n[2] * tree.impurity[2]) / n[0]
    assert decrease == pytest.approx(0.25, rel=1e-15)
    np.testing.assert_allclose(tree.value, [[0.5, 0.5], [1.0, 0.0], [0.25, 0.75]])
    # Entropy of a 50/50 node is exactly one bit.
    root = DecisionTreeClassifier(criterion="entropy", max_depth=1).fit(X, y).tree_.impurity[0]
    assert root == pytest.approx(1.0, rel=1e-15)


def test_integer_sample_weights_equal_repeated_rows():
    X_train, _, y_train, _ = split(load_iris)
    counts = np.random.default_rng(3).integers(1, 4, size=len(X_train))
    # The same random_state gives the same feature order, so ties are broken the same way.
    weighted = DecisionTreeClassifier(max_depth=3, random_state=0)
    weighted.fit(X_train, y_train, sample_weight=counts)
    repeated = DecisionTreeClassifier(max_depth=3, random_state=0).fit(
        np.repeat(X_train, counts, axis=0), np.repeat(y_train, counts)
    )
    np.testing.assert_array_equal(weighted.tree_.feature, repeated.tree_.feature)
    np.testing.assert_array_equal(weighted.tree_.threshold, repeated.tree_.threshold)
    np.testing.assert_allclose(weighted.tree_.value, repeated.tree_.value, rtol=1e-12)


def test_zero_weight_rows_are_left_out():
    X_train, _, y_train, _ = split(load_wine)
    weight = np.ones(len(X_train))
    weight[::3] = 0.0
    weighted = DecisionTreeClassifier(max_depth=2, random_state=0)
    weighted.fit(X_train, y_train, sample_weight=weight)
    kept = DecisionTreeClassifier(max_depth=2, random_state=0).fit(
        X_train[weight > 0], y_train[weight > 0]
    )
    np.testing.assert_array_equal(weighted.tree_.feature, kept.tree_.feature)
    np.testing.assert_array_equal(weighted.tree_.threshold, kept.tree_.threshold)
    np.testing.assert_array_equal(weighted.tree_.n_node_samples, kept.tree_.n_node_samples)


def test_feature_importances_by_hand():
    # One split at the root of the six-point example: the only feature gets everything; with a
    # useless second feature added, it gets nothing.
    X = np.column_stack([np.arange(1.0, 7.0), np.zeros(6)])
    y = np.array([0, 0, 1, 0, 1, 1])
    model = DecisionTreeClassifier(max_depth=1).fit(X, y)
    np.testing.assert_array_equal(model.feature_importances_, [1.0, 0.0])


def test_constant_features_do_not_use_up_max_features():
    # Only feature 0 varies; with max_features=1 the search must skip the constant ones.
    rng = np.random.default_rng(0)
    X = np.zeros((40, 4))
    X[:, 0] = rng.normal(size=40)
    y = (X[:, 0] > 0.3).astype(int)
    for seed in range(5):
        model = DecisionTreeClassifier(max_features=1, random_state=seed).fit(X, y)
        assert model.tree_.feature[0] == 0 and model.score(X, y) == 1.0


def test_max_features_is_seeded():
    X_train, X_test, y_train, _ = split(load_breast_cancer)
    one = DecisionTreeClassifier(max_features="sqrt", random_state=7).fit(X_train, y_train)
    two = DecisionTreeClassifier(max_features="sqrt", random_state=7).fit(X_train, y_train)
    np.testing.assert_array_equal(one.tree_.feature, two.tree_.feature)
    np.testing.assert_array_equal(one.predict_proba(X_test), two.predict_proba(X_test))


def test_bad_inputs():
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"DecisionTreeClassifier: criterion must be one of"):
        DecisionTreeClassifier(criterion="squared_error").fit(X, y)
    with pytest.raises(ValueError, match="DecisionTreeRegressor: max_depth must be None or >= 1"):
        DecisionTreeRegressor(max_depth=0).fit(X, y)
    with pytest.raises(ValueError, match="min_samples_leaf must be an int >= 1, got 0"):
        DecisionTreeClassifier(min_samples_leaf=0).fit(X, y)
    with pytest.raises(ValueError, match="min_samples_split must be an int >= 2, got 1"):
        DecisionTreeClassifier(min_samples_split=1).fit(X, y)
    with pytest.raises(ValueError, match="max_features must be None, 'sqrt'"):
        DecisionTreeClassifier(max_features=5).fit(X, y)
    with pytest.raises(
        ValueError, match="DecisionTreeClassifier: sample_weight has negative values"
    ):
        DecisionTreeClassifier().fit(X, y, sample_weight=-np.ones(4))
    with pytest.raises(NotFittedError, match="This DecisionTreeRegressor instance is not fitted"):
        DecisionTreeRegressor().predict(X)
    with pytest.raises(
        ValueError, match="X has 3 features, but DecisionTreeClassifier is expecting 2 features"
    ):
        DecisionTreeClassifier().fit(X, y).predict(np.ones((1, 3)))
