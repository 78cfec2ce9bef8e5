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
from scratchcore.parallel import map_blocks
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


def _gelu_erf_block(a, cdf, out):
    """``out = x Phi(x)`` on one block, keeping ``cdf = Phi(x) = (1 + erf(x / sqrt 2)) / 2``."""
    np.divide(a, _SQRT_2, out=cdf)
    cdf[...] = erf(cdf)
    cdf += 1.0
    cdf *= 0.5
    np.multiply(a, cdf, out=out)


def _gelu_erf_slope_block(a, cdf, out):
    """``out = d(x Phi(x))/dx = Phi(x) + x phi(x)``, ``phi(x) = exp(-x^2/2) / sqrt(2 pi)``."""
    np.multiply(a, a, out=out)
    out *= -0.5
    np.exp(out, out=out)
    out *= a
    out /= _SQRT_2PI
    out += cdf


def _gelu_tanh_block(a, t, out):
    """``out = x (1 + t) / 2`` on one block, keeping ``t = tanh(u)``,
    ``u = sqrt(2/pi) (x + 0.044715 x^3)`` (written ``x (1 + 0.044715 x^2)`` to reuse ``x^2``)."""
    np.multiply(a, a, out=t)
    t *= _GELU_TANH_CUBIC
    t += 1.0
    t *= a
    t *= _SQRT_2_OVER_PI
    np.tanh(t, out=t)
    np.add(t, 1.0, out=out)
    out *= a
    out *= 0.5


def _gelu_tanh_slope_block(a, t, out):
    """The product rule, then the chain rule through tanh (``d tanh(u) = (1 - tanh^2 u) du``):
    ``out = (1 + t) / 2 + x (1 - t^2) du / 2`` with ``du = sqrt(2/pi) (1 + 3 0.044715 x^2)``."""
    np.multiply(a, a, out=out)
    out *= 3.0 * _GELU_TANH_CUBIC
    out += 1.0
    out *= _SQRT_2_OVER_PI  # du
    out *= a
    one_minus_t2 = np.multiply(t, t)
    np.subtract(1.0, one_minus_t2, out=one_minus_t2)
    out *= one_minus_t2
    out += t
    out += 1.0
    out *= 0.5


# form -> (forward block, slope block, whether the graph keeps the forward's scratch array).
# The erf form keeps Phi(x): erf is a dozen NumPy passes here (no SciPy), and computing it again
# in the backward would cost more time than the array's memory is worth. The tanh form keeps x
# alone, as PyTorch's GELU does, and recomputes its tanh (one NumPy call) in the backward.
_GELU_BLOCKS = {
    "none": (_gelu_erf_block, _gelu_erf_slope_block, True),
    "tanh": (_gelu_tanh_block, _gelu_tanh_slope_block, False),
}


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``, ``Phi`` the standard normal CDF (any shape).

    ``approximate="none"`` uses the exact ``Phi(x) = (1 + erf(x / sqrt 2)) / 2``;
    ``approximate="tanh"`` uses ``Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2``.

    Each form is a chain of in-place NumPy calls on one block (the ``_gelu_*_block`` functions
    above), run by :func:`scratchcore.parallel.map_blocks` over cache-sized blocks on every
    thread: the chain then reads ``x`` from memory once instead of once per call. (A composed
    expression on the whole array costs a pass over memory per temporary: on (4096, 512) float32
    the tanh form took ~31 ms composed, ~4 ms as one in-place chain over the whole array.) For
    the backward, the exact form keeps ``Phi(x)`` beside ``x``; the tanh form keeps ``x`` alone
    and recomputes the ``tanh`` block by block, while each block is in cache (``_GELU_BLOCKS``
    says why the two differ).
    """
    x = float_tensor(x, "gelu")
    if approximate not in _GELU_BLOCKS:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh'; got {approximate!r}")
    forward_block, slope_block, keeps_scratch = _GELU_BLOCKS[approximate]
    dtype = np.result_type(x.dtype, 1.0)  # float32 stays float32; integers in float64
    a = np.asarray(x.data, dtype=dtype, order="C")  # (ascontiguousarray would make 0-d 1-d)
    out = np.empty_like(a)
    if keeps_scratch:  # Phi(x), kept from the forward pass for the slope
        saved = np.empty_like(a)
        map_blocks(forward_block, a, saved, out)
        kept = (a, saved)
        slope_of = slope_block  # (a, saved, out) on one block
    else:  # the tanh goes into a scratch block, dropped, and is recomputed in the backward
        map_blocks(lambda a, out: forward_block(a, np.empty_like(a), out), a, out)
        kept = (a,)

        def slope_of(a, out):  # one block: the tanh again (its value lands in out, overwritten)
            saved = np.empty_like(a)
            forward_block(a, saved, out)
            slope_block(a, saved, out)

    def backward(g):
        slope = np.empty_like(a)
        if g.dtype != slope.dtype:
            map_blocks(slope_of, *kept, slope)
            return (g * slope,)
        g = np.asarray(g, order="C")

        def slope_times_g(*blocks):  # (*kept, g, out); never into g: run_backward may hold it
            *inputs, g, out = blocks
            slope_of(*inputs, out)
            out *= g

        map_blocks(slope_times_g, *kept, g, slope)
        return (slope,)

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
