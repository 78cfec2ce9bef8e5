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

from scratchcore.nn.functional._util import as_tensor, float_tensor
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

    Both are evaluated in place in one scratch array plus the output (each full-size temporary
    of a composed expression costs a pass over memory: on (4096, 512) float32 the tanh form took
    ~31 ms composed, against ~6 ms for ``np.tanh`` alone). The graph keeps that scratch array
    (``Phi(x)``, or the ``tanh``) and the backward builds the slope from it and ``x``. Measured
    against keeping the slope instead (tanh form, that shape): the same graph memory and the same
    forward + backward time, but the forward alone 9.7 instead of 15.9 ms and a forward peak of
    one array less (16 instead of 32 MB), and no slope computed when no gradient is wanted.
    """
    x = float_tensor(x, "gelu")
    a = x.data
    dtype = np.result_type(a, 1.0)  # float32 stays float32; integers are computed in float64
    if approximate == "none":
        cdf = erf(np.divide(a, _SQRT_2, out=np.empty(a.shape, dtype)))
        cdf += 1.0
        cdf *= 0.5  # Phi(x) = (1 + erf(x / sqrt 2)) / 2
        out = np.multiply(a, cdf, out=np.empty_like(cdf))

        def slope_into(s):  # d(x Phi(x))/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)
            np.multiply(a, a, out=s)
            s *= -0.5
            np.exp(s, out=s)
            s *= a
            s /= _SQRT_2PI
            s += cdf
            return s

        saved = cdf
    elif approximate == "tanh":
        # u = sqrt(2/pi) (x + 0.044715 x^3), written x (1 + 0.044715 x^2) to reuse x^2
        t = np.multiply(a, a, out=np.empty(a.shape, dtype))  # out=: a 0-d array stays an array
        t *= _GELU_TANH_CUBIC
        t += 1.0
        t *= a
        t *= _SQRT_2_OVER_PI
        np.tanh(t, out=t)  # t = tanh(u)
        out = np.add(t, 1.0, out=np.empty_like(t))
        out *= a
        out *= 0.5  # x Phi(x) with Phi(x) ~ (1 + t) / 2

        def slope_into(s):
            # product rule, then the chain rule through tanh: d tanh(u) = (1 - tanh^2 u) du, so
            # slope = (1 + t) / 2 + x (1 - t^2) du / 2 with du = sqrt(2/pi) (1 + 3 0.044715 x^2)
            np.multiply(a, a, out=s)
            s *= 3.0 * _GELU_TANH_CUBIC
            s += 1.0
            s *= _SQRT_2_OVER_PI  # du
            s *= a
            one_minus_t2 = np.multiply(t, t, out=np.empty_like(t))
            np.subtract(1.0, one_minus_t2, out=one_minus_t2)
            s *= one_minus_t2
            s += t
            s += 1.0
            s *= 0.5
            return s

        saved = t
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh'; got {approximate!r}")

    def backward(g):
        slope = slope_into(np.empty_like(saved))
        if g.dtype == slope.dtype:  # never into g: run_backward may hold it elsewhere
            slope *= g
            return (slope,)
        return (g * slope,)

    return Tensor._make(out, (x,), backward, "gelu")


def silu(x: Tensor) -> Tensor:
    """Sigmoid-weighted linear unit (swish) ``x * sigmoid(x)`` (any shape)."""
    x = float_tensor(x, "silu")
    a = x.data
    s = sigmoid_array(a)  # the engine's sigmoid: fast, float32 stays float32, accurate tails
    slope = s * (1 + a * (1 - s))  # d(x s)/dx = s + x s (1 - s)

    def backward(g):
        return (g * slope,)

    return Tensor._make(a * s, (x,), backward, "silu")
