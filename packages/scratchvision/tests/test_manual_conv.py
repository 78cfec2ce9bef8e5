"""The two hand-written convolutions against each other and against PyTorch.

``conv2d_loop_*`` (a Python loop over output positions, whose input gradient is the full
convolution with the flipped kernel) and ``conv2d_im2col_*`` (one matrix product, then col2im)
are two derivations of one function: they must agree on the output and on all three gradients.
Their finite-difference checks are in ``test_manual_layers.py`` with every other layer's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchcore.testing import assert_close
from scratchvision.manual import (
    conv2d_im2col_backward,
    conv2d_im2col_forward,
    conv2d_loop_backward,
    conv2d_loop_forward,
)
from scratchvision.manual.conv import col2im, flip_kernel, im2col, pad_hw

# (x shape (N, C, H, W), weight shape (O, C, kh, kw), padding): square and non-square kernels
# and images, a 1x1 kernel, a kernel as large as the padded image, padding 0 to 2.
CASES = [
    ((2, 3, 5, 5), (4, 3, 3, 3), 1),
    ((1, 1, 4, 6), (2, 1, 2, 3), 0),
    ((3, 2, 4, 4), (1, 2, 1, 1), 0),
    ((2, 2, 3, 4), (3, 2, 3, 2), 2),
    ((1, 2, 2, 2), (2, 2, 4, 4), 1),
]


def random_case(x_shape, w_shape, seed):
    rng = np.random.default_rng(seed)
    x, weight = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    return x, weight, rng.standard_normal(w_shape[0]), rng


@pytest.mark.parametrize("x_shape, w_shape, padding", CASES)
def test_loop_and_im2col_agree_forward_and_backward(x_shape, w_shape, padding):
    x, weight, bias, rng = random_case(x_shape, w_shape, seed=0)
    out_loop, cache_loop = conv2d_loop_forward(x, weight, bias, padding)
    out_cols, cache_cols = conv2d_im2col_forward(x, weight, bias, padding)
    assert_close(out_loop, out_cols, name="output")
    dout = rng.standard_normal(out_loop.shape)
    dx_loop, grads_loop = conv2d_loop_backward(dout, cache_loop)
    dx_cols, grads_cols = conv2d_im2col_backward(dout, cache_cols)
    assert_close(dx_loop, dx_cols, name="dx")
    assert set(grads_loop) == set(grads_cols) == {"weight", "bias"}
    for name in grads_loop:
        assert_close(grads_loop[name], grads_cols[name], name=name)


@pytest.mark.parametrize("x_shape, w_shape, padding", CASES)
@pytest.mark.parametrize("version", ["loop", "im2col"])
def test_convolution_matches_torch(x_shape, w_shape, padding, version):
    forward, backward = {
        "loop": (conv2d_loop_forward, conv2d_loop_backward),
        "im2col": (conv2d_im2col_forward, conv2d_im2col_backward),
    }[version]
    x, weight, bias, rng = random_case(x_shape, w_shape, seed=1)
    out, cache = forward(x, weight, bias, padding)
    dout = rng.standard_normal(out.shape)
    dx, grads = backward(dout, cache)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    expected = torch.nn.functional.conv2d(tx, tw, tb, padding=padding)
    (expected * torch.tensor(dout)).sum().backward()
    assert_close(out, expected, name="output")
    assert_close(dx, tx.grad, name="dx")
    assert_close(grads["weight"], tw.grad, name="weight")
    assert_close(grads["bias"], tb.grad, name="bias")


def test_input_gradient_is_full_convolution_with_flipped_kernel():
    # Closed form on one channel, no padding: out = x * k (valid correlation), so
    # dx[a, b] = sum_{u, v} dout[a - u, b - v] k[u, v], written here as an explicit double sum.
    x, weight, bias, rng = random_case((1, 1, 4, 5), (1, 1, 2, 3), seed=2)
    out, cache = conv2d_loop_forward(x, weight, bias, 0)
    dout = rng.standard_normal(out.shape)
    dx, _ = conv2d_loop_backward(dout, cache)
    expected = np.zeros_like(x)
    for u in range(2):
        for v in range(3):
            expected[0, 0, u : u + out.shape[2], v : v + out.shape[3]] += (
                dout[0, 0] * weight[0, 0, u, v]
            )
    assert_close(dx, expected)
    # And the flipped kernel is the 180-degree rotation with in/out swapped.
    w = np.arange(2 * 3 * 2 * 2.0).reshape(2, 3, 2, 2)
    assert flip_kernel(w).shape == (3, 2, 2, 2)
    assert_close(flip_kernel(w)[1, 0], np.rot90(w[0, 1], 2))


def test_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), c> = <x, col2im(c)> for all x, c: the defining property of an adjoint, and the
    # reason col2im (a sum over overlapping windows) is im2col's backward pass.
    rng = np.random.default_rng(3)
    xp = rng.standard_normal((2, 3, 5, 6))
    cols = im2col(xp, 3, 2)
    c = rng.standard_normal(cols.shape)
    assert_close(np.array((cols * c).sum()), np.array((xp * col2im(c, xp.shape, 3, 2)).sum()))


def test_im2col_rows_are_the_windows():
    xp = np.arange(2 * 1 * 3 * 3.0).reshape(2, 1, 3, 3)
    cols = im2col(xp, 2, 2)  # 2 images x 2x2 positions, 4 pixels each
    assert_close(cols[0], xp[0, 0, :2, :2].ravel())
    assert_close(cols[3], xp[0, 0, 1:, 1:].ravel())
    assert_close(cols[5], xp[1, 0, :2, 1:].ravel())
    assert_close(pad_hw(xp, 1, 0)[0, 0, 0], np.zeros(3))


@pytest.mark.parametrize("forward", [conv2d_loop_forward, conv2d_im2col_forward])
def test_bad_inputs_raise_clear_errors(forward):
    name = forward.__name__
    x, w, b = np.zeros((1, 2, 4, 4)), np.zeros((3, 2, 3, 3)), np.zeros(3)
    with pytest.raises(ValueError, match=rf"{name}: x \(1, 2, 4, 4\) .* weight \(3, 5, 3, 3\)"):
        forward(x, np.zeros((3, 5, 3, 3)), b)
    with pytest.raises(ValueError, match=rf"{name}: bias \(2,\) must be \(3,\)"):
        forward(x, w, np.zeros(2))
    with pytest.raises(ValueError, match=rf"{name}: padding must be a non-negative int"):
        forward(x, w, b, -1)
    with pytest.raises(ValueError, match=rf"{name}: kernel \(5, 5\) does not fit"):
        forward(x, np.zeros((3, 2, 5, 5)), b)
