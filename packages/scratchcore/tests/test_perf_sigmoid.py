"""The fast sigmoid (``scratchcore.tensor.sigmoid_array``) keeps full relative accuracy in both
tails, keeps float32 in float32, and raises no overflow warning where ``exp(-a)`` overflows.

References: ``torch.sigmoid`` in float64 (``1 / (1 + exp(-x))``, relatively accurate in both
tails), and for the float32 path the float64 result rounded to float32.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.tensor import sigmoid_array

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps
TINY32 = np.finfo(np.float32).tiny


def _relative_error(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got - want) / np.abs(want)


def test_float64_relative_error_matches_torch_across_both_tails():
    x = np.concatenate([np.linspace(-700, 700, 20001), [-30.0, -36.7, 30.0, 36.7]])
    want = torch.sigmoid(torch.from_numpy(x)).numpy()
    got = Tensor(x).sigmoid().data
    assert got.dtype == np.float64
    assert _relative_error(got, want).max() <= 4 * EPS64
    # sigmoid(-30) ~ 9.4e-14: the tanh form (1 + tanh(-15)) / 2 keeps only about 3 digits of it
    tanh_form = 0.5 * (1 + np.tanh(-15.0))
    assert _relative_error(np.array([tanh_form]), want[x == -30.0]).max() > 1e-4
    assert _relative_error(sigmoid_array(np.array([-30.0])), want[x == -30.0]).max() <= 4 * EPS64


def test_float32_stays_float32_and_is_correctly_rounded_to_a_few_ulp():
    x32 = np.linspace(-87, 87, 20001, dtype=np.float32)  # outputs stay normal float32 numbers
    want = torch.sigmoid(torch.from_numpy(x32.astype(np.float64))).numpy()
    got = Tensor(x32).sigmoid().data
    assert got.dtype == np.float32
    assert _relative_error(got.astype(np.float64), want).max() <= 4 * EPS32


def test_overflowing_exp_gives_the_limit_without_warnings():
    x = np.array([-np.inf, -1e4, -800.0, 800.0, 1e4, np.inf])
    x32 = np.array([-np.inf, -200.0, -100.0, 100.0, np.inf], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail here
        got, got32 = sigmoid_array(x), sigmoid_array(x32)
    np.testing.assert_array_equal(got, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert np.all(got32[:3] <= TINY32) and np.all(got32[3:] == 1.0)  # below normal: 0 or subnormal
    assert np.isnan(sigmoid_array(np.array([np.nan]))).all()


def test_sigmoid_array_does_not_touch_its_input():
    x = np.array([-3.0, 0.0, 2.0])
    sigmoid_array(x)
    np.testing.assert_array_equal(x, [-3.0, 0.0, 2.0])


def test_gradients_match_torch_and_finite_differences():
    x = np.random.default_rng(0).standard_normal(50) * 6
    ours = Tensor(x.copy(), requires_grad=True)
    ours.sigmoid().backward(np.ones(50))
    theirs = torch.tensor(x, requires_grad=True)
    torch.sigmoid(theirs).backward(torch.ones(50, dtype=torch.float64))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-13, atol=0)
    assert gradcheck(lambda t: t.sigmoid(), [Tensor(x[:12].copy(), requires_grad=True)])
    assert gradcheck(F.silu, [Tensor(x[:12].copy(), requires_grad=True)])


def test_silu_float32_and_float64_match_torch():
    x = np.linspace(-60, 60, 4001)
    want = torch.nn.functional.silu(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(F.silu(Tensor(x)).data, want, rtol=4 * EPS64, atol=0)
    x32 = x.astype(np.float32)  # the reference takes the same (rounded) inputs, in float64
    want32 = torch.nn.functional.silu(torch.from_numpy(x32.astype(np.float64))).numpy()
    got32 = F.silu(Tensor(x32)).data
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, want32, rtol=8 * EPS32, atol=0)
