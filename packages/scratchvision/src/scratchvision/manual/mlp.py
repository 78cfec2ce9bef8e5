"""A one-hidden-layer MLP whose gradients are written out by hand, layer by layer.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md`` (§4 "The code": the whole chain).

    x (N, in) -> Linear -> ReLU -> Linear -> logits (N, classes) -> softmax cross-entropy

``params`` is a plain dict of NumPy arrays named as in the equivalent
``nn.Sequential(Linear(in, hidden), ReLU(), Linear(hidden, classes))``, so a state dict moves
1:1 between this, ``scratchcore.nn`` and PyTorch:

    "0.weight" (hidden, in)  "0.bias" (hidden,)  "2.weight" (classes, hidden)  "2.bias" (classes,)
"""

from __future__ import annotations

import numpy as np

from scratchvision.manual.activations import relu_backward, relu_forward
from scratchvision.manual.init import default_uniform
from scratchvision.manual.linear import linear_backward, linear_forward
from scratchvision.manual.loss import cross_entropy_backward, cross_entropy_forward


def init_params(
    rng: np.random.Generator,
    in_features: int = 64,
    hidden: int = 32,
    num_classes: int = 10,
    dtype=np.float64,
) -> dict[str, np.ndarray]:
    """Fresh parameters with PyTorch's default initialisation (``init.default_uniform``)."""
    return {
        "0.weight": default_uniform(rng, (hidden, in_features), in_features, dtype),
        "0.bias": default_uniform(rng, (hidden,), in_features, dtype),
        "2.weight": default_uniform(rng, (num_classes, hidden), hidden, dtype),
        "2.bias": default_uniform(rng, (num_classes,), hidden, dtype),
    }


def logits(params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """``x`` (N, in) -> logits (N, classes); the forward pass alone, for predictions."""
    h, _ = linear_forward(x, params["0.weight"], params["0.bias"])
    h, _ = relu_forward(h)
    out, _ = linear_forward(h, params["2.weight"], params["2.bias"])
    return out


def loss_and_grads(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean cross-entropy of the batch ``x`` (N, in), ``y`` (N,) and its gradient with respect to
    every parameter (a dict with the keys and shapes of ``params``).

    Forward: every layer keeps what its backward pass needs in a cache. Backward: the chain rule,
    the layers in reverse order, each turning dL/d(its output) into dL/d(its input).
    """
    # Forward                                                          shapes
    a, linear0 = linear_forward(x, params["0.weight"], params["0.bias"])  # (N, hidden)
    h, relu1 = relu_forward(a)  # (N, hidden)
    z, linear2 = linear_forward(h, params["2.weight"], params["2.bias"])  # (N, classes)
    loss, ce = cross_entropy_forward(z, y)  # scalar

    # Backward: dL/dL = 1, then one layer at a time, output to input
    dz, _ = cross_entropy_backward(1.0, ce)  # (N, classes) = (softmax - onehot) / N
    dh, grads2 = linear_backward(dz, linear2)  # (N, hidden); dW2 = dz^T h
    da, _ = relu_backward(dh, relu1)  # (N, hidden): dh where a > 0
    _, grads0 = linear_backward(da, linear0)  # dW0 = da^T x (dx is not needed)

    grads = {f"0.{k}": v for k, v in grads0.items()} | {f"2.{k}": v for k, v in grads2.items()}
    return loss, grads
