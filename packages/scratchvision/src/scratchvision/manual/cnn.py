"""A small CNN whose gradients are written out by hand, layer by layer.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md`` (§4 "The code": the whole chain).

    x (N, C, H, W) -> Conv 3x3, padding 1 (C -> channels) -> ReLU -> 2x2 max-pool -> Flatten
      -> Linear(channels * H/2 * W/2 -> classes) -> logits -> softmax cross-entropy

For the 8x8 digits: (N, 1, 8, 8) -> (N, 8, 8, 8) -> (N, 8, 4, 4) -> (N, 128) -> (N, 10).
``params`` is a plain dict of NumPy arrays named as in the equivalent ``nn.Sequential(Conv2d,
ReLU, MaxPool2d, Flatten, Linear)``, so a state dict moves 1:1 to ``scratchcore.nn`` and PyTorch:

    "0.weight" (channels, C, 3, 3)  "0.bias" (channels,)  "4.weight" (classes, flat)  "4.bias"

``conv="im2col"`` (default) or ``conv="loop"`` picks which of the two hand-written convolutions
runs; they give the same numbers, at very different speeds.
"""

from __future__ import annotations

import numpy as np

from scratchvision.manual.activations import relu_backward, relu_forward
from scratchvision.manual.conv import (
    conv2d_im2col_backward,
    conv2d_im2col_forward,
    conv2d_loop_backward,
    conv2d_loop_forward,
)
from scratchvision.manual.flatten import flatten_backward, flatten_forward
from scratchvision.manual.init import default_uniform
from scratchvision.manual.linear import linear_backward, linear_forward
from scratchvision.manual.loss import cross_entropy_backward, cross_entropy_forward
from scratchvision.manual.pooling import max_pool2x2_backward, max_pool2x2_forward

CONVOLUTIONS = {
    "im2col": (conv2d_im2col_forward, conv2d_im2col_backward),
    "loop": (conv2d_loop_forward, conv2d_loop_backward),
}
KERNEL, PADDING = 3, 1  # a 3x3 kernel with padding 1 keeps H and W


def init_params(
    rng: np.random.Generator,
    in_channels: int = 1,
    channels: int = 8,
    image_size: int = 8,
    num_classes: int = 10,
    dtype=np.float64,
) -> dict[str, np.ndarray]:
    """Fresh parameters with PyTorch's default initialisation (``init.default_uniform``)."""
    fan_conv = in_channels * KERNEL * KERNEL
    flat = channels * (image_size // 2) ** 2
    return {
        "0.weight": default_uniform(rng, (channels, in_channels, KERNEL, KERNEL), fan_conv, dtype),
        "0.bias": default_uniform(rng, (channels,), fan_conv, dtype),
        "4.weight": default_uniform(rng, (num_classes, flat), flat, dtype),
        "4.bias": default_uniform(rng, (num_classes,), flat, dtype),
    }


def _convolution(conv: str):
    if conv not in CONVOLUTIONS:
        raise ValueError(f"cnn: conv must be one of {list(CONVOLUTIONS)}; got {conv!r}")
    return CONVOLUTIONS[conv]


def logits(params: dict[str, np.ndarray], x: np.ndarray, conv: str = "im2col") -> np.ndarray:
    """``x`` (N, C, H, W) -> logits (N, classes); the forward pass alone, for predictions."""
    conv_forward, _ = _convolution(conv)
    a, _ = conv_forward(x, params["0.weight"], params["0.bias"], PADDING)
    h, _ = relu_forward(a)
    p, _ = max_pool2x2_forward(h)
    f, _ = flatten_forward(p)
    out, _ = linear_forward(f, params["4.weight"], params["4.bias"])
    return out


def loss_and_grads(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, conv: str = "im2col"
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean cross-entropy of the batch ``x`` (N, C, H, W), ``y`` (N,) and its gradient with
    respect to every parameter (a dict with the keys and shapes of ``params``).

    Forward: every layer keeps what its backward pass needs in a cache. Backward: the chain rule,
    the layers in reverse order, each turning dL/d(its output) into dL/d(its input).
    """
    conv_forward, conv_backward = _convolution(conv)
    # Forward                                                               shapes (digits)
    a, conv0 = conv_forward(x, params["0.weight"], params["0.bias"], PADDING)  # (N, 8, 8, 8)
    h, relu1 = relu_forward(a)  # (N, 8, 8, 8)
    p, pool2 = max_pool2x2_forward(h)  # (N, 8, 4, 4)
    f, flatten3 = flatten_forward(p)  # (N, 128)
    z, linear4 = linear_forward(f, params["4.weight"], params["4.bias"])  # (N, 10)
    loss, ce = cross_entropy_forward(z, y)  # scalar

    # Backward: dL/dL = 1, then one layer at a time, output to input
    dz, _ = cross_entropy_backward(1.0, ce)  # (N, 10) = (softmax - onehot) / N
    df, grads4 = linear_backward(dz, linear4)  # (N, 128); dW4 = dz^T f
    dp, _ = flatten_backward(df, flatten3)  # (N, 8, 4, 4): the same numbers, reshaped
    dh, _ = max_pool2x2_backward(dp, pool2)  # (N, 8, 8, 8): only each window's winner
    da, _ = relu_backward(dh, relu1)  # (N, 8, 8, 8): where a > 0
    _, grads0 = conv_backward(da, conv0)  # dW0 = correlation of x with da (dx not needed)

    grads = {f"0.{k}": v for k, v in grads0.items()} | {f"4.{k}": v for k, v in grads4.items()}
    return loss, grads
