"""The shared parity helpers must themselves be able to fail."""

import numpy as np
import pytest
import torch

from scratchcore.testing import assert_close, check_parity


def test_assert_close_accepts_equal_values_including_matching_nonfinite():
    assert_close(np.array([np.inf, -np.inf, np.nan, 1.0]), np.array([np.inf, -np.inf, np.nan, 1.0]))
    assert_close(np.array([1.0 + 1e-12]), np.array([1.0]))


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        ([np.inf], [-np.inf]),
        ([np.inf], [1e300]),
        ([np.nan], [1.0]),
        ([1.0], [np.nan]),
        ([1.0], [1.0 + 1e-5]),
        ([[1.0]], [1.0]),
    ],
)
def test_assert_close_rejects_mismatches(actual, expected):
    with pytest.raises(AssertionError):
        assert_close(np.array(actual), np.array(expected))


def test_check_parity_catches_a_wrong_gradient():
    from scratchcore import Tensor

    def wrong_square(x):  # right value, gradient off by a factor of 2
        return Tensor._make(x.data**2, (x,), lambda g: (g * x.data,), "wrong_square")

    x = np.random.default_rng(0).standard_normal(5)
    check_parity(lambda t: t * t, lambda t: t * t, [x])
    with pytest.raises(AssertionError, match="grad of input 0"):
        check_parity(wrong_square, lambda t: t * t, [x])
    with pytest.raises(AssertionError, match="output"):
        check_parity(lambda t: t * 2, lambda t: torch.square(t), [x])
