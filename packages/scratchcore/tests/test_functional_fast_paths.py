"""The speed paths of conv2d, max_pool2d and batch_norm give PyTorch's values, and stay float32.

max_pool2d has a separate path when its windows tile the image (stride = kernel, no padding or
dilation); these cases reach it with uneven kernels, sizes that leave rows and columns unread,
and ties. A float32 training step of a conv -> BN -> ReLU -> pool stack must not promote any
activation or gradient to float64 (that would halve the speed and double the memory).
"""

import numpy as np
import pytest
import torch.nn.functional as TF

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.testing import check_parity


@pytest.mark.parametrize(
    ("x_shape", "kernel"),
    [
        ((2, 3, 8, 6), 2),  # the CNN's case
        ((1, 2, 7, 9), (2, 3)),  # uneven kernel; the 7th row is read by no window
        ((2, 1, 5, 5), 4),  # one window, a border of unread pixels
    ],
)
def test_tiling_max_pool_matches_torch(x_shape, kernel):
    x = np.random.default_rng(30).standard_normal(x_shape)
    check_parity(lambda t: F.max_pool2d(t, kernel), lambda t: TF.max_pool2d(t, kernel), [x])


def test_tiling_max_pool_sends_tied_gradients_to_the_first_maximum():
    # values from {0, 1} (as after a ReLU): most windows hold ties
    x = np.random.default_rng(31).integers(0, 2, (2, 3, 6, 9)).astype(np.float64)
    check_parity(
        lambda t: F.max_pool2d(t, (2, 3)), lambda t: TF.max_pool2d(t, (2, 3)), [x], atol=0, rtol=0
    )


def test_conv_bn_pool_step_stays_float32():
    rng = np.random.default_rng(32)
    block = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2)
    )
    x = Tensor(rng.standard_normal((2, 3, 6, 6), dtype=np.float32), requires_grad=True)
    outputs = [x]
    for layer in block:
        outputs.append(layer(outputs[-1]))
        outputs[-1].retain_grad()
    outputs[-1].sum().backward()
    for t in outputs:
        assert t.data.dtype == np.float32 and t.grad.dtype == np.float32
    for p in block.parameters():
        assert p.grad.dtype == np.float32
