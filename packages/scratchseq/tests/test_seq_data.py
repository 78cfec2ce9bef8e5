"""scratchseq.data: context windows and random (B, T) windows hold the right ids."""

import numpy as np
import pytest

from scratchseq.data import context_windows, random_windows


def test_context_windows_match_a_direct_construction():
    ids = np.array([5, 1, 4, 1, 5, 9, 2, 6])
    X, y = context_windows(ids, 3)
    assert X.tolist() == [[5, 1, 4], [1, 4, 1], [4, 1, 5], [1, 5, 9], [5, 9, 2]]
    assert y.tolist() == [1, 5, 9, 2, 6]
    X[0, 0] = 99  # a copy, not a view of ids
    assert ids[0] == 5


def test_random_windows_targets_are_the_next_tokens_and_in_range():
    ids = np.arange(50) * 3  # value encodes its position, so windows can be located exactly
    x, y = random_windows(ids, block_size=7, batch_size=64, rng=np.random.default_rng(0))
    starts = x[:, 0] // 3
    np.testing.assert_array_equal(x, ids[starts[:, None] + np.arange(7)])
    np.testing.assert_array_equal(y, ids[starts[:, None] + np.arange(1, 8)])
    assert starts.min() >= 0 and starts.max() <= 50 - 8
    # 64 draws over 43 possible starts: both ends of the range must be reachable.
    many, _ = random_windows(ids, 7, 5000, np.random.default_rng(1))
    assert set(many[:, 0] // 3) == set(range(43))


def test_random_windows_are_reproducible_from_the_seed():
    ids = np.arange(100)
    a = random_windows(ids, 5, 8, np.random.default_rng(3))
    b = random_windows(ids, 5, 8, np.random.default_rng(3))
    c = random_windows(ids, 5, 8, np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    "call",
    [
        lambda: context_windows(np.arange(3), 3),
        lambda: context_windows(np.zeros(5), 2),
        lambda: random_windows(np.arange(4), 4, 2, np.random.default_rng(0)),
        lambda: random_windows(np.arange(6).reshape(2, 3), 1, 2, np.random.default_rng(0)),
    ],
)
def test_bad_input_is_rejected(call):
    with pytest.raises(ValueError):
        call()
