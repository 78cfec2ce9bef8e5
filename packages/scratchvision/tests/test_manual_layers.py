"""Every hand-written layer of ``scratchvision.manual`` against finite differences and PyTorch.

Finite differences: for a layer ``out = f(x, params)`` and fixed random weights ``w`` (the
shape of ``out``), the scalar ``L = sum(out * w)`` has ``dL/dout = w``, so ``backward(w, cache)``
must return dL/dx and dL/dparams, which we also estimate element by element with central
differences ``(L(x + eps) - L(x - eps)) / 2 eps`` in float64. With eps = 1e-6 their truncation
error is ~eps^2 and their rounding error ~1e-16 / eps = 1e-10 per unit of L, hence FD_ATOL.
Exact comparisons (same maths, different summation order) use the float64 defaults of
``assert_close`` (atol 1e-10, rtol 1e-7).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from scratchcore.testing import assert_close
from scratchvision.manual import (
    conv2d_im2col_backward,
    conv2d_im2col_forward,
    conv2d_loop_backward,
    conv2d_loop_forward,
    cross_entropy_backward,
    cross_entropy_forward,
    flatten_backward,
    flatten_forward,
    linear_backward,
    linear_forward,
    max_pool2x2_backward,
    max_pool2x2_forward,
    relu_backward,
    relu_forward,
)

EPS = 1e-6
FD_ATOL, FD_RTOL = 1e-8, 1e-6


def numeric_grad(loss: Callable[[], float], x: np.ndarray) -> np.ndarray:
    """Central differences of ``loss()`` with respect to each element of ``x`` (set in place)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + EPS
        plus = loss()
        x[index] = original - EPS
        minus = loss()
        x[index] = original
        grad[index] = (plus - minus) / (2 * EPS)
    return grad


def check_layer(forward, backward, x: np.ndarray, params: dict[str, np.ndarray], seed: int = 0):
    """``backward`` of a layer equals finite differences for x and every parameter."""
    out, cache = forward(x, *params.values())
    w = np.random.default_rng(seed).standard_normal(np.shape(out))
    dx, grads = backward(w, cache)
    assert set(grads) == set(params)

    def loss() -> float:
        return float((forward(x, *params.values())[0] * w).sum())

    assert_close(dx, numeric_grad(loss, x), FD_ATOL, FD_RTOL, name="dx")
    for name, value in params.items():
        assert_close(grads[name], numeric_grad(loss, value), FD_ATOL, FD_RTOL, name=name)


def tie_free(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Distinct values at least 0.01 apart (>> EPS) in random order: no max or ReLU kink is
    within a finite-difference step, so the layer is differentiable at every point we probe."""
    values = (np.arange(np.prod(shape)) - np.prod(shape) / 2 + 0.5) * 0.01
    return rng.permutation(values).reshape(shape)


@pytest.mark.parametrize("n, fan_in, fan_out", [(1, 1, 1), (4, 5, 3), (7, 2, 6)])
def test_linear_backward_matches_finite_differences(n, fan_in, fan_out):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, fan_in))
    params = {
        "weight": rng.standard_normal((fan_out, fan_in)),
        "bias": rng.standard_normal(fan_out),
    }
    check_layer(linear_forward, linear_backward, x, params)


def test_linear_forward_matches_torch_layout():
    rng = np.random.default_rng(1)
    x, weight, bias = (
        rng.standard_normal((3, 4)),
        rng.standard_normal((2, 4)),
        rng.standard_normal(2),
    )
    out, _ = linear_forward(x, weight, bias)
    expected = torch.nn.functional.linear(*map(torch.tensor, (x, weight, bias)))
    assert_close(out, expected)


@pytest.mark.parametrize(
    "x_shape, w_shape, padding", [((2, 2, 4, 4), (3, 2, 3, 3), 1), ((1, 3, 3, 5), (2, 3, 2, 3), 0)]
)
@pytest.mark.parametrize("version", ["loop", "im2col"])
def test_conv2d_backward_matches_finite_differences(x_shape, w_shape, padding, version):
    forward, backward = {
        "loop": (conv2d_loop_forward, conv2d_loop_backward),
        "im2col": (conv2d_im2col_forward, conv2d_im2col_backward),
    }[version]
    rng = np.random.default_rng(9)
    x = rng.standard_normal(x_shape)
    params = {"weight": rng.standard_normal(w_shape), "bias": rng.standard_normal(w_shape[0])}

    def conv(x, weight, bias):
        return forward(x, weight, bias, padding)

    check_layer(conv, backward, x, params)


def test_relu_backward_matches_finite_differences():
    x = tie_free(np.random.default_rng(2), (3, 4, 5))
    check_layer(relu_forward, relu_backward, x, {})


def test_relu_gradient_at_zero_is_zero_as_in_torch():
    x = np.array([-1.0, 0.0, 2.0])
    dx, _ = relu_backward(np.ones(3), relu_forward(x)[1])
    t = torch.tensor(x, requires_grad=True)
    torch.relu(t).sum().backward()
    assert_close(dx, t.grad)


def test_flatten_backward_matches_finite_differences_and_torch_order():
    x = np.random.default_rng(3).standard_normal((2, 3, 2, 2))
    check_layer(flatten_forward, flatten_backward, x, {})
    assert_close(flatten_forward(x)[0], torch.nn.Flatten()(torch.tensor(x)))


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (1, 2, 6, 4), (2, 1, 5, 7)])
def test_max_pool_backward_matches_finite_differences(shape):
    x = tie_free(np.random.default_rng(4), shape)
    check_layer(max_pool2x2_forward, max_pool2x2_backward, x, {})


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (2, 1, 5, 7)])
def test_max_pool_matches_torch_including_ties(shape):
    # Values from {0, 1, 2}: most windows hold a tie for the maximum, and the first (row-major)
    # must win, as in torch's CPU max_pool2d. Odd sizes: the last row/column is floored away.
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, size=shape).astype(np.float64)
    out, cache = max_pool2x2_forward(x)
    dout = rng.standard_normal(out.shape)
    dx, _ = max_pool2x2_backward(dout, cache)
    t = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.max_pool2d(t, 2)
    (expected * torch.tensor(dout)).sum().backward()
    assert_close(out, expected)
    assert_close(dx, t.grad)


def test_cross_entropy_backward_matches_finite_differences():
    rng = np.random.default_rng(6)
    logits, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, size=5)

    def forward(z):
        return cross_entropy_forward(z, labels)

    check_layer(forward, cross_entropy_backward, logits, {})


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    rng = np.random.default_rng(7)
    logits, labels = rng.standard_normal((6, 3)), rng.integers(0, 3, size=6)
    dz, _ = cross_entropy_backward(1.0, cross_entropy_forward(logits, labels)[1])
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert_close(dz, (softmax - np.eye(3)[labels]) / 6)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_cross_entropy_matches_torch_and_is_stable(scale):
    # Logits of order 1000 overflow a naive exp; the max-shifted form must still match torch.
    rng = np.random.default_rng(8)
    logits, labels = scale * rng.standard_normal((5, 4)), rng.integers(0, 4, size=5)
    loss, cache = cross_entropy_forward(logits, labels)
    dz, _ = cross_entropy_backward(1.0, cache)
    t = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(t, torch.tensor(labels))
    expected.backward()
    assert_close(np.array(loss), expected)
    assert_close(dz, t.grad)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"linear_forward: x \(2, 3\)"):
        linear_forward(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros(4))
    with pytest.raises(ValueError, match=r"linear_forward: bias \(3,\) must be \(4,\)"):
        linear_forward(np.zeros((2, 5)), np.zeros((4, 5)), np.zeros(3))
    with pytest.raises(ValueError, match=r"cross_entropy_forward: labels must be integers in"):
        cross_entropy_forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"max_pool2x2_forward: .* got \(2, 3\)"):
        max_pool2x2_forward(np.zeros((2, 3)))
