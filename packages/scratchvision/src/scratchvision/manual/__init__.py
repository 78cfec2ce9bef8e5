"""Backpropagation by hand: layers and two small networks in raw NumPy, with no autograd.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md``.

This is the one place in ScratchMind where the chain rule is written out layer by layer instead
of being left to ``scratchcore``'s autograd, so that it can be read once. Every layer is a pair

    out, cache = <layer>_forward(x, ...)        # cache: what backward needs, nothing more
    dx, grads = <layer>_backward(dout, cache)    # grads: {"weight": ..., "bias": ...} or {}

with ``dout = dL/dout`` and ``dx = dL/dx``. Layouts are PyTorch's. The tests check every backward
against finite differences, and the two networks (``mlp``, ``cnn``) against ``scratchcore``
autograd and PyTorch.
"""

from scratchvision.manual import cnn, mlp
from scratchvision.manual.activations import relu_backward, relu_forward
from scratchvision.manual.conv import (
    conv2d_im2col_backward,
    conv2d_im2col_forward,
    conv2d_loop_backward,
    conv2d_loop_forward,
)
from scratchvision.manual.flatten import flatten_backward, flatten_forward
from scratchvision.manual.linear import linear_backward, linear_forward
from scratchvision.manual.loss import cross_entropy_backward, cross_entropy_forward
from scratchvision.manual.pooling import max_pool2x2_backward, max_pool2x2_forward

__all__ = [
    "cnn",
    "conv2d_im2col_backward",
    "conv2d_im2col_forward",
    "conv2d_loop_backward",
    "conv2d_loop_forward",
    "cross_entropy_backward",
    "cross_entropy_forward",
    "flatten_backward",
    "flatten_forward",
    "linear_backward",
    "linear_forward",
    "max_pool2x2_backward",
    "max_pool2x2_forward",
    "mlp",
    "relu_backward",
    "relu_forward",
]
