"""The claims of notes/03-convolution.md, checked numerically (float64, closed forms).

* The backward pass of a convolution is a convolution: the input gradient is a *full*
  convolution of the output gradient with the flipped, channel-transposed kernels; the weight
  gradient is the correlation of the input with the output gradient.
* The receptive field of this package's CNN: a unit after stage ``k`` depends on exactly the
  input window the notes compute (4, 10, 22 pixels wide; jumps 2, 4, 8).
"""

from __future__ import annotations

import numpy as np
import pytest

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.testing import assert_close
from scratchvision.models import CNN

ATOL, RTOL = 1e-10, 1e-7


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_conv_backward_is_two_convolutions(padding):
    rng = np.random.default_rng(0)
    n, c, o, h, w, k = 2, 3, 4, 7, 6, 3
    x = Tensor(rng.standard_normal((n, c, h, w)), requires_grad=True)
    weight = Tensor(rng.standard_normal((o, c, k, k)), requires_grad=True)
    out = F.conv2d(x, weight, padding=padding)
    g = rng.standard_normal(out.shape)  # dL/d out
    out.backward(g)

    # dL/dx: a full convolution of g — pad by k - 1 - padding — with kernels flipped in both
    # spatial axes and their in/out channel axes swapped: (C, O, k, k).
    flipped = weight.data[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    input_grad = F.conv2d(Tensor(g), Tensor(np.ascontiguousarray(flipped)), padding=k - 1 - padding)
    assert_close(x.grad, input_grad, ATOL, RTOL, name="input gradient")

    # dL/dW[o, c] = sum over n of x[n, c] correlated with g[n, o]: a convolution in which the batch
    # axis plays the channel axis — input (C, N, H, W), "kernels" g as (O, N, H_out, W_out).
    as_channels = Tensor(np.ascontiguousarray(x.data.transpose(1, 0, 2, 3)))
    g_kernels = Tensor(np.ascontiguousarray(g.transpose(1, 0, 2, 3)))
    weight_grad = F.conv2d(as_channels, g_kernels, padding=padding).data.transpose(1, 0, 2, 3)
    assert_close(weight.grad, weight_grad, ATOL, RTOL, name="weight gradient")


def receptive_field(stage: int) -> tuple[int, int]:
    """Width ``r`` and jump ``j`` after ``stage`` stages of (3x3 conv s1, 2x2 pool s2):
    each layer adds ``(kernel - 1) * jump`` to the width and multiplies the jump by its stride."""
    r, j = 1, 1
    for _ in range(stage):
        for kernel, stride in [(3, 1), (2, 2)]:
            r, j = r + (kernel - 1) * j, j * stride
    return r, j


def test_receptive_field_closed_form_values():
    assert [receptive_field(s) for s in (1, 2, 3)] == [(4, 2), (10, 4), (22, 8)]


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_cnn_receptive_field_is_exactly_the_computed_window(stage):
    """Back-propagate from one unit after ``stage`` stages of the plain CNN (32x32 input). The
    pixels with a non-zero gradient for *some* image of a batch are exactly the computed window
    (a single image can leave holes: ReLU zeros and max-pool picks one input of four)."""
    rng = np.random.default_rng(stage)
    model = CNN(in_channels=1, image_size=32, channels=(8, 8, 8)).double()
    width, jump = receptive_field(stage)
    unit = 2  # output position (2, 2): its window lies inside the 32x32 image at every stage
    # The window's first input pixel: each stage's conv reaches one step back, at its jump.
    first = unit * jump - sum(2**s for s in range(stage))
    x = Tensor(rng.standard_normal((48, 1, 32, 32)), requires_grad=True)
    features = model.features[:stage](x)
    seed = np.zeros(features.shape)
    seed[:, :, unit, unit] = 1.0
    features.backward(seed)
    reached = np.abs(x.grad).sum(axis=(0, 1)) > 0
    expected = np.zeros((32, 32), dtype=bool)
    expected[first : first + width, first : first + width] = True
    assert_close(reached, expected, name=f"pixels reached from stage {stage}")
