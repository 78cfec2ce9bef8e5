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


def test_check_parity_catches_an_op_that_cuts_the_graph():
    """A scratch function whose output is detached has no gradient to compare: that must fail
    (the torch twin's output requires grad), not pass silently."""
    x = np.random.default_rng(1).standard_normal(4)
    with pytest.raises(AssertionError, match="requires_grad=False"):
        check_parity(lambda t: (t * t).detach(), lambda t: t * t, [x])


def test_check_parity_still_passes_when_nothing_is_differentiable():
    x = np.arange(4)  # integers: no input requires grad, on either side
    check_parity(lambda t: t * 2, lambda t: t * 2, [x])


def test_check_parity_catches_a_wrong_gradient_of_a_second_input():
    from scratchcore import Tensor

    def wrong_mul(a, b):  # right value; b's gradient is a + 1 instead of a
        return Tensor._make(a.data * b.data, (a, b), lambda g: (g * b.data, g * (a.data + 1)), "m")

    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    check_parity(lambda s, t: s * t, lambda s, t: s * t, [a, b])
    with pytest.raises(AssertionError, match="grad of input 1"):
        check_parity(wrong_mul, lambda s, t: s * t, [a, b])


def test_assert_file_error_fails_on_an_unclear_error(tmp_path):
    from scratchcore.data.datasets.download import CorruptFileError
    from scratchcore.testing import assert_file_error

    path = tmp_path / "broken.bin"

    def clear(p):
        raise CorruptFileError(p, "the header is truncated")

    def raw(p):
        raise KeyError("header")

    def anonymous(p):
        raise ValueError("the header is truncated")

    assert isinstance(assert_file_error(clear, path, "truncated", CorruptFileError), ValueError)
    for reader in (raw, anonymous):
        with pytest.raises(AssertionError):
            assert_file_error(reader, path, "truncated", Exception, KeyError)
    with pytest.raises(AssertionError):  # the right error, the wrong problem
        assert_file_error(clear, path, "checksum", CorruptFileError)
