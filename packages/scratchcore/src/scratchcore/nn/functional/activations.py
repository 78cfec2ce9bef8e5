"""Elementwise activations and the softmax family, as functions of tensors.

Notes: ``packages/scratchcore/notes/02-modules.md`` (the activation layers call these).

``relu``, ``sigmoid``, ``tanh``, ``softmax`` and ``log_softmax`` are engine ops already (their
derivatives live next to their forward passes in ``tensor.py``); they are re-exported here under
PyTorch's functional names. ``gelu`` and ``silu`` get one op each with a hand-derived derivative,
so that a single node (not five) sits in the graph and no intermediate can overflow.
"""

from __future__ import annotations

import math

import numpy as np

from scratchcore.nn.functional._util import as_tensor
from scratchcore.nn.functional.erf import erf
from scratchcore.tensor import Tensor, sigmoid_array

# Python floats, not NumPy float64 scalars: under NumPy 2's promotion rules a float64 scalar
# would silently turn a float32 activation into float64 work (and a float64 result).
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT_2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_GELU_TANH_CUBIC = 0.044715  # Hendrycks & Gimpel's fitted constant (torch uses the same)


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)``; gradient 1 where ``x > 0`` and 0 elsewhere (also at 0, as PyTorch)."""
    return as_tensor(x).relu()


def sigmoid(x: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``, never overflowing."""
    return as_tensor(x).sigmoid()


def tanh(x: Tensor) -> Tensor:
    return as_tensor(x).tanh()


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``exp(x_i) / sum_j exp(x_j)`` along ``axis`` (PyTorch's ``dim``); any shape."""
    return as_tensor(x).softmax(axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``x_i - logsumexp(x)`` along ``axis``; stable for logits of any magnitude."""
    return as_tensor(x).log_softmax(axis=axis)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``, ``Phi`` the standard normal CDF (any shape).

    ``approximate="none"`` uses the exact ``Phi(x) = (1 + erf(x / sqrt 2)) / 2``;
    ``approximate="tanh"`` uses ``Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2``.
    """
    x = as_tensor(x)
    a = x.data
    if approximate == "none":
        cdf = 0.5 * (1.0 + erf(a / _SQRT_2))
        pdf = np.exp(-0.5 * a * a) / _SQRT_2PI
        out = a * cdf
        slope = cdf + a * pdf  # d(x Phi(x))/dx = Phi(x) + x phi(x)
    elif approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (a + _GELU_TANH_CUBIC * (a * a * a)))  # a*a*a: ** is slow
        out = 0.5 * a * (1.0 + t)
        # product rule, then the chain rule through tanh: d tanh(u) = (1 - tanh^2 u) du
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_TANH_CUBIC * a * a)
        slope = 0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * du
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh'; got {approximate!r}")

    slope = slope.astype(a.dtype, copy=False)

    def backward(g):
        return (g * slope,)

    return Tensor._make(out.astype(a.dtype, copy=False), (x,), backward, "gelu")


def silu(x: Tensor) -> Tensor:
    """Sigmoid-weighted linear unit (swish) ``x * sigmoid(x)`` (any shape)."""
    x = as_tensor(x)
    a = x.data
    s = sigmoid_array(a)  # the engine's sigmoid: fast, float32 stays float32, accurate tails
    slope = s * (1 + a * (1 - s))  # d(x s)/dx = s + x s (1 - s)

    def backward(g):
        return (g * slope,)

    return Tensor._make(a * s, (x,), backward, "silu")
