"""Impurities and the split score of notes/05-trees-and-ensembles.md, against closed forms.

``impurity`` maps a node's additive statistics (weighted class counts, or ``(w, sum w y,
sum w y^2)``) to Gini, entropy in bits, or the weighted variance; checked on hand-computed
values and against ``np.average`` of the squared deviations. ``split_proxy`` must order the
candidate splits exactly as the children's weighted impurity ``w_L i(L) + w_R i(R)`` does, with
the opposite sign: their sum is the same for every split of a node (it only drops terms that do
not depend on the split), which is checked for every cut of a random node.
"""

import numpy as np
import pytest

from scratchclassic.tree.splitting import impurity, split_proxy


def test_impurity_values_by_hand():
    counts = np.array([[3.0, 1.0, 0.0], [2.0, 2.0, 2.0], [5.0, 0.0, 0.0]])
    np.testing.assert_allclose(impurity(counts, "gini"), [0.375, 2 / 3, 0.0], rtol=1e-15)
    quarter = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    for criterion in ("entropy", "log_loss"):
        np.testing.assert_allclose(
            impurity(counts, criterion), [quarter, np.log2(3), 0.0], rtol=1e-14, atol=1e-15
        )
    rng = np.random.default_rng(0)
    y, w = rng.normal(size=20), rng.uniform(0.5, 2.0, 20)
    stats = np.stack([w, w * y, w * y**2], axis=1).sum(axis=0)
    variance = np.average((y - np.average(y, weights=w)) ** 2, weights=w)
    assert impurity(stats[None], "squared_error")[0] == pytest.approx(variance, rel=1e-10)


@pytest.mark.parametrize("criterion", ["gini", "entropy", "squared_error"])
def test_split_score_plus_weighted_child_impurity_is_the_same_for_every_cut(criterion):
    rng = np.random.default_rng(1)
    n = 40
    w = rng.uniform(0.5, 2.0, n)
    if criterion == "squared_error":
        y = rng.normal(size=n)
        stats = np.stack([w, w * y, w * y**2], axis=1)
    else:
        stats = w[:, None] * np.eye(3)[rng.integers(0, 3, n)]
    left = np.cumsum(stats, axis=0)[1:-2]  # cuts with at least two samples on each side
    right = stats.sum(axis=0) - left
    weight = (lambda s: s[..., 0]) if criterion == "squared_error" else (lambda s: s.sum(-1))
    weighted = weight(left) * impurity(left, criterion) + weight(right) * impurity(right, criterion)
    total = split_proxy(left, right, criterion) + weighted
    np.testing.assert_allclose(total, total[0], rtol=1e-10, atol=1e-10)
    assert np.ptp(weighted) > 1e-3  # the cuts really differ, so the check could fail
