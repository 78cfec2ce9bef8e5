"""The in-place GELU (both forms) against ``torch.nn.functional.gelu`` in float64, values and
gradients; float32 stays float32 and matches torch's float32 to a few ulp; the backward never
writes into the gradient it receives; 0-d inputs; gradcheck (finite differences)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.autograd import gradcheck

EPS32 = float(np.finfo(np.float32).eps)


def _torch_gelu(x: np.ndarray, approximate: str, g: np.ndarray):
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.gelu(xt, approximate=approximate)
    yt.backward(torch.tensor(g))
    return yt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 5, 4)])
def test_gelu_values_and_gradients_match_torch_float64(approximate, shape):
    rng = np.random.default_rng(1)
    x, g = 3.0 * rng.standard_normal(shape), rng.standard_normal(shape)
    xs = Tensor(x, requires_grad=True)
    y = F.gelu(xs, approximate=approximate)
    y.backward(g)
    want_y, want_grad = _torch_gelu(x, approximate, g)
    assert y.data.shape == shape and isinstance(y.data, np.ndarray)
    np.testing.assert_allclose(y.data, want_y, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(xs.grad, want_grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32_stays_float32_and_matches_torch_float32(approximate):
    rng = np.random.default_rng(2)
    x32 = (4.0 * rng.standard_normal((64, 33))).astype(np.float32)
    g32 = rng.standard_normal((64, 33)).astype(np.float32)
    xs = Tensor(x32, requires_grad=True)
    y = F.gelu(xs, approximate=approximate)
    y.backward(g32)
    assert y.dtype == np.float32 and xs.grad.dtype == np.float32
    want_y, want_grad = _torch_gelu(x32.astype(np.float64), approximate, g32.astype(np.float64))
    # errors relative to the largest value: a few float32 ulp of the data's scale
    np.testing.assert_allclose(y.data, want_y, rtol=0, atol=16 * EPS32 * np.abs(want_y).max())
    np.testing.assert_allclose(xs.grad, want_grad, rtol=0, atol=16 * EPS32 * np.abs(g32).max())


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_backward_leaves_its_incoming_gradient_and_input_alone(approximate):
    x = np.random.default_rng(3).standard_normal((4, 6))
    g = np.random.default_rng(4).standard_normal((4, 6))
    x_before, g_before = x.copy(), g.copy()
    xs = Tensor(x, requires_grad=True)
    F.gelu(xs, approximate=approximate).backward(g)
    np.testing.assert_array_equal(g, g_before)
    np.testing.assert_array_equal(x, x_before)
    assert not np.shares_memory(xs.grad, g)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck_both_forms(approximate):
    x = np.random.default_rng(5).standard_normal((3, 4)) * 2.0
    assert gradcheck(lambda t: F.gelu(t, approximate=approximate), [x])


def test_gelu_without_grad_records_nothing():
    y = F.gelu(Tensor(np.linspace(-3, 3, 7)), approximate="tanh")
    assert not y.requires_grad and y._node is None
